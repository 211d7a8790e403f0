//! The CLI on objects in S3 (a `moto_server` started for the test): URLs configured
//! from the environment, as the cloud's own tools are.

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::collections::HashMap;
use std::sync::Arc;
use strata::Persist;
use strata_tests::moto::Moto;

#[derive(Persist)]
struct Catalog {
    #[strata(map)]
    items: HashMap<String, u64>,
    #[strata(shard)]
    prices: Vec<u64>,
}

#[test]
fn the_cli_reads_s3_urls_configured_from_the_environment() -> strata::Result<()> {
    let moto = Moto::start();
    let store: Arc<dyn ObjectStore> = Arc::new(moto.store());
    let catalog =
        Catalog { items: (0..3_000u64).map(|i| (format!("sku-{i:07}"), i)).collect(), prices: (0..9_000).collect() };
    let (s, key, bytes) = (Arc::clone(&store), ObjectPath::from("dir/c.strata"), strata::to_bytes(&catalog)?);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move { s.put(&key, PutPayload::from(bytes)).await }).unwrap();
    let url = format!("s3://{}/dir/c.strata", strata_tests::moto::BUCKET);
    let cli = env!("CARGO_BIN_EXE_strata");
    for args in
        [vec!["verify", url.as_str()], vec!["stat", url.as_str()], vec!["dump", url.as_str(), "items[\"sku-0000042\"]"]]
    {
        let out = std::process::Command::new(cli).args(&args).envs(moto.env()).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        if args[0] == "dump" {
            assert_eq!(stdout.trim(), "42");
        }
    }
    // A missing object: one line on standard error, exit code 2.
    let missing = format!("s3://{}/nope.strata", strata_tests::moto::BUCKET);
    let out = std::process::Command::new(cli).args(["inspect", &missing]).envs(moto.env()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    Ok(())
}
