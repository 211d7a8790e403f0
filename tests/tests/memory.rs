//! Saving a large sharded vector keeps its extra memory bounded (the save holds a few
//! shards per thread, never a copy of the data), saving a large map holds a pass of
//! its entries at a time, and verifying a file read chunk by chunk keeps no chunks.
//! Measured in child processes so that other tests' allocations do not count.

use std::process::Command;

const CHILD: &str = "STRATA_MEMORY_CHILD";

/// Runs `test` of this binary alone in a child process with `var` set to `value`, and
/// returns the figures the child printed after `RESULT ` (checking that it succeeded).
fn run_child(test: &str, var: &str, value: impl AsRef<std::ffi::OsStr>) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(var, value)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // The test harness may print its own words before ours on the same line.
    let line = stdout.lines().find_map(|l| l.split_once("RESULT ").map(|(_, r)| r.to_owned()));
    line.expect("the child reports its figures")
}

/// The figure `name=` of a child's `RESULT` line.
fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace().find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap().parse().unwrap()
}

#[test]
fn saving_a_large_vector_needs_little_extra_memory() {
    if let Ok(dir) = std::env::var(CHILD) {
        let path = std::path::Path::new(&dir).join("big.strata");
        let (data, before, after) = strata_tests::memory::save_large_vector(&path, 512 << 20).unwrap();
        println!("RESULT data={data} before={before} after={after}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let line = run_child("saving_a_large_vector_needs_little_extra_memory", CHILD, dir.path());
    let (data, after) = (field(&line, "data"), field(&line, "after"));
    if after == 0 {
        eprintln!("peak RSS is not available on this platform; nothing to check");
        return;
    }
    let ratio = after as f64 / data as f64;
    println!("saving {} MiB: peak RSS {} MiB ({ratio:.2}x the data)", data >> 20, after >> 20);
    assert!(ratio < 1.25, "peak RSS {ratio:.2}x the data");
}

/// Saving a map holds its entries' references and hashes, and one pass of archived
/// entries at a time (about 32 MiB with 40 bytes an entry), never the whole map
/// archived: on 4 million small entries (the most bookkeeping for their bytes) the
/// save's extra peak stays under twice the map's own memory.
#[test]
fn saving_a_large_map_needs_bounded_extra_memory() {
    const MAP_CHILD: &str = "STRATA_MAP_MEMORY_CHILD";
    if let Ok(dir) = std::env::var(MAP_CHILD) {
        let path = std::path::Path::new(&dir).join("map.strata");
        let (map, before, after) = strata_tests::memory::save_large_map(&path, 4_000_000).unwrap();
        println!("RESULT map={map} before={before} after={after}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let line = run_child("saving_a_large_map_needs_bounded_extra_memory", MAP_CHILD, dir.path());
    let (map, before, after) = (field(&line, "map"), field(&line, "before"), field(&line, "after"));
    if after == 0 || map == 0 {
        eprintln!("RSS is not available on this platform; nothing to check");
        return;
    }
    let extra = after.saturating_sub(before);
    println!("saving a map of {} MiB: {} MiB more at the peak", map >> 20, extra >> 20);
    assert!(extra < 2 * map, "the save took {} MiB more, the map {} MiB", extra >> 20, map >> 20);
}

/// `verify` reads every chunk, but keeps none it did not hold already: on a file read
/// chunk by chunk (`Access::Read`) and compressed, its peak RSS stays a small fraction
/// of the file.
#[test]
fn verifying_a_read_archive_keeps_no_chunks() {
    const VERIFY_CHILD: &str = "STRATA_VERIFY_CHILD";
    if let Ok(path) = std::env::var(VERIFY_CHILD) {
        let options = strata::OpenOptions::new().access(strata::Access::Read);
        let archive = strata::Archive::open_with(&path, &options).unwrap();
        let report = archive.verify().unwrap();
        assert!(report.damaged.is_empty());
        println!("RESULT rss={}", strata_tests::memory::peak_rss().unwrap_or(0));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.strata");
    let (data, _, _) = strata_tests::memory::save_large_vector(&path, 256 << 20).unwrap();
    let rss = field(&run_child("verifying_a_read_archive_keeps_no_chunks", VERIFY_CHILD, &path), "rss");
    if rss == 0 {
        eprintln!("peak RSS is not available on this platform; nothing to check");
        return;
    }
    println!("verifying {} MiB read chunk by chunk: peak RSS {} MiB", data >> 20, rss >> 20);
    assert!(rss < data / 4, "peak RSS {} MiB for a {} MiB file", rss >> 20, data >> 20);
}

/// A lazy chunk past rkyv's 2 GiB relative-pointer reach is an error naming the fix,
/// not a panic out of `save`, and leaves no file behind.
#[test]
fn a_lazy_chunk_past_2_gib_is_an_error_not_a_panic() {
    use strata::Persist;
    #[derive(Persist)]
    struct Blob {
        #[strata(lazy)]
        bytes: Vec<u8>,
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.strata");
    // calloc'ed: the pages cost nothing until the save copies them.
    let blob = Blob { bytes: vec![0u8; (2usize << 30) + 4096] };
    let err = strata::save(&path, &blob).expect_err("a 2 GiB chunk cannot be archived");
    let text = err.to_string();
    assert!(text.contains("2 GiB") && text.contains("#[strata(shard)]"), "{text}");
    assert!(!path.exists());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, [".big.strata.strata-lock"], "a temporary file was left behind");
}

#[derive(strata::Persist)]
struct User {
    id: u64,
    name: String,
    email: String,
    level: u32,
    scores: Vec<u32>,
}

#[derive(strata::Persist)]
struct Users {
    #[strata(shard)]
    users: Vec<User>,
    #[strata(map)]
    by_name: std::collections::HashMap<String, User>,
}

fn user(i: u64) -> User {
    User {
        id: i,
        name: format!("user{i:07}"),
        email: format!("user{i:07}@example.com"),
        level: (i % 100) as u32,
        scores: (0..(i % 5) as u32).collect(),
    }
}

/// A long-lived archive that point-reads all over a large file (every shard of a
/// 1,000,000-element vector, ~19,000 map lookups) and then iterates the whole vector
/// and the whole map keeps its memory within its cache limit: chunks no view holds are
/// evicted, whatever the file's size. Checked with the default limit and with 8 MiB,
/// in child processes.
#[test]
fn point_reads_all_over_a_large_file_stay_within_the_cache_limit() {
    const CHILD: &str = "STRATA_CACHE_CHILD";
    const USERS: u64 = 1_000_000;
    const SLACK: u64 = 16 << 20;
    if let Ok(arg) = std::env::var(CHILD) {
        let (limit, path) = arg.split_once('|').unwrap();
        let limit: u64 = limit.parse().unwrap();
        let archive = strata::Archive::open_with(path, &strata::OpenOptions::new().cache_limit(limit)).unwrap();
        let root = archive.root::<Users>().unwrap();
        let before = strata_tests::memory::rss_anon().unwrap_or(0);
        for i in (0..USERS).step_by(37) {
            assert_eq!(root.users.get(i as usize).unwrap().unwrap().id, i);
        }
        for s in 0..root.users.shard_count() {
            let (first, shard) = root.users.shard(s).unwrap();
            assert_eq!(shard.first().map(|u| u.id.to_native()), Some(first as u64));
        }
        for i in (0..USERS).step_by(53) {
            let name = format!("user{i:07}");
            assert_eq!(root.by_name.get(name.as_str()).unwrap().unwrap().id, i);
        }
        let grew = strata_tests::memory::rss_anon().unwrap_or(0).saturating_sub(before);
        // Whole iterations stream shard by shard and bucket by bucket.
        let mut ids = 0u64;
        for (i, u) in root.users.iter().enumerate() {
            assert_eq!(u.unwrap().id, i as u64);
            ids += 1;
        }
        let mut entries = 0u64;
        for e in root.by_name.iter() {
            let e = e.unwrap();
            assert_eq!(e.key().as_str(), format!("user{:07}", e.value().id.to_native()));
            entries += 1;
        }
        assert_eq!((ids, entries), (USERS, USERS));
        let iterated = strata_tests::memory::rss_anon().unwrap_or(0).saturating_sub(before);
        let cache = archive.cache_stats();
        assert!(cache.bytes <= cache.limit, "{cache:?}");
        println!("RESULT grew={grew} iterated={iterated} shards={}", root.users.shard_count());
        return;
    }
    if strata_tests::memory::rss_anon().is_none() {
        eprintln!("RssAnon is not available on this platform; nothing to check");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.strata");
    let users: Vec<User> = (0..USERS).map(user).collect();
    let by_name = (0..USERS).map(|i| (format!("user{i:07}"), user(i))).collect();
    strata::save(&path, &Users { users, by_name }).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    for limit in [strata::DEFAULT_CACHE_LIMIT, 8 << 20] {
        let test = "point_reads_all_over_a_large_file_stay_within_the_cache_limit";
        let line = run_child(test, CHILD, format!("{limit}|{}", path.display()));
        let (grew, iterated) = (field(&line, "grew"), field(&line, "iterated"));
        println!(
            "{} MiB file, {} shards and 18,868 keys read, cache limit {} MiB: the heap grew {} MiB; {} MiB after iterating the vector and the map",
            size >> 20,
            field(&line, "shards"),
            limit >> 20,
            grew >> 20,
            iterated >> 20
        );
        assert!(size > 2 * (limit + SLACK), "the file is much larger than the cache: {} MiB", size >> 20);
        assert!(grew < limit + SLACK, "the heap grew {} MiB, limit {} MiB", grew >> 20, limit >> 20);
        assert!(iterated < limit + SLACK, "iterating grew the heap {} MiB, limit {} MiB", iterated >> 20, limit >> 20);
    }
}
