//! Compact map buckets (format version 6): 32-bit hashes, and entries aligned to the
//! most any of their bytes needs instead of 16. Checked where an entry's bytes are
//! written twice (in place, and archived on its own by a streamed save), read in place,
//! read without their types, and copied by a compaction.

use std::collections::HashMap;
use strata::raw::format::bucket::Bucket;
use strata::raw::format::meta::ChunkKind;
use strata::value::Value;
use strata::{Archive, Persist, SaveOptions};

#[derive(Persist, Debug, PartialEq)]
struct World {
    #[strata(map)]
    small: HashMap<String, u32>,
    /// Entries holding 16-aligned values behind a pointer, of a length that is not a
    /// multiple of 16: their root aligns to 8 only.
    #[strata(map)]
    wide: HashMap<u64, (Vec<u128>, u32)>,
    #[strata(map)]
    pairs: HashMap<String, (u8, u128)>,
}

fn world(n: u64) -> World {
    World {
        small: (0..n).map(|i| (format!("key {i}"), i as u32)).collect(),
        wide: (0..n)
            .map(|i| (i, ((0..i % 5).map(|j| u128::from(i) << 64 | u128::from(j)).collect(), i as u32)))
            .collect(),
        pairs: (0..n).map(|i| (format!("p{i}"), ((i % 251) as u8, u128::MAX - u128::from(i)))).collect(),
    }
}

/// Every bucket of map `field`, parsed: (compact, entry alignment, entry starts).
fn buckets(archive: &Archive, field: &str) -> Vec<(bool, usize, Vec<usize>)> {
    let tree = archive.inspect().unwrap();
    let prefix = format!("{field}[bucket ");
    tree.chunks()
        .iter()
        .filter(|c| c.kind == Some(ChunkKind::Bucket) && c.path.starts_with(&prefix))
        .map(|c| {
            let bytes = strata::raw::chunk(archive, &c.chunk).unwrap();
            let bucket = Bucket::parse(&bytes).unwrap();
            let starts = (0..bucket.len()).map(|j| bucket.entry_span(j).unwrap().start).collect();
            (bucket.is_compact(), bucket.entry_align(), starts)
        })
        .collect()
}

#[test]
fn entries_align_to_what_they_hold_and_read_back_every_way() {
    let n = 3000;
    let w = world(n);
    let bytes = strata::to_bytes(&w).unwrap();
    let archive = Archive::from_bytes(bytes.clone()).unwrap();
    for (field, align) in [("small", 4), ("wide", 16), ("pairs", 16)] {
        let found = buckets(&archive, field);
        assert!(!found.is_empty(), "{field}: no buckets");
        for (compact, a, starts) in found {
            assert!(compact, "{field}: a version 6 writer writes compact buckets");
            assert_eq!(a, align, "{field}");
            assert!(starts.iter().all(|s| s % align == 0), "{field}: an entry off its alignment");
        }
    }
    // In place, through the views.
    let root = archive.root::<World>().unwrap();
    assert_eq!(root.small.get("key 1234").unwrap().unwrap().to_native(), 1234);
    let wide = root.wide.get(&2999).unwrap().unwrap();
    assert_eq!(wide.0.iter().map(|x| x.to_native()).collect::<Vec<_>>(), w.wide[&2999].0);
    assert_eq!(root.pairs.get("p77").unwrap().unwrap().1.to_native(), u128::MAX - 77);
    assert_eq!(root.small.get("no such key").unwrap().map(|v| v.to_native()), None);
    // Whole, and checked.
    assert_eq!(archive.load::<World>().unwrap(), w);
    assert!(archive.verify().unwrap().is_ok());
    // Without the types: a lookup by key and the whole map.
    assert_eq!(archive.value_at("small[\"key 17\"]").unwrap(), Value::U32(17));
    assert_eq!(
        archive.value_at("pairs[\"p5\"]").unwrap(),
        Value::Tuple(vec![Value::U8(5), Value::U128(u128::MAX - 5)])
    );
    assert_eq!(
        archive.value_at("wide[2999]").unwrap(),
        Value::Tuple(vec![Value::Seq(w.wide[&2999].0.iter().map(|x| Value::U128(*x)).collect()), Value::U32(2999)])
    );
    match archive.value().unwrap() {
        Value::Struct { fields, .. } => match fields.iter().find(|(name, _)| name == "pairs") {
            Some((_, Value::Map(entries))) => assert_eq!(entries.len() as u64, n),
            other => panic!("pairs: {other:?}"),
        },
        other => panic!("not a struct: {other:?}"),
    }
    // Compacted: the buckets are copied, and read the same.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    std::fs::write(&path, &bytes).unwrap();
    strata::compact(&path).unwrap();
    let compacted = Archive::open(&path).unwrap();
    assert_eq!(compacted.load::<World>().unwrap(), w);
    assert!(compacted.verify().unwrap().is_ok());
}

/// An entry archived on its own (a streamed save spills entries, then places them) has
/// the bytes it has in place: with 16-aligned values inside, only if entries start at
/// multiples of 16.
#[test]
fn a_streamed_map_of_16_aligned_values_writes_the_bytes_of_a_save() {
    #[derive(Persist, Debug, PartialEq)]
    struct Streamed {
        wide: strata::Mapped<u64, (Vec<u128>, u32)>,
        pairs: strata::Mapped<String, (u8, u128)>,
    }
    let w = world(2000);
    let options = SaveOptions::new();
    let streamed = options
        .to_bytes_with(|s| {
            Ok(Streamed { wide: s.map("wide", w.wide.clone())?, pairs: s.map("pairs", w.pairs.clone())? })
        })
        .unwrap();
    let saved = options
        .to_bytes(&Streamed { wide: strata::Mapped::new(w.wide.clone()), pairs: strata::Mapped::new(w.pairs.clone()) })
        .unwrap();
    assert!(streamed == saved, "a streamed map's bytes differ from a save's");
    let back: Streamed = strata::from_bytes(&streamed).unwrap();
    assert_eq!(back.wide.to_map().unwrap(), w.wide);
    assert_eq!(back.pairs.to_map().unwrap(), w.pairs);
}

/// Version 5 files keep their wide buckets (64-bit hashes, entries at multiples of 16),
/// and read as before.
#[test]
fn version_5_buckets_stay_wide_and_read() {
    let path = format!("{}/data/v5.strata", env!("CARGO_MANIFEST_DIR"));
    let archive = Archive::open(path).unwrap();
    let found = buckets(&archive, "index");
    assert!(!found.is_empty());
    assert!(found.iter().all(|(compact, align, _)| !compact && *align == 16));
}
