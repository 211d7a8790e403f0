//! The whitepaper's tables, reproduced in one run: every format writes the same dataset,
//! then opens it and reads metadata, a deep field, a map entry, a vector element and
//! everything, with the page cache warm and with the file evicted, each read in a fresh
//! process of this program (three per run for a point read). Formats take turns, and
//! each format's operations follow one another, in orders shuffled for each run; every
//! answer is checked before its time counts.
//! Prints Markdown tables with ratios against strata and writes every figure as JSON.
//!
//! ```text
//! cargo run --release -p strata-benches --bin compare -- [--dataset users|records] [--scale 1|10|100] [--runs N] [--json FILE]
//! cargo run --release -p strata-benches --bin compare -- --huge [--json FILE]
//! ```
//!
//! An operation whose first sample takes longer than two seconds (a full decode at
//! scale 100, say) is measured once: the tables say how many samples each figure has.
//!
//! A run above scale 1 ends with scaling at the same moments: strata's map lookup and
//! vector element on its files against files of the scale-1 dataset, alternating
//! sample by sample (`scale-1/` beside the files).

use clap::Parser;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use strata_benches::dataset;
use strata_benches::formats::{self, Op};
use strata_benches::os;
use strata_benches::report;

#[derive(Parser)]
struct Args {
    /// Dataset size: 1 = 100,000 users and a 10 MiB asset (a 33 MB strata file).
    #[arg(long, default_value_t = 1)]
    scale: u64,
    /// Which dataset: `users` (the whitepaper's, nested fields) or `records`
    /// (string-heavy: a name, an e-mail address and a few scores per record, 100,000
    /// per scale step, and a 100-byte-per-record asset). See `dataset.rs`.
    #[arg(long, default_value = "users")]
    dataset: dataset::Kind,
    /// Measured runs (medians, min and max are reported): one sample per run of each
    /// write and full load, three of each point read.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Where to write every figure as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Folder for the files (default: a temporary folder next to the target dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The ~7 GB point: scale 200 (20 million users, a 2,000 MiB asset, the most one
    /// lazy chunk can hold under rkyv's 2 GiB relative pointers; the dataset takes about
    /// 12 GB of memory), strata only: the other formats serialize the whole file in
    /// memory beside the dataset, more than this 24 GiB machine has.
    #[arg(long, conflicts_with = "scale")]
    huge: bool,
    /// Skip the evicted (cold) measurements.
    #[arg(long)]
    warm_only: bool,
    /// Only these formats (comma-separated names as in the tables).
    #[arg(long, value_delimiter = ',')]
    formats: Vec<String>,
    /// Read the files an earlier run at the same --scale left in --dir instead of
    /// writing them (no write figures). The dataset is still built: the answers are
    /// checked against it.
    #[arg(long)]
    reuse: bool,
    /// Skip "open + full load". Without it, a format's full load is still skipped, and
    /// the tables say so, when the memory available cannot hold an owned copy of the
    /// dataset beside twice the largest file: the machine's memory, not the format,
    /// would set the time.
    #[arg(long)]
    no_full_load: bool,
    /// Profiling aid (for `perf record`): runs one operation (metadata, deep, map,
    /// element or full) of one format N times, warm, on the file an earlier run at the
    /// same --scale left in --dir, and prints the median, min and max. OP `write` builds the
    /// dataset and writes that file N times.
    #[arg(long, value_names = ["FORMAT", "OP", "N"], num_args = 3)]
    repeat: Option<Vec<String>>,
    /// Scaling at one moment: times one operation of one format on an evicted file, N
    /// rounds, alternating between the file an earlier run at this --scale left in
    /// --dir and the one a run at OTHER_SCALE left in OTHER_DIR (each round swaps the
    /// order; each sample a fresh process, the file evicted first as in the tables).
    /// Prints both medians and their ratio. Two runs of the tables sit minutes apart on
    /// a machine whose cold reads drift; this compares the same moments. The answers
    /// are not checked against a dataset (none is built), only against each other.
    #[arg(long, value_names = ["FORMAT", "OP", "N", "OTHER_DIR", "OTHER_SCALE"], num_args = 5)]
    alternate: Option<Vec<String>>,
    /// Internal: time one operation in this fresh process ("FORMAT|PATH|OP|prerun", or
    /// "...|once" without the untimed first run) and print the answer and the
    /// nanoseconds.
    #[arg(long, hide = true)]
    child_op: Option<String>,
}

/// An operation slower than this is measured once.
const SLOW: Duration = Duration::from_secs(2);

/// Fresh processes timed per run for a point read (every operation but a full load):
/// a single sample of a few microseconds moves by 2x between processes on this VM, and
/// more samples cost milliseconds, not another warming of the file.
const POINT_SAMPLES: usize = 3;

/// The scale of the `--huge` point.
const HUGE_SCALE: u64 = 200;

/// The scale a run at a larger one times strata's point reads against, at the same
/// moments (see [`scaling_step`]).
const SCALING_BASE: u64 = 1;

/// Rounds of that comparison per format, operation and page-cache state: each round
/// times both files, so 15 rounds are 30 fresh processes.
const SCALING_ROUNDS: usize = 15;

/// The operations it times: the point reads into the collections that grow with scale.
const SCALING_OPS: [Op; 2] = [Op::MapLookup, Op::VectorElement];

#[derive(Default, Clone)]
struct Samples(Vec<Duration>);

impl Samples {
    fn median(&self) -> Option<Duration> {
        let mut v = self.0.clone();
        v.sort();
        v.get(v.len() / 2).copied()
    }
    fn min(&self) -> Option<Duration> {
        self.0.iter().min().copied()
    }
    fn max(&self) -> Option<Duration> {
        self.0.iter().max().copied()
    }
    /// Whether another sample is worth its time.
    fn wants_more(&self, runs: usize) -> bool {
        self.0.len() < runs && !self.was_slow()
    }
    /// Whether a sample took so long that the operation was not repeated.
    fn was_slow(&self) -> bool {
        self.0.iter().any(|d| *d >= SLOW)
    }
}

/// Everything one run measured, by format name.
#[derive(Default)]
struct Results<'a> {
    writes: BTreeMap<&'a str, Samples>,
    sizes: BTreeMap<&'a str, u64>,
    reads: BTreeMap<(&'a str, Op, bool), Samples>,
    /// The largest peak RSS of the processes that timed an open + map lookup, by
    /// format and page-cache state (evicted: `true`).
    rss: BTreeMap<(&'a str, bool), u64>,
    /// Formats that could not be measured at all, and why.
    failed: BTreeMap<&'a str, String>,
    /// Formats whose full load was skipped for want of memory, and the figures.
    no_room: BTreeMap<&'a str, String>,
    /// Figures of whole-file decoders measured by one decode for all operations.
    shared: std::collections::BTreeSet<(&'a str, Op, bool)>,
    /// Strata's point reads at this scale and at [`SCALING_BASE`], at the same moments.
    scaling: Vec<Scaling<'a>>,
}

impl<'a> Results<'a> {
    fn note_rss(&mut self, format: &'a str, cold: bool, rss: u64) {
        let peak = self.rss.entry((format, cold)).or_default();
        *peak = (*peak).max(rss);
    }

    /// The peak RSS reported for `format`: of its evicted open + map lookup processes
    /// (one open, one lookup), or its warm ones when only those ran.
    fn rss(&self, format: &str) -> Option<u64> {
        self.rss.get(&(format, true)).or_else(|| self.rss.get(&(format, false))).copied()
    }
}

/// One operation of one format timed alternately on this run's file and on the file of
/// the [`SCALING_BASE`] dataset.
struct Scaling<'a> {
    format: &'a str,
    op: Op,
    cold: bool,
    here: Samples,
    base: Samples,
}

/// Checks a format's answer before its time counts.
fn check(name: &str, op: Op, got: u64, probe: &dataset::Probe) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let want = formats::expected(op, probe);
    if got != want {
        return Err(format!("{name} {}: returned {got}, expected {want}", op.label()).into());
    }
    Ok(())
}

fn fmt(d: Option<Duration>) -> String {
    report::duration(d)
}

/// The median, marked when it is a single sample (an operation slower than [`SLOW`]).
fn fmt_samples(s: Option<&Samples>) -> String {
    match s {
        Some(s) if s.was_slow() => format!("{} *", fmt(s.median())),
        Some(s) => fmt(s.median()),
        None => fmt(None),
    }
}

fn ratio(d: Option<Duration>, base: Option<Duration>) -> String {
    ratio_to(d, base, 1)
}

/// `d / base` with `places` decimals, or "-".
fn ratio_to(d: Option<Duration>, base: Option<Duration>, places: usize) -> String {
    match (d, base) {
        (Some(d), Some(b)) if b.as_nanos() > 0 => format!("{:.places$}x", d.as_secs_f64() / b.as_secs_f64()),
        _ => String::from("-"),
    }
}

/// Evicts from the page cache the files of every format in `formats` but `keep`: only
/// the files in use may sit there. At scale 100 the files add up to more than memory,
/// and pages read only once are the first the kernel reclaims (seen: 2 ms for a "warm"
/// strata metadata read), while a full page cache makes every cold read reclaim memory
/// first.
fn evict_others(formats: &[Box<dyn formats::Format>], file: &dyn Fn(&str) -> PathBuf, keep: &str) -> formats::Res<()> {
    for other in formats {
        let p = file(other.name());
        if other.name() != keep && p.exists() {
            os::evict(&p)?;
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = Args::parse();
    if args.huge {
        args.scale = HUGE_SCALE;
    }
    if let Some(spec) = &args.child_op {
        return child_op(spec, args.scale, args.dataset);
    }
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/compare-files"),
    };
    // The users' files keep the names they had before there was a second dataset.
    let prefix = match args.dataset {
        dataset::Kind::Users => "",
        dataset::Kind::Records => "records-",
    };
    let file = |name: &str| dir.join(format!("{prefix}{}.bin", name.replace([' ', '(', ')', '.', '\''], "_")));
    if let Some(spec) = &args.repeat {
        return repeat(spec, &file, args.scale, args.dataset);
    }
    if let Some(spec) = &args.alternate {
        return alternate(spec, &file, args.scale, args.dataset);
    }
    std::fs::create_dir_all(&dir)?;
    let start = Instant::now();
    // Progress on stderr, stamped with the seconds since the start: where a long run's
    // time goes.
    let say = |what: String| eprintln!("[{:7.1} s] {what}", start.elapsed().as_secs_f64());
    say(format!("building the {} dataset at scale {} ...", args.dataset.name(), args.scale));
    let before = os::rss();
    let mut world = dataset::Data::build(args.dataset, args.scale);
    // What an owned copy of the dataset takes: every full load builds one.
    let dataset_bytes = os::rss().saturating_sub(before);
    say(format!("the dataset takes {:.2} GB of memory", dataset_bytes as f64 / 1e9));
    let probe = world.probe();
    let mut formats = formats::all();
    if args.huge {
        formats.retain(|f| f.name().starts_with("strata"));
    }
    if !args.formats.is_empty() {
        formats.extend(formats::extras());
        formats.retain(|f| args.formats.iter().any(|n| n == f.name()));
    }

    let mut r = Results::default();

    // Writes (alternating formats run by run) and sizes: `--runs` of each, but one of a
    // write that took seconds.
    for run in 0..if args.reuse { 0 } else { args.runs } {
        for f in run_order(run, &formats) {
            if r.failed.contains_key(f.name()) || !r.writes.get(f.name()).is_none_or(|s| s.wants_more(args.runs)) {
                continue;
            }
            let path = file(f.name());
            let moving = Instant::now();
            let value = f.prepare(&mut world)?;
            let mut moved = moving.elapsed();
            let t = Instant::now();
            let written = f.write(&world, &value, &path);
            let elapsed = t.elapsed();
            let moving = Instant::now();
            f.restore(value, &mut world)?;
            moved += moving.elapsed();
            if let Err(e) = written {
                say(format!("{} cannot write this dataset: {e}", f.name()));
                r.failed.insert(f.name(), e.to_string());
                continue;
            }
            r.writes.entry(f.name()).or_default().0.push(elapsed);
            r.sizes.insert(f.name(), std::fs::metadata(&path)?.len());
            let untimed = if moved >= Duration::from_millis(100) {
                format!(" (moving the dataset into its types and back, untimed: {})", fmt(Some(moved)))
            } else {
                String::new()
            };
            say(format!("run {run}: wrote {} in {}{untimed}", f.name(), fmt(Some(elapsed))));
        }
    }
    drop(world);
    os::trim_heap();
    if args.reuse {
        for f in &formats {
            match std::fs::metadata(file(f.name())) {
                Ok(m) => {
                    r.sizes.insert(f.name(), m.len());
                }
                Err(_) => {
                    r.failed.insert(f.name(), String::from("no file left by an earlier run (--reuse)"));
                }
            }
        }
    }
    formats.retain(|f| !r.failed.contains_key(f.name()));

    // Reads: warm and evicted, formats alternating within each run. A format's warm
    // operations run together, then its evicted ones: warming a file read back from
    // disk once per format and run, not once per operation (at scale 100, minutes).
    let temperatures: &[bool] = if args.warm_only { &[false] } else { &[false, true] };
    for run in 0..args.runs {
        for f in run_order(run, &formats) {
            let path = file(f.name());
            evict_others(&formats, &file, f.name())?;
            for &cold in temperatures {
                // The operations too in a different order each run: the first evicted
                // read after a format's warm pass was slower than the ones after it, in
                // every format and whichever operation came first (strata alone, five
                // runs: open + metadata, always first, 127.1 us against 71.1 us for the
                // deep field, the same read; 70.8 us and 65.1 us with no full load
                // before them; at scale 200, with no full loads, 106-236 us against
                // 63-66 us). Presumably the machine recovering from the warm pass (a
                // whole file read, then dropped; a full load's memory freed), not the
                // format; the VM's free page reporting does not explain it
                // (`page_reporting_order` 9 or 11, two runs each, made no consistent
                // difference). Shuffled, it falls on each operation in some runs, where
                // the median drops it.
                for &op in run_order(run, &Op::ALL) {
                    if op == Op::FullLoad && (args.no_full_load || r.no_room.contains_key(f.name())) {
                        continue;
                    }
                    if op == Op::FullLoad {
                        // A full load holds an owned dataset beside the file's bytes (in
                        // the page cache, and for whole-file decoders in a buffer too).
                        // Past the memory available it measures swapping and page-cache
                        // thrash, not the format: say so instead of measuring it.
                        // Twice the largest file of the run: a compressed format's
                        // chunks are held decompressed too (seen: a zstd full load at
                        // scale 200 killed for memory when only its own file counted).
                        let largest = r.sizes.values().copied().max().unwrap_or(0);
                        let need = dataset_bytes + 2 * largest;
                        let available = os::mem_available();
                        if available < need {
                            let why = format!(
                                "needs about {:.1} GB (the dataset, {:.1} GB, beside twice the largest file), {:.1} GB available",
                                need as f64 / 1e9,
                                dataset_bytes as f64 / 1e9,
                                available as f64 / 1e9
                            );
                            say(format!("{} open + full load skipped: {why}", f.name()));
                            r.no_room.insert(f.name(), why);
                            continue;
                        }
                    }
                    let per_run = if op == Op::FullLoad { 1 } else { POINT_SAMPLES };
                    if !r.reads.get(&(f.name(), op, cold)).is_none_or(|s| s.wants_more(args.runs * per_run)) {
                        continue; // enough samples, or too slow for more than one
                    }
                    if cold {
                        os::evict(&path)?;
                    } else {
                        // Warm: the whole file is in the page cache, as a program finds
                        // it after an earlier read. (Leaving it to the untimed first run
                        // below to bring in only the pages an operation touches made
                        // Cap'n Proto's warm map lookup 3x slower, 83-90 us against
                        // 27-28 us: probably pages read ahead but not yet touched, which
                        // start more readahead when first touched.)
                        os::warm(&path)?;
                    }
                    // A point read taking seconds means the format decodes the whole
                    // file for any access (a full load takes seconds in every format).
                    let points_slow = |temperature: Option<bool>| {
                        r.reads.iter().any(|((name, o, c), s)| {
                            *name == f.name()
                                && *o != Op::FullLoad
                                && temperature.is_none_or(|t| t == *c)
                                && s.was_slow()
                        })
                    };
                    // Such a format, seen taking seconds at this temperature, decodes
                    // once for all the operations it has no figure for yet: the same
                    // work each would do, one decode instead of five (at scale 100,
                    // about 30 s each). A format that decodes the whole file for any
                    // access does so at once when its decode took seconds at the other
                    // temperature, or before anything at this one when its write did
                    // (here a write takes less time than a decode: 0.4-0.7x at scale 100).
                    let first_here = !r.reads.keys().any(|(name, _, c)| *name == f.name() && *c == cold);
                    let decode_slow = f.decodes_whole_file()
                        && (points_slow(None) || (first_here && r.writes.get(f.name()).is_some_and(Samples::was_slow)));
                    let every = points_slow(Some(cold)) || decode_slow;
                    if every
                        && let Some((every, rss)) = measure_every_in_child(f.name(), &path, args.scale, args.dataset)?
                    {
                        for (op, got, elapsed) in every {
                            if r.reads.contains_key(&(f.name(), op, cold))
                                || (op == Op::FullLoad && (args.no_full_load || r.no_room.contains_key(f.name())))
                            {
                                continue;
                            }
                            check(f.name(), op, got, &probe)?;
                            if op == Op::MapLookup {
                                r.note_rss(f.name(), cold, rss);
                            }
                            r.reads.entry((f.name(), op, cold)).or_default().0.push(elapsed);
                            r.shared.insert((f.name(), op, cold));
                        }
                        continue;
                    }
                    // Each measurement runs in a fresh process, as a program starting on
                    // a file would: in this one, the heap left by an earlier full load
                    // or whole-file decode slowed later microsecond operations by up to
                    // 4x (seen at scale 10), and by different amounts per format.
                    // Warm point reads run once untimed first (see `child_op`). Not a
                    // full load: it builds the whole dataset in fresh memory, as the
                    // program it stands for would, and a second one at scale 100 would
                    // cost minutes. Nor a format whose point reads take seconds (a
                    // whole decode): microseconds of cache misses do not show there.
                    // (Keying this on any slow figure of the format, full loads included,
                    // dropped the untimed run of every point read after the first full
                    // load at scale 100: a process's first strata metadata read takes
                    // ~110 us against 12 us for its second, and that run's warm median
                    // was 2.4 ms.)
                    let prerun = !cold && op != Op::FullLoad && !points_slow(None);
                    for sample in 0..per_run {
                        if cold && sample > 0 {
                            os::evict(&path)?;
                        }
                        let Some((got, elapsed, rss)) =
                            measure_in_child(f.name(), &path, op, prerun, args.scale, args.dataset)?
                        else {
                            break; // an operation this format does not offer
                        };
                        check(f.name(), op, got, &probe)?;
                        if op == Op::MapLookup {
                            r.note_rss(f.name(), cold, rss);
                        }
                        let samples = r.reads.entry((f.name(), op, cold)).or_default();
                        samples.0.push(elapsed);
                        if samples.was_slow() {
                            break;
                        }
                    }
                }
            }
            say(format!("run {run}: read {}", f.name()));
        }
    }

    if args.scale > SCALING_BASE {
        r.scaling = scaling_step(&args, &formats, &file, &dir, &probe, &say)?;
    }

    print_tables(&args, &formats, &r);
    if let Some(path) = &args.json {
        let mut results = Vec::new();
        for f in &formats {
            let name = f.name();
            let mut ops = serde_json::Map::new();
            for op in Op::ALL {
                for &cold in temperatures {
                    if let Some(s) = r.reads.get(&(name, op, cold)) {
                        ops.insert(
                            format!("{}{}", op.label(), if cold { " (evicted)" } else { " (warm)" }),
                            json!({ "median_us": s.median().map(|d| d.as_secs_f64() * 1e6), "min_us": s.min().map(|d| d.as_secs_f64() * 1e6), "max_us": s.max().map(|d| d.as_secs_f64() * 1e6), "samples": s.0.len(), "one_decode_for_all_operations": r.shared.contains(&(name, op, cold)) }),
                        );
                    }
                }
            }
            results.push(json!({
                "format": name,
                "file_bytes": r.sizes.get(name),
                "write_median_ms": r.writes.get(name).and_then(Samples::median).map(|d| d.as_secs_f64() * 1e3),
                "write_min_ms": r.writes.get(name).and_then(Samples::min).map(|d| d.as_secs_f64() * 1e3),
                "write_max_ms": r.writes.get(name).and_then(Samples::max).map(|d| d.as_secs_f64() * 1e3),
                "write_samples": r.writes.get(name).map(|s| s.0.len()),
                // In run order: sample i of every format is from run i.
                "write_ms": r.writes.get(name).map(|s| s.0.iter().map(|d| d.as_secs_f64() * 1e3).collect::<Vec<_>>()),
                "peak_rss_open_lookup_bytes": r.rss(name),
                "reads": ops,
            }));
        }
        let scaling: Vec<_> = r
            .scaling
            .iter()
            .map(|row| {
                let (h, b) = (row.here.median(), row.base.median());
                json!({
                    "format": row.format,
                    "operation": row.op.label(),
                    "page_cache": if row.cold { "evicted" } else { "warm" },
                    "base_scale": SCALING_BASE,
                    "median_us": h.map(|d| d.as_secs_f64() * 1e6),
                    "base_median_us": b.map(|d| d.as_secs_f64() * 1e6),
                    "ratio": h.zip(b).map(|(h, b)| h.as_secs_f64() / b.as_secs_f64()),
                    "samples_each": row.here.0.len(),
                })
            })
            .collect();
        let doc = json!({ "scaling_at_the_same_moments": scaling, "not_measured": r.failed, "full_load_not_measured": r.no_room, "dataset_bytes": dataset_bytes, "dataset": args.dataset.name(), "scale": args.scale, "runs": args.runs, "fsync": "every format's write includes fsync", "results": results });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
        say(format!("wrote {}", path.display()));
    }
    Ok(())
}

fn print_tables(args: &Args, formats: &[Box<dyn formats::Format>], r: &Results<'_>) {
    let Results { writes, sizes, reads, rss: _, failed, no_room, shared, scaling } = r;
    let base = "strata";
    if args.reuse {
        println!(
            "## Files ({} dataset, scale {}; written by an earlier run: --reuse)\n",
            args.dataset.name(),
            args.scale
        );
    } else {
        println!(
            "## Write ({} dataset, scale {}, up to {} runs; every format's write includes fsync)\n",
            args.dataset.name(),
            args.scale,
            args.runs
        );
    }
    println!("| format | write (median) | min | max | runs | vs strata | file size |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for f in formats {
        let s = writes.get(f.name()).cloned().unwrap_or_default();
        let b = writes.get(base).and_then(Samples::median);
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.1} MB |",
            f.name(),
            fmt(s.median()),
            fmt(s.min()),
            fmt(s.max()),
            s.0.len(),
            ratio(s.median(), b),
            sizes.get(f.name()).copied().unwrap_or(0) as f64 / 1e6
        );
    }
    for (name, why) in failed {
        println!("\n{name}: not measured at this scale: {why}.");
    }
    for (title, cold) in [("page cache warm", false), ("file evicted from the page cache", true)] {
        if args.warm_only && cold {
            continue;
        }
        println!(
            "\n## Open + access, {title} (median of up to {} fresh processes per point read and {} per full load; ratio = format / strata)\n",
            args.runs * POINT_SAMPLES,
            args.runs
        );
        print!("| format |");
        for op in Op::ALL {
            print!(" {} | vs strata |", op.label());
        }
        println!();
        print!("|---|");
        for _ in Op::ALL {
            print!("---:|---:|");
        }
        println!();
        for f in formats {
            print!("| {} |", f.name());
            for op in Op::ALL {
                let samples = reads.get(&(f.name(), op, cold));
                let s = samples.and_then(Samples::median);
                let b = reads.get(&(base, op, cold)).and_then(Samples::median);
                let mark = if shared.contains(&(f.name(), op, cold)) { " †" } else { "" };
                print!(" {}{mark} | {} |", fmt_samples(samples), ratio(s, b));
            }
            println!();
        }
    }
    for (name, why) in no_room {
        println!("\n{name}: open + full load not measured: {why}.");
    }
    if reads.values().any(Samples::was_slow) {
        println!("\n\\* one sample: the operation took more than {} s, so it was not repeated.", SLOW.as_secs());
    }
    if !shared.is_empty() {
        println!(
            "\n† a format that decodes the whole file for any access, seen taking seconds (a read, or its write): one \
             decode, timed, then each of these operations on the decoded value (its figure: the decode plus its own \
             time)."
        );
    }
    if !scaling.is_empty() {
        println!(
            "\n## Scaling at the same moments: scale {} against scale {SCALING_BASE} (median of {SCALING_ROUNDS} fresh \
             processes each, the two files alternating)\n",
            args.scale
        );
        println!("| format | operation | page cache | scale {SCALING_BASE} | scale {} | ratio |", args.scale);
        println!("|---|---|---|---:|---:|---:|");
        for row in scaling {
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                row.format,
                row.op.label(),
                if row.cold { "evicted" } else { "warm" },
                fmt(row.base.median()),
                fmt(row.here.median()),
                ratio_to(row.here.median(), row.base.median(), 2)
            );
        }
    }
    println!(
        "\n## Peak RSS of a process that opens the file and does one map lookup (the largest of the processes that \
         timed it evicted; warm with --warm-only)\n"
    );
    println!("| format | peak RSS |");
    println!("|---|---:|");
    for f in formats {
        println!(
            "| {} | {} |",
            f.name(),
            r.rss(f.name()).map_or_else(|| String::from("-"), |b| format!("{:.1} MB", b as f64 / 1e6))
        );
    }
}

/// What a child measured: the answer, the time (the process start is not timed), and
/// the child's peak RSS.
type Measured = (u64, Duration, u64);

/// Runs `op` of format `name` on `path` in a fresh process of this program; `None` for
/// an operation the format does not offer. `prerun`: run it once untimed first.
fn measure_in_child(
    name: &str,
    path: &Path,
    op: Op,
    prerun: bool,
    scale: u64,
    kind: dataset::Kind,
) -> Result<Option<Measured>, Box<dyn std::error::Error + Send + Sync>> {
    let spec = format!("{name}|{}|{}|{}", path.display(), op_name(op), if prerun { "prerun" } else { "once" });
    let text = run_child("--child-op", &spec, scale, kind, &format!("{name} {}", op.label()))?;
    let mut words = text.split_whitespace();
    match (words.next(), words.next().map(str::parse::<u64>), words.next().map(str::parse::<u64>)) {
        (Some("none"), _, _) => Ok(None),
        (Some(got), Some(Ok(nanos)), Some(Ok(rss))) => Ok(Some((got.parse()?, Duration::from_nanos(nanos), rss))),
        _ => Err(format!("{name} {}: unreadable child output {text:?}", op.label()).into()),
    }
}

/// Runs this program with `mode SPEC --scale SCALE --dataset KIND` in a fresh process
/// and returns what it printed; an error naming `what` when it failed.
fn run_child(mode: &str, spec: &str, scale: u64, kind: dataset::Kind, what: &str) -> formats::Res<String> {
    let out = Command::new(std::env::current_exe()?)
        .args([mode, spec, "--scale", &scale.to_string(), "--dataset", kind.name()])
        .output()?;
    if !out.status.success() {
        return Err(format!("{what}: {} ({})", String::from_utf8_lossy(&out.stderr).trim(), out.status).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// [`Format::run_every`](formats::Format::run_every) in a fresh process: every
/// operation's answer and time from one decode, and the child's peak RSS; `None` for a
/// format without it.
fn measure_every_in_child(
    name: &str,
    path: &Path,
    scale: u64,
    kind: dataset::Kind,
) -> formats::Res<Option<(formats::Every, u64)>> {
    let spec = format!("{name}|{}|every|once", path.display());
    let text = run_child("--child-op", &spec, scale, kind, &format!("{name} (one decode for every operation)"))?;
    if text.trim() == "none" {
        return Ok(None);
    }
    let mut every = Vec::new();
    let mut rss = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("rss ") {
            rss = Some(n.trim().parse()?);
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(op), Some(got), Some(nanos)) = (words.next(), words.next(), words.next()) else {
            return Err(format!("{name}: unreadable child output {line:?}").into());
        };
        every.push((parse_op(op)?, got.parse()?, Duration::from_nanos(nanos.parse()?)));
    }
    Ok(Some((every, rss.ok_or_else(|| format!("{name}: no peak RSS in the child's output"))?)))
}

/// In a fresh process: one operation, timed. "prerun" (warm measurements) runs it once
/// untimed first: after reading a whole file, any first access pays for the CPU caches
/// that read flushed (+60-100 us for every format). "once" runs it once (on an evicted
/// file, or a warm one whose operation takes seconds). Prints the answer, the
/// nanoseconds, the process's peak RSS in bytes, and the CPU time the operation used on
/// all threads, user and system, in nanoseconds (a full load's parallelism is the CPU
/// time over the wall time).
fn child_op(spec: &str, scale: u64, kind: dataset::Kind) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut parts = spec.split('|');
    let (Some(name), Some(path), Some(op), Some(temp)) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("bad --child-op".into());
    };
    let f = formats::by_name(name).ok_or("unknown format")?;
    let path = Path::new(path);
    let probe = unchecked_probe(scale, kind);
    if op == "every" {
        match f.run_every(path, &probe)? {
            Some(every) => {
                for (op, got, elapsed) in every {
                    println!("{} {got} {}", op_name(op), elapsed.as_nanos());
                }
                println!("rss {}", os::peak_rss());
            }
            None => println!("none"),
        }
        return Ok(());
    }
    let op = parse_op(op)?;
    if temp == "prerun" {
        let _ = f.run(op, path, &probe)?;
        formats::release();
    }
    let (user, system) = os::cpu_time();
    let t = Instant::now();
    let got = f.run(op, path, &probe)?;
    let elapsed = t.elapsed();
    let (user_after, system_after) = os::cpu_time();
    // What the operation built is not freed: the process ends here, and the kernel takes
    // its memory back whole faster than ten million records are freed one by one.
    match got {
        Some(got) => println!(
            "{got} {} {} {} {}",
            elapsed.as_nanos(),
            os::peak_rss(),
            user_after.saturating_sub(user).as_nanos(),
            system_after.saturating_sub(system).as_nanos()
        ),
        None => println!("none"),
    }
    Ok(())
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Metadata => "metadata",
        Op::DeepField => "deep",
        Op::MapLookup => "map",
        Op::VectorElement => "element",
        Op::FullLoad => "full",
    }
}

fn parse_op(op: &str) -> Result<Op, Box<dyn std::error::Error + Send + Sync>> {
    Op::ALL
        .into_iter()
        .find(|o| op_name(*o) == op)
        .ok_or_else(|| "OP is one of write, metadata, deep, map, element, full".into())
}

/// The key and index the harness asks for in dataset `kind` at `scale`, without
/// building the dataset (so without the answers: the callers do not check them).
fn unchecked_probe(scale: u64, kind: dataset::Kind) -> dataset::Probe {
    let users = 100_000 * scale;
    dataset::Probe {
        kind,
        key: kind.probe_key(users),
        index: dataset::probe_index(users),
        version: 0,
        max_level: 0,
        key_level: 0,
        index_level: 0,
        checksum: 0,
    }
}

/// The formats (or a format's operations) in run `run`'s order: a shuffle seeded by the
/// run, so that whatever a format's predecessor leaves the machine doing (writeback,
/// freed memory, a whole-file decode) falls on a different format each run, where the
/// median drops it. In one
/// fixed order at scale 100, strata, first in every run, had warm metadata and map
/// lookup medians of 116-127 us against minimums of 9-20 us; rotating the start still
/// kept every format after the same one (`strata`, which writes the same file with the
/// same code as `strata (pread)`, wrote it in 105-153 ms against 83-103 ms, always
/// right after redb).
fn run_order<T>(run: usize, items: &[T]) -> Vec<&T> {
    let mut order: Vec<&T> = items.iter().collect();
    let mut x = (run as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

/// Scaling at the same moments: each strata format's map lookup and vector element on
/// this run's file against the file of the [`SCALING_BASE`] dataset (written here, next
/// to this run's files), alternating sample by sample (see [`alternate_samples`]). The
/// tables of two runs at different scales sit minutes apart on a machine whose reads
/// drift by more than the difference sought; these pairs do not. Every answer is
/// checked against its own dataset.
fn scaling_step<'a>(
    args: &Args,
    formats: &'a [Box<dyn formats::Format>],
    file: &dyn Fn(&str) -> PathBuf,
    dir: &Path,
    probe: &dataset::Probe,
    say: &dyn Fn(String),
) -> formats::Res<Vec<Scaling<'a>>> {
    let strata: Vec<&dyn formats::Format> =
        formats.iter().map(AsRef::as_ref).filter(|f| f.name().starts_with("strata")).collect();
    if strata.is_empty() {
        return Ok(Vec::new());
    }
    let base_dir = dir.join(format!("scale-{SCALING_BASE}"));
    std::fs::create_dir_all(&base_dir)?;
    let base_file = |name: &str| base_dir.join(file(name).file_name().unwrap_or_default());
    say(format!("scaling: writing the scale-{SCALING_BASE} files in {}", base_dir.display()));
    let mut world = dataset::Data::build(args.dataset, SCALING_BASE);
    let base_probe = world.probe();
    for f in &strata {
        let path = base_file(f.name());
        if args.reuse && path.exists() {
            continue;
        }
        let value = f.prepare(&mut world)?;
        let written = f.write(&world, &value, &path);
        f.restore(value, &mut world)?;
        written?;
    }
    drop(world);
    let temperatures: &[bool] = if args.warm_only { &[false] } else { &[false, true] };
    let mut rows = Vec::new();
    for f in strata {
        let files = [(file(f.name()), args.scale), (base_file(f.name()), SCALING_BASE)];
        evict_others(formats, file, f.name())?;
        for op in SCALING_OPS {
            for &cold in temperatures {
                let [here, base] =
                    alternate_samples(f, op, cold, &files, args.dataset, SCALING_ROUNDS, &mut |k, _, got| {
                        check(f.name(), op, got, if k == 0 { probe } else { &base_probe })
                    })?;
                say(format!(
                    "scaling: {} {}, {}: {} at scale {}, {} at scale {SCALING_BASE}",
                    f.name(),
                    op.label(),
                    if cold { "evicted" } else { "warm" },
                    fmt(here.median()),
                    args.scale,
                    fmt(base.median())
                ));
                rows.push(Scaling { format: f.name(), op, cold, here, base });
            }
        }
    }
    Ok(rows)
}

/// Times `op` of format `f` on two files (path and scale), `n` rounds, alternating: each
/// round times both, in the order swapped from the round before, so that the machine's
/// drift falls on both alike. Each sample is a fresh process, as in the tables: an
/// evicted (`cold`) file is evicted before every sample; a warm one is warmed whole
/// first, and each sample runs the operation once untimed before the timed one.
/// `check(k, path, answer)` vets every answer of file `k` before its time counts.
fn alternate_samples(
    f: &dyn formats::Format,
    op: Op,
    cold: bool,
    files: &[(PathBuf, u64); 2],
    kind: dataset::Kind,
    n: usize,
    check: &mut dyn FnMut(usize, &Path, u64) -> formats::Res<()>,
) -> formats::Res<[Samples; 2]> {
    let mut samples = [Samples::default(), Samples::default()];
    if !cold {
        for (path, _) in files {
            os::warm(path)?;
        }
    }
    for round in 0..n {
        for k in [round % 2, 1 - round % 2] {
            let (path, scale) = &files[k];
            if cold {
                os::evict(path)?;
            }
            let (got, elapsed, _) = measure_in_child(f.name(), path, op, !cold, *scale, kind)?
                .ok_or("an operation this format does not offer")?;
            check(k, path, got)?;
            samples[k].0.push(elapsed);
        }
    }
    Ok(samples)
}

/// `--repeat FORMAT OP N`: one operation N times, warm: median, min and max.
fn alternate(
    spec: &[String],
    file: &dyn Fn(&str) -> PathBuf,
    scale: u64,
    kind: dataset::Kind,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let [name, op, n, other_dir, other_scale] = spec else {
        return Err("--alternate FORMAT OP N OTHER_DIR OTHER_SCALE".into());
    };
    let f = formats::by_name(name).ok_or("unknown format")?;
    let op = parse_op(op)?;
    let n: usize = n.parse()?;
    let here = file(f.name());
    let there = Path::new(other_dir).join(here.file_name().ok_or("no file name")?);
    let files = [(here, scale), (there, other_scale.parse::<u64>()?)];
    let mut answers: [Option<u64>; 2] = [None, None];
    let samples = alternate_samples(f.as_ref(), op, true, &files, kind, n, &mut |k, path, got| match answers
        .get_mut(k)
        .map(|a| *a.get_or_insert(got))
    {
        Some(first) if first != got => Err(format!("{}: answered {first}, then {got}", path.display()).into()),
        _ => Ok(()),
    })?;
    for ((path, s), samples) in files.iter().zip(&samples) {
        println!(
            "{} {}, evicted, scale {s} ({}): median {}, min {}, max {} ({n} samples)",
            f.name(),
            op.label(),
            path.display(),
            fmt(samples.median()),
            fmt(samples.min()),
            fmt(samples.max())
        );
    }
    println!(
        "ratio of the medians, scale {scale} / scale {other_scale}: {}",
        ratio_to(samples[0].median(), samples[1].median(), 2)
    );
    Ok(())
}

fn repeat(
    spec: &[String],
    file: &dyn Fn(&str) -> PathBuf,
    scale: u64,
    kind: dataset::Kind,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let [name, op, n] = spec else { return Err("--repeat FORMAT OP N".into()) };
    let f = formats::by_name(name).ok_or("unknown format")?;
    let n: u32 = n.parse()?;
    let path = file(f.name());
    if op == "write" {
        let mut world = dataset::Data::build(kind, scale);
        let value = f.prepare(&mut world)?;
        let mut s = Samples::default();
        for _ in 0..n {
            let t = Instant::now();
            f.write(&world, &value, &path)?;
            s.0.push(t.elapsed());
        }
        println!(
            "{} write: median {}, min {}, max {} ({n} runs)",
            f.name(),
            fmt(s.median()),
            fmt(s.min()),
            fmt(s.max())
        );
        return Ok(());
    }
    let op = parse_op(op)?;
    let probe = unchecked_probe(scale, kind);
    os::warm(&path)?;
    let _ = f.run(op, &path, &probe)?;
    formats::release();
    let (mut s, mut closing) = (Samples::default(), Duration::ZERO);
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(f.run(op, &path, &probe)?);
        s.0.push(t.elapsed());
        let t = Instant::now();
        formats::release();
        closing += t.elapsed();
    }
    println!(
        "{} {}: median {}, min {}, max {}; {} on average to close and free what it opened or built ({n} runs)",
        f.name(),
        op.label(),
        fmt(s.median()),
        fmt(s.min()),
        fmt(s.max()),
        fmt(Some(closing / n.max(1)))
    );
    Ok(())
}
