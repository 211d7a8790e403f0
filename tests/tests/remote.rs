//! Archives in object storage, against a real S3-compatible server (`moto_server`,
//! started per test on a free loopback port): every value read is the one saved, the
//! open and a lookup take the round trips the format promises (counted in the server's
//! request log), and damaged, replaced, deleted and missing objects give errors.

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::collections::HashMap;
use std::sync::Arc;
use strata::source::ObjectSource;
use strata::{Archive, Error, OpenOptions, Persist};
use strata_tests::moto::Moto;

#[derive(Persist, Debug, PartialEq, Clone)]
struct Catalog {
    name: String,
    #[strata(map)]
    items: HashMap<String, Item>,
    #[strata(shard)]
    prices: Vec<u64>,
    #[strata(lazy)]
    description: String,
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Item {
    id: u64,
    title: String,
    tags: Vec<String>,
}

/// Big enough that both tables have two levels (more than 512 buckets and shards).
fn catalog(n: u64) -> Catalog {
    Catalog {
        name: "catalog".into(),
        items: (0..n)
            .map(|i| {
                (format!("sku-{i:07}"), Item { id: i, title: format!("item {i}"), tags: vec![format!("t{}", i % 7)] })
            })
            .collect(),
        prices: (0..n * 20).map(|i| i * 5).collect(),
        description: "d".repeat(10_000),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn put(store: &Arc<dyn ObjectStore>, key: &str, bytes: Vec<u8>) {
    let (store, key) = (Arc::clone(store), ObjectPath::from(key));
    runtime().block_on(async move { store.put(&key, PutPayload::from(bytes)).await }).unwrap();
}

fn open(store: &Arc<dyn ObjectStore>, key: &str) -> strata::Result<(Archive, Arc<ObjectSource>)> {
    let source = Arc::new(ObjectSource::open(Arc::clone(store), key)?);
    Ok((Archive::from_source(source.clone(), &OpenOptions::new())?, source))
}

#[test]
fn an_archive_in_s3_reads_in_three_requests_and_every_value_is_the_one_saved() -> strata::Result<()> {
    let moto = Moto::start();
    let store: Arc<dyn ObjectStore> = Arc::new(moto.store());
    let value = catalog(150_000);
    let bytes = strata::to_bytes(&value)?;
    put(&store, "c.strata", bytes.clone());

    // Open + root + one map lookup: three GETs, the open's a suffix request.
    let before = moto.gets();
    let (archive, source) = open(&store, "c.strata")?;
    let root = archive.root::<Catalog>()?;
    assert!(root.items.table().depth() == 2 && root.prices.table().depth() == 2, "two-level tables");
    assert_eq!(root.items.get("sku-0123456")?.map(|v| v.id.to_native()), Some(123_456));
    assert_eq!(moto.gets() - before, 3, "open + root + map lookup");
    assert_eq!(source.requests(), 3);

    // Open + one vector element: three GETs.
    let before = moto.gets();
    let (archive, _) = open(&store, "c.strata")?;
    let root = archive.root::<Catalog>()?;
    assert_eq!(root.prices.get(1_234_567)?.map(|v| v.to_native()), Some(1_234_567 * 5));
    // At most three: the shard's index node may lie in the tail the open read.
    assert!(moto.gets() - before <= 3, "open + vector element");
    // Repeated reads come from the cache.
    let before = moto.gets();
    assert_eq!(root.prices.get(1_234_567)?.map(|v| v.to_native()), Some(1_234_567 * 5));
    assert_eq!(moto.gets() - before, 0, "cached");

    // Every kind of read, against the original.
    for k in (0..150_000u64).step_by(7_919) {
        let key = format!("sku-{k:07}");
        let got = root.items.get(key.as_str())?.map(|v| v.load()).transpose()?;
        assert_eq!(got.as_ref(), value.items.get(&key));
        assert_eq!(root.prices.get(k as usize * 20)?.map(|v| v.to_native()), Some(k * 100));
    }
    assert_eq!(root.description.load()?, value.description);

    // A full load and a verification: concurrent ranged requests, far fewer than chunks.
    let before = moto.gets();
    let chunks = archive.inspect()?.chunks().len();
    assert_eq!(archive.load::<Catalog>()?, value);
    let report = archive.verify()?;
    assert!(report.is_ok(), "{report:?}");
    let used = moto.gets() - before;
    assert!(used < chunks / 4, "{used} requests for a load and a verification of {chunks} chunks");
    Ok(())
}

#[test]
fn damaged_replaced_deleted_and_missing_objects_are_errors() -> strata::Result<()> {
    let moto = Moto::start();
    let store: Arc<dyn ObjectStore> = Arc::new(moto.store());
    let value = catalog(20_000);
    let bytes = strata::to_bytes(&value)?;

    // A flipped byte inside a bucket: the lookup that reads it names the chunk.
    let local = Archive::from_bytes(bytes.clone())?;
    let items = &local.root::<Catalog>()?.items;
    let bucket = strata::map::bucket_of(strata::hash::stable_hash("sku-0000042"), items.bucket_count() as u64);
    let r = items.bucket_chunk(bucket as usize)?;
    let mut damaged = bytes.clone();
    damaged[(r.offset() + r.stored_len() / 2) as usize] ^= 0x10;
    put(&store, "damaged.strata", damaged);
    let (archive, _) = open(&store, "damaged.strata")?;
    match archive.root::<Catalog>()?.items.get("sku-0000042") {
        Err(Error::ChecksumMismatch { at, .. }) => assert_eq!(at.offset, r.offset()),
        other => panic!("expected a checksum mismatch, got {:?}", other.map(|v| v.is_some())),
    }

    // Replaced while open: reads are pinned to the object opened.
    put(&store, "c.strata", bytes.clone());
    let (archive, _) = open(&store, "c.strata")?;
    let root = archive.root::<Catalog>()?;
    assert!(root.items.get("sku-0000001")?.is_some());
    put(&store, "c.strata", strata::to_bytes(&catalog(20_001))?);
    match root.items.get("sku-0019999") {
        Err(Error::Changed { detail, .. }) => assert!(detail.contains("replaced"), "{detail}"),
        other => panic!("expected Changed, got {:?}", other.map(|v| v.is_some())),
    }

    // Deleted while open.
    put(&store, "gone.strata", bytes.clone());
    let (archive, _) = open(&store, "gone.strata")?;
    let root = archive.root::<Catalog>()?;
    let (s, p) = (Arc::clone(&store), ObjectPath::from("gone.strata"));
    runtime().block_on(async move { s.delete(&p).await }).unwrap();
    match root.items.get("sku-0000003") {
        Err(Error::Changed { detail, .. }) => assert!(detail.contains("deleted"), "{detail}"),
        other => panic!("expected Changed, got {:?}", other.map(|v| v.is_some())),
    }

    // Missing, and not a strata file.
    match open(&store, "missing.strata") {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        other => panic!("expected NotFound, got {:?}", other.map(|_| ())),
    }
    put(&store, "junk", b"not a strata file at all, just some bytes".repeat(10));
    assert!(matches!(open(&store, "junk"), Err(Error::NotStrata { .. } | Error::Truncated { .. })));
    Ok(())
}

#[test]
fn a_server_that_stops_answering_gives_an_error_after_a_bounded_wait() -> strata::Result<()> {
    let mut moto = Moto::start();
    let store: Arc<dyn ObjectStore> = Arc::new(moto.store());
    put(&store, "c.strata", strata::to_bytes(&catalog(20_000))?);
    let (archive, _) = open(&store, "c.strata")?;
    let root = archive.root::<Catalog>()?;
    moto.stop();
    let started = std::time::Instant::now();
    let looked = root.items.get("sku-0000005");
    assert!(matches!(looked, Err(Error::Io(_))), "{:?}", looked.map(|v| v.is_some()));
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "retries are bounded: {:?}", started.elapsed());
    assert!(matches!(archive.load::<Catalog>(), Err(Error::Io(_))));
    Ok(())
}

#[test]
fn saves_stream_to_object_storage_as_a_multipart_upload() -> strata::Result<()> {
    let moto = Moto::start();
    let store: Arc<dyn ObjectStore> = Arc::new(moto.store());
    // Several 16 MiB parts.
    let value = catalog(150_000);
    let stats = strata::SaveOptions::new().save_store(Arc::clone(&store), "up/c.strata", &value)?;
    assert!(stats.file_len > 32 << 20, "{}", stats.file_len);
    let archive = Archive::open_store(Arc::clone(&store), "up/c.strata", &OpenOptions::new())?;
    assert_eq!(archive.footer().file_len, stats.file_len);
    assert_eq!(archive.load::<Catalog>()?, value);
    // The same bytes as a file save.
    let (s, p) = (Arc::clone(&store), ObjectPath::from("up/c.strata"));
    let uploaded = runtime().block_on(async move { s.get(&p).await?.bytes().await }).unwrap();
    assert!(uploaded.as_ref() == strata::to_bytes(&value)?.as_slice(), "the uploaded bytes are the file's");

    // A save that fails part way (a value nested deeper than the limit, found after
    // parts went out) leaves no object: the upload is aborted.
    #[derive(Persist)]
    struct Deep {
        #[strata(shard)]
        prices: Vec<u64>,
        chain: Option<Box<Deep2>>,
    }
    #[derive(Persist)]
    struct Deep2 {
        next: Option<Box<Deep2>>,
    }
    let mut chain = None;
    for _ in 0..200 {
        chain = Some(Box::new(Deep2 { next: chain }));
    }
    let deep = Deep { prices: (0..6_000_000).collect(), chain: chain.map(|c| Box::new(Deep2 { next: Some(c) })) };
    let failed = strata::SaveOptions::new().max_depth(50).save_store(Arc::clone(&store), "up/deep.strata", &deep);
    assert!(matches!(failed, Err(Error::TooDeep { .. })), "{:?}", failed.map(|s| s.file_len));
    let (s, p) = (Arc::clone(&store), ObjectPath::from("up/deep.strata"));
    let head = runtime().block_on(async move { s.head(&p).await });
    assert!(matches!(head, Err(object_store::Error::NotFound { .. })), "{head:?}");
    Ok(())
}

#[test]
fn a_streamed_save_uploads_as_it_is_produced() -> strata::Result<()> {
    let moto = Moto::start();
    let store: Arc<dyn ObjectStore> = Arc::new(moto.store());
    let value = catalog(150_000);
    let stats = strata::SaveOptions::new().save_store_with(Arc::clone(&store), "up/s.strata", |w| {
        let items = w.map("items", value.items.clone())?;
        let prices = w.shard("prices", value.prices.iter().copied())?;
        Ok(StreamedCatalog { name: value.name.clone(), items, prices, description: value.description.clone() })
    })?;
    assert!(stats.file_len > 32 << 20, "several parts: {}", stats.file_len);
    let archive = Archive::open_store(Arc::clone(&store), "up/s.strata", &OpenOptions::new())?;
    let loaded: StreamedCatalog = archive.load()?;
    assert_eq!((loaded.name.as_str(), loaded.description.as_str()), (value.name.as_str(), value.description.as_str()));
    assert_eq!(loaded.items.to_map()?, value.items);
    assert_eq!(loaded.prices.to_vec()?, value.prices);
    // A producer that fails leaves no object.
    let failed = strata::SaveOptions::new().save_store_with(Arc::clone(&store), "up/failed.strata", |w| {
        w.shard("prices", value.prices.iter().copied())?;
        Err::<StreamedCatalog, _>(Error::Message(String::from("the producer failed")))
    });
    assert!(failed.is_err());
    let (s, p) = (Arc::clone(&store), ObjectPath::from("up/failed.strata"));
    let head = runtime().block_on(async move { s.head(&p).await });
    assert!(matches!(head, Err(object_store::Error::NotFound { .. })), "{head:?}");
    Ok(())
}

/// `Catalog` with its chunked fields as streamable handles (the same schema).
#[derive(Persist)]
struct StreamedCatalog {
    name: String,
    items: strata::Mapped<String, Item>,
    prices: strata::Sharded<u64>,
    #[strata(lazy)]
    description: String,
}

#[test]
fn a_remote_archive_works_from_inside_a_tokio_runtime() -> strata::Result<()> {
    let moto = Moto::start();
    let store: Arc<dyn ObjectStore> = Arc::new(moto.store());
    let value = catalog(2_000);
    put(&store, "c.strata", strata::to_bytes(&value)?);
    for rt in [runtime(), tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()] {
        let store = Arc::clone(&store);
        let loaded = rt.block_on(async move {
            let archive = Archive::open_store(store, "c.strata", &OpenOptions::new())?;
            let id = archive.root::<Catalog>()?.items.get("sku-0001999")?.map(|v| v.id.to_native());
            assert_eq!(id, Some(1999));
            archive.load::<Catalog>()
        })?;
        assert_eq!(loaded, value);
    }
    Ok(())
}

/// An HTTP server that answers the open's suffix request truthfully and every later
/// range request with half the bytes asked for (a matching `Content-Length`).
fn lying_http_server(file: Vec<u8>) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut range = String::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some(r) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range = r.trim().to_owned();
                }
                line.clear();
            }
            let len = file.len();
            let (start, end, honest) = match range.split_once('-') {
                Some(("", n)) => (len - n.parse::<usize>().unwrap().min(len), len, true),
                Some((a, b)) => (a.parse().unwrap(), b.parse::<usize>().unwrap() + 1, false),
                None => (0, len, true),
            };
            let body = if honest { &file[start..end] } else { &file[start..start + (end - start) / 2] };
            let _ = write!(
                stream,
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{len}\r\nContent-Length: {}\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n",
                end - 1,
                body.len()
            );
            let _ = stream.write_all(body);
        }
    });
    port
}

#[test]
fn a_server_answering_the_wrong_range_length_is_an_error_and_http_urls_open() -> strata::Result<()> {
    let value = catalog(20_000);
    let port = lying_http_server(strata::to_bytes(&value)?);
    let archive = Archive::open_url(&format!("http://127.0.0.1:{port}/files/c.strata"))?;
    let root = archive.root::<Catalog>()?;
    assert_eq!(root.name, "catalog");
    let looked = root.items.get("sku-0000009");
    assert!(matches!(looked, Err(Error::Io(_))), "{:?}", looked.map(|v| v.is_some()));
    Ok(())
}

#[test]
fn file_urls_open_local_files() -> strata::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.strata");
    let value = catalog(3_000);
    strata::save(&path, &value)?;
    let archive = Archive::open_url(&format!("file://{}", path.display()))?;
    assert_eq!(archive.root::<Catalog>()?.items.get("sku-0002999")?.map(|v| v.id.to_native()), Some(2999));
    assert_eq!(archive.load::<Catalog>()?, value);
    Ok(())
}
