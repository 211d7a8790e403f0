//! `Access::Read` (chunks read with `pread`) against `Access::Map` and in-memory
//! images: the same answers on valid files, the same errors on damaged ones, and no
//! panic on any of them.

use std::path::Path;
use strata::{Access, Archive, OpenOptions};
use strata_tests::hostile::{image, options, walk};

fn walk_file(path: &Path, access: Access) -> (usize, usize) {
    match Archive::open_with(path, &options().access(access)) {
        Ok(archive) => walk(&archive),
        Err(_) => (0, 1),
    }
}

fn walk_bytes(bytes: &[u8]) -> (usize, usize) {
    match Archive::from_bytes_with(bytes.to_vec(), &options()) {
        Ok(archive) => walk(&archive),
        Err(_) => (0, 1),
    }
}

/// Every read gives the same outcome whichever way the bytes are reached.
fn agree(dir: &Path, bytes: &[u8], what: &str) {
    let path = dir.join("f.strata");
    std::fs::write(&path, bytes).unwrap();
    let read = walk_file(&path, Access::Read);
    assert_eq!(read, walk_file(&path, Access::Map), "{what}: read and mapped files disagree");
    assert_eq!(read, walk_bytes(bytes), "{what}: read file and in-memory image disagree");
}

#[test]
fn a_valid_file_reads_the_same_every_way() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, tried) = {
        let path = dir.path().join("f.strata");
        std::fs::write(&path, image()).unwrap();
        walk_file(&path, Access::Read)
    };
    assert_eq!(ok, tried, "every read of a valid file succeeds ({ok} of {tried})");
    assert!(tried > 30, "{tried} reads");
    agree(dir.path(), image(), "valid file");
}

#[test]
fn damaged_files_fail_the_same_reads_every_way() {
    let dir = tempfile::tempdir().unwrap();
    let valid = image();
    let mut damaged = 0;
    // Bytes spread over the whole file, footer and header included.
    let step = (valid.len() / 150).max(1);
    for at in (0..valid.len()).step_by(step).chain(valid.len().saturating_sub(64)..valid.len()) {
        let mut bytes = valid.to_vec();
        bytes[at] ^= 0x5A;
        agree(dir.path(), &bytes, &format!("byte {at} flipped"));
        let path = dir.path().join("f.strata");
        let (ok, tried) = walk_file(&path, Access::Read);
        damaged += usize::from(ok < tried);
    }
    assert!(damaged > 100, "most flips are detected: {damaged}");
    for len in [0, 7, 64, valid.len() / 2, valid.len() - 1] {
        agree(dir.path(), &valid[..len], &format!("truncated to {len}"));
    }
}

#[test]
fn a_read_archive_keeps_its_file_when_a_save_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let mut world = strata_tests::sample_world();
    strata::save(&path, &world).unwrap();
    let archive = Archive::open_with(&path, &OpenOptions::new().access(Access::Read)).unwrap();
    let before = archive.root::<strata_tests::World>().unwrap().name.to_string();
    world.name = "replaced".into();
    strata::save(&path, &world).unwrap();
    // The open archive reads the file it opened (the old inode), chunk by chunk.
    let loaded: strata_tests::World = archive.load().unwrap();
    assert_eq!(loaded.name, before);
    assert_ne!(before, "replaced");
}

#[test]
fn a_file_cut_short_while_open_gives_an_error_at_the_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.strata");
    std::fs::write(&path, image()).unwrap();
    let archive = Archive::open_with(&path, &options().access(Access::Read)).unwrap();
    // Cut the file in place (strata never does; another program might).
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(image().len() as u64 / 2).unwrap();
    let err = archive.load::<strata_tests::hostile::Model>().unwrap_err();
    assert!(matches!(err, strata::Error::Changed { .. }), "{err}");
    assert!(err.to_string().contains("the file changed since it was opened"), "{err}");
}
