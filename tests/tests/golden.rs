//! Files written by format version 1 keep opening, byte for byte.
//!
//! `tests/data/v1.strata` was written by this model when version 1 shipped. The types
//! below are frozen: never change them; add a new golden file for a new version
//! instead. `STRATA_BLESS=1 cargo test --test golden` rewrites the file (only when the
//! format version changes on purpose).

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

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/v1.strata");

#[test]
fn version_1_files_keep_opening() {
    if std::env::var_os("STRATA_BLESS").is_some() {
        strata::save(PATH, &golden()).unwrap();
    }
    let stored = std::fs::read(PATH).expect("the golden file is committed");
    // Saves are deterministic: today's writer produces the very same bytes.
    assert!(strata::to_bytes(&golden()).unwrap() == stored, "the writer's output changed: the format changed");
    let archive = Archive::open(PATH).unwrap();
    let w = archive.root::<GoldenWorld>().unwrap();
    assert_eq!(w.id, 0x0123_4567_89AB_CDEF);
    assert_eq!(w.cells.get(699).unwrap().unwrap().1, -699);
    assert_eq!(w.index.get("k17").unwrap().map(|v| v.to_native()), Some(289));
    assert_eq!(archive.load::<GoldenWorld>().unwrap(), golden());
    assert_eq!(archive.footer().layout_fingerprint, 0x0000_0008_0808_0401);
}
