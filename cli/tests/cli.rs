//! The `strata` binary on files written by a quickstart-like model: `inspect --json`
//! lists every chunk with the right counts, `verify` finds a flipped byte in a shard and
//! names its field, `dump` prints the right values, and errors are one line.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use strata::Persist;

#[derive(Persist, Clone, Debug, PartialEq)]
struct Profile {
    country: String,
    joined: u64,
}

#[derive(Persist, Clone, Debug, PartialEq)]
struct User {
    id: u64,
    name: String,
    level: u32,
    score: f64,
    friends: Vec<u64>,
    profile: Profile,
    #[strata(lazy)]
    inventory: Vec<String>,
}

#[derive(Persist, Clone, Debug, PartialEq)]
enum Mode {
    Peaceful,
    Hard { lives: u8 },
}

#[derive(Persist, Clone, Debug, PartialEq)]
struct Meta {
    version: u32,
    mode: Mode,
    tags: Vec<String>,
    seed: Option<u64>,
}

#[derive(Persist, Clone, Debug, PartialEq)]
struct World {
    name: String,
    meta: Meta,
    #[strata(shard, shard_bytes = 4096)]
    users: Vec<User>,
    #[strata(map)]
    players: HashMap<String, User>,
    #[strata(lazy, compress = "zstd")]
    log: Vec<String>,
}

fn world() -> World {
    let users: Vec<User> = (0..3000u64)
        .map(|id| User {
            id,
            name: format!("Hero{id}"),
            level: (id % 90) as u32,
            score: id as f64 / 4.0,
            friends: (0..id % 3).collect(),
            profile: Profile { country: ["AR", "JP", "NG"][(id % 3) as usize].into(), joined: 1_700_000_000 + id },
            inventory: vec![format!("sword{id}")],
        })
        .collect();
    World {
        name: "Aurora".into(),
        meta: Meta { version: 3, mode: Mode::Hard { lives: 2 }, tags: vec!["a".into(), "b".into()], seed: Some(42) },
        players: users.iter().map(|u| (u.name.clone(), u.clone())).collect(),
        users,
        log: (0..500).map(|i| format!("entry {i}")).collect(),
    }
}

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata")).args(args).env("NO_COLOR", "1").output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn saved(dir: &Path) -> String {
    let path = dir.join("world.strata");
    strata::save(&path, &world()).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn inspect_json_lists_every_chunk_with_counts() {
    let dir = tempfile::tempdir().unwrap();
    let file = saved(dir.path());
    let out = strata(&["inspect", &file, "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let chunks = v["chunks"].as_array().unwrap();
    let archive = strata::Archive::open(&file).unwrap();
    let meta = archive.directory().unwrap();
    assert_eq!(chunks.len(), meta.chunks.len());
    let view = archive.root::<World>().unwrap();
    let users = chunks.iter().find(|c| c["path"] == "users").unwrap();
    assert_eq!(users["kind"], "vector");
    assert_eq!(users["elements"], 3000);
    assert_eq!(users["shards"], view.users.shard_count());
    let players = chunks.iter().find(|c| c["path"] == "players").unwrap();
    assert_eq!(players["entries"], 3000);
    assert_eq!(players["buckets"], view.players.bucket_count());
    let log = chunks.iter().find(|c| c["path"] == "log").unwrap();
    assert_eq!(log["codec"], "zstd");
    assert_eq!(log["offset"], view.log.chunk().offset());
    // Every shard is listed, at the offset the typed API gives.
    for s in 0..view.users.shard_count() {
        let path = format!("users[shard {s}]");
        let c = chunks.iter().find(|c| c["path"] == path).unwrap_or_else(|| panic!("{path}"));
        assert_eq!(c["offset"], view.users.shard_chunk(s).unwrap().offset());
    }
    // Lazy fields inside shard elements have paths too.
    assert!(chunks.iter().any(|c| c["path"] == "users[shard 0].inventory"));
    assert_eq!(v["root_type"], "World");
    // The text form is readable and bounded by --depth.
    let text = stdout(&strata(&["inspect", &file, "--depth", "2"]));
    assert!(text.contains("users vector, 3000 elements in"), "{text}");
    assert!(text.contains("chunks below"), "{text}");
}

#[test]
fn verify_names_the_damaged_shard() {
    let dir = tempfile::tempdir().unwrap();
    let file = saved(dir.path());
    let good = strata(&["verify", &file]);
    assert!(good.status.success(), "{}", stdout(&good));
    assert!(stdout(&good).contains(": ok"));

    let shard = {
        let archive = strata::Archive::open(&file).unwrap();
        archive.root::<World>().unwrap().users.shard_chunk(5).unwrap()
    };
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[(shard.offset() + 100) as usize] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    let bad = strata(&["verify", &file]);
    assert_eq!(bad.status.code(), Some(1));
    let text = stdout(&bad);
    assert!(text.contains(&format!("DAMAGED users[shard 5] at offset {}", shard.offset())), "{text}");
    assert!(text.contains("(1 damaged)"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&strata(&["verify", &file, "--json"]))).unwrap();
    assert_eq!(json["damaged"][0]["path"], "users[shard 5]");
}

#[test]
fn dump_prints_fields_elements_and_entries() {
    let dir = tempfile::tempdir().unwrap();
    let file = saved(dir.path());
    let w = world();
    let dump = |path: &str| -> serde_json::Value {
        let out = strata(&["dump", &file, path, "--compact"]);
        assert!(out.status.success(), "{path}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    assert_eq!(dump("meta.version"), 3);
    assert_eq!(dump("meta.mode"), serde_json::json!({ "Hard": { "lives": 2 } }));
    assert_eq!(dump("meta.seed"), 42);
    assert_eq!(dump("meta.tags[1]"), "b");
    let u = &w.users[2345];
    assert_eq!(dump("users[2345].name"), u.name.as_str());
    assert_eq!(dump("users[2345].score"), u.score);
    assert_eq!(dump("users[2345].profile.country"), u.profile.country.as_str());
    assert_eq!(dump("users[2345].inventory[0]"), u.inventory[0].as_str());
    assert_eq!(dump("players[\"Hero1234\"].level"), w.players["Hero1234"].level);
    assert_eq!(dump("players[\"Hero1234\"].friends"), serde_json::json!(w.players["Hero1234"].friends));
    assert_eq!(dump("log[499]"), "entry 499");
    let whole = dump("users[7]");
    assert_eq!(whole["id"], 7);
    assert_eq!(whole["inventory"], serde_json::json!(["sword7"]));
    let root = dump("");
    assert_eq!(root["users"].as_array().unwrap().len(), 3000);
    assert_eq!(root["players"].as_object().unwrap().len(), 3000);
}

#[test]
fn errors_are_one_line_with_a_non_zero_code() {
    let dir = tempfile::tempdir().unwrap();
    let file = saved(dir.path());
    for args in [
        vec!["dump", file.as_str(), "players[\"nobody\"]"],
        vec!["dump", file.as_str(), "users[999999]"],
        vec!["dump", file.as_str(), "no_such_field"],
        vec!["inspect", "/no/such/file"],
    ] {
        let out = strata(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("strata: error: "), "{err}");
    }
    let not_strata = dir.path().join("text.txt");
    std::fs::write(&not_strata, "hello, this is not a strata file at all, not even close to one.......").unwrap();
    for cmd in ["inspect", "verify", "stat", "dump"] {
        let out = strata(&[cmd, not_strata.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

/// A later version of [`World`]'s `Meta`: a field added with a default, one widened.
mod later {
    #[derive(strata::Persist, Clone, Debug, PartialEq)]
    pub struct Meta {
        pub version: u64,
        pub mode: super::Mode,
        pub tags: Vec<String>,
        pub seed: Option<u64>,
        #[strata(default)]
        pub owner: String,
    }

    #[derive(strata::Persist, Clone, Debug, PartialEq)]
    pub struct World {
        pub name: String,
        pub meta: Meta,
        #[strata(shard, shard_bytes = 4096)]
        pub users: Vec<super::User>,
        #[strata(map)]
        pub players: std::collections::HashMap<String, super::User>,
        #[strata(lazy, compress = "zstd")]
        pub log: Vec<String>,
    }
}

#[test]
fn schema_prints_declarations_and_checks_versions() {
    let dir = tempfile::tempdir().unwrap();
    let old = saved(dir.path());
    let w = world();
    let new = dir.path().join("later.strata").display().to_string();
    let meta = later::Meta {
        version: 7,
        mode: w.meta.mode.clone(),
        tags: w.meta.tags.clone(),
        seed: w.meta.seed,
        owner: "me".into(),
    };
    strata::save(&new, &later::World { name: w.name, meta, users: w.users, players: w.players, log: w.log }).unwrap();

    let out = strata(&["schema", &new]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.starts_with("// root: World\n\nstruct World {\n"), "{text}");
    for decl in [
        "    #[strata(shard)]\n    users: Vec<User>,\n",
        "    #[strata(map)]\n    players: HashMap<String, User>,\n",
        "    #[strata(default)]\n    owner: String,\n",
        "enum Mode {\n    Peaceful,\n    Hard {\n        lives: u8,\n    },\n}\n",
    ] {
        assert!(text.contains(decl), "missing {decl:?} in\n{text}");
    }
    let layout = stdout(&strata(&["schema", &new, "--layout"]));
    // version @0 (8 bytes), mode @8 (2), tags @12 (8), seed @24 (16), owner @40 (8):
    // 2 + 4 bytes of padding, and no smaller order (the tail pads to 8 again).
    assert!(layout.contains("struct Meta { // size 48, align 8, 6 bytes of padding\n"), "{layout}");

    // The old file reads with the later types; the later one not with the old types.
    let ok = strata(&["schema", &new, "--check-against", &old]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    let refused = strata(&["schema", &old, "--check-against", &new]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stdout(&refused).contains("`World.meta.version`"), "{}", stdout(&refused));
    // And the library agrees.
    let archive = strata::Archive::open(&old).unwrap();
    assert_eq!(archive.load::<later::World>().unwrap().meta.version, 3);
}

#[test]
fn stat_space_says_where_the_bytes_go() {
    let dir = tempfile::tempdir().unwrap();
    let file = saved(dir.path());
    let text = strata(&["stat", &file, "--space"]);
    assert!(text.status.success());
    assert!(stdout(&text).contains("where the bytes go"), "{}", stdout(&text));
    let out = strata(&["stat", &file, "--space", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let space = &v["space"];
    let fields: u64 = space["fields"].as_array().unwrap().iter().map(|f| f["stored"].as_u64().unwrap()).sum();
    let parts = ["root", "meta", "tail_copies", "chunk_padding", "header_footer", "dead"];
    let total: u64 = parts.iter().map(|k| space[*k].as_u64().unwrap()).sum::<u64>() + fields;
    assert_eq!(total, v["file_len"].as_u64().unwrap());
    assert_eq!(v["dead"], 0);
    assert_eq!(v["live"], v["file_len"]);
}

#[test]
fn stat_reports_the_dead_bytes_incremental_saves_leave() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.strata");
    let mut w = world();
    let incremental = strata::SaveOptions::new().incremental(true);
    incremental.save(&path, &w).unwrap();
    w.users.iter_mut().for_each(|u| u.level += 1);
    assert!(incremental.save(&path, &w).unwrap().appended);
    let file = path.to_string_lossy().into_owned();
    let out = strata(&["stat", &file, "--space", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let (live, dead) = (v["live"].as_u64().unwrap(), v["dead"].as_u64().unwrap());
    assert!(dead > 0);
    assert_eq!(live + dead, v["file_len"].as_u64().unwrap());
    assert_eq!(v["space"]["dead"].as_u64().unwrap(), dead);
    let text = stdout(&strata(&["stat", &file]));
    assert!(text.contains("dead"), "{text}");
    assert_eq!(strata(&["verify", &file]).status.code(), Some(0));
}

#[test]
fn dump_follows_shared_and_converted_fields() {
    #[derive(Persist)]
    struct Scene {
        hero: std::sync::Arc<Profile>,
        cast: Vec<std::sync::Arc<Profile>>,
        name: Box<str>,
        frames: std::num::Wrapping<u32>,
    }
    let hero = std::sync::Arc::new(Profile { country: "AR".into(), joined: 7 });
    let other = std::sync::Arc::new(Profile { country: "JP".into(), joined: 9 });
    let scene = Scene {
        cast: vec![std::sync::Arc::clone(&other), std::sync::Arc::clone(&hero), other],
        hero,
        name: "opening".into(),
        frames: std::num::Wrapping(u32::MAX),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.strata");
    strata::save(&path, &scene).unwrap();
    let file = path.to_string_lossy().into_owned();
    let dump = |at: &str| -> serde_json::Value {
        let out = strata(&["dump", &file, at, "--compact"]);
        assert!(out.status.success(), "{at}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    assert_eq!(dump("hero.country"), "AR");
    assert_eq!(dump("cast[1].country"), "AR");
    assert_eq!(dump("cast[2].joined"), 9);
    assert_eq!(dump("name"), "opening");
    assert_eq!(dump("frames"), u32::MAX);
    let out = strata(&["verify", &file]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = strata(&["schema", &file]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let schema = stdout(&out);
    // An `Arc` field is stored as a lazy field is (either reads the file).
    assert!(schema.contains("#[strata(lazy)]\n    hero: Profile"), "{schema}");
    assert!(schema.contains("cast: Vec<Arc<Profile>>"), "{schema}");
    assert!(schema.contains("name: Box<str>"), "{schema}");
}

#[test]
fn compact_drops_the_dead_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.strata");
    let mut w = world();
    let incremental = strata::SaveOptions::new().incremental(true).compact_above(1.0);
    incremental.save(&path, &w).unwrap();
    for _ in 0..3 {
        w.users.iter_mut().for_each(|u| u.level += 1);
        incremental.save(&path, &w).unwrap();
    }
    let file = path.to_string_lossy().into_owned();
    let out = strata(&["compact", &file, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(v["after"].as_u64().unwrap() < v["before"].as_u64().unwrap());
    assert_eq!(v["after"].as_u64().unwrap(), std::fs::metadata(&path).unwrap().len());
    let archive = strata::Archive::open(&path).unwrap();
    assert_eq!(archive.load::<World>().unwrap(), w);
    assert_eq!(archive.stats().unwrap().dead, 0);
    let missing = strata(&["compact", &dir.path().join("nothing").to_string_lossy()]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn dump_reads_a_root_vector_and_map_by_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.strata");
    strata::save(&users, &strata::Sharded::new(world().users)).unwrap();
    let names = dir.path().join("names.strata");
    strata::save(&names, &strata::Mapped::new(world().players)).unwrap();
    let dump = |file: &Path, path: &str| -> serde_json::Value {
        let out = strata(&["dump", &file.to_string_lossy(), path, "--compact"]);
        assert!(out.status.success(), "{path}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    assert_eq!(dump(&users, "items[2345].name"), "Hero2345");
    assert_eq!(dump(&names, "entries[\"Hero1234\"].level"), world().players["Hero1234"].level);
    let out = strata(&["schema", &users.to_string_lossy()]);
    assert!(stdout(&out).contains("Sharded<User>"), "{}", stdout(&out));
}
