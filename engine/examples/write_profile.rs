//! Where a save's time goes: serialization to memory vs. writing the file (with fsync).
//! `cargo run --release --example write_profile`

use std::collections::HashMap;
use std::time::Instant;
use strata::Persist;

#[derive(Persist, Clone)]
struct User {
    id: u64,
    name: String,
    email: String,
    level: u32,
    score: f64,
    active: bool,
    friends: Vec<u64>,
    country: String,
    bio: String,
}

#[derive(Persist)]
struct World {
    #[strata(shard)]
    users: Vec<User>,
    #[strata(map)]
    by_name: HashMap<String, User>,
    #[strata(lazy)]
    asset: Vec<u8>,
}

fn main() -> Result<(), strata::Error> {
    let users: Vec<User> = (0..100_000u64)
        .map(|id| User {
            id,
            name: format!("player{id:08}"),
            email: format!("player{id:08}@example.com"),
            level: (id % 100) as u32,
            score: id as f64,
            active: id % 3 != 0,
            friends: vec![id; (id % 4) as usize],
            country: "DE".into(),
            bio: format!("Player {id}, fond of long walks on generated beaches."),
        })
        .collect();
    let world =
        World { by_name: users.iter().map(|u| (u.name.clone(), u.clone())).collect(), users, asset: vec![7; 10 << 20] };
    if std::env::var_os("SAVES").is_some() {
        let mut times = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            strata::save("/tmp/wprof/w.strata", &world)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        println!("save x10: median {:.1} ms, min {:.1}, max {:.1}", times[5], times[0], times[9]);
        return Ok(());
    }
    if std::env::var_os("ONCE").is_some() {
        strata::save("/tmp/wprof/once.strata", &world)?;
        return Ok(());
    }
    if std::env::var_os("MAP_ONLY").is_some() {
        let only_map = World { users: Vec::new(), by_name: world.by_name.clone(), asset: Vec::new() };
        strata::to_bytes(&only_map)?;
        return Ok(());
    }
    for _ in 0..3 {
        let t = Instant::now();
        let bytes = strata::to_bytes(&world)?;
        let mem = t.elapsed();
        let t = Instant::now();
        let stats = strata::save("/tmp/wprof/w.strata", &world)?;
        let file = t.elapsed();
        let only_users = World { users: world.users.clone(), by_name: HashMap::new(), asset: Vec::new() };
        let t = Instant::now();
        strata::to_bytes(&only_users)?;
        let users_t = t.elapsed();
        let only_map = World { users: Vec::new(), by_name: world.by_name.clone(), asset: Vec::new() };
        let t = Instant::now();
        strata::to_bytes(&only_map)?;
        let map_t = t.elapsed();
        println!(
            "to_bytes {:.1} ms ({} MB) | save {:.1} ms | users only {:.1} ms | map only {:.1} ms | chunks {}",
            mem.as_secs_f64() * 1e3,
            bytes.len() / 1_000_000,
            file.as_secs_f64() * 1e3,
            users_t.as_secs_f64() * 1e3,
            map_t.as_secs_f64() * 1e3,
            stats.chunks
        );
    }
    Ok(())
}
