//! Incremental saves against whole saves on a big archive: a log of `--events N`
//! records (a `Sharded` vector), an index of every 16th record by id (a `Mapped` map)
//! and a 16 MiB blob (a `Lazy` value). The archive is saved whole, loaded (the handles
//! leave everything in the file), one event changed, one pushed and one index entry
//! inserted, then saved incrementally; the same changed value is also saved whole to
//! another file, for comparison. Five rounds; prints each round and the medians.
//!
//! `cargo run --release --example incremental_save -- --events 10000000 [--dir D]`

use std::time::Instant;
use strata::{Archive, Lazy, Mapped, Persist, SaveOptions, Sharded};

#[derive(Persist)]
struct Log {
    name: String,
    round: u64,
    events: Sharded<(u64, String)>,
    by_id: Mapped<u64, u32>,
    blob: Lazy<Vec<u8>>,
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = arg("--events").map_or(Ok(10_000_000), |s| s.parse())?;
    let dir = match arg("--dir") {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let path = dir.path().join("log.strata");
    let whole_path = dir.path().join("whole.strata");
    let events: Vec<(u64, String)> = (0..n).map(|i| (i, format!("event {i} of the log"))).collect();
    let by_id = (0..n).step_by(16).map(|i| (i, (i % 1000) as u32)).collect();
    let log = Log {
        name: "log".into(),
        round: 0,
        events: events.into(),
        by_id: Mapped::new(by_id),
        blob: Lazy::new(vec![7; 16 << 20]),
    };
    let incremental = SaveOptions::new().incremental(true);
    let started = Instant::now();
    let first = incremental.save(&path, &log)?;
    println!("whole save: {} bytes in {:.3} s", first.file_len, started.elapsed().as_secs_f64());
    drop(log);
    let (mut inc, mut whole, mut load) = (Vec::new(), Vec::new(), Vec::new());
    let mut before = first.file_len;
    for round in 1..=5u64 {
        let started = Instant::now();
        let mut log: Log = Archive::open(&path)?.load()?;
        let loaded = started.elapsed().as_secs_f64();
        log.round = round;
        let i = (round * 7_919_993) % n;
        log.events.set(i, (i, format!("changed in round {round}")))?;
        log.events.push((n + round, format!("pushed in round {round}")))?;
        log.by_id.insert(n + round, round as u32)?;
        let started = Instant::now();
        let stats = incremental.save(&path, &log)?;
        let inc_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let w = SaveOptions::new().save(&whole_path, &log)?;
        let whole_s = started.elapsed().as_secs_f64();
        println!(
            "round {round}: load {loaded:.4} s; incremental save {inc_s:.4} s, appended {} bytes in {} chunks \
             ({} reused); whole save {whole_s:.3} s, {} bytes",
            stats.file_len - before,
            stats.chunks,
            stats.reused_chunks,
            w.file_len
        );
        before = stats.file_len;
        inc.push(inc_s);
        whole.push(whole_s);
        load.push(loaded);
    }
    let (i, w) = (median(inc), median(whole));
    println!(
        "RESULT events={n} file={} load_s={:.4} incremental_s={i:.4} whole_s={w:.3} ratio={:.0}",
        first.file_len,
        median(load),
        w / i
    );
    Ok(())
}
