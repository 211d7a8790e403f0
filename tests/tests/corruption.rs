//! Damaged files: laziness is proven by corrupting one chunk at a time; the root, the
//! footer and truncation fail `open` with a clear error; nothing panics.

use strata::{Archive, Error, Persist};
use strata_tests::{World, sample_world, walk_world};

fn image() -> Vec<u8> {
    strata::to_bytes(&sample_world()).unwrap()
}

fn flip(bytes: &mut [u8], at: u64) {
    bytes[at as usize] ^= 0x5A;
}

#[test]
fn a_corrupted_lazy_chunk_fails_only_its_own_load() {
    let clean = image();
    let expected = sample_world();
    let archive = Archive::from_bytes(clean.clone()).unwrap();
    let w = archive.root::<World>().unwrap();
    let history_at = w.history.chunk().offset();
    let tiles_at = w.region.view().unwrap().tiles.chunk().offset();

    // Damage the history chunk: everything else still reads.
    let mut bytes = clean.clone();
    flip(&mut bytes, history_at + 3);
    let archive = Archive::from_bytes(bytes).unwrap();
    let w = archive.root::<World>().unwrap();
    assert_eq!(w.name, expected.name);
    assert_eq!(w.settings.difficulty, expected.settings.difficulty);
    assert_eq!(w.blob.load().unwrap(), expected.blob);
    assert_eq!(w.region.load().unwrap(), expected.region);
    match w.history.load() {
        Err(Error::ChecksumMismatch { at, .. }) => assert_eq!(at.offset, history_at),
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    assert!(matches!(archive.load::<World>(), Err(Error::ChecksumMismatch { .. })));

    // Damage a chunk two levels down: the region's view still opens.
    let mut bytes = clean;
    flip(&mut bytes, tiles_at);
    let archive = Archive::from_bytes(bytes).unwrap();
    let region = archive.root::<World>().unwrap().region.view().unwrap();
    assert_eq!(region.notes.load().unwrap(), expected.region.notes);
    assert!(matches!(region.tiles.load(), Err(Error::ChecksumMismatch { at, .. }) if at.offset == tiles_at));
}

#[test]
fn a_corrupted_root_or_footer_fails_open() {
    let clean = image();
    let archive = Archive::from_bytes(clean.clone()).unwrap();
    let root = archive.footer().root;

    let mut bytes = clean.clone();
    flip(&mut bytes, root.offset() + root.stored_len() / 2);
    match Archive::from_bytes(bytes) {
        Err(Error::ChecksumMismatch { at, .. }) => assert_eq!(at.offset, root.offset()),
        other => panic!("expected the root's checksum to fail, got {other:?}"),
    }

    let len = clean.len() as u64;
    for at in [len - 128, len - 60, len - 17] {
        let mut bytes = clean.clone();
        flip(&mut bytes, at);
        let err = Archive::from_bytes(bytes).unwrap_err();
        assert!(matches!(err, Error::FooterChecksum { .. }), "footer byte {at}: {err}");
    }
    let mut bytes = clean;
    flip(&mut bytes, len - 1); // the magic
    assert!(matches!(Archive::from_bytes(bytes), Err(Error::Truncated { .. })));
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    let clean = image();
    for len in 0..clean.len() {
        let cut = clean[..len].to_vec();
        let err = Archive::from_bytes(cut).unwrap_err();
        assert!(
            matches!(err, Error::Truncated { .. } | Error::NotStrata { .. }),
            "truncated to {len} bytes gave {err}"
        );
    }
}

#[test]
fn other_files_are_not_strata_files() {
    assert!(matches!(Archive::from_bytes(vec![0; 4096]), Err(Error::NotStrata { .. } | Error::Truncated { .. })));
    let mut text = b"hello world, this is not a strata file at all".repeat(10);
    text.truncate(300);
    assert!(Archive::from_bytes(text).is_err());
    // A short file of another kind (the first 100 bytes of a zip) is not strata's, not a
    // truncated strata file: its first bytes are not strata's magic.
    let mut zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
    zip.resize(100, 0x5a);
    assert!(matches!(Archive::from_bytes(zip), Err(Error::NotStrata { .. })));
    // Strata's magic cut short is a truncated file.
    let strata = strata::to_bytes(&7u32).unwrap();
    assert!(matches!(Archive::from_bytes(strata[..40].to_vec()), Err(Error::Truncated { .. })));
}

#[test]
fn asking_for_another_type_is_a_type_mismatch() {
    let archive = Archive::from_bytes(image()).unwrap();
    match archive.root::<strata_tests::Region>() {
        Err(Error::TypeMismatch { expected, found, .. }) => {
            assert_eq!(expected, "Region");
            assert_eq!(found, "World");
        }
        other => panic!("expected a type mismatch, got {:?}", other.map(|_| ())),
    }
    assert!(matches!(archive.load::<Vec<u8>>(), Err(Error::TypeMismatch { .. })));
}

#[test]
fn every_single_byte_flip_is_an_error_or_harmless() {
    // Exhaustive on a small archive: flip each byte, walk everything, and require that
    // the walk either fails with an error or returns exactly the original values; and
    // that a flip goes unnoticed only outside every byte the walk depends on.
    let small = World {
        history: vec!["h".into(); 3],
        blob: vec![1; 300],
        region: strata_tests::Region { name: "r".into(), tiles: vec![1, 2], notes: vec!["n".into()] },
        ..sample_world()
    };
    let clean = strata::to_bytes(&small).unwrap();
    let archive = Archive::from_bytes(clean.clone()).unwrap();
    let w = archive.root::<World>().unwrap();
    let r = w.region.view().unwrap();
    let footer = *archive.footer();
    let read_by_walk: Vec<(u64, u64)> =
        [footer.root, *w.history.chunk(), *w.blob.chunk(), *w.region.chunk(), *r.tiles.chunk(), *r.notes.chunk()]
            .iter()
            .map(|c| (c.offset(), c.offset() + c.stored_len()))
            .chain([(clean.len() as u64 - strata_tests::hostile::footer_len(&clean) as u64, clean.len() as u64)])
            .collect();
    // The header is not read by `open` (the footer repeats it), but `verify` checks
    // every one of its 16 bytes.
    for i in 0..clean.len() {
        let mut bytes = clean.clone();
        bytes[i] ^= 0x01;
        let Ok(archive) = Archive::from_bytes(bytes) else { continue };
        if i < 16 {
            let report = archive.verify().unwrap();
            assert!(report.damaged.iter().any(|d| d.path == "(file header)"), "flipping header byte {i}");
        }
        let walked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| walk_world(&archive, &small)));
        match walked {
            Ok(Ok(())) => {
                let i = i as u64;
                assert!(
                    !read_by_walk.iter().any(|&(a, b)| (a..b).contains(&i)),
                    "flipping byte {i}, which the walk reads, went unnoticed"
                );
            }
            Ok(Err(_)) => {}
            Err(_) => panic!("flipping byte {i} changed a value silently (or panicked)"),
        }
    }
}

#[test]
fn saves_are_deterministic() {
    let a = strata::to_bytes(&sample_world()).unwrap();
    let b = strata::to_bytes(&sample_world()).unwrap();
    assert_eq!(a, b);
    let mut maps = std::collections::HashMap::new();
    let mut maps2 = std::collections::HashMap::new();
    for i in 0..500u32 {
        maps.insert(format!("k{i}"), i);
        maps2.insert(format!("k{}", 499 - i), 499 - i);
    }
    assert_eq!(strata::to_bytes(&maps).unwrap(), strata::to_bytes(&maps2).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    strata::save(&path, &sample_world()).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), a);
}

/// Big enough that the sharded vector and the map are written in several windows,
/// each encoded while the one before is written; the blob, past 64 KiB, is written
/// from itself beside the names, encoded in parallel.
#[derive(Persist, Debug, PartialEq)]
struct Windows {
    #[strata(shard)]
    cells: Vec<u64>,
    #[strata(map)]
    index: std::collections::HashMap<u64, String>,
    #[strata(lazy)]
    blob: Vec<u8>,
    #[strata(lazy)]
    names: Vec<String>,
}

#[test]
fn saves_do_not_depend_on_the_thread_count() {
    let value = Windows {
        cells: (0..700_000u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect(),
        index: (0..150_000u64).map(|i| (i * 7, format!("value number {i}"))).collect(),
        blob: (0..300_000u32).map(|i| (i % 253) as u8).collect(),
        names: (0..1_000).map(|i| format!("name {i}")).collect(),
    };
    let save_with = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| strata::to_bytes(&value).unwrap())
    };
    let one = save_with(1);
    for threads in [2, 3, 8] {
        assert!(save_with(threads) == one, "a save in {threads} threads wrote other bytes than in one");
    }
    assert_eq!(Archive::from_bytes(one).unwrap().load::<Windows>().unwrap(), value);
}

#[derive(Persist, Debug, PartialEq)]
struct Asset {
    name: String,
    #[strata(lazy)]
    pixels: Vec<u8>,
}

/// A large byte vector is written from the vector itself (no serialized copy): it
/// reads back whole, for every padding its header can need, through the file and a
/// compressed save alike, and a flipped byte in it is caught by its checksum.
#[test]
fn a_large_byte_vector_written_from_itself_round_trips_and_is_checksummed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.strata");
    for len in [(1 << 20) + 1, (1 << 20) + 2, (1 << 20) + 3, 1 << 20] {
        let value =
            Asset { name: format!("asset of {len} bytes"), pixels: (0..len).map(|i| (i % 251) as u8).collect() };
        strata::save(&path, &value).unwrap();
        let archive = Archive::open(&path).unwrap();
        assert_eq!(archive.load::<Asset>().unwrap(), value);
        assert!(archive.verify().unwrap().is_ok());
        let at = archive.root::<Asset>().unwrap().pixels.chunk().offset();
        drop(archive);

        let zstd = strata::SaveOptions::new().compression(strata::Codec::Zstd(1)).to_bytes(&value).unwrap();
        assert_eq!(Archive::from_bytes(zstd).unwrap().load::<Asset>().unwrap(), value);

        let mut bytes = std::fs::read(&path).unwrap();
        flip(&mut bytes, at + len as u64 / 2);
        let archive = Archive::from_bytes(bytes).unwrap();
        assert_eq!(archive.root::<Asset>().unwrap().name, value.name);
        match archive.root::<Asset>().unwrap().pixels.load() {
            Err(Error::ChecksumMismatch { at: where_, .. }) => assert_eq!(where_.offset, at),
            other => panic!("expected a checksum mismatch, got {other:?}"),
        }
    }
}

#[test]
fn a_failed_save_leaves_the_previous_file_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let old = World { name: "old".into(), ..sample_world() };
    strata::save(&path, &old).unwrap();
    let before = std::fs::read(&path).unwrap();
    let new = World { name: "new".into(), ..sample_world() };
    // Bytes a save writes: header, chunks, footer (alignment padding is never written).
    let stats = strata::SaveOptions::new().write_to(&strata::sink::MemorySink::new(), &new).unwrap();
    let written = 16 + stats.stored_bytes + 128;
    for budget in [0, 1, 100, written / 2, written - 129, written - 1] {
        let err = strata::SaveOptions::new().fail_after_bytes(budget).save(&path, &new).unwrap_err();
        assert!(matches!(err, Error::Save { step: "write", .. }), "{err}");
        assert!(err.to_string().contains(".w.strata.") && err.to_string().contains(".strata-tmp"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before, "budget {budget}");
        // The destination and its lock file; no temporary file.
        let mut left: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, [".w.strata.strata-lock", "w.strata"], "temporary files left behind");
    }
    let archive = Archive::open(&path).unwrap();
    assert_eq!(archive.root::<World>().unwrap().name, "old");
}

#[cfg(unix)]
#[test]
fn a_save_keeps_the_replaced_files_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    strata::save(&path, &sample_world()).unwrap();
    let fresh = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_ne!(fresh, 0o600, "a new file gets the usual permissions, not a temporary file's");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    strata::save(&path, &sample_world()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
}

#[test]
fn open_reads_no_header_and_verify_reports_a_damaged_one() {
    let clean = image();
    let dir = tempfile::tempdir().unwrap();
    let expected = Archive::from_bytes(clean.clone()).unwrap().load::<World>().unwrap();
    // The magic, the version (the footer says 1) and the flags.
    for (at, what) in [(0, "NotStrata"), (3, "NotStrata"), (8, "version"), (13, "flags")] {
        let mut bytes = clean.clone();
        flip(&mut bytes, at);
        for archive in &strata_tests::open_every_way(bytes, dir.path(), &format!("header-{at}.strata")) {
            // Nothing is read from the header: every value is still right.
            assert_eq!(archive.load::<World>().unwrap(), expected, "header byte {at}");
            let report = archive.verify().unwrap();
            assert_eq!(report.damaged.len(), 1, "header byte {at}");
            let damage = &report.damaged[0];
            assert_eq!((damage.path.as_str(), damage.chunk.offset()), ("(file header)", 0));
            let message = damage.error.to_string();
            match what {
                "version" => assert!(message.contains("version"), "{message}"),
                "flags" => assert!(matches!(damage.error, Error::UnknownFlags { what: "header", .. }), "{message}"),
                _ => assert!(matches!(damage.error, Error::NotStrata { .. }), "{message}"),
            }
        }
    }
    // Without the footer magic, the header tells another kind of file from a cut one.
    let mut other = clean.clone();
    flip(&mut other, 0);
    flip(&mut other, clean.len() as u64 - 1);
    let path = dir.path().join("other.strata");
    std::fs::write(&path, &other).unwrap();
    assert!(matches!(Archive::open(&path), Err(Error::NotStrata { .. })));
    assert!(matches!(Archive::from_bytes(other), Err(Error::NotStrata { .. })));
}
