//! A game world with autosave: players in a sharded vector, an index by name, regions
//! whose terrain is loaded only when a player enters them. The game ticks, changes a
//! few players, and saves every few ticks; a second "process" reopens the latest save
//! and reads one player and one region without loading the world.
//!
//! ```text
//! cargo run --release --example game_world [-- PLAYERS]
//! ```
//!
//! Every save rewrites the whole file (atomically: a crash leaves the old or the new
//! save, never a mix).

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;
use strata::{Archive, Persist, SaveOptions};

#[derive(Persist, Debug, Clone, PartialEq)]
struct Player {
    id: u32,
    name: String,
    region: u16,
    position: (f32, f32),
    level: u32,
    inventory: Vec<Item>,
}

#[derive(Persist, Debug, Clone, PartialEq)]
enum Item {
    Coins(u32),
    Sword { damage: u16 },
    Potion,
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Region {
    name: String,
    /// A height map: large, and read only when someone looks at the region.
    #[strata(lazy, compress = "zstd")]
    terrain: Vec<u16>,
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct World {
    tick: u64,
    seed: u64,
    #[strata(shard)]
    players: Vec<Player>,
    /// Player name to index in `players`.
    #[strata(map)]
    by_name: HashMap<String, u32>,
    #[strata(shard)]
    regions: Vec<Region>,
}

fn new_world(players: u32) -> World {
    let regions: Vec<Region> = (0..64u16)
        .map(|r| Region {
            name: format!("region-{r}"),
            terrain: (0..64 * 64).map(|i: u32| ((i * 31 + u32::from(r) * 7) % 1000) as u16).collect(),
        })
        .collect();
    let players: Vec<Player> = (0..players)
        .map(|id| Player {
            id,
            name: format!("hero{id}"),
            region: (id % 64) as u16,
            position: (id as f32, 0.0),
            level: 1,
            inventory: vec![Item::Coins(10), Item::Potion],
        })
        .collect();
    let by_name = players.iter().map(|p| (p.name.clone(), p.id)).collect();
    World { tick: 0, seed: 7, players, by_name, regions }
}

/// One game tick: a few players move, level up and pick things up.
fn tick(world: &mut World) {
    world.tick += 1;
    let n = world.players.len() as u64;
    for k in 0..16 {
        let i = (world.tick * 7919 + k * 104_729) % n.max(1);
        if let Some(p) = world.players.get_mut(i as usize) {
            p.position.0 += 1.5;
            p.level += 1;
            p.inventory.push(Item::Sword { damage: (world.tick % 100) as u16 });
        }
    }
}

/// Plays `ticks` ticks with an autosave every `every` ticks, then reads the latest save
/// back as another program would. Returns the world as the game holds it.
fn play(path: &Path, players: u32, ticks: u64, every: u64) -> strata::Result<World> {
    let mut world = new_world(players);
    let options = SaveOptions::new();
    for _ in 0..ticks {
        tick(&mut world);
        if world.tick.is_multiple_of(every) {
            let t = Instant::now();
            let stats = options.save(path, &world)?;
            println!("tick {:>3}: autosaved {} bytes in {:.1?}", world.tick, stats.file_len, t.elapsed());
        }
    }

    // Another program (a map viewer, a support tool) opens the latest save.
    let t = Instant::now();
    let archive = Archive::open(path)?;
    let saved = archive.root::<World>()?;
    let index = saved.by_name.get("hero42")?.map(|i| i.to_native()).ok_or(strata::Error::Detached)?;
    let hero = saved.players.get(index as usize)?.ok_or(strata::Error::Detached)?.load()?;
    let region = saved.regions.get(usize::from(hero.region))?.ok_or(strata::Error::Detached)?;
    let terrain = region.terrain.load()?;
    println!(
        "save of tick {}: {} is level {} in {} ({} heights), read in {:.1?}",
        saved.tick,
        hero.name,
        hero.level,
        region.name,
        terrain.len(),
        t.elapsed()
    );
    Ok(world)
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let players: u32 = std::env::args().nth(1).map_or(Ok(200_000), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("world.strata");
    let world = play(&path, players, 30, 10)?;
    assert_eq!(strata::load::<World>(&path)?, world);
    println!("the last save holds the world as the game left it");
    Ok(())
}

#[test]
fn a_small_game_autosaves_and_reads_back() -> strata::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("world.strata");
    let world = play(&path, 2_000, 12, 4)?;
    assert_eq!(strata::load::<World>(&path)?, world);
    Ok(())
}
