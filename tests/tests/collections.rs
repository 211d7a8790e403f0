//! Sharded vectors and hash-bucketed maps: round trips at every size that matters,
//! colliding hashes, derived keys, and locality (damage elsewhere does not matter).

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use strata::{Archive, Codec, Error, Persist, SaveOptions, StableHash};

#[derive(Persist, Debug, PartialEq, Clone)]
struct Vectors {
    #[strata(shard, shard_bytes = 1024)]
    numbers: Vec<u64>,
    #[strata(shard, shard_bytes = 1024)]
    words: Vec<String>,
    #[strata(shard, shard_bytes = 2048, compress = "zstd")]
    packed: Vec<(u32, String)>,
}

fn check_vectors(archive: &Archive, v: &Vectors) -> strata::Result<()> {
    let view = archive.root::<Vectors>()?;
    assert_eq!(view.numbers.len(), v.numbers.len());
    for (i, n) in v.numbers.iter().enumerate() {
        assert_eq!(*view.numbers.get(i)?.unwrap(), *n);
    }
    assert!(view.numbers.get(v.numbers.len())?.is_none());
    for (i, w) in v.words.iter().enumerate() {
        assert_eq!(view.words.get(i)?.unwrap().as_str(), w);
    }
    let streamed: Vec<String> = view.words.iter().map(|e| e.map(|s| s.to_string())).collect::<strata::Result<_>>()?;
    assert_eq!(streamed, v.words);
    let mid = v.packed.len() / 3;
    let part: Vec<u32> =
        view.packed.range(mid..mid * 2 + 1).map(|e| e.map(|p| p.0.to_native())).collect::<strata::Result<_>>()?;
    let expected: Vec<u32> = v.packed.iter().skip(mid).take(part.len()).map(|p| p.0).collect();
    assert_eq!(part, expected);
    assert_eq!(view.numbers.load()?, v.numbers);
    assert_eq!(view.words.load()?, v.words);
    assert_eq!(view.packed.load()?, v.packed);
    assert_eq!(&archive.load::<Vectors>()?, v);
    Ok(())
}

/// Sizes around the shard boundaries of 1024-byte shards of u64 (128 per shard).
fn boundary_sizes() -> impl Strategy<Value = usize> {
    prop_oneof![Just(0usize), Just(1), (120usize..136), (250usize..262), (8190usize..8200), 0usize..3000]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sharded_vectors_roundtrip(n in boundary_sizes(), w in boundary_sizes(), seed in any::<u64>()) {
        let v = Vectors {
            numbers: (0..n as u64).map(|i| i.wrapping_mul(seed | 1)).collect(),
            words: (0..w).map(|i| "x".repeat((i * 7 + seed as usize) % 40)).collect(),
            packed: (0..w / 2).map(|i| (i as u32, format!("p{i}"))).collect(),
        };
        let archive = Archive::from_bytes(strata::to_bytes(&v).unwrap()).unwrap();
        check_vectors(&archive, &v).unwrap();
    }

    #[test]
    fn maps_roundtrip(
        by_name in prop::collection::hash_map(".{0,12}", any::<u32>(), 0..600),
        ordered in prop::collection::btree_map(any::<u64>(), ".{0,30}", 0..300),
        set in prop::collection::hash_set(any::<u32>(), 0..700),
        absent in prop::collection::vec(".{0,12}", 0..20),
        compress in any::<bool>(),
    ) {
        let m = Maps { by_name, ordered, set, tree_set: BTreeSet::new() };
        let options = if compress { SaveOptions::new().compression(Codec::Zstd(1)) } else { SaveOptions::new() };
        let archive = Archive::from_bytes(options.to_bytes(&m).unwrap()).unwrap();
        let view = archive.root::<Maps>().unwrap();
        for (k, v) in &m.by_name {
            prop_assert_eq!(view.by_name.get(k.as_str()).unwrap().map(|e| e.to_native()), Some(*v));
        }
        for k in absent.iter().filter(|k| !m.by_name.contains_key(*k)) {
            prop_assert!(view.by_name.get(k.as_str()).unwrap().is_none());
        }
        for (k, v) in &m.ordered {
            prop_assert_eq!(view.ordered.get(k).unwrap().map(|e| e.to_string()), Some(v.clone()));
        }
        for k in &m.set {
            prop_assert!(view.set.contains_key(k).unwrap());
        }
        prop_assert_eq!(view.by_name.iter().count(), m.by_name.len());
        prop_assert_eq!(view.by_name.load().unwrap(), m.by_name.clone());
        prop_assert_eq!(archive.load::<Maps>().unwrap(), m);
    }
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Maps {
    #[strata(map)]
    by_name: HashMap<String, u32>,
    #[strata(map, compress = "zstd")]
    ordered: BTreeMap<u64, String>,
    #[strata(map)]
    set: HashSet<u32>,
    #[strata(map)]
    tree_set: BTreeSet<String>,
}

#[test]
fn large_vectors_and_maps() {
    #[derive(Persist, Debug, PartialEq)]
    struct Large {
        // 16 KiB shards: 1,465 of them, more than one index node holds.
        #[strata(shard, shard_bytes = 16384)]
        numbers: Vec<u64>,
        #[strata(shard)]
        names: Vec<String>,
        #[strata(map)]
        index: HashMap<u64, u32>,
    }
    let large = Large {
        numbers: (0..3_000_000u64).map(|i| i * 3).collect(),
        names: (0..400_000).map(|i| format!("name-{i}")).collect(),
        index: (0..300_000u64).map(|i| (i * 7, i as u32)).collect(),
    };
    let bytes = strata::to_bytes(&large).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for archive in &strata_tests::open_every_way(bytes, dir.path(), "large.strata") {
        let view = archive.root::<Large>().unwrap();
        assert!(view.numbers.shard_count() > 512, "a table deeper than one node");
        assert!(view.numbers.table().depth() >= 2);
        for i in (0..3_000_000u64).step_by(997).chain([0, 2_999_999]) {
            assert_eq!(*view.numbers.get(i as usize).unwrap().unwrap(), i * 3);
        }
        for i in 0..400_000u64 {
            assert_eq!(view.names.get(i as usize).unwrap().unwrap().as_str(), format!("name-{i}"));
        }
        for i in 0..300_000u64 {
            assert_eq!(view.index.get(&(i * 7)).unwrap().map(|v| v.to_native()), Some(i as u32));
        }
        assert!(view.index.get(&1).unwrap().is_none());
        assert_eq!(archive.load::<Large>().unwrap(), large);
    }
}

/// A key type whose stable hashes all collide.
#[derive(Persist, Debug, PartialEq, Eq, Hash, Clone)]
struct Colliding(u32);

impl StableHash for Colliding {
    fn stable_hash(&self, h: &mut strata::StableHasher) {
        h.write(b"always the same");
    }
}

#[test]
fn colliding_hashes_are_told_apart_by_key() {
    #[derive(Persist, Debug, PartialEq)]
    struct M {
        #[strata(map)]
        m: HashMap<Colliding, String>,
    }
    let m = M { m: (0..500).map(|i| (Colliding(i), format!("v{i}"))).collect() };
    let bytes = strata::to_bytes(&m).unwrap();
    // Deterministic even though every hash is equal.
    let mut entries: Vec<_> = m.m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    entries.reverse();
    let reordered = M { m: entries.into_iter().collect() };
    assert_eq!(strata::to_bytes(&reordered).unwrap(), bytes);
    let archive = Archive::from_bytes(bytes).unwrap();
    let view = archive.root::<M>().unwrap();
    for i in 0..500 {
        assert_eq!(view.m.get(&Colliding(i)).unwrap().map(|v| v.to_string()), Some(format!("v{i}")));
    }
    assert!(view.m.get(&Colliding(500)).unwrap().is_none());
    assert_eq!(archive.load::<M>().unwrap(), m);
}

#[derive(Persist, StableHash, Debug, PartialEq, Eq, Hash, Clone)]
enum PlayerKey {
    Guest(u32),
    Named { region: u16, name: String },
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Player {
    level: u32,
    #[strata(lazy)]
    inventory: Vec<String>,
}

#[test]
fn derived_keys_and_values_with_lazy_fields() {
    #[derive(Persist, Debug, PartialEq)]
    struct Server {
        #[strata(map)]
        players: HashMap<PlayerKey, Player>,
        #[strata(shard, shard_bytes = 1024)]
        roster: Vec<Player>,
    }
    let players: HashMap<PlayerKey, Player> = (0..300u32)
        .map(|i| {
            let key = if i % 2 == 0 {
                PlayerKey::Guest(i)
            } else {
                PlayerKey::Named { region: (i % 5) as u16, name: format!("p{i}") }
            };
            (key, Player { level: i, inventory: vec![format!("sword{i}"); (i % 4) as usize] })
        })
        .collect();
    let roster: Vec<Player> = players.values().take(100).cloned().collect();
    let server = Server { players, roster };
    let archive = Archive::from_bytes(strata::to_bytes(&server).unwrap()).unwrap();
    let view = archive.root::<Server>().unwrap();
    for (k, p) in &server.players {
        let entry = view.players.get(k).unwrap().expect("present");
        assert_eq!(entry.level, p.level);
        assert_eq!(entry.inventory.load().unwrap(), p.inventory); // the value's own lazy field
    }
    assert!(view.players.get(&PlayerKey::Guest(1)).unwrap().is_none());
    for (i, p) in server.roster.iter().enumerate() {
        assert_eq!(view.roster.get(i).unwrap().unwrap().inventory.load().unwrap(), p.inventory);
    }
    assert_eq!(archive.load::<Server>().unwrap(), server);
}

#[test]
fn damage_to_other_shards_and_buckets_does_not_matter() {
    #[derive(Persist, Debug, PartialEq)]
    struct Both {
        #[strata(shard, shard_bytes = 1024)]
        numbers: Vec<u64>,
        #[strata(map)]
        names: HashMap<String, u64>,
    }
    let both =
        Both { numbers: (0..20_000).collect(), names: (0..20_000u64).map(|i| (format!("name{i}"), i)).collect() };
    let clean = strata::to_bytes(&both).unwrap();
    let archive = Archive::from_bytes(clean.clone()).unwrap();
    let view = archive.root::<Both>().unwrap();
    let shards = view.numbers.shard_count();
    let buckets = view.names.bucket_count();
    assert!(shards > 10 && buckets > 10);

    // Corrupt every other shard and every other bucket (a byte in the middle of each).
    let mut bytes = clean.clone();
    let shard_chunks: Vec<_> = (0..shards).map(|s| view.numbers.shard_chunk(s).unwrap()).collect();
    let bucket_chunks: Vec<_> = (0..buckets).map(|b| view.names.bucket_chunk(b).unwrap()).collect();
    for c in shard_chunks.iter().step_by(2).chain(bucket_chunks.iter().step_by(2)) {
        bytes[(c.offset() + c.stored_len() / 2) as usize] ^= 0xFF;
    }
    let archive = Archive::from_bytes(bytes).unwrap();
    let view = archive.root::<Both>().unwrap();
    for i in 0..20_000u64 {
        let s = (i / 128) as usize; // 1024-byte shards of u64: 128 elements each

        match view.numbers.get(i as usize) {
            Ok(Some(v)) => assert!(s % 2 == 1 && *v == i, "element {i} of shard {s}"),
            Err(Error::ChecksumMismatch { at, .. }) => {
                assert_eq!(s % 2, 0);
                assert_eq!(at.offset, shard_chunks[s].offset());
            }
            other => panic!("element {i}: {:?}", other.map(|o| o.map(|v| *v))),
        }
    }
    let mut good = 0;
    for (name, value) in &both.names {
        let b = strata::map::bucket_of(strata::hash::stable_hash(name.as_str()), buckets as u64) as usize;
        match view.names.get(name.as_str()) {
            Ok(Some(v)) => {
                assert!(b % 2 == 1 && *v == *value);
                good += 1;
            }
            Err(Error::ChecksumMismatch { at, .. }) => {
                assert_eq!(b % 2, 0);
                assert_eq!(at.offset, bucket_chunks[b].offset());
            }
            other => panic!("{name}: {:?}", other.map(|o| o.map(|v| v.to_native()))),
        }
    }
    assert!(good > 5_000);
    assert!(archive.load::<Both>().is_err());
}

#[test]
fn the_directory_lists_every_chunk_with_its_path() {
    #[derive(Persist, Debug, PartialEq)]
    struct Region {
        #[strata(lazy)]
        tiles: Vec<u16>,
    }
    #[derive(Persist, Debug, PartialEq)]
    enum Extra {
        Blob(#[strata(lazy)] Vec<u8>),
    }
    #[derive(Persist, Debug, PartialEq)]
    struct Game {
        #[strata(lazy)]
        region: Region,
        extra: Extra,
        #[strata(shard, shard_bytes = 1024)]
        scores: Vec<u64>,
        #[strata(map)]
        players: HashMap<String, u32>,
    }
    let game = Game {
        region: Region { tiles: vec![1, 2, 3] },
        extra: Extra::Blob(vec![0; 10]),
        scores: (0..10_000).collect(),
        players: (0..2_000).map(|i| (format!("p{i}"), i)).collect(),
    };
    let archive = Archive::from_bytes(strata::to_bytes(&game).unwrap()).unwrap();
    let meta = archive.directory().unwrap();
    let paths: Vec<String> = (0..meta.chunks.len()).map(|i| meta.path(i)).collect();
    for expected in [
        "<root>",
        "region",
        "region.tiles",
        "Blob.0",
        "scores",
        "scores[shard 0]",
        "scores[shard 78]",
        "players",
        "players[bucket 0]",
    ] {
        assert!(paths.iter().any(|p| p == expected), "{expected} missing from {paths:?}");
    }
    let view = archive.root::<Game>().unwrap();
    // Every chunk is listed once, at the offset its reference gives.
    let shards = view.scores.shard_count() as usize;
    let buckets = view.players.bucket_count() as usize;
    let kinds =
        |k: strata::raw::format::meta::ChunkKind| meta.chunks.iter().filter(|e| e.chunk_kind() == Some(k)).count();
    assert_eq!(kinds(strata::raw::format::meta::ChunkKind::Shard), shards);
    assert_eq!(kinds(strata::raw::format::meta::ChunkKind::Bucket), buckets);
    // 79 shards fit one index node (the vector's root node): no other nodes.
    assert_eq!(kinds(strata::raw::format::meta::ChunkKind::IndexNode), 0);
    let shard_7 = (0..meta.chunks.len()).find(|&i| meta.path(i) == "scores[shard 7]").unwrap();
    assert_eq!(meta.chunks[shard_7].chunk, view.scores.shard_chunk(7).unwrap());
    let mut offsets: Vec<u64> = meta.chunks.iter().map(|e| e.chunk.offset()).collect();
    offsets.sort_unstable();
    offsets.dedup();
    assert_eq!(offsets.len(), meta.chunks.len());
}
