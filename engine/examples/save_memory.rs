//! Peak memory of saving a large sharded vector (default 2 GiB of `u64`).
//!
//! ```text
//! cargo run --release --example save_memory [-- GIB [PATH]]
//! ```

use std::time::Instant;

#[derive(strata::Persist)]
struct Big {
    #[strata(shard)]
    values: Vec<u64>,
}

fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gib: f64 = std::env::args().nth(1).map_or(Ok(2.0), |a| a.parse())?;
    let path = std::env::args().nth(2).unwrap_or_else(|| String::from("save-memory.strata"));
    let n = (gib * (1u64 << 30) as f64) as u64 / 8;
    let big = Big { values: (0..n).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect() };
    let data = n * 8;
    let before = peak_rss();
    let t = Instant::now();
    let stats = strata::save(&path, &big)?;
    let after = peak_rss();
    println!(
        "data {:.2} GiB; peak RSS before the save {:.2} GiB, after {:.2} GiB: {:.3}x the data; extra during the save {:.1} MiB",
        data as f64 / (1u64 << 30) as f64,
        before as f64 / (1u64 << 30) as f64,
        after as f64 / (1u64 << 30) as f64,
        after as f64 / data as f64,
        after.saturating_sub(before) as f64 / 1048576.0
    );
    println!(
        "saved {} chunks, {:.2} GiB in {:.2} s",
        stats.chunks,
        stats.file_len as f64 / (1u64 << 30) as f64,
        t.elapsed().as_secs_f64()
    );
    std::fs::remove_file(&path)?;
    Ok(())
}
