//! Saves that stream a sharded vector from an iterator (`SaveOptions::save_with`,
//! `Writer::shard`): the file reads as if the vector had been in memory, the bytes are
//! those of a save of the same value, memory stays bounded, and handles cannot be
//! misplaced.

use proptest::prelude::*;
use std::process::Command;
use strata::{Archive, Persist, SaveOptions, Sharded};

#[derive(Persist, Debug, Clone, PartialEq)]
struct Event {
    at: u64,
    kind: String,
    tags: Vec<u16>,
}

fn event(i: u64) -> Event {
    Event { at: i * 3, kind: format!("kind-{}", i % 17), tags: (0..(i % 5) as u16).collect() }
}

/// With a lazy field in each element: elements that hold chunks are written one shard
/// at a time, with their children.
#[derive(Persist, Debug, Clone, PartialEq)]
struct Note {
    id: u32,
    #[strata(lazy)]
    body: Vec<String>,
}

fn note(i: u32) -> Note {
    Note { id: i, body: (0..i % 3).map(|k| format!("line {k} of {i}")).collect() }
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Log {
    name: String,
    events: Sharded<Event>,
    #[strata(shard, shard_bytes = 2048, compress = "zstd(1)")]
    notes: Sharded<Note>,
}

fn streamed(n: u64, options: &SaveOptions) -> strata::Result<Vec<u8>> {
    options.to_bytes_with(|w| {
        let events = w.shard("events", (0..n).map(event))?;
        let notes = w.shard_with("notes", (0..n as u32 / 10).map(note), 2048, Some(strata::Codec::Zstd(1)))?;
        Ok(Log { name: "app".into(), events, notes })
    })
}

fn in_memory(n: u64) -> Log {
    Log {
        name: "app".into(),
        events: Sharded::new((0..n).map(event).collect()),
        notes: Sharded::new((0..n as u32 / 10).map(note).collect()),
    }
}

#[test]
fn a_streamed_vector_writes_the_bytes_of_a_save_of_the_same_value() -> strata::Result<()> {
    for n in [0, 1, 999, 20_000] {
        let options = SaveOptions::new();
        let bytes = streamed(n, &options)?;
        assert_eq!(bytes, options.to_bytes(&in_memory(n))?, "{n} events");
        // The same schema as `#[strata(shard)] Vec<T>` fields: each reads the other's files.
        mod plain {
            #[derive(strata::Persist, Debug)]
            pub struct Log {
                pub name: String,
                #[strata(shard)]
                pub events: Vec<super::Event>,
                #[strata(shard, shard_bytes = 2048, compress = "zstd(1)")]
                pub notes: Vec<super::Note>,
            }
        }
        let archive = Archive::from_bytes(bytes)?;
        let p: plain::Log = archive.load()?;
        assert_eq!(p.events.len() as u64, n);
        assert!(p.events.iter().enumerate().all(|(i, e)| *e == event(i as u64)));
        assert!(archive.verify()?.is_ok());
    }
    Ok(())
}

#[test]
fn a_streamed_file_reads_back_through_views_and_loads() -> strata::Result<()> {
    let dir = tempfile::tempdir().map_err(strata::Error::Io)?;
    let path = dir.path().join("log.strata");
    let n = 50_000u64;
    SaveOptions::new().save_with(&path, |w| {
        let events = w.shard("events", (0..n).map(event))?;
        let notes = w.shard_with("notes", (0..n as u32 / 10).map(note), 2048, Some(strata::Codec::Zstd(1)))?;
        Ok(Log { name: "app".into(), events, notes })
    })?;
    let archive = Archive::open(&path)?;
    let root = archive.root::<Log>()?;
    assert_eq!(root.events.len() as u64, n);
    assert_eq!(root.events.get(31_337)?.ok_or(strata::Error::Detached)?.load()?, event(31_337));
    let mut count = 0u64;
    for (i, e) in root.events.iter().enumerate() {
        assert_eq!(e?.load()?, event(i as u64));
        count += 1;
    }
    assert_eq!(count, n);
    let loaded: Log = archive.load()?;
    assert_eq!(loaded, in_memory(n));
    // A load leaves a `Sharded` field in the archive.
    assert!(loaded.events.is_in_archive() && loaded.events.as_slice().is_none());
    assert_eq!(loaded.events.to_vec()?.len(), n as usize);
    assert_eq!(archive.inspect()?.chunks().iter().find(|c| c.path == "events").map(|c| c.index), Some(n));
    Ok(())
}

#[test]
fn handles_are_checked_against_their_save_and_field() -> strata::Result<()> {
    // Streamed under another field's name.
    let e = SaveOptions::new()
        .to_bytes_with(|w| {
            let events = w.shard("notes_by_mistake", (0..10).map(event))?;
            Ok(Log { name: "x".into(), events, notes: Sharded::default() })
        })
        .map(|_| ())
        .unwrap_err();
    assert!(e.to_string().contains("stream it under the field's name"), "{e}");
    // Streamed into another save.
    let mut kept = None;
    SaveOptions::new().to_bytes_with(|w| {
        kept = Some(w.shard("events", (0..10).map(event))?);
        Ok(Log { name: "first".into(), events: Sharded::default(), notes: Sharded::default() })
    })?;
    let stale = kept.ok_or(strata::Error::Detached)?;
    let e = strata::to_bytes(&Log { name: "second".into(), events: stale.clone(), notes: Sharded::default() })
        .map(|_| ())
        .unwrap_err();
    assert!(e.to_string().contains("another save"), "{e}");
    assert_eq!((stale.len(), stale.as_slice().is_none()), (10, true));
    Ok(())
}

#[test]
fn an_iterator_error_fails_the_save_and_leaves_no_file() -> strata::Result<()> {
    let dir = tempfile::tempdir().map_err(strata::Error::Io)?;
    let path = dir.path().join("log.strata");
    let e = SaveOptions::new()
        .save_with(&path, |w| -> strata::Result<Log> {
            let events = w.shard("events", (0..100_000u64).map(event))?;
            // A producer that fails after streaming.
            drop(events);
            Err(strata::Error::Message(String::from("the producer failed")))
        })
        .map(|_| ())
        .unwrap_err();
    assert!(e.to_string().contains("the producer failed"), "{e}");
    assert!(!path.exists());
    let left: Vec<_> = std::fs::read_dir(dir.path()).map_err(strata::Error::Io)?.collect();
    assert!(
        left.iter().all(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with("-lock"))),
        "{left:?}"
    );
    Ok(())
}

const CHILD: &str = "STRATA_STREAM_CHILD";

/// Streaming 2 GiB of elements keeps the process's peak RSS far below the data: the
/// save holds a window of shards, never the vector. Measured in a child process.
#[test]
fn streaming_a_vector_bigger_than_its_memory_budget() {
    #[derive(Persist)]
    struct Big {
        values: Sharded<[u64; 4]>,
    }
    if let Ok(dir) = std::env::var(CHILD) {
        let path = std::path::Path::new(&dir).join("big.strata");
        let n: u64 = (2 << 30) / 32;
        SaveOptions::new()
            .save_with(&path, |w| Ok(Big { values: w.shard("values", (0..n).map(|i| [i, i ^ 7, i * 3, !i]))? }))
            .unwrap();
        let peak = strata_tests::memory::peak_rss().unwrap_or(0);
        let archive = Archive::open(&path).unwrap();
        let values = &archive.root::<Big>().unwrap().values;
        assert_eq!(values.len() as u64, n);
        let last = values.get(n as usize - 1).unwrap().unwrap();
        assert_eq!(last[3], !(n - 1));
        println!("RESULT data={} peak={peak}", n * 32);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "streaming_a_vector_bigger_than_its_memory_budget", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find_map(|l| l.split_once("RESULT ").map(|(_, r)| r.to_owned())).unwrap();
    let get = |k: &str| -> u64 {
        line.split_whitespace().find_map(|kv| kv.strip_prefix(&format!("{k}="))).unwrap().parse().unwrap()
    };
    let (data, peak) = (get("data"), get("peak"));
    println!("streamed {} MiB: peak RSS {} MiB", data >> 20, peak >> 20);
    if peak > 0 {
        assert!(peak < 64 << 20, "peak RSS {} MiB for {} MiB streamed", peak >> 20, data >> 20);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_stream_equals_its_save(
        ats in proptest::collection::vec(any::<u64>(), 0..3000),
        kinds in proptest::collection::vec(".{0,30}", 1..8),
        shard_bytes in 1024u64..20_000,
        compress in any::<bool>(),
    ) {
        #[derive(Persist, Debug, PartialEq)]
        struct Stream {
            #[strata(shard)]
            events: Sharded<Event>,
        }
        let make = |i: usize, at: u64| Event { at, kind: kinds[i % kinds.len()].clone(), tags: vec![i as u16; i % 4] };
        let codec = compress.then_some(strata::Codec::Zstd(1));
        let options = SaveOptions::new();
        let bytes = options.to_bytes_with(|w| {
            Ok(Stream { events: w.shard_with("events", ats.iter().enumerate().map(|(i, &a)| make(i, a)), shard_bytes, codec)? })
        })?;
        let back: Stream = strata::from_bytes(&bytes)?;
        let expected: Vec<Event> = ats.iter().enumerate().map(|(i, &a)| make(i, a)).collect();
        prop_assert_eq!(&back.events.to_vec().unwrap(), &expected);
        // With the field's own shard size and compression: the bytes of a save.
        let default = options.to_bytes_with(|w| {
            Ok(Stream { events: w.shard("events", ats.iter().enumerate().map(|(i, &a)| make(i, a)))? })
        })?;
        prop_assert_eq!(default, options.to_bytes(&Stream { events: Sharded::new(expected) })?);
    }
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Catalog {
    title: String,
    items: Sharded<Event>,
    by_kind: strata::Mapped<String, Event>,
    #[strata(map, compress = "zstd(1)")]
    by_at: strata::Mapped<u64, String>,
}

/// The entries of a catalog's two maps.
type Entries = (Vec<(String, Event)>, Vec<(u64, String)>);

fn catalog_entries(n: u64) -> Entries {
    let by_kind = (0..n).map(|i| (format!("key-{i:08}"), event(i))).collect();
    let by_at = (0..n).map(|i| (i * 7919, format!("at {i}"))).collect();
    (by_kind, by_at)
}

fn streamed_catalog(n: u64, options: &SaveOptions) -> strata::Result<Vec<u8>> {
    let (by_kind, by_at) = catalog_entries(n);
    options.to_bytes_with(|w| {
        let items = w.shard("items", (0..n).map(event))?;
        let by_kind = w.map("by_kind", by_kind)?;
        let by_at = w.map_with("by_at", by_at, Some(strata::Codec::Zstd(1)))?;
        Ok(Catalog { title: "c".into(), items, by_kind, by_at })
    })
}

fn catalog(n: u64) -> Catalog {
    let (by_kind, by_at) = catalog_entries(n);
    Catalog {
        title: "c".into(),
        items: Sharded::new((0..n).map(event).collect()),
        by_kind: strata::Mapped::new(by_kind.into_iter().collect()),
        by_at: strata::Mapped::new(by_at.into_iter().collect()),
    }
}

#[test]
fn a_streamed_map_writes_the_bytes_of_a_save_of_the_same_map() -> strata::Result<()> {
    for n in [0, 1, 50, 30_000] {
        let options = SaveOptions::new();
        let bytes = streamed_catalog(n, &options)?;
        assert_eq!(bytes, options.to_bytes(&catalog(n))?, "{n} entries");
        let archive = Archive::from_bytes(bytes)?;
        assert!(archive.verify()?.is_ok());
        let root = archive.root::<Catalog>()?;
        assert_eq!(root.by_kind.len() as u64, n);
        if n > 0 {
            let k = format!("key-{:08}", n / 2);
            assert_eq!(root.by_kind.get(k.as_str())?.ok_or(strata::Error::Detached)?.load()?, event(n / 2));
            assert_eq!(
                root.by_at.get(&((n - 1) * 7919))?.ok_or(strata::Error::Detached)?.as_str(),
                format!("at {}", n - 1)
            );
        }
        assert_eq!(archive.load::<Catalog>()?, catalog(n));
    }
    Ok(())
}

#[test]
fn a_streamed_map_spills_beside_the_destination_and_cleans_up() -> strata::Result<()> {
    let dir = tempfile::tempdir().map_err(strata::Error::Io)?;
    let path = dir.path().join("catalog.strata");
    let (by_kind, by_at) = catalog_entries(20_000);
    SaveOptions::new().save_with(&path, |w| {
        let items = w.shard("items", (0..20_000).map(event))?;
        let by_kind = w.map("by_kind", by_kind)?;
        let by_at = w.map_with("by_at", by_at, Some(strata::Codec::Zstd(1)))?;
        Ok(Catalog { title: "c".into(), items, by_kind, by_at })
    })?;
    assert_eq!(strata::load::<Catalog>(&path)?, catalog(20_000));
    // The spill files were anonymous temporary files: nothing but the file and its lock.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .map_err(strata::Error::Io)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert!(names.iter().all(|n| n == "catalog.strata" || n.ends_with("-lock")), "{names:?}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_streamed_map_equals_its_save(keys in proptest::collection::hash_set(".{0,12}", 0..400)) {
        #[derive(Persist, Debug, PartialEq)]
        struct Index {
            words: strata::Mapped<String, u32>,
        }
        let entries: Vec<(String, u32)> = keys.iter().enumerate().map(|(i, k)| (k.clone(), i as u32)).collect();
        let options = SaveOptions::new();
        let bytes = options.to_bytes_with(|w| Ok(Index { words: w.map("words", entries.clone())? }))?;
        let saved = options.to_bytes(&Index { words: strata::Mapped::new(entries.iter().cloned().collect()) })?;
        prop_assert_eq!(&bytes, &saved);
        let back: Index = strata::from_bytes(&bytes)?;
        // A load leaves a `Mapped` field in the archive.
        prop_assert!(back.words.is_in_archive());
        prop_assert_eq!(back.words.len(), entries.len() as u64);
        prop_assert_eq!(back.words.to_map().unwrap().len(), entries.len());
    }
}

#[test]
fn a_streamed_map_of_values_with_chunks_is_refused_before_anything_is_written() -> strata::Result<()> {
    #[derive(Persist, Debug)]
    struct Notes {
        by_id: strata::Mapped<u32, Note>,
    }
    let e = SaveOptions::new()
        .to_bytes_with(|w| Ok(Notes { by_id: w.map("by_id", (0..10).map(|i| (i, note(i))))? }))
        .map(|_| ())
        .unwrap_err();
    assert!(e.to_string().contains("must hold no lazy fields"), "{e}");
    // Owned, the same map saves (its values' lazy fields written with the buckets).
    let owned = Notes { by_id: strata::Mapped::new((0..10).map(|i| (i, note(i))).collect()) };
    let back: Notes = strata::from_bytes(&strata::to_bytes(&owned)?)?;
    assert_eq!(back.by_id, owned.by_id);
    Ok(())
}

#[test]
fn lazy_values_written_ahead_give_the_bytes_of_a_save() -> strata::Result<()> {
    #[derive(Persist, Debug, PartialEq)]
    struct Run {
        name: String,
        #[strata(compress = "zstd(1)")]
        config: strata::Lazy<Vec<String>>,
        samples: Sharded<(u64, f64)>,
        summary: strata::Lazy<(u64, f64)>,
    }
    let config: Vec<String> = (0..500).map(|i| format!("option {i}")).collect();
    let samples: Vec<(u64, f64)> = (0..100_000u64).map(|i| (i, i as f64 / 3.0)).collect();
    let summary = (samples.len() as u64, samples.iter().map(|s| s.1).sum::<f64>());
    let streamed = SaveOptions::new().to_bytes_with(|w| {
        let config = w.lazy_with("config", &config, Some(strata::Codec::Zstd(1)))?;
        let samples = w.shard("samples", samples.iter().copied())?;
        let summary = w.lazy("summary", &summary)?;
        Ok(Run { name: "run".into(), config, samples, summary })
    })?;
    let owned = Run {
        name: "run".into(),
        config: strata::Lazy::new(config.clone()),
        samples: samples.clone().into(),
        summary: strata::Lazy::new(summary),
    };
    assert!(streamed == strata::to_bytes(&owned)?, "written ahead in field order: the bytes of a save");
    let back: Run = strata::from_bytes(&streamed)?;
    assert_eq!(back, owned);
    assert_eq!(back.config.get()?.len(), 500);
    // A handle written under another field's name is refused.
    let wrong = SaveOptions::new().to_bytes_with(|w| {
        let config = w.lazy("summary", &config)?;
        Ok(Run { name: "run".into(), config, samples: Sharded::default(), summary: strata::Lazy::new(summary) })
    });
    assert!(wrong.unwrap_err().to_string().contains("another field"));
    Ok(())
}

/// The names in `dir` other than lock files.
fn left_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .filter(|n| !n.ends_with("-lock"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_panicking_iterator_leaves_no_file_and_the_next_save_works() -> strata::Result<()> {
    let dir = tempfile::tempdir().map_err(strata::Error::Io)?;
    let path = dir.path().join("catalog.strata");
    let (by_kind, by_at) = catalog_entries(5_000);
    for panic_in in ["items", "by_kind"] {
        let (by_kind, by_at) = (by_kind.clone(), by_at.clone());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            SaveOptions::new().save_with(&path, |w| {
                let boom = |i: u64| {
                    assert!(i < 3_000, "the producer panicked");
                    event(i)
                };
                let items = if panic_in == "items" {
                    w.shard("items", (0..5_000).map(boom))?
                } else {
                    w.shard("items", (0..5_000).map(event))?
                };
                let by_kind = if panic_in == "by_kind" {
                    w.map("by_kind", by_kind.into_iter().map(|(k, e)| (k, boom(e.at / 3))))?
                } else {
                    w.map("by_kind", by_kind)?
                };
                let by_at = w.map_with("by_at", by_at, Some(strata::Codec::Zstd(1)))?;
                Ok(Catalog { title: "c".into(), items, by_kind, by_at })
            })
        }));
        assert!(panicked.is_err(), "{panic_in}: the panic reaches the caller");
        assert!(!path.exists(), "{panic_in}: no destination file");
        assert!(left_in(dir.path()).is_empty(), "{panic_in}: {:?} left behind", left_in(dir.path()));
    }
    // The lock was released and the next save succeeds.
    let bytes = streamed_catalog(5_000, &SaveOptions::new())?;
    SaveOptions::new().save(&path, &Archive::from_bytes(bytes)?.load::<Catalog>()?)?;
    assert_eq!(strata::load::<Catalog>(&path)?, catalog(5_000));
    Ok(())
}

const KILL_CHILD: &str = "STRATA_STREAM_KILL_CHILD";

/// A streamed save killed at any moment leaves the previous file whole, no spill file
/// (they are anonymous), and at most the temporaries the next save removes.
#[test]
fn a_killed_streamed_save_leaves_the_previous_file_and_no_spill_files() {
    if let Ok(path) = std::env::var(KILL_CHILD) {
        loop {
            let (by_kind, by_at) = catalog_entries(40_000);
            SaveOptions::new()
                .save_with(&path, |w| {
                    let items = w.shard("items", (0..40_000).map(event))?;
                    let by_kind = w.map("by_kind", by_kind)?;
                    let by_at = w.map_with("by_at", by_at, Some(strata::Codec::Zstd(1)))?;
                    Ok(Catalog { title: "c".into(), items, by_kind, by_at })
                })
                .unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.strata");
    strata::save(&path, &catalog(40_000)).unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut killed_mid_save = 0;
    for trial in 0..12 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "a_killed_streamed_save_leaves_the_previous_file_and_no_spill_files", "--test-threads=1"])
            .env(KILL_CHILD, &path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(20_000 + seed % 400_000));
        child.kill().unwrap();
        child.wait().unwrap();
        let archive = Archive::open(&path).unwrap_or_else(|e| panic!("trial {trial}: {e}"));
        assert_eq!(archive.load::<Catalog>().unwrap(), catalog(40_000), "trial {trial}");
        let left = left_in(dir.path());
        assert!(left.iter().all(|n| n == "catalog.strata" || n.ends_with(".strata-tmp")), "trial {trial}: {left:?}");
        assert!(left.len() <= 3, "trial {trial}: temporaries accumulate: {left:?}");
        killed_mid_save += usize::from(left.len() > 1);
    }
    assert!(killed_mid_save > 0, "no kill landed while a save was writing");
    strata::save(&path, &catalog(10)).unwrap();
    assert_eq!(left_in(dir.path()), ["catalog.strata"], "the next save removed the temporaries");
}

/// A writer that takes bytes only in order (as a pipe would) and counts them.
struct Pipe(Vec<u8>);

impl std::io::Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_streamed_save_to_any_writer_writes_the_bytes_of_a_save() -> strata::Result<()> {
    let mut pipe = Pipe(Vec::new());
    let (by_kind, by_at) = catalog_entries(20_000);
    let stats = SaveOptions::new().write_with(&mut pipe, |w| {
        let items = w.shard("items", (0..20_000).map(event))?;
        let by_kind = w.map("by_kind", by_kind)?;
        let by_at = w.map_with("by_at", by_at, Some(strata::Codec::Zstd(1)))?;
        Ok(Catalog { title: "c".into(), items, by_kind, by_at })
    })?;
    assert_eq!(stats.file_len, pipe.0.len() as u64);
    assert!(pipe.0 == SaveOptions::new().to_bytes(&catalog(20_000))?, "the piped bytes are a save's");
    Ok(())
}
