//! A file that another program cuts short or rewrites in place while an archive has it
//! open: every read gives the right value or an error, views handed out before keep
//! their values, and the process is never killed by a signal. Each scenario runs in a
//! child process, whose exit status the parent checks (a `SIGBUS` would end it).

use std::collections::HashMap;
use std::io::Write;
use std::process::Command;
use strata::{Archive, Persist};

#[derive(Persist, Debug, PartialEq, Clone)]
struct User {
    id: u64,
    name: String,
    scores: Vec<u32>,
}

#[derive(Persist)]
struct World {
    #[strata(shard)]
    users: Vec<User>,
    #[strata(map)]
    by_name: HashMap<String, User>,
    #[strata(lazy)]
    history: Vec<String>,
    #[strata(lazy, compress = "zstd")]
    notes: Vec<String>,
}

const USERS: u64 = 60_000;

fn user(i: u64) -> User {
    User { id: i, name: format!("user{i:06}"), scores: (0..(i % 7) as u32).collect() }
}

fn world() -> World {
    World {
        users: (0..USERS).map(user).collect(),
        by_name: (0..USERS).map(|i| (format!("user{i:06}"), user(i))).collect(),
        history: (0..5_000).map(|i| format!("event {i}")).collect(),
        notes: (0..5_000).map(|i| format!("note {i}")).collect(),
    }
}

/// Reads a spread of everything, checking each value that reads; returns (right values,
/// errors). A wrong value fails the child.
fn read_everything(archive: &Archive) -> (u64, u64) {
    let (mut ok, mut failed) = (0, 0);
    let mut tally = |r: Result<(), strata::Error>| match r {
        Ok(()) => ok += 1,
        Err(_) => failed += 1,
    };
    let Ok(w) = archive.root::<World>() else { return (0, 1) };
    for i in (0..USERS).step_by(997) {
        tally(w.users.get(i as usize).map(|u| assert_eq!(u.unwrap().id, i)));
        let name = format!("user{i:06}");
        tally(w.by_name.get(name.as_str()).map(|u| assert_eq!(u.unwrap().id, i)));
    }
    tally(w.history.load().map(|h| assert_eq!(h.len(), 5_000)));
    tally(w.notes.load().map(|n| assert_eq!(n[4_999], "note 4999")));
    tally(w.users.iter().step_by(5_000).try_for_each(|u| u.map(|_| ())));
    tally(archive.load::<World>().map(|l| assert_eq!(l.users.len() as u64, USERS)));
    tally(archive.verify().map(|_| ()));
    (ok, failed)
}

fn run_child(test: &str, var: &str, value: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(var, value)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the reading process did not exit normally ({:?}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn a_file_cut_or_rewritten_while_open_gives_errors_or_right_values() {
    const CHILD: &str = "STRATA_CHANGED_CHILD";
    if let Ok(arg) = std::env::var(CHILD) {
        let (how, path) = arg.split_once('|').unwrap();
        let archive = Archive::open(path).unwrap();
        let w = archive.root::<World>().unwrap();
        // Views handed out before the change.
        let early = w.users.get(12_345).unwrap().unwrap();
        let history = w.history.view().unwrap();
        let entry = w.by_name.get("user000042").unwrap().unwrap();
        let len = std::fs::metadata(path).unwrap().len();
        // Another program changes the file in place.
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        match how.split_once(':') {
            Some(("cut", div)) => file.set_len(len / div.parse::<u64>().unwrap()).unwrap(),
            _ => {
                let noise: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(0x9E37_79B9) >> 7) as u8).collect();
                (&file).write_all(&noise).unwrap();
            }
        }
        drop(file);
        let (ok, failed) = read_everything(&archive);
        // The views handed out before still read what they read then.
        assert_eq!(early.id, 12_345);
        assert_eq!(early.name, "user012345");
        assert_eq!(history.len(), 5_000);
        assert_eq!(entry.value().id, 42);
        // A fresh open of the changed file is an error (or, for a cut at 1/1, works).
        let reopened = Archive::open(path).map(|_| ()).map_err(|e| e.to_string());
        println!("RESULT ok={ok} failed={failed} reopen={}", reopened.is_ok());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.strata");
    strata::save(&clean, &world()).unwrap();
    let test = "a_file_cut_or_rewritten_while_open_gives_errors_or_right_values";
    for how in ["cut:2", "cut:3", "cut:4", "cut:6", "cut:10", "cut:20", "overwrite"] {
        let path = dir.path().join(format!("{}.strata", how.replace(':', "-")));
        std::fs::copy(&clean, &path).unwrap();
        let out = run_child(test, CHILD, &format!("{how}|{}", path.display()));
        let line = out.lines().find_map(|l| l.split_once("RESULT ")).map(|(_, r)| r.to_owned()).unwrap();
        println!("{how}: {line}");
        assert!(line.contains("failed=") && !line.contains("failed=0 "), "{how}: something must fail: {line}");
        assert!(line.contains("reopen=false"), "{how}: {line}");
    }
}

/// The errors say what happened: the file changed since it was opened.
#[test]
fn the_error_says_the_file_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    strata::save(&path, &world()).unwrap();
    let archive = Archive::open(&path).unwrap();
    let w = archive.root::<World>().unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len / 20).unwrap();
    let err = w.users.get(USERS as usize - 1).unwrap_err();
    assert!(matches!(err, strata::Error::Changed { .. }), "{err}");
    assert!(err.to_string().contains(&format!("{len} bytes then, {} now", len / 20)), "{err}");
}
