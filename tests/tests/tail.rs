//! The tail read at open: the footer, the root and the copies of the top index nodes
//! in one request, so that a map lookup or a vector element costs one read per level
//! below the root node, counted on a source that counts its reads.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use strata::source::Source;
use strata::{Archive, OpenOptions, Persist};

#[derive(Persist, Debug, PartialEq)]
struct Index {
    name: String,
    #[strata(map)]
    by_key: HashMap<String, u64>,
    #[strata(shard)]
    values: Vec<u64>,
    #[strata(lazy)]
    notes: Index2,
}

#[derive(Persist, Debug, PartialEq)]
struct Index2 {
    #[strata(map)]
    nested: HashMap<u32, String>,
}

/// A source over a buffer that reads like a remote one: no memory to read in place,
/// every read counted, and a tail read at open of `tail` bytes (remote when that is
/// more than the default).
#[derive(Debug)]
struct Counting {
    bytes: Vec<u8>,
    reads: AtomicUsize,
    largest: AtomicUsize,
    tail: u64,
}

impl Source for Counting {
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.largest.fetch_max(buf.len(), Ordering::Relaxed);
        let start = usize::try_from(offset).unwrap();
        let src = self.bytes.get(start..start + buf.len()).ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn tail_len(&self) -> u64 {
        self.tail
    }
    fn remote(&self) -> bool {
        self.tail > strata::source::DEFAULT_TAIL_LEN
    }
}

fn index(keys: u64) -> Index {
    Index {
        name: "idx".into(),
        by_key: (0..keys).map(|i| (format!("key-{i:08}"), i * 3)).collect(),
        values: (0..keys * 8).collect(),
        notes: Index2 { nested: (0..2000u32).map(|i| (i, format!("note {i}"))).collect() },
    }
}

fn open(bytes: &[u8], tail: u64) -> (Archive, Arc<Counting>) {
    let source =
        Arc::new(Counting { bytes: bytes.to_vec(), reads: AtomicUsize::new(0), largest: AtomicUsize::new(0), tail });
    let archive = Archive::from_source(source.clone(), &OpenOptions::new()).unwrap();
    (archive, source)
}

#[test]
fn a_lookup_reads_one_node_per_level_below_the_root_node() -> strata::Result<()> {
    // Two-level tables: more than 512 buckets and shards.
    let value = index(400_000);
    let bytes = strata::to_bytes(&value)?;
    let (archive, source) = open(&bytes, 256 << 10);
    assert_eq!(source.reads.load(Ordering::Relaxed), 1, "open: one read of the tail");
    let root = archive.root::<Index>()?;
    assert!(root.by_key.table().depth() == 2 && root.values.table().depth() == 2);
    assert_eq!(source.reads.load(Ordering::Relaxed), 1, "the root came with the tail");

    let before = source.reads.load(Ordering::Relaxed);
    assert_eq!(root.by_key.get("key-00123457")?.map(|v| v.to_native()), Some(123_457 * 3));
    assert_eq!(source.reads.load(Ordering::Relaxed) - before, 2, "map lookup: leaf node and bucket");

    let before = source.reads.load(Ordering::Relaxed);
    assert_eq!(root.values.get(2_345_678)?.map(|v| v.to_native()), Some(2_345_678));
    assert_eq!(source.reads.load(Ordering::Relaxed) - before, 2, "vector element: leaf node and shard");

    // Every value read through copies is the value saved.
    for k in (0..400_000u64).step_by(9_973) {
        assert_eq!(root.by_key.get(format!("key-{k:08}").as_str())?.map(|v| v.to_native()), Some(k * 3));
        assert_eq!(root.values.get(k as usize * 8)?.map(|v| v.to_native()), Some(k * 8));
    }
    assert_eq!(archive.load::<Index>()?, value);
    assert!(archive.verify()?.is_ok());
    Ok(())
}

#[test]
fn a_costly_source_with_a_short_tail_fetches_the_copies_once() -> strata::Result<()> {
    let bytes = strata::to_bytes(&index(400_000))?;
    let (archive, source) = open(&bytes, strata::source::DEFAULT_TAIL_LEN + 16);
    let root = archive.root::<Index>()?;
    let before = source.reads.load(Ordering::Relaxed);
    root.by_key.get("key-00000001")?;
    assert_eq!(source.reads.load(Ordering::Relaxed) - before, 3, "copies, leaf node, bucket");
    let before = source.reads.load(Ordering::Relaxed);
    root.values.get(17)?;
    assert_eq!(source.reads.load(Ordering::Relaxed) - before, 2, "the copies are read once");
    Ok(())
}

#[test]
fn a_source_with_the_default_tail_reads_root_nodes_where_they_are() -> strata::Result<()> {
    let bytes = strata::to_bytes(&index(400_000))?;
    let (archive, source) = open(&bytes, strata::source::DEFAULT_TAIL_LEN);
    let root = archive.root::<Index>()?;
    let before = source.reads.load(Ordering::Relaxed);
    root.by_key.get("key-00000001")?;
    assert_eq!(source.reads.load(Ordering::Relaxed) - before, 3, "root node, leaf node, bucket");
    Ok(())
}

#[test]
fn tables_of_one_level_cost_one_read_per_lookup() -> strata::Result<()> {
    let bytes = strata::to_bytes(&index(20_000))?;
    let (archive, source) = open(&bytes, 256 << 10);
    let root = archive.root::<Index>()?;
    assert_eq!(root.by_key.table().depth(), 1);
    let before = source.reads.load(Ordering::Relaxed);
    assert_eq!(root.by_key.get("key-00000999")?.map(|v| v.to_native()), Some(2997));
    assert_eq!(source.reads.load(Ordering::Relaxed) - before, 1, "the bucket only");
    // A table inside a lazy field: its root node is copied too (the lazy chunk is one
    // read at most, its bucket another; here both may lie in the tail read already).
    let before = source.reads.load(Ordering::Relaxed);
    let notes = root.notes.view()?;
    assert_eq!(notes.nested.get(&1999)?.map(|v| v.to_string()), Some("note 1999".into()));
    assert!(source.reads.load(Ordering::Relaxed) - before <= 2, "lazy chunk and bucket");
    Ok(())
}

#[test]
fn a_damaged_tail_copies_chunk_is_an_error_and_verify_reports_it() -> strata::Result<()> {
    let value = index(1_000);
    let bytes = strata::to_bytes(&value)?;
    let archive = Archive::from_bytes(bytes.clone())?;
    let copies = archive.footer().copies.expect("a file with tables has tail copies");
    // The copies' first data byte: past the count, the directory and its padding.
    let mut damaged = bytes.clone();
    let at = (copies.offset() + copies.stored_len() - 1) as usize;
    damaged[at] ^= 0x40;
    let archive = Archive::from_bytes(damaged)?;
    // The tail-copies chunk fails its checksum: lookups report it (the file is damaged).
    let root = archive.root::<Index>()?;
    let looked = root.by_key.get("key-00000007");
    assert!(matches!(looked, Err(strata::Error::ChecksumMismatch { .. })), "{looked:?}");
    let report = archive.verify()?;
    assert!(report.damaged.iter().any(|d| d.path == "(tail copies)"), "{report:?}");
    Ok(())
}

#[test]
fn a_copy_that_differs_from_its_chunk_is_passed_over_and_verify_reports_it() -> strata::Result<()> {
    let value = index(20_000);
    let bytes = strata::to_bytes(&value)?;
    let archive = Archive::from_bytes(bytes.clone())?;
    let copies = archive.footer().copies.expect("a file with tables has tail copies");
    // Change the last byte of the last copy, then reseal the copies chunk (its checksum
    // in the footer's reference) and the footer: a consistent file whose copy lies.
    let mut lying = bytes;
    let end = (copies.offset() + copies.stored_len()) as usize;
    lying[end - 1] ^= 0x40;
    let sum = strata::raw::format::checksum(&lying[copies.offset() as usize..end]);
    let footer_start = lying.len() - strata_tests::hostile::footer_len(&lying);
    lying[footer_start + 24..footer_start + 32].copy_from_slice(&sum.to_le_bytes());
    strata_tests::hostile::refresh_footer(&mut lying);
    let (archive, _) = open(&lying, 256 << 10);
    let root = archive.root::<Index>()?;
    for k in (0..20_000u64).step_by(397) {
        assert_eq!(root.by_key.get(format!("key-{k:08}").as_str())?.map(|v| v.to_native()), Some(k * 3));
        assert_eq!(root.values.get(k as usize)?.map(|v| v.to_native()), Some(k));
    }
    let report = archive.verify()?;
    assert!(report.damaged.iter().any(|d| d.path == "(tail copies)"), "{report:?}");
    Ok(())
}

#[test]
fn a_tail_copies_reference_beyond_any_writers_budget_is_not_read() -> strata::Result<()> {
    let value = index(20_000);
    let mut bytes = strata::to_bytes(&value)?;
    assert!(bytes.len() > 2 << 20);
    // The footer's copies reference now claims 2 MiB from the first chunk's offset.
    let footer_start = bytes.len() - strata_tests::hostile::footer_len(&bytes);
    let first = strata::raw::format::header::len_of(strata::raw::format::VERSION);
    let claimed = strata::raw::format::ChunkRef::new(first, 2 << 20, 2 << 20, 0, strata::raw::format::Encoding::None);
    bytes[footer_start..footer_start + 40].copy_from_slice(&claimed.to_bytes());
    strata_tests::hostile::refresh_footer(&mut bytes);
    let (archive, source) = open(&bytes, strata::source::DEFAULT_TAIL_LEN + 16);
    let root = archive.root::<Index>()?;
    assert_eq!(root.by_key.get("key-00000042")?.map(|v| v.to_native()), Some(126));
    assert!(source.largest.load(Ordering::Relaxed) < 1 << 20, "the claimed copies were not read");
    Ok(())
}
