//! An archive bigger than memory, written from iterators and read back lazily: records
//! are generated and streamed into a sharded vector (`SaveOptions::save_with`,
//! `Writer::shard`), an index of every 16th record by name is streamed into a map
//! (`Writer::map`, through spill files beside the archive), a summary computed on the
//! way goes into a lazy field, and the root, written last, refers to all three. A child
//! process then reopens the file, checks a sample of records and of names and a full
//! streaming iteration against the generator, and reports its own peak memory.
//!
//! ```text
//! cargo run --release --example bigger_than_ram -- --gib N [--dir DIR] [--keep]
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;
use strata::{Archive, Mapped, Persist, SaveOptions, Sharded};

#[derive(Persist, Debug, Clone, PartialEq)]
struct Record {
    id: u64,
    name: String,
    position: [f32; 3],
    readings: Vec<u16>,
}

#[derive(Persist, Debug, Clone, PartialEq, Default)]
struct Summary {
    records: u64,
    readings: u64,
    id_sum: u64,
}

#[derive(Persist, Debug)]
struct Dataset {
    name: String,
    records: Sharded<Record>,
    by_name: Mapped<String, u64>,
    #[strata(lazy)]
    summary: Summary,
}

/// Every this many records, one is indexed by name.
const INDEX_EVERY: u64 = 16;

/// Record `i`: a 100-odd-byte record, the same on every run.
fn record(i: u64) -> Record {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Record {
        id: i,
        name: format!("record-{i:012}-{:08x}", h >> 32),
        position: [i as f32, (h % 1000) as f32, -(i as f32)],
        readings: (0..(8 + h % 24) as u16).map(|k| k.wrapping_mul(h as u16)).collect(),
    }
}

/// The archived bytes of record `i`, roughly (what the count of records is sized by).
const RECORD_BYTES: u64 = 110;

/// The process's peak resident set size, in bytes (Linux: `VmHWM` of
/// `/proc/self/status`, what `getrusage` reports as `ru_maxrss`); 0 elsewhere.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next());
    kib.and_then(|k| k.parse::<u64>().ok()).map_or(0, |k| k * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Streams `n` records into `path`; returns the seconds it took.
fn write(path: &Path, n: u64) -> strata::Result<f64> {
    let t = Instant::now();
    SaveOptions::new().save_with(path, |w| {
        let mut summary = Summary::default();
        let records = w.shard(
            "records",
            (0..n).map(record).inspect(|r| {
                summary.records += 1;
                summary.readings += r.readings.len() as u64;
                summary.id_sum = summary.id_sum.wrapping_add(r.id);
            }),
        )?;
        let by_name = w.map("by_name", (0..n).step_by(INDEX_EVERY as usize).map(|i| (record(i).name, i)))?;
        Ok(Dataset { name: String::from("bigger than RAM"), records, by_name, summary })
    })?;
    Ok(t.elapsed().as_secs_f64())
}

/// Reopens `path` and checks it against the generator: a sample of records, then every
/// record in order, shard by shard.
fn read(path: &Path, n: u64) -> strata::Result<f64> {
    let t = Instant::now();
    let archive = Archive::open(path)?;
    let root = archive.root::<Dataset>()?;
    let summary = root.summary.load()?;
    assert_eq!(summary.records, n);
    assert_eq!(root.records.len() as u64, n);
    let mut probe = 0x2545_F491_4F6C_DD1D_u64;
    for _ in 0..1000.min(n) {
        probe ^= probe << 13;
        probe ^= probe >> 7;
        probe ^= probe << 17;
        let i = probe % n;
        let got = root.records.get(i as usize)?.ok_or(strata::Error::Detached)?.load()?;
        assert_eq!(got, record(i));
        let indexed = i - i % INDEX_EVERY;
        let id = root.by_name.get(record(indexed).name.as_str())?.ok_or(strata::Error::Detached)?;
        assert_eq!(*id, indexed);
    }
    assert_eq!(root.by_name.len() as u64, n.div_ceil(INDEX_EVERY));
    let (mut count, mut readings) = (0u64, 0u64);
    for r in root.records.iter() {
        let r = r?;
        assert_eq!(r.id, count);
        assert_eq!(r.name.as_str(), record(count).name);
        readings += r.readings.len() as u64;
        count += 1;
    }
    assert_eq!((count, readings), (n, summary.readings));
    Ok(t.elapsed().as_secs_f64())
}

/// Builds the first `n` records in memory and saves them with `save`: the seconds of
/// both (what a stream does) and of the save alone.
fn save_in_memory(path: &Path, n: u64) -> strata::Result<(f64, f64)> {
    #[derive(Persist)]
    struct InMemory {
        name: String,
        #[strata(shard)]
        records: Vec<Record>,
        #[strata(map)]
        by_name: std::collections::HashMap<String, u64>,
        #[strata(lazy)]
        summary: Summary,
    }
    let built = Instant::now();
    let value = InMemory {
        name: String::new(),
        records: (0..n).map(record).collect(),
        by_name: (0..n).step_by(INDEX_EVERY as usize).map(|i| (record(i).name, i)).collect(),
        summary: Summary::default(),
    };
    let t = Instant::now();
    strata::save(path, &value)?;
    let (both, save) = (built.elapsed().as_secs_f64(), t.elapsed().as_secs_f64());
    drop(value);
    Ok((both, save))
}

struct Args {
    gib: f64,
    dir: Option<PathBuf>,
    keep: bool,
    /// The reading phase, in a child process: the file and its record count.
    read: Option<(PathBuf, u64)>,
}

fn args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut out = Args { gib: 1.0, dir: None, keep: false, read: None };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--gib" => out.gib = it.next().ok_or("--gib needs a number")?.parse()?,
            "--dir" => out.dir = Some(it.next().ok_or("--dir needs a folder")?.into()),
            "--keep" => out.keep = true,
            "--read" => {
                let path = it.next().ok_or("--read needs a file")?;
                let n = it.next().ok_or("--read needs a count")?.parse()?;
                out.read = Some((path.into(), n));
            }
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    if let Some((path, n)) = args.read {
        let secs = read(&path, n)?;
        println!("READ {secs} {}", peak_rss());
        return Ok(());
    }
    let dir = match &args.dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let path = dir.path().join("big.strata");
    let n = ((args.gib * f64::from(1 << 30)) / RECORD_BYTES as f64) as u64;
    println!("streaming {n} records (about {:.1} GiB) into {}", args.gib, path.display());
    let before = peak_rss();
    let secs = write(&path, n)?;
    let written = std::fs::metadata(&path)?.len();
    let write_peak = peak_rss();
    println!(
        "write: {:.2} GiB file in {secs:.1} s ({:.0} MiB/s), peak RSS {:.0} MiB (before: {:.0} MiB)",
        written as f64 / f64::from(1 << 30),
        mib(written) / secs,
        mib(write_peak),
        mib(before)
    );

    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["--read", &path.to_string_lossy(), &n.to_string()])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("the reading process failed: {stdout}{}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let figures: Vec<f64> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("READ "))
        .ok_or("the reading process printed no figures")?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    if let [secs, peak] = figures.as_slice() {
        println!(
            "read (a child process): 1,000 sampled records and all {n} in order in {secs:.1} s, peak RSS {:.0} MiB (cache limit {} MiB)",
            mib(*peak as u64),
            strata::DEFAULT_CACHE_LIMIT >> 20
        );
    }

    // `save` of data that fits in memory, against streaming the same records.
    let fits = n.min((1u64 << 30) / RECORD_BYTES);
    let compare = dir.path().join("fits.strata");
    let (built_and_saved, saved) = save_in_memory(&compare, fits)?;
    std::fs::remove_file(&compare)?;
    let streamed = write(&compare, fits)?;
    std::fs::remove_file(&compare)?;
    println!(
        "{fits} records: generated and streamed in {streamed:.2} s; generated into memory then saved in \
         {built_and_saved:.2} s (the save alone {saved:.2} s): streaming at {:.2}x the throughput of building and saving",
        built_and_saved / streamed
    );
    if args.keep {
        let kept = dir.keep();
        println!("kept {}", kept.join("big.strata").display());
    }
    Ok(())
}

#[test]
fn a_small_stream_reads_back() -> strata::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("small.strata");
    write(&path, 200_000)?;
    read(&path, 200_000)?;
    Ok(())
}
