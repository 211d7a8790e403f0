//! The scenarios of Parcode's README, written with strata as a user coming from Parcode
//! would write them: each reads as directly as Parcode's own.

use std::collections::HashMap;
use strata::{Archive, Persist, SaveOptions};

#[derive(Persist, Debug, Clone, PartialEq)]
struct GameWorld {
    id: u64,
    name: String,
    #[strata(lazy)]
    settings: WorldSettings,
    #[strata(lazy, compress = "zstd")]
    terrain: Vec<u8>,
    #[strata(map)]
    players: HashMap<String, Player>,
    #[strata(shard)]
    all_players: Vec<Player>,
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct WorldSettings {
    difficulty: u8,
    #[strata(lazy)]
    history: Vec<String>,
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Player {
    level: u32,
    #[strata(lazy)]
    inventory: Vec<u32>,
}

fn world() -> GameWorld {
    let all_players: Vec<Player> =
        (0..5_000).map(|i| Player { level: i % 100, inventory: (0..i % 5).collect() }).collect();
    GameWorld {
        id: 7,
        name: "Aurora".into(),
        settings: WorldSettings { difficulty: 3, history: vec!["founded".into(), "flooded".into()] },
        terrain: vec![1; 1 << 20],
        players: all_players.iter().enumerate().map(|(i, p)| (format!("Hero{i}"), p.clone())).collect(),
        all_players,
    }
}

#[test]
fn save_open_and_read_lazily() -> strata::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("savegame.strata");
    let world = world();
    // Parcode::save("savegame.par", &world)?
    strata::save(&path, &world)?;
    // Parcode::builder().compression(true).write(...)?
    SaveOptions::new().compression(strata::Codec::Zstd(3)).save(dir.path().join("compressed.strata"), &world)?;

    // let reader = Parcode::open(..)?; let world_mirror = reader.root::<GameWorld>()?;
    let reader = Archive::open(&path)?;
    let mirror = reader.root::<GameWorld>()?;
    assert_eq!(mirror.id, 7);
    // world_mirror.settings.difficulty: a lazy struct's inline field (one chunk here).
    let settings = mirror.settings.view()?;
    assert_eq!(settings.difficulty, 3);
    // world_mirror.settings.history.load()?
    assert_eq!(settings.history.load()?, world.settings.history);
    Ok(())
}

#[test]
fn map_lookup_and_lazy_iteration() -> strata::Result<()> {
    let world = world();
    let reader = Archive::from_bytes(strata::to_bytes(&world)?)?;
    let mirror = reader.root::<GameWorld>()?;
    // if let Some(player_mirror) = world_mirror.players.get_lazy(&"Hero123".to_string())? {
    if let Some(player) = mirror.players.get("Hero123")? {
        assert_eq!(player.level, world.players["Hero123"].level);
        assert_eq!(player.inventory.load()?, world.players["Hero123"].inventory);
        // .get() returns a full object
        assert_eq!(player.load()?, world.players["Hero123"]);
    } else {
        panic!("Hero123 is in the map");
    }
    // for player_proxy in world_mirror.all_players.iter()? { let p = player_proxy?; .. }
    let mut high = 0;
    for p in mirror.all_players.iter() {
        let p = p?;
        if p.level > 50 {
            high += 1;
        }
    }
    assert_eq!(high, world.all_players.iter().filter(|p| p.level > 50).count());
    assert_eq!(mirror.all_players.len(), world.all_players.len());
    Ok(())
}

#[test]
fn write_to_memory_single_threaded_and_inspect() -> strata::Result<()> {
    let world = world();
    // Parcode::builder().compression(true).write(&mut buffer, &my_data)?
    let buffer = SaveOptions::new().compression(strata::Codec::Zstd(1)).to_bytes(&world)?;
    // Parcode::builder().write_sync(..): one thread.
    let serial = SaveOptions::new().compression(strata::Codec::Zstd(1)).threads(1).to_bytes(&world)?;
    assert_eq!(serial, buffer);
    assert_eq!(strata::from_bytes::<GameWorld>(&buffer)?, world);
    // let report = Parcode::inspect("savegame.par")?; println!("{}", report);
    let report = Archive::from_bytes(buffer)?.inspect()?;
    let text = report.to_string();
    assert!(text.contains("players map, 5000 entries in"), "{text}");
    assert!(text.contains("all_players vector, 5000 elements in"), "{text}");
    Ok(())
}
