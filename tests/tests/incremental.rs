//! Incremental saves: a new version appended to the file, the previous version's
//! chunks reused, crash and power-loss safety of the appends, dead bytes and the
//! rewrite that drops them.

use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use strata::raw::format::meta::ChunkKind;
use strata::testing::{IoLog, IoOp};
use strata::{Archive, Persist, SaveOptions};

#[derive(Persist, Debug, PartialEq, Clone)]
struct Game {
    turn: u64,
    name: String,
    #[strata(shard, shard_bytes = 2048)]
    players: Vec<Player>,
    #[strata(map)]
    by_name: HashMap<String, u32>,
    #[strata(lazy)]
    log: Vec<String>,
    #[strata(lazy, compress = "zstd(1)")]
    terrain: Vec<u16>,
    maps: Vec<Arc<Terrain>>,
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Player {
    id: u32,
    name: String,
    score: i64,
    #[strata(lazy)]
    inventory: Vec<u32>,
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Terrain {
    cells: Vec<u8>,
}

fn game(players: u32) -> Game {
    let shared = Arc::new(Terrain { cells: vec![7; 3000] });
    Game {
        turn: 1,
        name: "world".into(),
        players: (0..players)
            .map(|i| Player { id: i, name: format!("p{i}"), score: i64::from(i), inventory: (0..i % 9).collect() })
            .collect(),
        by_name: (0..players).map(|i| (format!("p{i}"), i)).collect(),
        log: (0..50).map(|i| format!("turn {i}")).collect(),
        terrain: (0..20_000).map(|i| (i % 300) as u16).collect(),
        maps: vec![Arc::clone(&shared), Arc::new(Terrain { cells: vec![1; 100] }), shared],
    }
}

/// One small change to a game.
#[derive(Debug, Clone)]
enum Change {
    Score(usize, i64),
    Rename(usize, String),
    Push,
    Pop,
    Insert(String, u32),
    Remove(usize),
    Log(String),
    Terrain(usize, u16),
    Turn,
    Map(usize),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (any::<usize>(), any::<i64>()).prop_map(|(i, s)| Change::Score(i, s)),
        (any::<usize>(), "[a-z]{0,12}").prop_map(|(i, n)| Change::Rename(i, n)),
        Just(Change::Push),
        Just(Change::Pop),
        ("[a-z]{1,8}", any::<u32>()).prop_map(|(k, v)| Change::Insert(k, v)),
        any::<usize>().prop_map(Change::Remove),
        "[a-z ]{0,20}".prop_map(Change::Log),
        (any::<usize>(), any::<u16>()).prop_map(|(i, v)| Change::Terrain(i, v)),
        Just(Change::Turn),
        any::<usize>().prop_map(Change::Map),
    ]
}

fn apply(g: &mut Game, c: &Change) {
    let n = g.players.len();
    match c {
        Change::Score(i, s) if n > 0 => g.players[i % n].score = *s,
        Change::Rename(i, name) if n > 0 => g.players[i % n].name.clone_from(name),
        Change::Push => {
            let id = n as u32;
            g.players.push(Player { id, name: format!("new {id}"), score: 0, inventory: vec![id] });
        }
        Change::Pop => {
            g.players.pop();
        }
        Change::Insert(k, v) => {
            g.by_name.insert(k.clone(), *v);
        }
        Change::Remove(i) => {
            let mut keys: Vec<String> = g.by_name.keys().cloned().collect();
            keys.sort();
            if !keys.is_empty() {
                g.by_name.remove(&keys[i % keys.len()]);
            }
        }
        Change::Log(line) => g.log.push(line.clone()),
        Change::Terrain(i, v) => {
            let len = g.terrain.len();
            g.terrain[i % len] = *v;
        }
        Change::Turn => g.turn += 1,
        Change::Map(i) => {
            let len = g.maps.len();
            let m = Arc::make_mut(&mut g.maps[i % len]);
            m.cells.push(3);
        }
        _ => {}
    }
}

fn incremental() -> SaveOptions {
    SaveOptions::new().incremental(true).compact_above(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Every version reads back equal, readers opened at each version keep reading it,
    /// and each version's live bytes are exactly those of a whole save of its value.
    #[test]
    fn every_version_reads_back_and_old_readers_keep_theirs(
        players in 0u32..300,
        steps in prop::collection::vec(prop::collection::vec(change(), 1..4), 1..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("game.strata");
        let mut g = game(players);
        let first = incremental().save(&path, &g).unwrap();
        prop_assert!(!first.appended);
        let mut readers = vec![(Archive::open(&path).unwrap(), g.clone())];
        for changes in &steps {
            for c in changes {
                apply(&mut g, c);
            }
            let before = std::fs::metadata(&path).unwrap().len();
            let stats = incremental().save(&path, &g).unwrap();
            prop_assert!(stats.appended);
            prop_assert_eq!(stats.file_len, std::fs::metadata(&path).unwrap().len());
            prop_assert!(stats.file_len - before <= strata::to_bytes(&g).unwrap().len() as u64);
            let archive = Archive::open(&path).unwrap();
            prop_assert_eq!(&archive.load::<Game>().unwrap(), &g);
            let live = archive.stats().unwrap();
            prop_assert_eq!(live.live, strata::to_bytes(&g).unwrap().len() as u64);
            prop_assert_eq!(live.live + live.dead, live.file_len);
            prop_assert!(archive.verify().unwrap().is_ok());
            let loaded: Game = archive.load().unwrap();
            prop_assert!(Arc::ptr_eq(&loaded.maps[0], &loaded.maps[2]) == Arc::ptr_eq(&g.maps[0], &g.maps[2]));
            readers.push((archive, g.clone()));
        }
        for (archive, value) in &readers {
            prop_assert_eq!(&archive.load::<Game>().unwrap(), value);
        }
    }
}

#[test]
fn a_small_change_to_a_big_file_appends_a_small_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("game.strata");
    let mut g = game(20_000);
    let first = incremental().save(&path, &g).unwrap();
    g.players[12_345].score = -1;
    g.turn += 1;
    let second = incremental().save(&path, &g).unwrap();
    let appended = second.file_len - first.file_len;
    println!(
        "file {} bytes; the change appended {appended} bytes, wrote {} chunks and reused {} ({} bytes)",
        first.file_len, second.chunks, second.reused_chunks, second.reused_bytes
    );
    assert!(second.appended);
    assert!(appended * 10 < first.file_len, "appended {appended} of {}", first.file_len);
    assert!(second.reused_chunks > second.chunks * 10);
    let archive = Archive::open(&path).unwrap();
    assert_eq!(archive.root::<Game>().unwrap().players.get(12_345).unwrap().unwrap().load().unwrap().score, -1);
    // Saving the same value again appends only the meta chunk, tail copies, root and
    // footer.
    let third = incremental().save(&path, &g).unwrap();
    assert_eq!(third.chunks, 3, "{third:?}");
}

#[test]
fn a_failed_append_leaves_the_previous_version_and_the_next_save_cuts_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("game.strata");
    let g1 = game(2_000);
    let first = incremental().save(&path, &g1).unwrap();
    let reader = Archive::open(&path).unwrap();
    let mut g2 = g1.clone();
    g2.players.iter_mut().for_each(|p| p.score += 1);
    for budget in [0, 100, 10_000, 100_000] {
        let failed = incremental().fail_after_bytes(budget).save(&path, &g2);
        assert!(failed.is_err(), "budget {budget}");
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len >= first.file_len);
        let archive = Archive::open(&path).unwrap();
        assert_eq!(archive.footer().file_len, first.file_len, "budget {budget}: the committed version");
        assert_eq!(archive.load::<Game>().unwrap(), g1);
        assert!(archive.verify().unwrap().is_ok());
    }
    assert_eq!(reader.load::<Game>().unwrap(), g1, "a reader opened before reads its version");
    let stats = incremental().save(&path, &g2).unwrap();
    assert!(stats.appended);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), stats.file_len, "the torn tail was cut");
    assert_eq!(Archive::open(&path).unwrap().load::<Game>().unwrap(), g2);
    assert_eq!(reader.load::<Game>().unwrap(), g1);
}

#[test]
fn files_of_other_versions_and_other_files_are_rewritten_not_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("game.strata");
    let g = game(100);
    for old in [
        std::fs::read(format!("{}/data/v3.strata", env!("CARGO_MANIFEST_DIR"))).unwrap(),
        b"not a strata file at all".to_vec(),
        Vec::new(),
        {
            let mut damaged = strata::to_bytes(&g).unwrap();
            let n = damaged.len();
            damaged[n - 20] ^= 1;
            damaged
        },
    ] {
        std::fs::write(&path, &old).unwrap();
        let stats = incremental().save(&path, &g).unwrap();
        assert!(!stats.appended);
        assert_eq!(std::fs::read(&path).unwrap(), strata::to_bytes(&g).unwrap());
    }
}

#[test]
fn dead_bytes_past_the_ratio_make_the_save_rewrite_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("game.strata");
    let mut g = game(1_000);
    let options = SaveOptions::new().incremental(true).compact_above(0.3);
    options.save(&path, &g).unwrap();
    let mut rewrites = 0;
    for turn in 0..12 {
        // Every player changes: most of the file dies with each save.
        g.players.iter_mut().for_each(|p| p.score += 1);
        let dead_before = Archive::open(&path).unwrap().stats().unwrap();
        let stats = options.save(&path, &g).unwrap();
        let after = Archive::open(&path).unwrap().stats().unwrap();
        assert_eq!(stats.appended, dead_before.dead_ratio() <= 0.3, "turn {turn}: {dead_before:?}");
        if !stats.appended {
            rewrites += 1;
            assert_eq!(after.dead, 0);
            assert_eq!(std::fs::read(&path).unwrap(), strata::to_bytes(&g).unwrap());
        }
        assert_eq!(Archive::open(&path).unwrap().load::<Game>().unwrap(), g);
    }
    assert!(rewrites >= 3, "{rewrites} rewrites");
    let space = Archive::open(&path).unwrap().space().unwrap();
    let stats = Archive::open(&path).unwrap().stats().unwrap();
    assert_eq!(space.dead, stats.dead);
}

/// Applies the operations of a save to a file image as a power loss would leave them:
/// everything up to the last sync before `cut`, then, of the operations after it up to
/// `cut`, those `keep` picks (a write may also land in part: its first sectors).
fn crash_image(before: &[u8], ops: &[IoOp], cut: usize, keep: &mut impl FnMut() -> u8) -> Vec<u8> {
    let synced = ops[..cut].iter().rposition(|op| *op == IoOp::Sync).map_or(0, |i| i + 1);
    let mut file = before.to_vec();
    for (i, op) in ops[..cut].iter().enumerate() {
        let pick = if i < synced { 2 } else { keep() % 3 };
        match op {
            IoOp::Write { offset, bytes } if pick > 0 => {
                let len = if pick == 2 { bytes.len() } else { bytes.len().min(512 * (1 + keep() as usize % 4)) };
                let at = *offset as usize;
                if file.len() < at + len {
                    file.resize(at + len, 0);
                }
                file[at..at + len].copy_from_slice(&bytes[..len]);
            }
            IoOp::SetLen(n) if pick > 0 => file.resize(*n as usize, 0),
            _ => {}
        }
    }
    file
}

#[test]
fn a_power_loss_at_any_point_of_an_append_leaves_the_old_or_the_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("game.strata");
    let g1 = game(500);
    incremental().save(&path, &g1).unwrap();
    let mut g2 = g1.clone();
    // A torn tail from a failed save, which the next save cuts.
    g2.turn = 99;
    assert!(incremental().fail_after_bytes(300).save(&path, &g2).is_err());
    assert!(std::fs::metadata(&path).unwrap().len() > incremental().save(dir.path().join("x"), &g1).unwrap().file_len);
    let before = std::fs::read(&path).unwrap();
    g2.players[7].score = 77;
    g2.log.push("saved".into());
    let log = IoLog::new();
    incremental().io_log(log.clone()).save(&path, &g2).unwrap();
    let ops = log.take();
    assert!(ops.iter().filter(|op| **op == IoOp::Sync).count() >= 4, "{} operations", ops.len());
    assert_eq!(std::fs::read(&path).unwrap(), crash_image(&before, &ops, ops.len(), &mut || 2));
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rng = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 24) as u8
    };
    let (mut old, mut new) = (0, 0);
    for cut in 0..=ops.len() {
        for _ in 0..6 {
            let image = crash_image(&before, &ops, cut, &mut rng);
            let crashed = dir.path().join("crashed.strata");
            std::fs::write(&crashed, &image).unwrap();
            let archive = Archive::open(&crashed).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
            let loaded: Game = archive.load().unwrap_or_else(|e| panic!("cut {cut}: {e}"));
            if loaded == g1 {
                old += 1;
            } else {
                assert_eq!(loaded, g2, "cut {cut}: neither version");
                new += 1;
            }
            assert!(archive.verify().unwrap().is_ok());
            drop(archive);
            // The next save after the crash works on what the crash left.
            let mut g3 = g2.clone();
            g3.turn = 3;
            incremental().save(&crashed, &g3).unwrap();
            assert_eq!(Archive::open(&crashed).unwrap().load::<Game>().unwrap(), g3);
        }
    }
    println!("{} operations; crash images: {old} read the old version, {new} the new", ops.len());
    assert!(old > 0 && new > 0);
}

const CHILD: &str = "STRATA_INCREMENTAL_CRASH_CHILD";

fn version(v: u64) -> Game {
    let mut g = game(3_000);
    g.turn = v;
    for p in g.players.iter_mut().step_by(7) {
        p.score = v as i64;
    }
    g
}

#[test]
fn a_killed_incremental_save_leaves_the_old_or_the_new_version() {
    if let Ok(path) = std::env::var(CHILD) {
        let mut v = 1;
        loop {
            incremental().save(&path, &version(v)).unwrap();
            v = 3 - v;
        }
    }
    let trials: u64 = std::env::var("STRATA_CRASH_TRIALS").ok().and_then(|t| t.parse().ok()).unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("game.strata");
    incremental().save(&path, &version(1)).unwrap();
    let expected = [version(1), version(2)];
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut seen = [0; 2];
    for trial in 0..trials {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "a_killed_incremental_save_leaves_the_old_or_the_new_version", "--test-threads=1"])
            .env(CHILD, &path)
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(5_000 + seed % 80_000));
        child.kill().unwrap();
        child.wait().unwrap();
        let archive = Archive::open(&path).unwrap_or_else(|e| panic!("trial {trial}: {e}"));
        let loaded: Game = archive.load().unwrap_or_else(|e| panic!("trial {trial}: {e}"));
        let k = expected.iter().position(|e| *e == loaded).unwrap_or_else(|| panic!("trial {trial}: neither"));
        seen[k] += 1;
        assert!(archive.verify().unwrap().is_ok());
    }
    println!("{trials} kills: {seen:?} (version 1, version 2); file {} bytes", std::fs::metadata(&path).unwrap().len());
    incremental().save(&path, &version(1)).unwrap();
    assert_eq!(Archive::open(&path).unwrap().load::<Game>().unwrap(), version(1));
}

#[test]
fn concurrent_incremental_saves_take_turns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("game.strata");
    let base = game(1_000);
    incremental().save(&path, &base).unwrap();
    let values: Vec<Game> = (0..4u64)
        .map(|t| {
            let mut g = base.clone();
            g.turn = 100 + t;
            g.players[t as usize].score = -(t as i64);
            g
        })
        .collect();
    std::thread::scope(|s| {
        for g in &values {
            let (path, values) = (&path, &values);
            s.spawn(move || {
                for _ in 0..5 {
                    incremental().save(path, g).unwrap();
                    let archive = Archive::open(path).unwrap();
                    let loaded: Game = archive.load().unwrap();
                    assert!(values.contains(&loaded));
                }
            });
        }
    });
    let archive = Archive::open(&path).unwrap();
    assert!(values.contains(&archive.load::<Game>().unwrap()));
    assert!(archive.verify().unwrap().is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Compaction after any history of incremental saves keeps the value, leaves no dead
    /// byte and exactly a whole save's length, and the file takes incremental saves again.
    #[test]
    fn compaction_keeps_the_value_and_frees_the_dead_bytes(
        players in 0u32..300,
        steps in prop::collection::vec(prop::collection::vec(change(), 1..4), 0..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("game.strata");
        let mut g = game(players);
        incremental().save(&path, &g).unwrap();
        for changes in &steps {
            for c in changes {
                apply(&mut g, c);
            }
            incremental().save(&path, &g).unwrap();
        }
        let reader = Archive::open(&path).unwrap();
        let before = reader.stats().unwrap();
        let stats = strata::compact(&path).unwrap();
        prop_assert_eq!(stats.before, before.file_len);
        prop_assert_eq!(stats.after, before.live);
        prop_assert_eq!(stats.after, strata::to_bytes(&g).unwrap().len() as u64);
        prop_assert_eq!(std::fs::metadata(&path).unwrap().len(), stats.after);
        let archive = Archive::open(&path).unwrap();
        prop_assert_eq!(&archive.load::<Game>().unwrap(), &g);
        let loaded: Game = archive.load().unwrap();
        prop_assert!(Arc::ptr_eq(&loaded.maps[0], &loaded.maps[2]) == Arc::ptr_eq(&g.maps[0], &g.maps[2]));
        prop_assert_eq!(archive.stats().unwrap().dead, 0);
        prop_assert!(archive.verify().unwrap().is_ok());
        prop_assert_eq!(archive.root::<Game>().unwrap().by_name.len(), g.by_name.len());
        prop_assert_eq!(&reader.load::<Game>().unwrap(), &g, "a reader of the old file keeps reading it");
        // And saves append to it again.
        apply(&mut g, &Change::Turn);
        prop_assert!(incremental().save(&path, &g).unwrap().appended);
        prop_assert_eq!(&Archive::open(&path).unwrap().load::<Game>().unwrap(), &g);
    }
}

#[test]
fn compaction_refuses_damaged_files_and_leaves_them_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("game.strata");
    let mut g = game(2_000);
    incremental().save(&path, &g).unwrap();
    g.players[3].score = 3;
    incremental().save(&path, &g).unwrap();
    let archive = Archive::open(&path).unwrap();
    let directory = archive.directory().unwrap();
    drop(archive);
    let good = std::fs::read(&path).unwrap();
    // Damage a chunk of each kind the copy reads: a shard copied byte for byte, a lazy
    // value, an index node.
    let kinds = [ChunkKind::Shard, ChunkKind::Lazy, ChunkKind::Vector, ChunkKind::Bucket];
    for kind in kinds {
        let e = directory.chunks.iter().find(|e| e.chunk_kind() == Some(kind)).unwrap();
        let mut bad = good.clone();
        bad[(e.chunk.offset() + e.chunk.stored_len() / 2) as usize] ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        let err = strata::compact(&path).unwrap_err();
        println!("{kind:?}: {err}");
        assert_eq!(std::fs::read(&path).unwrap(), bad, "{kind:?}: the file is untouched");
    }
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Hidden {
    name: String,
    inline: HashMap<u8, Holder>,
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Holder {
    #[strata(lazy)]
    notes: Vec<String>,
}

#[test]
fn compaction_refuses_lazy_fields_it_cannot_locate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hidden.strata");
    let value =
        Hidden { name: "h".into(), inline: (0..3).map(|i| (i, Holder { notes: vec![i.to_string()] })).collect() };
    strata::save(&path, &value).unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = strata::compact(&path).unwrap_err().to_string();
    assert!(err.contains("lazy"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(Archive::open(&path).unwrap().load::<Hidden>().unwrap(), value);
}

/// A world whose big vectors are `Sharded` handles: a load leaves them in the file.
#[derive(Persist, Debug, PartialEq, Clone)]
struct Kept {
    turn: u64,
    #[strata(shard_bytes = 1024)]
    records: strata::Sharded<(u64, String)>,
    #[strata(shard_bytes = 4096)]
    players: strata::Sharded<Player>,
}

/// What the handles should hold: the same vectors, owned (reads `Kept`'s files).
#[derive(Persist, Debug, PartialEq, Clone)]
#[strata(alias = "Kept")]
struct Plain {
    turn: u64,
    #[strata(shard, shard_bytes = 1024)]
    records: Vec<(u64, String)>,
    #[strata(shard, shard_bytes = 4096)]
    players: Vec<Player>,
}

#[derive(Debug, Clone)]
enum Edit {
    Record(usize, String),
    Player(usize, i64),
    PushRecord(String),
    PushPlayer(u32),
    Turn,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), "[a-z]{0,30}").prop_map(|(i, s)| Edit::Record(i, s)),
        (any::<usize>(), any::<i64>()).prop_map(|(i, s)| Edit::Player(i, s)),
        "[a-z]{0,10}".prop_map(Edit::PushRecord),
        any::<u32>().prop_map(Edit::PushPlayer),
        Just(Edit::Turn),
    ]
}

fn kept_world(n: u32) -> Plain {
    let g = game(n);
    Plain { turn: 0, records: (0..u64::from(n) * 3).map(|i| (i, format!("record {i}"))).collect(), players: g.players }
}

fn as_kept(p: &Plain) -> Kept {
    Kept { turn: p.turn, records: p.records.clone().into(), players: p.players.clone().into() }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Loaded handles changed in place and saved incrementally read back as the same
    /// changes made to owned vectors; the unchanged shards are neither read nor written.
    #[test]
    fn sharded_handles_save_only_what_changed(
        n in 1u32..400,
        rounds in prop::collection::vec(prop::collection::vec(edit(), 0..5), 1..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kept.strata");
        let mut plain = kept_world(n);
        incremental().save(&path, &as_kept(&plain)).unwrap();
        for edits in &rounds {
            let archive = Archive::open(&path).unwrap();
            let mut world: Kept = archive.load().unwrap();
            prop_assert!(world.records.is_in_archive() && world.players.is_in_archive());
            for e in edits {
                match e {
                    Edit::Record(i, s) => {
                        let i = i % plain.records.len();
                        plain.records[i].1.clone_from(s);
                        world.records.get_mut(i as u64).unwrap().unwrap().1.clone_from(s);
                    }
                    Edit::Player(i, score) => {
                        let i = i % plain.players.len();
                        plain.players[i].score = *score;
                        let mut p = world.players.get(i as u64).unwrap().unwrap();
                        p.score = *score;
                        world.players.set(i as u64, p).unwrap();
                    }
                    Edit::PushRecord(s) => {
                        let r = (plain.records.len() as u64, s.clone());
                        plain.records.push(r.clone());
                        world.records.push(r).unwrap();
                    }
                    Edit::PushPlayer(id) => {
                        let p = Player { id: *id, name: format!("n{id}"), score: 0, inventory: vec![*id] };
                        plain.players.push(p.clone());
                        world.players.push(p).unwrap();
                    }
                    Edit::Turn => {
                        plain.turn += 1;
                        world.turn += 1;
                    }
                }
            }
            prop_assert_eq!(world.records.len(), plain.records.len() as u64);
            let stats = incremental().save(&path, &world).unwrap();
            prop_assert!(stats.appended);
            // Unchanged record shards (leaf elements) are referred to, not written:
            // at most one shard per edit, the index nodes and the file's tail.
            prop_assert!(stats.chunks <= 2 * edits.len() as u64 + 12, "{:?}", stats);
            let archive = Archive::open(&path).unwrap();
            prop_assert_eq!(&archive.load::<Plain>().unwrap(), &plain);
            prop_assert!(archive.verify().unwrap().is_ok());
            let live = archive.stats().unwrap();
            prop_assert_eq!(live.live + live.dead, live.file_len);
            // The handles compare equal to the owned vectors they stand for.
            prop_assert_eq!(&archive.load::<Kept>().unwrap(), &as_kept(&plain));
            // Saved elsewhere, they read and write every shard.
            let elsewhere = Archive::from_bytes(strata::to_bytes(&world).unwrap()).unwrap();
            prop_assert_eq!(&elsewhere.load::<Plain>().unwrap(), &plain);
            prop_assert!(elsewhere.verify().unwrap().is_ok());
        }
    }
}

#[test]
fn loading_sharded_handles_reads_no_shard() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.strata");
    let plain = kept_world(3_000);
    strata::save(&path, &as_kept(&plain)).unwrap();
    let archive = Archive::open(&path).unwrap();
    let before = archive.cache_stats().chunks;
    let world: Kept = archive.load().unwrap();
    assert!(archive.cache_stats().chunks <= before + 2, "{:?}", archive.cache_stats());
    assert_eq!(world.records.get(4_444).unwrap(), Some(plain.records[4_444].clone()));
    assert_eq!(world.players.get(2_999).unwrap(), Some(plain.players[2_999].clone()));
    assert_eq!(world.records.to_vec().unwrap(), plain.records);
    drop(archive);
    // The handles keep the archive open.
    assert_eq!(world.players.to_vec().unwrap(), plain.players);
}

#[derive(Persist, Debug, PartialEq)]
struct Log {
    name: String,
    events: strata::Sharded<(u64, String)>,
}

#[test]
fn one_changed_event_of_a_loaded_million_appends_kilobytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.strata");
    let events: Vec<(u64, String)> = (0..1_000_000u64).map(|i| (i, format!("event number {i}"))).collect();
    let first = incremental().save(&path, &Log { name: "log".into(), events: events.into() }).unwrap();
    let mut log: Log = Archive::open(&path).unwrap().load().unwrap();
    log.events.get_mut(654_321).unwrap().unwrap().1 = "changed".into();
    log.events.push((1_000_000, "new".into())).unwrap();
    let second = incremental().save(&path, &log).unwrap();
    let appended = second.file_len - first.file_len;
    println!(
        "a {} byte file of 1,000,000 events: one changed and one pushed appended {appended} bytes in {} chunks ({} reused)",
        first.file_len, second.chunks, second.reused_chunks
    );
    assert!(appended < 512 << 10, "{appended}");
    let log: Log = Archive::open(&path).unwrap().load().unwrap();
    assert_eq!(log.events.get(654_321).unwrap().unwrap().1, "changed");
    assert_eq!(log.events.get(1_000_000).unwrap().unwrap().1, "new");
    assert_eq!(log.events.len(), 1_000_001);
}

/// Values in chunks of their own, left in the archive by a load.
#[derive(Persist, Debug, PartialEq, Clone)]
struct Scene {
    name: String,
    #[strata(compress = "zstd(1)")]
    terrain: strata::Lazy<Vec<u16>>,
    notes: strata::Lazy<Vec<String>>,
    /// A value with lazy fields of its own: read and written again by a save.
    region: strata::Lazy<Region>,
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Region {
    label: String,
    #[strata(lazy)]
    cells: Vec<u32>,
}

/// The same schema with `#[strata(lazy)]` fields: reads `Scene`'s files.
#[derive(Persist, Debug, PartialEq, Clone)]
#[strata(alias = "Scene")]
struct PlainScene {
    name: String,
    #[strata(lazy, compress = "zstd(1)")]
    terrain: Vec<u16>,
    #[strata(lazy)]
    notes: Vec<String>,
    #[strata(lazy)]
    region: Region,
}

fn scene_of(p: &PlainScene) -> Scene {
    Scene {
        name: p.name.clone(),
        terrain: strata::Lazy::new(p.terrain.clone()),
        notes: p.notes.clone().into(),
        region: p.region.clone().into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn lazy_handles_save_only_what_changed(
        n in 1usize..5_000,
        rounds in prop::collection::vec((any::<bool>(), any::<bool>(), any::<bool>(), "[a-z]{0,8}"), 1..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scene.strata");
        let mut plain = PlainScene {
            name: "s".into(),
            terrain: (0..n).map(|i| (i % 500) as u16).collect(),
            notes: (0..n / 10).map(|i| format!("note {i}")).collect(),
            region: Region { label: "r".into(), cells: (0..n as u32).collect() },
        };
        incremental().save(&path, &scene_of(&plain)).unwrap();
        for (terrain, notes, region, name) in &rounds {
            let mut scene: Scene = Archive::open(&path).unwrap().load().unwrap();
            prop_assert!(scene.terrain.is_in_archive() && scene.notes.is_in_archive());
            scene.name.clone_from(name);
            plain.name.clone_from(name);
            if *terrain {
                scene.terrain.get_mut().unwrap().push(1);
                plain.terrain.push(1);
            }
            if *notes {
                scene.notes.set(vec![name.clone()]);
                plain.notes = vec![name.clone()];
            }
            if *region {
                scene.region.get_mut().unwrap().cells.push(7);
                plain.region.cells.push(7);
            }
            let stats = incremental().save(&path, &scene).unwrap();
            // Written: the changed values, the region (read and written again, then
            // reused by content: not counted), pages, meta, root.
            let changed = u64::from(*terrain) + u64::from(*notes) + 2 * u64::from(*region);
            prop_assert!(stats.chunks <= changed + 4, "{:?}", stats);
            let archive = Archive::open(&path).unwrap();
            prop_assert_eq!(&archive.load::<PlainScene>().unwrap(), &plain);
            prop_assert_eq!(&archive.load::<Scene>().unwrap(), &scene_of(&plain));
            prop_assert!(archive.verify().unwrap().is_ok());
            let stats = archive.stats().unwrap();
            prop_assert_eq!(stats.live, strata::to_bytes(&scene_of(&plain)).unwrap().len() as u64);
        }
    }
}

/// Maps left in the archive by a load.
#[derive(Persist, Debug, PartialEq, Clone)]
struct Registry {
    by_name: strata::Mapped<String, u32>,
    players: strata::Mapped<u32, Player>,
}

/// The same schema with `#[strata(map)]` fields: reads `Registry`'s files.
#[derive(Persist, Debug, PartialEq, Clone)]
#[strata(alias = "Registry")]
struct PlainRegistry {
    #[strata(map)]
    by_name: HashMap<String, u32>,
    #[strata(map)]
    players: HashMap<u32, Player>,
}

fn registry_of(p: &PlainRegistry) -> Registry {
    Registry { by_name: p.by_name.clone().into(), players: p.players.clone().into() }
}

#[derive(Debug, Clone)]
enum MapEdit {
    Insert(String, u32),
    Remove(usize),
    Player(u32, i64),
    Drop(u32),
}

fn map_edit() -> impl Strategy<Value = MapEdit> {
    prop_oneof![
        ("[a-z]{1,6}", any::<u32>()).prop_map(|(k, v)| MapEdit::Insert(k, v)),
        any::<usize>().prop_map(MapEdit::Remove),
        (0u32..600, any::<i64>()).prop_map(|(k, s)| MapEdit::Player(k, s)),
        (0u32..600).prop_map(MapEdit::Drop),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn mapped_handles_save_only_what_changed(
        n in 0u32..500,
        rounds in prop::collection::vec(prop::collection::vec(map_edit(), 0..6), 1..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.strata");
        let g = game(n);
        let mut plain = PlainRegistry {
            by_name: g.by_name.clone(),
            players: g.players.iter().map(|p| (p.id, p.clone())).collect(),
        };
        incremental().save(&path, &registry_of(&plain)).unwrap();
        for edits in &rounds {
            let mut reg: Registry = Archive::open(&path).unwrap().load().unwrap();
            prop_assert!(reg.by_name.is_in_archive() && reg.players.is_in_archive());
            for e in edits {
                match e {
                    MapEdit::Insert(k, v) => {
                        prop_assert_eq!(reg.by_name.insert(k.clone(), *v).unwrap(), plain.by_name.insert(k.clone(), *v));
                    }
                    MapEdit::Remove(i) => {
                        let mut keys: Vec<&String> = plain.by_name.keys().collect();
                        keys.sort();
                        if let Some(k) = keys.get(i % keys.len().max(1)).map(|k| (*k).clone()) {
                            prop_assert_eq!(reg.by_name.remove(&k).unwrap(), plain.by_name.remove(&k));
                        }
                    }
                    MapEdit::Player(k, score) => {
                        let p = Player { id: *k, name: format!("p{k}"), score: *score, inventory: vec![*k] };
                        prop_assert_eq!(reg.players.insert(*k, p.clone()).unwrap(), plain.players.insert(*k, p));
                    }
                    MapEdit::Drop(k) => {
                        prop_assert_eq!(reg.players.remove(k).unwrap(), plain.players.remove(k));
                    }
                }
            }
            prop_assert_eq!(reg.by_name.len(), plain.by_name.len() as u64);
            for k in plain.by_name.keys().take(20) {
                prop_assert_eq!(reg.by_name.get(k).unwrap(), plain.by_name.get(k).copied());
            }
            let before = std::fs::metadata(&path).unwrap().len();
            let stats = incremental().save(&path, &reg).unwrap();
            prop_assert!(stats.appended);
            let archive = Archive::open(&path).unwrap();
            // Unchanged buckets of `by_name` (leaf entries) are referred to, not written:
            // at most one written bucket per edit of it. (`players`' entries hold lazy
            // fields: its buckets are read and written again, reused when their bytes
            // are unchanged.)
            let directory = archive.directory().unwrap();
            let written = (0..directory.chunks.len())
                .filter(|&i| directory.chunks[i].chunk.offset() >= before && directory.path(i).starts_with("by_name["))
                .count();
            let by_name_edits = edits.iter().filter(|e| matches!(e, MapEdit::Insert(..) | MapEdit::Remove(_))).count();
            prop_assert!(written <= by_name_edits + 2, "{} by_name chunks written for {} edits", written, by_name_edits);
            prop_assert_eq!(&archive.load::<PlainRegistry>().unwrap(), &plain);
            prop_assert_eq!(&archive.load::<Registry>().unwrap(), &registry_of(&plain));
            prop_assert!(archive.verify().unwrap().is_ok());
            let root = archive.root::<Registry>().unwrap();
            for (k, v) in plain.by_name.iter().take(20) {
                prop_assert_eq!(root.by_name.get(k.as_str()).unwrap().map(|e| e.to_native()), Some(*v));
            }
            let elsewhere = Archive::from_bytes(strata::to_bytes(&reg).unwrap()).unwrap();
            prop_assert_eq!(&elsewhere.load::<PlainRegistry>().unwrap(), &plain);
        }
    }
}
