//! What the pieces of a full load cost on this machine, each apart from the rest: the
//! floor under any format that builds the dataset's owned values in a fresh process.
//!
//! ```text
//! cargo run --release -p strata-benches --bin costs [-- --scale 1 --rounds 5]
//! ```
//!
//! - **First touches**: writing one byte in each 4 KiB page of fresh memory (256 MiB,
//!   freshly mapped by the allocator), from one thread and then from two threads at
//!   once, each on its own half: what every byte of a full load's owned values costs
//!   before it is written, and whether two cores share that work.
//! - **Map inserts**: the dataset's map entries (`(String, User)`, made up front) moved
//!   into a presized `std::collections::HashMap`: into fresh memory, then into the same
//!   table again once its memory is touched, and the key hashing alone (`RandomState`,
//!   as the map does it). A map's full load ends with these inserts on one thread.
//!
//! Each figure is the best of `--rounds` in this process; run it a few times to see
//! this machine's spread.

use clap::Parser;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};
use strata_benches::{dataset, os};

#[derive(Parser)]
struct Args {
    /// Dataset scale for the map entries (1: 100,000 entries).
    #[arg(long, default_value_t = 1)]
    scale: u64,
    /// Rounds of each measurement; the best is printed.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

const PAGE: usize = 4096;
const TOUCHED: usize = 256 << 20;

fn main() {
    let args = Args::parse();
    let rounds = args.rounds.max(1);

    let one = best(rounds, || {
        let mut fresh = vec![0u8; TOUCHED];
        let t = Instant::now();
        touch(&mut fresh);
        t.elapsed()
    });
    let two = best(rounds, || {
        let mut fresh = vec![0u8; TOUCHED];
        let (a, b) = fresh.split_at_mut(TOUCHED / 2);
        let t = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| touch(a));
            touch(b);
        });
        t.elapsed()
    });
    let pages = (TOUCHED / PAGE) as f64;
    println!(
        "first touch of {} MiB of fresh memory, one byte per 4 KiB page: {:.2} us per page on one thread, \
         {:.2} us per page on two threads (wall time over all pages; {:.2}x the one-thread time)",
        TOUCHED >> 20,
        micros(one) / pages,
        micros(two) / pages,
        two.as_secs_f64() / one.as_secs_f64()
    );

    let world = dataset::world(args.scale);
    let entries: Vec<(String, dataset::User)> = world.by_name.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    drop(world);
    let n = entries.len();
    let mut fresh_best = Duration::MAX;
    // Every round's map is kept until all rounds are done, so that no round gets a
    // table the allocator kept from the round before; the page faults of the best round
    // show its table was fresh memory.
    let mut fresh_faults = 0;
    let mut held = Vec::with_capacity(rounds);
    let fresh = best(rounds, || {
        let batch = entries.clone();
        let mut map = HashMap::with_capacity(n);
        let faults = os::minor_faults();
        let t = Instant::now();
        map.extend(batch);
        let elapsed = t.elapsed();
        let faults = os::minor_faults() - faults;
        held.push(map);
        if elapsed < fresh_best {
            fresh_best = elapsed;
            fresh_faults = faults;
        }
        elapsed
    });
    drop(held);
    let touched = best(rounds, || {
        let mut map = HashMap::with_capacity(n);
        map.extend(entries.clone());
        map.clear();
        let batch = entries.clone();
        let t = Instant::now();
        map.extend(batch);
        let elapsed = t.elapsed();
        std::hint::black_box(&map);
        elapsed
    });
    let hasher = std::collections::hash_map::RandomState::new();
    let hashing = best(rounds, || {
        let t = Instant::now();
        let mut x = 0u64;
        for (k, _) in &entries {
            x ^= hasher.hash_one(k.as_str());
        }
        std::hint::black_box(x);
        t.elapsed()
    });
    println!(
        "{n} ready-made (String, User) entries into a presized std HashMap: {:.2} ms into fresh memory \
         ({fresh_faults} page faults), {:.2} ms into the same table once touched; hashing the keys alone {:.2} ms",
        millis(fresh),
        millis(touched),
        millis(hashing)
    );
}

/// Writes one byte in every page of `bytes`.
fn touch(bytes: &mut [u8]) {
    for page in bytes.chunks_mut(PAGE) {
        if let Some(b) = page.first_mut() {
            *b = 1;
        }
    }
    std::hint::black_box(bytes);
}

fn best(rounds: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..rounds).map(|_| f()).min().unwrap_or_default()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
