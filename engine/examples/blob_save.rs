//! Time of saving one large lazy byte vector (default 200 MiB): median and min of 21
//! saves. Such a vector is written straight from itself, not serialized into a buffer
//! first; run this on two commits to compare.
//!
//! ```text
//! cargo run --release --example blob_save [-- MIB [PATH]]
//! ```

use std::time::{Duration, Instant};

#[derive(strata::Persist)]
struct Blob {
    name: String,
    #[strata(lazy)]
    bytes: Vec<u8>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: usize = std::env::args().nth(1).map_or(Ok(200), |a| a.parse())?;
    let path = std::env::args().nth(2).unwrap_or_else(|| String::from("blob-save.strata"));
    let blob = Blob { name: String::from("blob"), bytes: (0..mib << 20).map(|i| (i / 64) as u8).collect() };
    let mut times: Vec<Duration> = (0..21)
        .map(|_| {
            let t = Instant::now();
            strata::save(&path, &blob).map(|_| t.elapsed())
        })
        .collect::<Result<_, _>>()?;
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("{mib} MiB blob: median {:.2} ms, min {:.2} ms (21 saves)", ms(times[10]), ms(times[0]));
    std::fs::remove_file(&path)?;
    Ok(())
}
