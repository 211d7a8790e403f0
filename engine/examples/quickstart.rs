//! The main job: build a realistic world (the Parcode whitepaper's dataset: 100,000 user
//! records, a ~10 MB binary asset, nested metadata), save it, reopen it, read a deep
//! inline field and deferred ones, and print sizes and timings.
//!
//! ```text
//! cargo run --release --example quickstart [-- PATH]
//! ```

use std::time::{Duration, Instant};
use strata::{Archive, Persist};

#[derive(Persist, Debug, PartialEq, Clone)]
struct Profile {
    bio: String,
    country: String,
    joined: u64,
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct User {
    id: u64,
    name: String,
    email: String,
    level: u32,
    score: f64,
    active: bool,
    friends: Vec<u64>,
    profile: Profile,
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Stats {
    users: u64,
    max_level: u32,
    mean_score: f64,
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Metadata {
    version: u32,
    created_by: String,
    stats: Stats,
    tags: Vec<String>,
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct GameWorld {
    name: String,
    meta: Metadata,
    #[strata(lazy)]
    users: Vec<User>,
    #[strata(lazy)]
    asset: Vec<u8>,
    #[strata(lazy, compress = "zstd")]
    changelog: Vec<String>,
}

const COUNTRIES: [&str; 6] = ["AR", "BR", "DE", "JP", "NG", "US"];

fn build_world() -> GameWorld {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let users: Vec<User> = (0..100_000u64)
        .map(|id| User {
            id,
            name: format!("player{id:06}"),
            email: format!("player{id:06}@example.com"),
            level: (next() % 100) as u32,
            score: (next() % 1_000_000) as f64 / 100.0,
            active: next() % 3 != 0,
            friends: (0..(next() % 4)).map(|_| next() % 100_000).collect(),
            profile: Profile {
                bio: format!("Player number {id}, fond of long walks on procedurally generated beaches."),
                country: COUNTRIES[(next() % 6) as usize].to_string(),
                joined: 1_600_000_000 + next() % 100_000_000,
            },
        })
        .collect();
    // A ~10 MB asset with texture-like content: noisy, partly compressible.
    let asset: Vec<u8> = (0..10 * 1024 * 1024).map(|i| ((i / 64) as u8).wrapping_add((next() % 8) as u8)).collect();
    let max_level = users.iter().map(|u| u.level).max().unwrap_or(0);
    let mean_score = users.iter().map(|u| u.score).sum::<f64>() / users.len() as f64;
    GameWorld {
        name: "Aurora".into(),
        meta: Metadata {
            version: 7,
            created_by: "quickstart".into(),
            stats: Stats { users: users.len() as u64, max_level, mean_score },
            tags: vec!["demo".into(), "whitepaper-dataset".into()],
        },
        users,
        asset,
        changelog: (0..5_000).map(|i| format!("v0.{i}: balanced things")).collect(),
    }
}

fn ms(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{:>9.1} us", d.as_secs_f64() * 1e6)
    } else {
        format!("{:>9.2} ms", d.as_secs_f64() * 1e3)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| String::from("quickstart-world.strata"));

    let t = Instant::now();
    let world = build_world();
    println!(
        "built the world in {}: {} users, {:.1} MiB asset",
        ms(t.elapsed()),
        world.users.len(),
        world.asset.len() as f64 / 1048576.0
    );

    let stats = strata::save(&path, &world)?;
    println!(
        "saved {path}: {:.2} MiB, {} chunks, in {}",
        stats.file_len as f64 / 1048576.0,
        stats.chunks,
        ms(stats.elapsed)
    );

    // Reopen: footer + root checksum only.
    let t = Instant::now();
    let archive = Archive::open(&path)?;
    let open = t.elapsed();
    let t = Instant::now();
    let w = archive.root::<GameWorld>()?;
    let root = t.elapsed();
    let t = Instant::now();
    let deep = w.meta.stats.max_level.to_native();
    let deep_t = t.elapsed();
    println!("open                {}", ms(open));
    println!("root view           {}  (validates the root node only)", ms(root));
    println!("deep inline field   {}  meta.stats.max_level = {deep}", ms(deep_t));
    println!(
        "promise sizes       users {:.2} MiB, asset {:.2} MiB, changelog {:.2} MiB stored ({:.2} MiB raw)",
        w.users.stored_len() as f64 / 1048576.0,
        w.asset.stored_len() as f64 / 1048576.0,
        w.changelog.stored_len() as f64 / 1048576.0,
        w.changelog.raw_len() as f64 / 1048576.0
    );

    let t = Instant::now();
    let asset = w.asset.view()?;
    let asset_t = t.elapsed();
    println!("asset view          {}  {} bytes, byte[5_000_000] = {}", ms(asset_t), asset.len(), asset[5_000_000]);

    let t = Instant::now();
    let users = w.users.view()?;
    let u = &users[54_321];
    let user_t = t.elapsed();
    println!("user 54321 (view)   {}  {} from {}, level {}", ms(user_t), u.name, u.profile.country, u.level);
    let t = Instant::now();
    let again = &w.users.view()?[12_345];
    println!("user 12345 (again)  {}  {} (chunk already validated)", ms(t.elapsed()), again.name);

    let t = Instant::now();
    let log = w.changelog.load()?;
    println!("changelog (zstd)    {}  {} entries, last: {:?}", ms(t.elapsed()), log.len(), log.last());

    let t = Instant::now();
    let all: GameWorld = archive.load()?;
    println!("full load           {}", ms(t.elapsed()));
    assert!(all == world, "the loaded world differs from the saved one");
    println!("full load equals the saved world: ok");
    Ok(())
}
