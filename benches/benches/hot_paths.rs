//! Micro-benches of the hot paths: root view, vector `get`, map `get` (hit and miss),
//! the bucket hash search candidates, shard decode, and full parallel loads.
//!
//! ```text
//! cargo bench -p strata-benches --bench hot_paths
//! ```
#![allow(missing_docs, reason = "criterion's macros generate undocumented items")]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;
use strata::{Archive, Persist};

#[derive(Persist, Clone)]
struct User {
    id: u64,
    name: String,
    level: u32,
    friends: Vec<u64>,
}

#[derive(Persist)]
struct World {
    version: u32,
    #[strata(lazy)]
    motd: String,
    #[strata(shard)]
    users: Vec<User>,
    #[strata(map)]
    by_name: HashMap<String, User>,
    #[strata(shard)]
    numbers: Vec<u64>,
}

fn world() -> World {
    let users: Vec<User> = (0..100_000u64)
        .map(|id| User {
            id,
            name: format!("player{id:06}"),
            level: (id % 100) as u32,
            friends: vec![id; (id % 4) as usize],
        })
        .collect();
    World {
        version: 1,
        motd: String::from("a message of the day, stored in a chunk of its own"),
        by_name: users.iter().map(|u| (u.name.clone(), u.clone())).collect(),
        users,
        numbers: (0..1_000_000).collect(),
    }
}

fn reads(c: &mut Criterion) {
    let bytes = strata::to_bytes(&world()).expect("save");
    let archive = Archive::from_bytes(bytes.clone()).expect("open");
    let w = archive.root::<World>().expect("root");

    c.bench_function("root view (validated once, then cached)", |b| b.iter(|| black_box(archive.root::<World>().ok())));
    c.bench_function("open from bytes + root view", |b| {
        b.iter_batched(
            || bytes.clone(),
            |bytes| {
                let a = Archive::from_bytes(bytes).ok();
                black_box(a.as_ref().and_then(|a| a.root::<World>().ok().map(|w| w.version.to_native())))
            },
            criterion::BatchSize::LargeInput,
        );
    });
    c.bench_function("lazy field view (warm chunk)", |b| b.iter(|| black_box(w.motd.view().map(|v| v.len()).ok())));
    let mut i = 0usize;
    c.bench_function("vector get (warm shard)", |b| {
        b.iter(|| {
            i = (i + 7919) % 100_000;
            black_box(w.users.get(i).ok().flatten().map(|u| u.level.to_native()))
        });
    });
    let mut k = 0u64;
    c.bench_function("map get hit (warm bucket)", |b| {
        b.iter(|| {
            k = (k + 7919) % 100_000;
            let key = format!("player{k:06}");
            black_box(w.by_name.get(key.as_str()).ok().flatten().map(|u| u.level.to_native()))
        });
    });
    c.bench_function("map get miss", |b| b.iter(|| black_box(w.by_name.get("nobody-at-all").ok().flatten().is_some())));
    c.bench_function("shard decode: first access of a 128 KiB shard (fresh archive)", |b| {
        b.iter_batched(
            || Archive::from_bytes(bytes.clone()).expect("open"),
            |a| {
                black_box(
                    a.root::<World>().ok().and_then(|w| w.users.get(50_000).ok().flatten().map(|u| u.id.to_native())),
                )
            },
            criterion::BatchSize::LargeInput,
        );
    });
    let mut group = c.benchmark_group("full parallel load");
    group.sample_size(10);
    group.bench_function("users (100,000, sharded)", |b| b.iter(|| black_box(w.users.load().map(|v| v.len()))));
    group.bench_function("by_name (100,000, bucketed)", |b| b.iter(|| black_box(w.by_name.load().map(|m| m.len()))));
    group.bench_function("numbers (1,000,000 u64, sharded)", |b| {
        b.iter(|| black_box(w.numbers.load().map(|v| v.len())))
    });
    group.finish();
}

/// The candidates for finding a hash in a bucket's hash array, read in place from the
/// bucket's bytes (little-endian u64s). strata uses binary search over sorted hashes.
fn hash_search(c: &mut Criterion) {
    let mut group = c.benchmark_group("bucket hash search");
    for n in [16usize, 64, 256, 512] {
        let mut hashes: Vec<u64> = (0..n as u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1).collect();
        hashes.sort_unstable();
        let bytes: Vec<u8> = hashes.iter().flat_map(|h| h.to_le_bytes()).collect();
        let hit = hashes[n * 3 / 4];
        let miss = 2u64; // even: absent
        let read = |j: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[j * 8..j * 8 + 8]);
            u64::from_le_bytes(w)
        };
        let binary = |h: u64| {
            let (mut lo, mut hi) = (0, n);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if read(mid) < h { lo = mid + 1 } else { hi = mid }
            }
            (lo < n && read(lo) == h).then_some(lo)
        };
        let linear =
            |h: u64| bytes.chunks_exact(8).position(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) == h);
        for (name, key) in [("hit", hit), ("miss", miss)] {
            group.bench_with_input(BenchmarkId::new(format!("binary search {name}"), n), &key, |b, &k| {
                b.iter(|| binary(black_box(k)))
            });
            group.bench_with_input(BenchmarkId::new(format!("linear scan {name}"), n), &key, |b, &k| {
                b.iter(|| linear(black_box(k)))
            });
        }
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = reads, hash_search
}
criterion_main!(benches);
