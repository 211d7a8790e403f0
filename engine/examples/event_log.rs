//! A log of events read back by time range: events in time order in a sharded vector,
//! and a coarse index (the time of every 4096th event) inline in the root. A range
//! query finds its first event with a binary search over the index and then over the
//! one stretch of events it narrows to, and streams the events of the range shard by
//! shard, holding one shard at a time.
//!
//! ```text
//! cargo run --release --example event_log [-- EVENTS]
//! ```

use std::time::Instant;
use strata::{Archive, Persist};

/// One index entry per this many events.
const STRIDE: usize = 4096;

#[derive(Persist, Debug, Clone, PartialEq)]
struct Event {
    /// Microseconds since the log started.
    at: u64,
    source: String,
    level: Level,
    message: String,
}

#[derive(Persist, Debug, Clone, Copy, PartialEq)]
enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Persist, Debug, PartialEq)]
struct Log {
    host: String,
    /// `events[k * STRIDE].at` for every k.
    index: Vec<u64>,
    #[strata(shard, compress = "zstd(1)")]
    events: Vec<Event>,
}

fn build(events: usize) -> Log {
    let mut at = 0u64;
    let levels = [Level::Debug, Level::Info, Level::Info, Level::Warn, Level::Error];
    let events: Vec<Event> = (0..events)
        .map(|i| {
            at += 1 + (i as u64 * 2_654_435_761) % 500;
            Event {
                at,
                source: format!("worker-{}", i % 16),
                level: levels[i % levels.len()],
                message: format!("request {i} served"),
            }
        })
        .collect();
    let index = events.iter().step_by(STRIDE).map(|e| e.at).collect();
    Log { host: "db-1".into(), index, events }
}

/// The index of the first event at or after `t`.
fn first_at_or_after(log: &ArchivedLog, t: u64) -> strata::Result<usize> {
    // The stretch of STRIDE events that holds it, from the inline index ...
    let k = log.index.partition_point(|at| at.to_native() < t);
    let (mut lo, mut hi) = (k.saturating_sub(1) * STRIDE, (k * STRIDE).min(log.events.len()));
    // ... then a binary search inside it (its elements lie in a shard or two).
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at = log.events.get(mid)?.map_or(u64::MAX, |e| e.at.to_native());
        if at < t {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// The errors logged in `from..to`, streamed from the file.
fn errors_between(log: &ArchivedLog, from: u64, to: u64) -> strata::Result<Vec<Event>> {
    let start = first_at_or_after(log, from)?;
    let end = first_at_or_after(log, to)?;
    let mut out = Vec::new();
    for e in log.events.range(start..end) {
        let e = e?;
        if e.level == Level::Error {
            out.push(e.load()?);
        }
    }
    Ok(out)
}

fn run(events: usize, path: &std::path::Path) -> strata::Result<()> {
    let log = build(events);
    let t = Instant::now();
    let stats = strata::save(path, &log)?;
    println!("{events} events: {} bytes, saved in {:.1?}", stats.file_len, t.elapsed());

    let last = log.events.last().map_or(0, |e| e.at);
    let (from, to) = (last / 2, last / 2 + 50_000);
    let t = Instant::now();
    let archive = Archive::open(path)?;
    let errors = errors_between(archive.root::<Log>()?, from, to)?;
    println!("{} errors between t={from} and t={to}, read in {:.1?}", errors.len(), t.elapsed());

    let expected: Vec<Event> =
        log.events.iter().filter(|e| (from..to).contains(&e.at) && e.level == Level::Error).cloned().collect();
    assert_eq!(errors, expected);
    Ok(())
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events: usize = std::env::args().nth(1).map_or(Ok(5_000_000), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    run(events, &dir.path().join("events.strata"))?;
    Ok(())
}

#[test]
fn a_small_log_answers_time_ranges() -> strata::Result<()> {
    let dir = tempfile::tempdir()?;
    run(300_000, &dir.path().join("events.strata"))
}
