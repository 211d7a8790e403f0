//! Files written by every format version keep opening.
//!
//! `tests/data/v1.strata` was written by this model when version 1 shipped,
//! `tests/data/v2.strata` when version 2 did, `tests/data/v3.strata` when version 3 did,
//! `tests/data/v4.strata` when version 4 did, `tests/data/v5.strata` when version 5 (typed
//! lazy references) did, `tests/data/v6.strata` when version 6 (compact map buckets) did;
//! `tests/data/v4-appended.strata`, `v5-appended.strata` and `v6-appended.strata` are the
//! same files after an incremental save of [`changed`] and the first bytes of another
//! append that a crash cut short. The types below are frozen: never change
//! them; add a new golden file for a new version instead. Today's writer must reproduce
//! the newest file byte for byte; `STRATA_BLESS=1 cargo test --test golden` writes the
//! newest file when it is missing (once, when the format version changes on purpose).

use std::collections::HashMap;
use strata::{Archive, Persist};

#[derive(Persist, Debug, PartialEq)]
struct GoldenWorld {
    id: u64,
    name: String,
    ratio: f64,
    kind: GoldenKind,
    #[strata(lazy)]
    history: Vec<String>,
    #[strata(lazy, compress = "zstd(3)")]
    blob: Vec<u8>,
    #[strata(shard, shard_bytes = 1024)]
    cells: Vec<(u32, i16)>,
    #[strata(map)]
    index: HashMap<String, u64>,
    inline_map: HashMap<u16, String>,
    size: usize,
}

#[derive(Persist, Debug, PartialEq)]
enum GoldenKind {
    Empty,
    Pair(i32, char),
    Named { tag: String, weight: Option<u8> },
}

fn golden() -> GoldenWorld {
    GoldenWorld {
        id: 0x0123_4567_89AB_CDEF,
        name: "golden".into(),
        ratio: 1.5,
        kind: GoldenKind::Named { tag: "t".into(), weight: Some(7) },
        history: (0..20).map(|i| format!("h{i}")).collect(),
        blob: (0..5000u32).map(|i| (i % 7) as u8).collect(),
        cells: (0..700).map(|i| (i, -(i as i16))).collect(),
        index: (0..300u64).map(|i| (format!("k{i}"), i * i)).collect(),
        inline_map: (0..10u16).map(|i| (i, format!("v{i}"))).collect(),
        size: 123_456_789,
    }
}

fn path(version: u32) -> String {
    format!("{}/data/v{version}.strata", env!("CARGO_MANIFEST_DIR"))
}

/// Opens the golden file of `version` and checks every kind of read, and that a lazy
/// vector's length needs a read exactly when the version does not record it.
fn check(version: u32) {
    let archive = Archive::open(path(version)).expect("the golden file is committed");
    assert_eq!(archive.footer().version, version);
    let w = archive.root::<GoldenWorld>().unwrap();
    assert_eq!(w.id, 0x0123_4567_89AB_CDEF);
    assert_eq!(w.cells.get(699).unwrap().unwrap().1, -699);
    assert_eq!(w.index.get("k17").unwrap().map(|v| v.to_native()), Some(289));
    let before = archive.cache_stats().chunks;
    assert_eq!(w.history.len().unwrap(), 20);
    let read = archive.cache_stats().chunks > before;
    assert_eq!(read, version < 2, "version {version}: a lazy vector's length read its chunk: {read}");
    assert_eq!(w.blob.len().unwrap(), 5000);
    assert_eq!(archive.load::<GoldenWorld>().unwrap(), golden());
    assert_eq!(archive.footer().copies.is_some(), version >= 3, "version {version}: tail copies");
    assert_eq!(archive.footer().layout_fingerprint, 0x0000_0008_0808_0401);
    assert!(archive.verify().unwrap().is_ok());
}

#[test]
fn version_1_files_keep_opening() {
    check(1);
}

#[test]
fn version_2_files_keep_opening() {
    check(2);
}

#[test]
fn version_3_files_keep_opening() {
    check(3);
}

#[test]
fn version_4_files_keep_opening() {
    check(4);
}

#[test]
fn version_5_files_keep_opening() {
    check(5);
}

#[test]
fn version_6_files_keep_opening_and_todays_writer_reproduces_them() {
    let newest = path(strata::raw::format::VERSION);
    if std::env::var_os("STRATA_BLESS").is_some() && !std::path::Path::new(&newest).exists() {
        strata::save(&newest, &golden()).unwrap();
    }
    let stored = std::fs::read(&newest).expect("the newest golden file is committed");
    // Saves are deterministic: today's writer produces the very same bytes.
    assert!(strata::to_bytes(&golden()).unwrap() == stored, "the writer's output changed: the format changed");
    check(6);
}

/// The golden value after a few changes: an incremental save of it reuses most chunks.
fn changed() -> GoldenWorld {
    let mut w = golden();
    w.id += 1;
    w.cells[650].1 = 1;
    w.index.insert("k17".into(), 17);
    w
}

fn appended_path(version: u32) -> String {
    format!("{}/data/v{version}-appended.strata", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn version_4_appended_files_keep_opening_at_their_committed_version() {
    check_appended(4);
}

#[test]
fn version_5_appended_files_keep_opening_at_their_committed_version() {
    check_appended(5);
}

#[test]
fn version_6_appended_files_keep_opening_at_their_committed_version() {
    check_appended(6);
}

fn check_appended(version: u32) {
    let appended = appended_path(version);
    if std::env::var_os("STRATA_BLESS").is_some() && !std::path::Path::new(&appended).exists() {
        assert_eq!(version, strata::raw::format::VERSION, "only today's version can be blessed");
        std::fs::copy(path(version), &appended).unwrap();
        let stats = strata::SaveOptions::new().incremental(true).save(&appended, &changed()).unwrap();
        assert!(stats.appended && stats.reused_chunks > 0);
        // A crash cut the next append short: a tail that is no footer.
        let mut file = std::fs::OpenOptions::new().append(true).open(&appended).unwrap();
        std::io::Write::write_all(&mut file, &[0x5A; 100]).unwrap();
    }
    let len = std::fs::metadata(&appended).expect("the appended golden file is committed").len();
    let archive = Archive::open(&appended).unwrap();
    assert_eq!(archive.footer().version, version);
    assert_eq!(archive.footer().file_len, len - 100, "the committed version, before the torn tail");
    assert_eq!(archive.load::<GoldenWorld>().unwrap(), changed());
    let w = archive.root::<GoldenWorld>().unwrap();
    assert_eq!(w.cells.get(650).unwrap().unwrap().1, 1);
    assert_eq!(w.index.get("k17").unwrap().map(|v| v.to_native()), Some(17));
    let stats = archive.stats().unwrap();
    assert!(stats.dead > 0 && stats.live + stats.dead == stats.file_len, "{stats:?}");
    assert!(archive.verify().unwrap().is_ok());
}

#[test]
fn files_of_every_version_compact_to_this_version_with_their_value() {
    let dir = tempfile::tempdir().unwrap();
    for (name, expected) in [
        ("v1.strata", golden()),
        ("v2.strata", golden()),
        ("v3.strata", golden()),
        ("v4.strata", golden()),
        ("v4-appended.strata", changed()),
        ("v5.strata", golden()),
        ("v5-appended.strata", changed()),
        ("v6.strata", golden()),
        ("v6-appended.strata", changed()),
    ] {
        let copy = dir.path().join(name);
        std::fs::copy(format!("{}/data/{name}", env!("CARGO_MANIFEST_DIR")), &copy).unwrap();
        let stats = strata::compact(&copy).unwrap();
        let archive = Archive::open(&copy).unwrap();
        assert_eq!(archive.footer().version, strata::raw::format::VERSION, "{name}");
        assert_eq!(archive.load::<GoldenWorld>().unwrap(), expected, "{name}");
        assert_eq!(archive.stats().unwrap().dead, 0, "{name}");
        assert_eq!(stats.after, std::fs::metadata(&copy).unwrap().len(), "{name}");
        assert!(archive.verify().unwrap().is_ok(), "{name}");
    }
}
