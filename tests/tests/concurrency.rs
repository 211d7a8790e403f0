//! Many threads reading one archive at once get correct values; replacing the file
//! under an open archive (as `save` does, by rename) leaves the archive reading the file
//! it opened.

use std::sync::Arc;
use strata::Archive;
use strata_tests::hostile::{ArchivedShape, Key, Model, Shape, model};

#[test]
fn archives_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Archive>();
    check::<strata::Promise<Vec<String>>>();
    check::<strata::ShardedVec<u64>>();
}

#[test]
fn many_threads_read_one_archive() {
    let m = model();
    // Compressed and uncompressed chunks, decompressed concurrently on first touch.
    let bytes = strata::SaveOptions::new().compression(strata::Codec::Zstd(1)).to_bytes(&m).unwrap();
    let archive = Arc::new(Archive::from_bytes(bytes).unwrap());
    let expected = Arc::new(m);
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let archive = Arc::clone(&archive);
            let m = Arc::clone(&expected);
            std::thread::spawn(move || read_randomly(&archive, &m, t, 3_000))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(archive.load::<Model>().unwrap(), *expected);
}

/// A mapped file is mapped by the first read in place (small chunks are copied
/// before that): threads racing to be that read, some of them through views inside
/// the mapping they just made (an item's lazy notes), all find their archive.
#[test]
fn threads_racing_to_map_a_file_all_read_it() {
    let m = Arc::new(model());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.strata");
    strata::save(&path, &*m).unwrap();
    for round in 0..20u64 {
        let archive = Arc::new(Archive::open(&path).unwrap());
        let start = Arc::new(std::sync::Barrier::new(4));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let (archive, m, start) = (Arc::clone(&archive), Arc::clone(&m), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    read_randomly(&archive, &m, round * 4 + t, 50);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let cache = archive.cache_stats();
        assert!(cache.bytes <= cache.limit, "{cache:?}");
    }
}

/// `n` random reads of `m`'s archive, each checked against `m`.
fn read_randomly(archive: &Archive, m: &Model, t: u64, n: usize) {
    let v = archive.root::<Model>().unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..n {
        match next() % 7 {
            0 => {
                let i = next() % m.numbers.len() as u64;
                assert_eq!(*v.numbers.get(i as usize).unwrap().unwrap(), m.numbers[i as usize]);
            }
            1 => {
                let i = next() % m.items.len() as u64;
                let item = v.items.get(i as usize).unwrap().unwrap();
                assert_eq!(item.notes.load().unwrap(), m.items[i as usize].notes);
            }
            2 => {
                let k = format!("name{}", next() % 450);
                assert_eq!(v.by_name.get(k.as_str()).unwrap().map(|x| x.to_native()), m.by_name.get(&k).copied());
            }
            3 => {
                let i = (next() % 60) as u32;
                let key = Key { zone: (i % 4) as u16, name: format!("k{i}") };
                assert_eq!(v.by_key.get(&key).unwrap().map(|x| x.id.to_native()), Some(i));
            }
            4 => assert_eq!(v.history.load().unwrap(), m.history),
            5 => assert_eq!(v.blob.view().unwrap().as_slice(), m.blob.as_slice()),
            _ => {
                if let (ArchivedShape::Deferred(p), Shape::Deferred(e)) = (&v.shapes[3], &m.shapes[3]) {
                    assert_eq!(&p.load().unwrap(), e);
                }
            }
        }
    }
}

#[test]
fn an_open_archive_keeps_reading_the_file_it_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.strata");
    let old = model();
    strata::save(&path, &old).unwrap();
    let archive = Archive::open(&path).unwrap();
    let view = archive.root::<Model>().unwrap();
    let mut new = model();
    new.title = "replaced".into();
    new.numbers.iter_mut().for_each(|n| *n += 1);
    strata::save(&path, &new).unwrap();
    // The open archive maps the old file (unlinked by the rename, alive while mapped).
    assert_eq!(view.title, "hostile");
    assert_eq!(*view.numbers.get(5).unwrap().unwrap(), 25);
    assert_eq!(archive.load::<Model>().unwrap(), old);
    assert_eq!(Archive::open(&path).unwrap().load::<Model>().unwrap(), new);
}
