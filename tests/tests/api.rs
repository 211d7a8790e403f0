//! The collection conveniences of views, owned loads of elements and entries, one-call
//! loads, thread counts, and the inspector, as a user calls them.

use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use strata::{Archive, OpenOptions, Persist, SaveOptions};

#[derive(Persist, Debug, Clone, PartialEq)]
struct Player {
    id: u64,
    name: String,
    #[strata(lazy)]
    inventory: Vec<String>,
}

#[derive(Persist, Debug, Clone, PartialEq)]
enum Label {
    Named { name: String, weight: f32 },
    Plain,
    Pair(u8, Option<u16>),
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct World {
    seed: u64,
    #[strata(shard)]
    tags: Vec<Label>,
    #[strata(shard)]
    players: Vec<Player>,
    #[strata(shard)]
    numbers: Vec<u32>,
    #[strata(map)]
    by_name: HashMap<String, Player>,
    #[strata(map)]
    tiles: BTreeMap<u32, Vec<u8>>,
}

fn player(i: u64) -> Player {
    Player { id: i, name: format!("p{i}"), inventory: (0..i % 4).map(|k| format!("item{k}")).collect() }
}

fn world(players: u64, numbers: u32) -> World {
    let list: Vec<Player> = (0..players).map(player).collect();
    World {
        seed: 42,
        tags: vec![Label::Named { name: "a".into(), weight: 0.5 }, Label::Plain, Label::Pair(3, Some(9))],
        by_name: list.iter().map(|p| (p.name.clone(), p.clone())).collect(),
        players: list,
        numbers: (0..numbers).collect(),
        tiles: (0..50u32).map(|t| (t, vec![t as u8; (t as usize) % 7])).collect(),
    }
}

#[test]
fn elements_and_entries_load_as_owned_values() -> strata::Result<()> {
    let w = world(3000, 10);
    let archive = Archive::from_bytes(strata::to_bytes(&w)?)?;
    let root = archive.root::<World>()?;
    for i in [0usize, 1, 1234, 2999] {
        let elem = root.players.get(i)?.ok_or(strata::Error::Detached)?;
        // The lazy inventory comes back loaded.
        assert_eq!(elem.load()?, w.players[i]);
        let entry = root.by_name.get(w.players[i].name.as_str())?.ok_or(strata::Error::Detached)?;
        assert_eq!(entry.load()?, w.players[i]);
        assert_eq!(entry.load_key()?, w.players[i].name);
    }
    let tile = root.tiles.get(&9)?.ok_or(strata::Error::Detached)?;
    assert_eq!(tile.load()?, w.tiles[&9]);
    // Views compare with plain values where the archived type does: numbers, vectors,
    // and the archived forms the derive makes (field by field, variant by variant).
    assert!(root.numbers.get(7)?.is_some_and(|n| n == 7u32));
    assert!(root.tiles.get(&3)?.is_some_and(|t| t == vec![3u8; 3]));
    let seen: Vec<bool> = (0..3)
        .map(|k| Ok(*root.tags.get(k)?.ok_or(strata::Error::Detached)? == w.tags[k]))
        .collect::<strata::Result<_>>()?;
    assert_eq!(seen, [true, true, true]);
    assert!(*root.tags.get(0)?.ok_or(strata::Error::Detached)? != Label::Plain);
    assert!(root.tags.get(1)?.is_some_and(|t| t == Label::Plain));
    Ok(())
}

#[test]
fn vectors_answer_like_std_collections() -> strata::Result<()> {
    let w = world(5000, 100_000);
    let archive = Archive::from_bytes(strata::to_bytes(&w)?)?;
    let numbers = &archive.root::<World>()?.numbers;
    assert!(numbers.shard_count() > 2, "the test needs several shards");
    let len: usize = numbers.len();
    assert_eq!(len, w.numbers.len());
    assert_eq!(numbers.first()?.map(|n| n.to_native()), w.numbers.first().copied());
    assert_eq!(numbers.last()?.map(|n| n.to_native()), w.numbers.last().copied());
    assert!(numbers.get(len)?.is_none());
    // ExactSizeIterator and DoubleEndedIterator, across shards at both ends.
    let iter = numbers.iter();
    assert_eq!(iter.len(), len);
    let back: Vec<u32> = numbers.iter().rev().map(|n| n.map(|n| n.to_native())).collect::<Result<_, _>>()?;
    assert_eq!(back, w.numbers.iter().rev().copied().collect::<Vec<_>>());
    let mut both = numbers.range(10..90_000);
    let mut front = Vec::new();
    let mut rear = Vec::new();
    while let Some(n) = both.next() {
        front.push(n?.to_native());
        if let Some(m) = both.next_back() {
            rear.push(m?.to_native());
        }
        assert_eq!(both.len(), 89_990 - front.len() - rear.len());
    }
    rear.reverse();
    front.extend(rear);
    assert_eq!(front, w.numbers[10..90_000]);
    // Every kind of range bound, clamped to the length.
    let collect = |it: strata::sharded::Iter<'_, u32>| -> strata::Result<Vec<u32>> {
        it.map(|n| n.map(|n| n.to_native())).collect()
    };
    assert_eq!(collect(numbers.range(99_990..))?, w.numbers[99_990..]);
    assert_eq!(collect(numbers.range(..=3))?, w.numbers[..=3]);
    assert_eq!(collect(numbers.range(99_998..200_000))?, w.numbers[99_998..]);
    assert_eq!(collect(numbers.range(5..5))?, Vec::<u32>::new());
    assert_eq!(numbers.iter().nth(54_321).transpose()?.map(|n| n.to_native()), Some(54_321));
    let (start, shard) = numbers.shard(1)?;
    assert_eq!(shard.first().map(|n| n.to_native()), Some(u32::try_from(start).unwrap_or(u32::MAX)));
    Ok(())
}

#[test]
fn maps_give_values_and_size_hints() -> strata::Result<()> {
    let w = world(2000, 0);
    let archive = Archive::from_bytes(strata::to_bytes(&w)?)?;
    let by_name = &archive.root::<World>()?.by_name;
    assert_eq!(by_name.len(), 2000);
    let mut iter = by_name.iter();
    assert_eq!(iter.size_hint(), (2000, Some(2000)));
    iter.next().transpose()?;
    assert_eq!(iter.size_hint(), (1999, Some(1999)));
    let mut ids: Vec<u64> = by_name.values().map(|v| v.map(|v| v.id.to_native())).collect::<Result<_, _>>()?;
    ids.sort_unstable();
    assert_eq!(ids, (0..2000).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn one_call_loads_and_thread_counts() -> strata::Result<()> {
    let w = world(3000, 50_000);
    let dir = tempfile::tempdir().map_err(strata::Error::Io)?;
    let path = dir.path().join("w.strata");
    strata::save(&path, &w)?;
    assert_eq!(strata::load::<World>(&path)?, w);
    let bytes = strata::to_bytes(&w)?;
    assert_eq!(strata::from_bytes::<World>(&bytes)?, w);
    // An image at an odd address is copied into an aligned buffer.
    let mut shifted = vec![0u8];
    shifted.extend_from_slice(&bytes);
    assert_eq!(strata::from_bytes::<World>(&shifted[1..])?, w);
    for threads in [1, 2, 3] {
        assert_eq!(SaveOptions::new().threads(threads).to_bytes(&w)?, bytes, "{threads} threads");
        let archive = Archive::from_bytes_with(bytes.clone(), &OpenOptions::new().threads(threads))?;
        assert_eq!(archive.load::<World>()?, w);
        let root = archive.root::<World>()?;
        assert_eq!(root.players.load()?, w.players);
        assert_eq!(root.by_name.load()?, w.by_name);
        assert!(archive.verify()?.is_ok());
    }
    Ok(())
}

#[test]
fn loads_on_one_thread_stay_on_it() -> strata::Result<()> {
    // Run from a thread of a one-thread pool: a save and a load with threads(1) finish
    // (nothing waits for a second thread) and match the defaults.
    let w = world(1000, 20_000);
    let pool =
        rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|e| strata::Error::Message(e.to_string()))?;
    let bytes = pool.install(|| SaveOptions::new().threads(1).to_bytes(&w))?;
    assert_eq!(bytes, strata::to_bytes(&w)?);
    let archive = Archive::from_bytes_with(bytes, &OpenOptions::new().threads(1))?;
    assert_eq!(pool.install(|| archive.load::<World>())?, w);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any range, read from the front, the back or both, gives the slice's elements.
    #[test]
    fn ranges_read_from_both_ends_match_slices(
        len in 0u32..40_000,
        a in 0usize..45_000,
        b in 0usize..45_000,
        pattern in proptest::collection::vec(any::<bool>(), 1..64),
    ) {
        let numbers: Vec<u32> = (0..len).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        let w = World { seed: 0, tags: Vec::new(), players: Vec::new(), numbers: numbers.clone(), by_name: HashMap::new(), tiles: BTreeMap::new() };
        let archive = Archive::from_bytes(strata::to_bytes(&w)?)?;
        let v = &archive.root::<World>()?.numbers;
        let (lo, hi) = (a.min(b), a.max(b));
        let expected: Vec<u32> = numbers.get(lo.min(numbers.len())..hi.min(numbers.len())).unwrap_or_default().to_vec();
        let mut it = v.range(lo..hi);
        prop_assert_eq!(it.len(), expected.len());
        let (mut front, mut back) = (Vec::new(), Vec::new());
        for &from_back in pattern.iter().cycle() {
            let next = if from_back { it.next_back() } else { it.next() };
            match next {
                None => break,
                Some(e) => if from_back { back.push(e?.to_native()) } else { front.push(e?.to_native()) },
            }
        }
        back.reverse();
        front.extend(back);
        prop_assert_eq!(front, expected);
    }
}

#[test]
fn the_inspector_shows_the_chunk_tree() -> strata::Result<()> {
    use strata::raw::format::meta::ChunkKind;
    let w = world(3000, 100_000);
    let bytes = strata::to_bytes(&w)?;
    let archive = Archive::from_bytes(bytes.clone())?;
    let tree = archive.inspect()?;
    assert_eq!(tree.root_type(), Some("World"));
    assert_eq!(tree.file_len(), bytes.len() as u64);
    let root = tree.roots().first().and_then(|&r| tree.chunks().get(r)).ok_or(strata::Error::Detached)?;
    assert_eq!(root.kind, Some(ChunkKind::Root));
    // The root's totals cover every chunk of the directory.
    assert_eq!(root.total.chunks, tree.chunks().len() as u64);
    let stored: u64 = tree.chunks().iter().map(|c| c.chunk.stored_len()).sum();
    assert_eq!(root.total.stored, stored);
    let numbers = tree.chunks().iter().find(|c| c.path == "numbers").ok_or(strata::Error::Detached)?;
    let shards = archive.root::<World>()?.numbers.shard_count();
    assert_eq!(tree.count(numbers, ChunkKind::Shard), shards);
    assert_eq!(tree.describe(numbers), format!("vector, 100000 elements in {shards} shards"));
    // Lazy fields inside shard elements have their place in the tree.
    assert!(tree.chunks().iter().any(|c| c.path == "players[shard 0].inventory"));
    // Display: a few children per collection, all of them with {:#}, a depth bound.
    let short = tree.to_string();
    let long = format!("{tree:#}");
    assert!(short.starts_with(&format!(
        "{}, format {}, root type World",
        strata::inspect::Bytes(bytes.len() as u64),
        strata::raw::format::VERSION
    )));
    assert!(short.contains("numbers vector, 100000 elements in"), "{short}");
    assert!(short.contains("more"), "{short}");
    assert!(long.lines().count() > short.lines().count());
    assert!(long.contains(&format!("[shard {}] shard", shards - 1)), "{long}");
    let top = tree.tree(2, 8).to_string();
    assert!(top.contains("chunks below") && !top.contains("[shard 0]"), "{top}");
    Ok(())
}

#[test]
fn a_lazy_vectors_length_needs_no_read_and_is_checked_when_read() -> strata::Result<()> {
    #[derive(Persist, Debug, PartialEq)]
    struct Doc {
        title: String,
        #[strata(lazy)]
        body: Vec<String>,
        #[strata(lazy)]
        empty: Vec<u8>,
    }
    let doc = Doc { title: "t".into(), body: (0..77).map(|i| format!("line {i}")).collect(), empty: Vec::new() };
    let bytes = strata::to_bytes(&doc)?;
    let archive = Archive::from_bytes(bytes.clone())?;
    let root = archive.root::<Doc>()?;
    let before = archive.cache_stats().chunks;
    assert_eq!(root.body.len()?, 77);
    assert!(root.empty.is_empty()?);
    assert_eq!(archive.cache_stats().chunks, before, "the lengths came from the references");
    assert_eq!(root.body.chunk().count(), Some(77));

    // A file whose reference declares another count than its chunk holds: the length is
    // the declaration, and reading the chunk is an error naming it.
    let at = root.body.chunk().offset();
    let r = root.body.chunk().to_bytes();
    let mut lying = bytes;
    let start = lying.windows(40).position(|w| w == r).ok_or(strata::Error::Detached)?;
    lying[start + 33] = 100; // 99 elements
    let lying = strata_tests::hostile::reseal_root(&lying);
    let archive = Archive::from_bytes(lying)?;
    let root = archive.root::<Doc>()?;
    assert_eq!(root.body.len()?, 99);
    for e in [root.body.view().map(|_| ()).unwrap_err(), root.body.load().map(|_| ()).unwrap_err()] {
        assert!(
            matches!(&e, strata::Error::InvalidData { at: l, detail, .. } if l.offset == at && detail.contains("records 99")),
            "{e}"
        );
    }
    Ok(())
}

#[test]
fn the_fast_compression_preset_shrinks_and_reads_back() -> strata::Result<()> {
    #[derive(Persist, Debug, PartialEq)]
    struct Log {
        #[strata(shard, compress = "fast")]
        lines: Vec<String>,
        #[strata(lazy, compress = "zstd(-5)")]
        notes: Vec<String>,
    }
    let log = Log {
        lines: (0..20_000).map(|i| format!("GET /items/{} 200", i % 300)).collect(),
        notes: (0..2_000).map(|i| format!("note {}", i % 10)).collect(),
    };
    let bytes = strata::to_bytes(&log)?;
    let archive = Archive::from_bytes(bytes)?;
    let root = archive.root::<Log>()?;
    assert!(root.notes.is_compressed());
    assert!(
        archive
            .inspect()?
            .chunks()
            .iter()
            .any(|c| c.path.starts_with("lines[shard") && c.chunk.stored_len() < c.chunk.raw_len())
    );
    assert_eq!(archive.load::<Log>()?, log);
    // The preset on a whole save.
    let w = world(2_000, 50_000);
    let plain = strata::to_bytes(&w)?;
    let fast = SaveOptions::new().compression(strata::Codec::FAST).to_bytes(&w)?;
    assert!(fast.len() < plain.len(), "{} against {}", fast.len(), plain.len());
    assert_eq!(strata::from_bytes::<World>(&fast)?, w);
    Ok(())
}

/// Compressed shards of a field that keeps the default size hold about 8 KiB, not
/// 32 KiB (an element read decompresses its whole shard); a size the field sets is kept.
#[test]
fn compressed_shards_are_smaller_unless_the_field_sets_a_size() -> strata::Result<()> {
    #[derive(Persist, Debug, PartialEq)]
    struct Series {
        #[strata(shard)]
        plain: Vec<u64>,
        #[strata(shard, compress = "fast")]
        fast: Vec<u64>,
        #[strata(shard, shard_bytes = 16384)]
        sized: Vec<u64>,
    }
    let v: Vec<u64> = (0..50_000u64).map(|i| i * i % 1_000).collect();
    let s = Series { plain: v.clone(), fast: v.clone(), sized: v };
    // The largest raw shard of each field.
    let largest = |bytes: Vec<u8>| -> strata::Result<BTreeMap<String, u64>> {
        let archive = Archive::from_bytes(bytes)?;
        assert_eq!(archive.load::<Series>()?, s);
        let mut out = BTreeMap::new();
        for c in archive.inspect()?.chunks() {
            if let Some((field, _)) = c.path.split_once("[shard") {
                let max = out.entry(field.to_string()).or_insert(0);
                *max = c.chunk.raw_len().max(*max);
            }
        }
        Ok(out)
    };
    let around = |n: u64, target: u64| n > target / 2 && n <= target + 1024;
    let plain = largest(strata::to_bytes(&s)?)?;
    assert!(around(plain["plain"], 32 << 10), "{plain:?}");
    assert!(around(plain["fast"], 8 << 10), "{plain:?}");
    assert!(around(plain["sized"], 16 << 10), "{plain:?}");
    let fast = largest(SaveOptions::new().compression(strata::Codec::FAST).to_bytes(&s)?)?;
    assert!(around(fast["plain"], 8 << 10), "{fast:?}");
    assert!(around(fast["fast"], 8 << 10), "{fast:?}");
    assert!(around(fast["sized"], 16 << 10), "{fast:?}");
    Ok(())
}

#[test]
fn saves_write_front_to_back_to_any_writer() -> strata::Result<()> {
    let w = world(500, 20_000);
    // The same bytes as a file, through a writer that cannot seek.
    let mut out = Vec::new();
    strata::SaveOptions::new().write(&mut out, &w)?;
    assert_eq!(out, strata::to_bytes(&w)?);
    assert_eq!(Archive::from_bytes(out)?.load::<World>()?, w);
    // A writer that fails part way: the save reports it.
    struct Full(usize);
    impl std::io::Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0 < buf.len() {
                return Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "full"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let failed = strata::SaveOptions::new().write(Full(100_000), &w);
    assert!(matches!(&failed, Err(strata::Error::Io(e)) if e.kind() == std::io::ErrorKind::StorageFull), "{failed:?}");
    Ok(())
}

#[test]
fn space_accounts_for_every_byte_of_the_file() -> strata::Result<()> {
    let w = world(3000, 100_000);
    let bytes = strata::to_bytes(&w)?;
    let archive = Archive::from_bytes(bytes.clone())?;
    let space = archive.space()?;
    let fields: u64 = space.fields.iter().map(|f| f.stored).sum();
    let total =
        space.root + space.meta + space.tail_copies + space.chunk_padding + space.header_footer + space.dead + fields;
    assert_eq!(total, bytes.len() as u64, "{space:#?}");
    assert_eq!(space.dead, 0);
    // An uncompressed map: values, index nodes, bucket headers and entry padding are
    // its bytes.
    let by_name = space.fields.iter().find(|f| f.path == "by_name").ok_or(strata::Error::Detached)?;
    // Compact buckets: a 32-bit hash and a 32-bit end per entry.
    assert!(by_name.bucket_headers >= 8 * 3000 && by_name.index_nodes > 0 && by_name.values > 0);
    assert_eq!(by_name.values + by_name.overhead(), by_name.stored, "{by_name:?}");
    assert!(space.to_string().contains("bucket headers"));
    Ok(())
}
