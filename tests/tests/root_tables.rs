//! A vector or map saved as the root value: `Sharded<T>` and `Mapped<K, V>` roots are
//! sharded and bucketed as fields are, read lazily, stay in the archive after a load,
//! stream, append, evolve and decode without their types.

use proptest::prelude::*;
use std::collections::HashMap;
use strata::{Archive, Mapped, Persist, SaveOptions, Sharded};

#[derive(Persist, Debug, Clone, PartialEq)]
struct Event {
    at: u64,
    kind: String,
}

fn event(i: u64) -> Event {
    Event { at: i * 3, kind: format!("kind-{}", i % 17) }
}

fn events(n: u64) -> Vec<Event> {
    (0..n).map(event).collect()
}

fn names(n: u64) -> HashMap<String, u64> {
    (0..n).map(|i| (format!("name-{i}"), i)).collect()
}

#[test]
fn a_root_vector_is_sharded_and_one_element_reads_one_shard() -> strata::Result<()> {
    let dir = tempfile::tempdir().map_err(strata::Error::Io)?;
    let path = dir.path().join("events.strata");
    let stats = strata::save(&path, &Sharded::new(events(100_000)))?;
    assert!(stats.chunks > 50, "{} chunks: the vector is not one chunk", stats.chunks);

    let archive = Archive::open(&path)?;
    let view = archive.root::<Sharded<Event>>()?;
    assert_eq!(view.len(), 100_000);
    let before = archive.cache_stats().chunks;
    let e = view.get(77_777)?.expect("in range");
    assert_eq!((e.at.to_native(), e.kind.as_str()), (77_777 * 3, "kind-2"));
    // The shard and, at most, the index nodes above it.
    let read = archive.cache_stats().chunks - before;
    assert!((1..=3).contains(&read), "{read} chunks read for one element");
    assert!(view.get(100_000)?.is_none());

    // A load leaves the vector in the archive; its elements read back.
    let loaded: Sharded<Event> = archive.load()?;
    assert!(loaded.is_in_archive());
    assert_eq!(loaded.get(5)?, Some(event(5)));
    assert_eq!(loaded.to_vec()?, events(100_000));
    Ok(())
}

#[test]
fn a_root_map_is_bucketed_and_one_lookup_reads_one_bucket() -> strata::Result<()> {
    let dir = tempfile::tempdir().map_err(strata::Error::Io)?;
    let path = dir.path().join("names.strata");
    let stats = strata::save(&path, &Mapped::new(names(50_000)))?;
    assert!(stats.chunks > 10, "{} chunks: the map is not one chunk", stats.chunks);

    let archive = Archive::open(&path)?;
    let view = archive.root::<Mapped<String, u64>>()?;
    assert_eq!(view.len(), 50_000);
    let before = archive.cache_stats().chunks;
    assert_eq!(view.get("name-31337")?.map(|v| v.to_native()), Some(31_337));
    let read = archive.cache_stats().chunks - before;
    assert!((1..=3).contains(&read), "{read} chunks read for one lookup");
    assert!(view.get("nobody")?.is_none());

    let loaded: Mapped<String, u64> = archive.load()?;
    assert!(loaded.is_in_archive());
    assert_eq!(loaded.get(&"name-7".to_owned())?, Some(7));
    assert_eq!(loaded.to_map()?, names(50_000));
    Ok(())
}

#[test]
fn streamed_roots_write_the_bytes_of_a_save() -> strata::Result<()> {
    for n in [0, 1, 20_000] {
        let saved = strata::to_bytes(&Sharded::new(events(n)))?;
        let streamed = SaveOptions::new().to_bytes_with(|w| w.shard("items", (0..n).map(event)))?;
        assert!(saved == streamed, "{n} events: the streamed root differs from the saved one");

        let saved = strata::to_bytes(&Mapped::new(names(n)))?;
        let streamed = SaveOptions::new().to_bytes_with(|w| w.map("entries", names(n)))?;
        assert!(saved == streamed, "{n} names: the streamed root differs from the saved one");
    }
    // A handle streamed under another name is refused, not misplaced.
    let e = SaveOptions::new().to_bytes_with(|w| w.shard("events", (0..10).map(event))).unwrap_err();
    assert!(e.to_string().contains("items"), "{e}");
    Ok(())
}

#[test]
fn an_edited_root_vector_appends_in_proportion_to_the_change() -> strata::Result<()> {
    let dir = tempfile::tempdir().map_err(strata::Error::Io)?;
    let path = dir.path().join("events.strata");
    let incremental = SaveOptions::new().incremental(true);
    incremental.save(&path, &Sharded::new(events(100_000)))?;

    let mut v: Sharded<Event> = strata::load(&path)?;
    v.set(12_345, Event { at: 0, kind: "changed".into() })?;
    v.push(event(100_000))?;
    let stats = incremental.save(&path, &v)?;
    assert!(stats.appended, "the save appended");
    assert!(stats.chunks <= 10, "{} chunks written for one change and one push", stats.chunks);

    let mut expected = events(100_001);
    expected[12_345] = Event { at: 0, kind: "changed".into() };
    assert_eq!(strata::load::<Sharded<Event>>(&path)?.to_vec()?, expected);
    Ok(())
}

#[test]
fn root_tables_decode_without_their_types() -> strata::Result<()> {
    let bytes = strata::to_bytes(&Sharded::new(events(3)))?;
    let archive = Archive::from_bytes(bytes)?;
    let text = archive.schema_text()?;
    assert!(text.contains("root Sharded<Event>"), "{text}");
    assert!(text.contains("items @0: shard Vec<Event>"), "{text}");
    let value = archive.value()?;
    let shown = format!("{value:?}");
    assert!(shown.contains("kind-2"), "{shown}");

    let bytes = strata::to_bytes(&Mapped::new(names(2)))?;
    let archive = Archive::from_bytes(bytes)?;
    assert!(archive.schema_text()?.contains("entries @0: map HashMap<String, u64>"));
    let shown = format!("{:?}", archive.value()?);
    assert!(shown.contains("name-1"), "{shown}");
    Ok(())
}

mod v2 {
    use strata::Persist;

    /// `Event` with a field added.
    #[derive(Persist, Debug, Clone, PartialEq)]
    pub struct Event {
        pub at: u64,
        pub kind: String,
        #[strata(default)]
        pub weight: u32,
    }
}

#[test]
fn a_root_vector_of_an_evolved_type_reads_through_its_plan() -> strata::Result<()> {
    let bytes = strata::to_bytes(&Sharded::new(events(10_000)))?;
    let archive = Archive::from_bytes(bytes)?;
    let view = archive.root::<Sharded<v2::Event>>()?;
    let e = view.get(9_999)?.expect("in range");
    assert_eq!((e.at.to_native(), e.kind.as_str(), e.weight.to_native()), (29_997, "kind-3", 0));
    let loaded: Vec<v2::Event> = archive.load::<Sharded<v2::Event>>()?.into_vec()?;
    assert_eq!(loaded.len(), 10_000);
    assert_eq!(loaded[4], v2::Event { at: 12, kind: "kind-4".into(), weight: 0 });
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn any_root_vector_and_map_round_trip(
        items in proptest::collection::vec((any::<u32>(), ".{0,8}"), 0..3_000),
        keys in proptest::collection::hash_set(".{0,12}", 0..500),
        zstd in any::<bool>(),
    ) {
        let options = if zstd { SaveOptions::new().compression(strata::Codec::Zstd(1)) } else { SaveOptions::new() };
        let bytes = options.to_bytes(&Sharded::new(items.clone()))?;
        let archive = Archive::from_bytes(bytes)?;
        let view = archive.root::<Sharded<(u32, String)>>()?;
        prop_assert_eq!(view.len(), items.len());
        for (i, (n, s)) in items.iter().enumerate().step_by(97) {
            let e = view.get(i)?.expect("in range");
            prop_assert_eq!((e.0.to_native(), e.1.as_str()), (*n, s.as_str()));
        }
        prop_assert_eq!(archive.load::<Sharded<(u32, String)>>()?.into_vec()?, items);

        let map: HashMap<String, u64> = keys.iter().cloned().zip(0..).collect();
        let archive = Archive::from_bytes(options.to_bytes(&Mapped::new(map.clone()))?)?;
        let view = archive.root::<Mapped<String, u64>>()?;
        for (k, v) in &map {
            prop_assert_eq!(view.get(k.as_str())?.map(|v| v.to_native()), Some(*v));
        }
        prop_assert_eq!(archive.load::<Mapped<String, u64>>()?.into_map()?, map);
    }
}

/// Standalone tables inside other values: each element's vector or map has its own
/// chunks.
#[derive(Persist, Debug, PartialEq)]
struct Partitions {
    name: String,
    parts: Vec<Sharded<u64>>,
    indexes: Option<Mapped<u64, String>>,
}

#[test]
fn tables_inside_other_values_round_trip_and_compact() -> strata::Result<()> {
    let dir = tempfile::tempdir().map_err(strata::Error::Io)?;
    let path = dir.path().join("parts.strata");
    let parts = |k: u64| -> Vec<Sharded<u64>> { (0..k).map(|p| Sharded::new((0..p * 5_000).collect())).collect() };
    let index: HashMap<u64, String> = (0..3_000).map(|i| (i, format!("#{i}"))).collect();
    let value = Partitions { name: "p".into(), parts: parts(4), indexes: Some(Mapped::new(index.clone())) };
    let incremental = SaveOptions::new().incremental(true);
    incremental.save(&path, &value)?;
    assert_eq!(strata::to_bytes(&value)?, std::fs::read(&path).map_err(strata::Error::Io)?, "deterministic");

    let archive = Archive::open(&path)?;
    let view = archive.root::<Partitions>()?;
    assert_eq!(view.parts.len(), 4);
    assert_eq!(view.parts[3].get(14_999)?.map(|v| v.to_native()), Some(14_999));
    let indexes = view.indexes.as_ref().expect("some");
    assert_eq!(indexes.get(&2_999)?.map(|s| s.as_str().to_owned()), Some("#2999".into()));

    let mut loaded: Partitions = archive.load()?;
    assert_eq!(loaded, value);
    loaded.parts[2].set(7, 0)?;
    incremental.save(&path, &loaded)?;
    let stats = strata::compact(&path)?;
    assert!(stats.after < stats.before, "{stats:?}");
    let again: Partitions = strata::load(&path)?;
    assert_eq!(again.parts[2].get(7)?, Some(0));
    assert_eq!(again.parts[3].to_vec()?, (0..15_000).collect::<Vec<u64>>());
    assert_eq!(again.indexes.expect("some").to_map()?, index);
    Ok(())
}
