//! Saving a large sharded vector keeps its extra memory bounded: the save holds a few
//! shards per thread, never a copy of the data. Measured in a child process so that
//! other tests' allocations do not count.

use std::process::Command;

const CHILD: &str = "STRATA_MEMORY_CHILD";

#[test]
fn saving_a_large_vector_needs_little_extra_memory() {
    if let Ok(dir) = std::env::var(CHILD) {
        let path = std::path::Path::new(&dir).join("big.strata");
        let (data, before, after) = strata_tests::memory::save_large_vector(&path, 512 << 20).unwrap();
        println!("RESULT data={data} before={before} after={after}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "saving_a_large_vector_needs_little_extra_memory", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // The test harness may print its own words before ours on the same line.
    let line =
        stdout.lines().find_map(|l| l.split_once("RESULT ").map(|(_, r)| r)).expect("the child reports its figures");
    let field = |name: &str| -> u64 {
        line.split_whitespace().find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap().parse().unwrap()
    };
    let (data, after) = (field("data"), field("after"));
    if after == 0 {
        eprintln!("peak RSS is not available on this platform; nothing to check");
        return;
    }
    let ratio = after as f64 / data as f64;
    println!("saving {} MiB: peak RSS {} MiB ({ratio:.2}x the data)", data >> 20, after >> 20);
    assert!(ratio < 1.25, "peak RSS {ratio:.2}x the data");
}
