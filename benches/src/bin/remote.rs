//! Strata archives in object storage, with a round-trip latency: `object_store`'s
//! `ThrottledStore` adds `--latency-ms` to every GET of an in-memory store holding the
//! file (`ThrottledStore` cannot wrap a local-file store).
//!
//! ```text
//! cargo run --release -p strata-benches --bin remote -- [--scale 1|100] [--latency-ms 20] [--runs 5] [--dir DIR]
//! ```
//!
//! Times and counts, for each run: open + root + one map lookup; open + one vector
//! element; and (scales up to 10) a full load against a serial loop of one request per
//! chunk (its per-request time measured on the file's first 40 chunks, scaled to all of
//! them). Each run opens a fresh archive: nothing is cached between runs.

use clap::Parser;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::throttle::{ThrottleConfig, ThrottledStore};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata::source::ObjectSource;
use strata::{Archive, OpenOptions};
use strata_benches::dataset;
use strata_benches::formats::strata_model;

#[derive(Parser)]
struct Args {
    /// Dataset scale (1: 100,000 users and a 10 MiB asset, a 33 MB file).
    #[arg(long, default_value_t = 1)]
    scale: u64,
    /// Added to every GET request.
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// Runs of each measurement.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Where the file is written (kept for later runs at the same scale).
    #[arg(long, default_value = "target/remote-bench")]
    dir: PathBuf,
}

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Res<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)?;
    let name = format!("remote-scale-{}.strata", args.scale);
    let file = args.dir.join(&name);
    let mut world = dataset::world(args.scale);
    let probe = dataset::probe(&world, dataset::Kind::Users);
    if !file.exists() {
        let model = strata_model::take(&mut world);
        strata::save(&file, &model)?;
        strata_model::give_back(model, &mut world);
    }
    let full_load = args.scale <= 10;
    let users = world.users.len();
    drop(world);
    let file_len = std::fs::metadata(&file)?.len();
    let latency = Duration::from_millis(args.latency_ms);
    let config = ThrottleConfig { wait_get_per_call: latency, ..ThrottleConfig::default() };
    let memory = InMemory::new();
    let bytes = std::fs::read(&file)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(memory.put(&ObjectPath::from(name.as_str()), PutPayload::from(bytes)))?;
    let store: Arc<dyn ObjectStore> = Arc::new(ThrottledStore::new(memory, config));
    let open = || -> Res<(Archive, Arc<ObjectSource>)> {
        let source = Arc::new(ObjectSource::open(Arc::clone(&store), &name)?);
        Ok((Archive::from_source(source.clone(), &OpenOptions::new())?, source))
    };

    println!("# strata in object storage: scale {}, {} MB file, {latency:?} per GET", args.scale, file_len / 1_000_000);
    println!();
    println!(
        "| run | open + map lookup | GETs | open + vector element | GETs | full load | GETs | serial loop (est.) | speed-up |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for run in 1..=args.runs {
        let started = Instant::now();
        let (archive, source) = open()?;
        let level =
            archive.root::<strata_model::World>()?.by_name.get(probe.key.as_str())?.map(|u| u.level.to_native());
        let lookup = (started.elapsed(), source.requests());
        assert_eq!(level, Some(probe.key_level), "map lookup answer");

        let started = Instant::now();
        let (archive, source) = open()?;
        let index = usize::try_from(probe.index)?;
        let level = archive.root::<strata_model::World>()?.users.get(index)?.map(|u| u.level.to_native());
        let element = (started.elapsed(), source.requests());
        assert_eq!(level, Some(probe.index_level), "vector element answer");

        let (load, serial) = if full_load {
            let started = Instant::now();
            let (archive, source) = open()?;
            let all: strata_model::World = archive.load()?;
            let load = (started.elapsed(), source.requests());
            assert_eq!(all.users.len(), users, "full load");
            drop(all);
            (Some(load), Some(serial_loop(&store, &name, &archive)?))
        } else {
            (None, None)
        };
        let show = |m: Option<(Duration, u64)>| m.map_or(("-".into(), "-".into()), |(d, n)| (ms(d), n.to_string()));
        let (load_t, load_n) = show(load);
        let speedup = match (load, serial) {
            (Some((l, _)), Some(s)) => format!("{:.1}x", s.as_secs_f64() / l.as_secs_f64()),
            _ => "-".into(),
        };
        println!(
            "| {run} | {} | {} | {} | {} | {load_t} | {load_n} | {} | {speedup} |",
            ms(lookup.0),
            lookup.1,
            ms(element.0),
            element.1,
            serial.map_or("-".into(), ms)
        );
    }
    Ok(())
}

/// The time a loop of one GET per chunk, one after the other, takes over the file's
/// chunks: measured on its first 40 chunks (by offset) and scaled to all of them.
fn serial_loop(store: &Arc<dyn ObjectStore>, name: &str, archive: &Archive) -> Res<Duration> {
    let inspection = archive.inspect()?;
    let mut chunks: Vec<_> = inspection.chunks().iter().map(|c| c.chunk).collect();
    chunks.sort_by_key(strata::raw::format::ChunkRef::offset);
    let sample: Vec<_> = chunks.iter().take(40).copied().collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (store, path) = (Arc::clone(store), ObjectPath::from(name));
    let started = Instant::now();
    rt.block_on(async move {
        for c in sample {
            store.get_range(&path, c.offset()..c.offset() + c.stored_len()).await?;
        }
        Ok::<_, object_store::Error>(())
    })?;
    let per_request = started.elapsed().as_secs_f64() / 40f64.min(chunks.len() as f64).max(1.0);
    Ok(Duration::from_secs_f64(per_request * chunks.len() as f64))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}
