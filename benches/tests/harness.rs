//! The comparison harness end to end, as the README runs it but with one run: every
//! format writes the dataset, reads it warm and evicted in fresh processes, and has
//! every answer checked against the dataset (the harness fails on a wrong one); a run
//! above scale 1 ends with its scaling step. Guards "runs on a clean clone with the
//! single command" for every format.

use std::path::{Path, PathBuf};
use std::process::Command;
use strata_benches::formats;

/// A folder of its own under cargo's temporary folder for tests (in the target folder,
/// where the harness keeps its files by default: eviction needs a disk-backed file
/// system, which the system's temporary folder may not be), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("strata-harness-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `compare` with `args` plus a scratch `--dir` and `--json`; the JSON it wrote.
fn compare(dir: &Path, args: &[&str]) -> serde_json::Value {
    let json = dir.join("figures.json");
    let out = Command::new(env!("CARGO_BIN_EXE_compare"))
        .args(args)
        .arg("--dir")
        .arg(dir.join("files"))
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run compare");
    assert!(out.status.success(), "compare {args:?} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON")).expect("valid JSON")
}

#[test]
fn every_format_writes_reads_and_answers_right_at_scale_1() {
    let scratch = Scratch::new("all");
    let doc = compare(&scratch.0, &["--scale", "1", "--runs", "1"]);
    let results = doc["results"].as_array().expect("results");
    let names: Vec<&str> = results.iter().filter_map(|r| r["format"].as_str()).collect();
    for f in formats::all() {
        assert!(names.contains(&f.name()), "{} missing from the results", f.name());
    }
    assert_eq!(doc["not_measured"].as_object().map(serde_json::Map::len), Some(0), "{}", doc["not_measured"]);
    for r in results {
        let name = r["format"].as_str().unwrap_or_default();
        assert!(r["file_bytes"].as_u64().is_some_and(|b| b > 0), "{name}: no file size");
        assert!(r["write_median_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{name}: no write time");
        assert!(r["peak_rss_open_lookup_bytes"].as_u64().is_some_and(|b| b > 0), "{name}: no peak RSS");
        // Every format answers the map lookup, warm and evicted; all but the map-only
        // redb answer every operation.
        let reads = r["reads"].as_object().expect("reads");
        let want = if name.starts_with("redb") { 2 } else { 10 };
        assert_eq!(reads.len(), want, "{name}: {:?}", reads.keys().collect::<Vec<_>>());
        for (op, figure) in reads {
            assert!(figure["median_us"].as_f64().is_some_and(|us| us > 0.0), "{name} {op}: no time");
        }
    }
    // Nothing above scale 1 to compare with.
    assert_eq!(doc["scaling_at_the_same_moments"].as_array().map(Vec::len), Some(0));
}

#[test]
fn a_run_above_scale_1_times_strata_against_scale_1_at_the_same_moments() {
    let scratch = Scratch::new("scaling");
    let doc = compare(&scratch.0, &["--scale", "2", "--runs", "1", "--formats", "strata", "--no-full-load"]);
    assert!(scratch.0.join("files/scale-1/strata.bin").is_file(), "the scale-1 file is written beside the run's");
    let rows = doc["scaling_at_the_same_moments"].as_array().expect("scaling rows");
    // Map lookup and vector element, warm and evicted.
    assert_eq!(rows.len(), 4, "{rows:?}");
    for row in rows {
        assert_eq!(row["format"], "strata");
        assert_eq!(row["base_scale"], 1);
        assert_eq!(row["samples_each"], 15);
        let (here, base, ratio) = (row["median_us"].as_f64(), row["base_median_us"].as_f64(), row["ratio"].as_f64());
        let (Some(here), Some(base), Some(ratio)) = (here, base, ratio) else { panic!("missing figures: {row}") };
        assert!(here > 0.0 && base > 0.0 && (ratio - here / base).abs() < 1e-9, "{row}");
    }
}
