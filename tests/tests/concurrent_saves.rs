//! Saves racing on one path take turns: 8 threads and 2 child processes save their own
//! versions of a value to one path while readers open and load it in a loop. Every
//! save succeeds, every read is one whole version, no temporary file is left. A save
//! that cannot get the lock within its timeout says who holds it. A save over a large
//! file leaves the old version neither on disk nor open.
//!
//! `STRATA_SAVE_STRESS=N` runs N saves per thread and process instead of the suite's
//! short form.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use strata::{Archive, Error, Persist, SaveOptions};

#[derive(Persist, Debug, PartialEq)]
struct City {
    id: u64,
    name: String,
    #[strata(shard)]
    streets: Vec<String>,
    #[strata(map)]
    by_name: HashMap<String, u64>,
    #[strata(lazy)]
    notes: Vec<u32>,
}

/// Version `v` of the value: every field derived from `v`, so a read can tell whether
/// it saw one whole version.
fn version(v: u64) -> City {
    let n = 2_000 + (v % 7) * 300;
    City {
        id: v,
        name: format!("city {v}"),
        streets: (0..n).map(|i| format!("street {v}-{i}")).collect(),
        by_name: (0..n).map(|i| (format!("k{v}-{i}"), i * v)).collect(),
        notes: (0..n as u32).map(|i| i ^ v as u32).collect(),
    }
}

const CHILD: &str = "STRATA_SAVE_CHILD";
const THREADS: u64 = 8;
const PROCESSES: u64 = 2;

fn saves_each() -> u64 {
    std::env::var("STRATA_SAVE_STRESS").ok().and_then(|n| n.parse().ok()).unwrap_or(20)
}

fn temporaries(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".strata-tmp"))
        .collect()
}

#[test]
fn saves_from_threads_and_processes_take_turns() {
    if let Ok(arg) = std::env::var(CHILD) {
        let (first, path) = arg.split_once('|').unwrap();
        let first: u64 = first.parse().unwrap();
        for k in 0..saves_each() {
            strata::save(path, &version(first + k)).unwrap();
        }
        println!("RESULT saved={}", saves_each());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.strata");
    strata::save(&path, &version(0)).unwrap();
    let each = saves_each();
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    // Readers: open and load in a loop; every read must be one whole version.
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (path, done, reads) = (path.clone(), Arc::clone(&done), Arc::clone(&reads));
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let archive = Archive::open(&path).unwrap();
                    let city: City = archive.load().unwrap();
                    assert_eq!(city, version(city.id), "a read saw a mix of versions");
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Two processes and eight threads save versions of their own, all at once.
    let children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "saves_from_threads_and_processes_take_turns", "--nocapture", "--test-threads=1"])
                .env(CHILD, format!("{}|{}", 1_000_000 * (p + 1), path.display()))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                for k in 0..each {
                    strata::save(&path, &version(10_000 * (t + 1) + k)).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "a saving process failed: {}", String::from_utf8_lossy(&out.stdout));
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("RESULT saved={each}")));
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    let last: City = Archive::open(&path).unwrap().load().unwrap();
    assert_eq!(last, version(last.id));
    assert!(temporaries(dir.path()).is_empty(), "temporary files left: {:?}", temporaries(dir.path()));
    println!(
        "{} saves from {THREADS} threads and {PROCESSES} processes, all Ok; {} whole reads; the file holds version {}",
        (THREADS + PROCESSES) * each,
        reads.load(Ordering::Relaxed),
        last.id
    );
}

#[test]
fn a_save_past_its_lock_timeout_names_the_holder() {
    const HOLDER: &str = "STRATA_LOCK_HOLDER";
    if let Ok(path) = std::env::var(HOLDER) {
        // Hold the destination's lock as a save would, then wait to be killed.
        let mut lock =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).unwrap();
        lock.lock().unwrap();
        lock.set_len(0).unwrap();
        write!(lock, "{}", std::process::id()).unwrap();
        println!("locked");
        std::io::stdout().flush().unwrap();
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.strata");
    let mut holder = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_save_past_its_lock_timeout_names_the_holder", "--nocapture", "--test-threads=1"])
        .env(HOLDER, dir.path().join(".held.strata.strata-lock"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().contains("locked")), "the holder took the lock");
    let err = SaveOptions::new().lock_timeout(Duration::from_millis(200)).save(&path, &version(1)).unwrap_err();
    match &err {
        Error::Locked { holder: Some(pid), waited, .. } => {
            assert_eq!(*pid, holder.id());
            assert!(*waited >= Duration::from_millis(200));
        }
        other => panic!("expected Locked naming the holder, got {other}"),
    }
    assert!(err.to_string().contains(&format!("process {}", holder.id())), "{err}");
    assert!(!path.exists(), "nothing was written");
    holder.kill().unwrap();
    holder.wait().unwrap();
    // The lock died with its process: the next save goes through.
    SaveOptions::new().lock_timeout(Duration::from_secs(10)).save(&path, &version(1)).unwrap();
    assert_eq!(Archive::open(&path).unwrap().load::<City>().unwrap(), version(1));
}

/// The files this process holds open under `dir` that no longer have a name (their
/// `/proc/self/fd` links end in " (deleted)").
#[cfg(target_os = "linux")]
fn open_unlinked(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .filter(|target| target.starts_with(&*dir.to_string_lossy()) && target.ends_with(" (deleted)"))
        .collect()
}

/// A save over a large file does not free the old version inside its rename: it holds
/// it open across the rename and closes it on another thread. That thread must run:
/// the old version may not stay open (its blocks allocated) after the save.
#[cfg(target_os = "linux")]
#[test]
fn a_large_replaced_version_is_closed_after_the_save() {
    #[derive(Persist, Debug, PartialEq)]
    struct Blob {
        version: u64,
        bytes: Vec<u8>,
    }
    let blob = |version: u64| Blob { version, bytes: vec![version as u8; 4 << 20] };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob.strata");
    for version in 1..=3 {
        strata::save(&path, &blob(version)).unwrap();
    }
    let held = Archive::open(&path).unwrap();
    strata::save(&path, &blob(4)).unwrap();
    // An open archive keeps reading the version it opened.
    assert_eq!(held.load::<Blob>().unwrap(), blob(3));
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let open = open_unlinked(dir.path());
        if open.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "replaced versions still open: {open:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, [".blob.strata.strata-lock", "blob.strata"]);
    assert_eq!(Archive::open(&path).unwrap().load::<Blob>().unwrap(), blob(4));
}
