//! Reading an evolved file against reading a native one, in one run.
//!
//! Two files hold the same records: one written by today's record type (`native`), one
//! by the version before it, which lacked one field (`evolved`: today's type reads it
//! through a plan, transcoding each chunk it touches). Each read opens the file afresh
//! and uses today's types; "warm" reads find the file in the page cache, "evicted" reads
//! start with its pages dropped. The two files' reads alternate, so both meet the same
//! machine. Prints a table and writes the samples as JSON.
//!
//! `cargo run --release -p strata-benches --bin evolve -- --records 100000 --samples 30`

use clap::Parser;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use strata::Archive;

/// Today's types.
mod now {
    use std::collections::HashMap;

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub struct Rec {
        pub id: u64,
        pub name: String,
        pub email: String,
        pub level: u32,
        pub scores: Vec<u32>,
        /// The field added since the previous version.
        #[strata(default)]
        pub rank: u32,
    }

    #[derive(strata::Persist, Debug, PartialEq)]
    pub struct Db {
        pub title: String,
        #[strata(shard)]
        pub recs: Vec<Rec>,
        #[strata(map)]
        pub by_name: HashMap<String, Rec>,
    }
}

/// The previous version: `Rec` without `rank`.
mod before {
    use std::collections::HashMap;

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub struct Rec {
        pub id: u64,
        pub name: String,
        pub email: String,
        pub level: u32,
        pub scores: Vec<u32>,
    }

    #[derive(strata::Persist, Debug, PartialEq)]
    pub struct Db {
        pub title: String,
        #[strata(shard)]
        pub recs: Vec<Rec>,
        #[strata(map)]
        pub by_name: HashMap<String, Rec>,
    }
}

#[derive(Parser)]
struct Args {
    /// Records in each file.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Timed reads of each operation on each file (point reads); full loads take a
    /// fifth as many.
    #[arg(long, default_value_t = 30)]
    samples: usize,
    /// Where the files go.
    #[arg(long, default_value = "target/evolve-bench")]
    dir: PathBuf,
    /// Where the samples go (JSON).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Only the operations whose names contain this (`map`, `element`, `load`).
    #[arg(long)]
    only: Option<String>,
    /// Only warm reads.
    #[arg(long)]
    warm_only: bool,
    /// Only this file's reads (`native` or `evolved`), for profiling.
    #[arg(long)]
    file: Option<String>,
    /// Internal: one map lookup in this process, on this file; prints its time.
    #[arg(long, hide = true)]
    child: Option<PathBuf>,
}

/// One `open + map lookup` in a fresh process (`--child`), which plans the evolved
/// file first: what a program that opens one file per run pays.
fn first_open(exe: &Path, path: &Path, k: usize) -> Res<f64> {
    let out = std::process::Command::new(exe).arg("--child").arg(path).arg("--records").arg(k.to_string()).output()?;
    let text = String::from_utf8(out.stdout)?;
    Ok(text.trim().parse::<f64>().map_err(|e| format!("child said {text:?}: {e}"))?)
}

/// The `--child` side: the key is `user-{k}`; the answer is checked for presence.
fn child(path: &Path, k: usize) -> Res<()> {
    let start = Instant::now();
    let archive = Archive::open(path)?;
    let root = archive.root::<now::Db>()?;
    let key = format!("user-{k:07}");
    let level = root.by_name.get(key.as_str())?.ok_or("missing key")?.value().level;
    let elapsed = start.elapsed().as_secs_f64();
    if level != (k % 97) as u32 {
        return Err("wrong entry".into());
    }
    println!("{elapsed}");
    Ok(())
}

fn rec(i: usize) -> before::Rec {
    before::Rec {
        id: i as u64 * 7919,
        name: format!("user-{i:07}"),
        email: format!("user.{i}@example.com"),
        level: (i % 97) as u32,
        scores: (0..(i % 9) as u32).map(|k| k * 13 + i as u32).collect(),
    }
}

fn upgrade(r: &before::Rec) -> now::Rec {
    now::Rec {
        id: r.id,
        name: r.name.clone(),
        email: r.email.clone(),
        level: r.level,
        scores: r.scores.clone(),
        rank: 0,
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// One timed read of `path` with today's types: the answer is checked before the clock
/// stops counting it.
fn read(op: &str, path: &Path, k: usize, n: usize, want: &[now::Rec]) -> Res<Duration> {
    let start = Instant::now();
    let archive = Archive::open(path)?;
    if op == "open + full load" {
        let db = archive.load::<now::Db>()?;
        let elapsed = start.elapsed();
        if db.recs.len() != n || db.recs[n / 2] != want[n / 2] || db.by_name.len() != n {
            return Err("wrong full load".into());
        }
        return Ok(elapsed);
    }
    let root = archive.root::<now::Db>()?;
    match op {
        "open + map lookup" => {
            let i = (k * 7_919) % n;
            let key = format!("user-{i:07}");
            let entry = root.by_name.get(key.as_str())?.ok_or("missing key")?;
            let got = entry.value();
            let elapsed = start.elapsed();
            if got.level != want[i].level || got.rank != 0 || got.email.as_str() != want[i].email {
                return Err(format!("wrong entry for {key}").into());
            }
            Ok(elapsed)
        }
        "open + vector element" => {
            let i = (k * 104_729) % n;
            let elem = root.recs.get(i)?.ok_or("missing element")?;
            let got = elem.get();
            let elapsed = start.elapsed();
            if got.id != want[i].id || got.rank != 0 || got.name.as_str() != want[i].name {
                return Err(format!("wrong element {i}").into());
            }
            Ok(elapsed)
        }
        _ => Err(format!("unknown operation {op}").into()),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn show(secs: f64) -> String {
    if secs >= 1e-3 { format!("{:.2} ms", secs * 1e3) } else { format!("{:.1} us", secs * 1e6) }
}

fn main() -> Res<()> {
    let args = Args::parse();
    if let Some(path) = &args.child {
        return child(path, args.records);
    }
    std::fs::create_dir_all(&args.dir)?;
    let n = args.records;
    let old: Vec<before::Rec> = (0..n).map(rec).collect();
    let want: Vec<now::Rec> = old.iter().map(upgrade).collect();
    let evolved = args.dir.join("evolved.strata");
    let native = args.dir.join("native.strata");
    strata::save(
        &evolved,
        &before::Db {
            title: "records".into(),
            by_name: old.iter().map(|r| (r.name.clone(), r.clone())).collect(),
            recs: old,
        },
    )?;
    strata::save(
        &native,
        &now::Db {
            title: "records".into(),
            by_name: want.iter().map(|r| (r.name.clone(), r.clone())).collect::<HashMap<_, _>>(),
            recs: want.clone(),
        },
    )?;
    let sizes = (std::fs::metadata(&native)?.len(), std::fs::metadata(&evolved)?.len());
    println!("{n} records: native file {} bytes, evolved file {} bytes", sizes.0, sizes.1);
    let files = [("native", &native), ("evolved", &evolved)];
    let ops = ["open + map lookup", "open + vector element", "open + full load"];
    let mut samples: Vec<(String, String, &str, Vec<f64>)> = Vec::new();
    let caches: &[&str] = if args.warm_only { &["warm"] } else { &["warm", "evicted"] };
    for &cache in caches {
        for op in ops.into_iter().filter(|op| args.only.as_ref().is_none_or(|o| op.contains(o.as_str()))) {
            let count = if op == "open + full load" { (args.samples / 5).max(3) } else { args.samples };
            let mut got: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
            for k in 0..count {
                // Alternate which file goes first.
                for f in [k % 2, 1 - k % 2] {
                    if args.file.as_ref().is_some_and(|only| only != files[f].0) {
                        got[f].push(f64::NAN);
                        continue;
                    }
                    let path = files[f].1;
                    if cache == "evicted" {
                        strata_benches::os::evict(path)?;
                    } else if k == 0 {
                        std::fs::read(path)?;
                    }
                    got[f].push(read(op, path, k, n, &want)?.as_secs_f64());
                }
            }
            for (f, s) in got.into_iter().enumerate() {
                samples.push((cache.to_owned(), op.to_owned(), files[f].0, s));
            }
        }
    }
    if args.only.is_none() && args.file.is_none() {
        // The first open in a process: alternating fresh processes, warm.
        let exe = std::env::current_exe()?;
        let mut got: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for k in 0..args.samples {
            for f in [k % 2, 1 - k % 2] {
                got[f].push(first_open(&exe, files[f].1, (k * 7_919) % n)?);
            }
        }
        for (f, s) in got.into_iter().enumerate() {
            samples.push((String::from("warm"), String::from("first open in a process + map lookup"), files[f].0, s));
        }
    }
    println!("| {:<32} | {:>10} | {:>10} | {:>6} |", "read (today's types)", "native", "evolved", "ratio");
    println!("|---|---:|---:|---:|");
    let mut rows = Vec::new();
    for pair in samples.chunks(2) {
        let (mut a, mut b) = (pair[0].3.clone(), pair[1].3.clone());
        let (ma, mb) = (median(&mut a), median(&mut b));
        println!(
            "| {:<32} | {:>10} | {:>10} | {:>5.2}x |",
            format!("{} ({})", pair[0].1, pair[0].0),
            show(ma),
            show(mb),
            mb / ma
        );
        rows.push(serde_json::json!({
            "cache": pair[0].0, "op": pair[0].1,
            "native": pair[0].3, "evolved": pair[1].3,
            "native_median": ma, "evolved_median": mb, "ratio": mb / ma,
        }));
    }
    if let Some(json) = args.json {
        std::fs::write(json, serde_json::to_string_pretty(&serde_json::json!({ "records": n, "rows": rows }))?)?;
    }
    Ok(())
}
