//! Crash safety: a save killed at any moment (SIGKILL) leaves the destination holding a
//! complete file, the previous one or the new one, never a mix; leftover temporary files
//! are ignored by readers.

use std::process::Command;
use std::time::Duration;
use strata::Archive;
use strata_tests::{World, sample_world};

const CHILD: &str = "STRATA_CRASH_CHILD";

fn version(v: u64) -> World {
    // Large enough that a save takes milliseconds: kills land mid-write.
    World { id: v, name: format!("version {v}"), blob: vec![(v % 251) as u8; 4 << 20], ..sample_world() }
}

#[test]
fn a_killed_save_leaves_the_old_or_the_new_file() {
    if let Ok(path) = std::env::var(CHILD) {
        // Child: save versions 1, 2, 1, 2, ... until killed.
        let mut v = 1;
        loop {
            strata::save(&path, &version(v)).unwrap();
            v = 3 - v;
        }
    }
    let trials: u64 = std::env::var("STRATA_CRASH_TRIALS").ok().and_then(|t| t.parse().ok()).unwrap_or(40);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.strata");
    strata::save(&path, &version(1)).unwrap();
    let expected = [version(1), version(2)];
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let (mut first, mut second) = (0, 0);
    for trial in 0..trials {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(2_000 + seed % 60_000);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "a_killed_save_leaves_the_old_or_the_new_file", "--test-threads=1"])
            .env(CHILD, &path)
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let archive = Archive::open(&path).unwrap_or_else(|e| panic!("trial {trial}: the file does not open: {e}"));
        let loaded: World = archive.load().unwrap_or_else(|e| panic!("trial {trial}: the file does not load: {e}"));
        assert!(archive.verify().unwrap().is_ok());
        match expected.iter().position(|e| *e == loaded) {
            Some(0) => first += 1,
            Some(_) => second += 1,
            None => panic!("trial {trial}: the file holds neither version"),
        }
    }
    // Temporary files of killed saves may remain until the next save; nothing reads them.
    let temporaries = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".strata-tmp"))
            .count()
    };
    let leftovers = temporaries();
    println!(
        "{trials} kills: {first} times version 1, {second} times version 2; {leftovers} temporary files left behind"
    );
    assert!(first + second == trials);
    // Each save removes the temporaries of the saves killed before it.
    assert!(leftovers <= 2, "{leftovers} temporary files accumulated");
    strata::save(&path, &version(1)).unwrap();
    assert_eq!(temporaries(), 0, "the next save cleaned up");
}
