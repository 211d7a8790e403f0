//! A bucketed map written from a stream of entries, holding a fraction of them.
//!
//! Each entry is archived on its own as it comes (what a bucket holds: an independent
//! rkyv archive of `{ key, value }`) and appended, with its key's stable hash, to one of
//! [`PARTITIONS`] temporary spill files, chosen by the hash's top bits. Buckets are
//! contiguous ranges of hashes ([`crate::map::bucket_of`]), so reading the partitions in
//! order, each sorted by (hash, archived bytes), gives the buckets in order, with the
//! entries in the order [`SaveCtx::write_buckets`] gives them: the same bytes as a save
//! of the same map. Memory holds one partition and a window of buckets.

use super::SaveCtx;
use super::buckets::{bucket_bytes, entry_align};
use super::collections::{groups, window};
use crate::Persist;
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::format::meta::{ChunkKind, NO_PARENT};
use crate::format::table::{ChunkTable, TableEntry};
use crate::hash::StableHash;
use rayon::prelude::*;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;

/// How many spill files the entries are partitioned into (by their hash's top 8 bits).
const PARTITIONS: usize = 256;

/// An entry as spilled: its key's hash and its archived bytes.
type Spilled = (u64, Vec<u8>);

impl SaveCtx<'_> {
    /// Writes the entries `entries` yields as the buckets and table of the map whose
    /// directory entry is `map`, spilling them to temporary files in `dir` (the system's
    /// temporary folder when `None`). Returns the table and the number of entries.
    /// Keys and values must hold no chunks of their own.
    pub(crate) fn write_streamed_map<K: Persist + Send + Sync + StableHash, V: Persist + Send + Sync>(
        &self,
        entries: impl Iterator<Item = (K, V)>,
        dir: Option<&Path>,
        codec: Option<Codec>,
        map: u32,
    ) -> Result<(ChunkTable, u64)> {
        if !(crate::persist::is_leaf::<K>() && crate::persist::is_leaf::<V>()) {
            return Err(Error::Serialize(String::from(
                "a streamed map's keys and values must hold no lazy fields, sharded vectors or maps",
            )));
        }
        let codec = self.codec(codec);
        let align = entry_align::<K, V>();
        let spill = |e: std::io::Error| Error::Io(e);
        let mut files = (0..PARTITIONS)
            .map(|_| match dir {
                Some(d) => tempfile::tempfile_in(d),
                None => tempfile::tempfile(),
            })
            .map(|f| f.map(|f| BufWriter::with_capacity(16 << 10, f)))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(spill)?;
        let entry_size = size_of::<crate::map::ArchivedEntry<K::Archived, V::Archived>>() + 12;
        let (mut estimate, mut count) = (0usize, 0u64);
        for (k, v) in entries {
            let hash = crate::hash::stable_hash(&k);
            estimate =
                estimate.saturating_add(entry_size.saturating_add(k.__out_of_line()).saturating_add(v.__out_of_line()));
            let bytes = self.serialize_root(&crate::map::EntryRef(&k, &v), None, NO_PARENT, 0)?;
            let len = u32::try_from(bytes.len()).map_err(|_| Error::Serialize(String::from("map entry over 4 GiB")))?;
            let file = files
                .get_mut((hash >> 56) as usize)
                .ok_or_else(|| Error::Message(String::from("internal: no partition")))?;
            file.write_all(&hash.to_le_bytes()).map_err(spill)?;
            file.write_all(&len.to_le_bytes()).map_err(spill)?;
            file.write_all(&bytes).map_err(spill)?;
            count += 1;
        }
        let buckets = (estimate.div_ceil(crate::map::BUCKET_BYTES) as u64).max(1);
        let contents =
            Buckets { files: files.into_iter(), current: Vec::new().into_iter(), next: 0, buckets, held: None };
        let window = window(crate::map::BUCKET_BYTES as u64);
        let mut failed = None;
        let mut first = 0u64;
        let windows = groups(contents, window, &mut failed).map(|group| {
            let ids: Vec<u32> =
                (0..group.len()).map(|j| self.alloc(map, ChunkKind::Bucket, first + j as u64, "")).collect();
            let at = first;
            first += group.len() as u64;
            (group, at, ids)
        });
        let mut table = Vec::new();
        self.write_windows(
            windows,
            |(group, _, _)| {
                group.par_iter().map(|entries| Self::encode(bucket_bytes(entries, align)?, codec)).collect()
            },
            |(_, at, ids), refs| {
                for ((j, c), id) in refs.into_iter().enumerate().zip(ids) {
                    table.push(TableEntry::new(at + j as u64, self.set(id, c)));
                }
            },
        )?;
        if let Some(e) = failed {
            return Err(e);
        }
        Ok((self.write_table(table, map)?, count))
    }
}

/// The entries of each bucket in turn, read from the spill files in hash order.
struct Buckets<F: Iterator<Item = BufWriter<std::fs::File>>> {
    files: F,
    /// The sorted entries of the partition being read.
    current: std::vec::IntoIter<Spilled>,
    /// The next bucket to give.
    next: u64,
    buckets: u64,
    /// An entry read ahead that belongs to a later bucket.
    held: Option<Spilled>,
}

impl<F: Iterator<Item = BufWriter<std::fs::File>>> Buckets<F> {
    /// The next entry in hash order, reading the next partition when one is used up.
    fn entry(&mut self) -> Result<Option<Spilled>> {
        if let Some(e) = self.held.take() {
            return Ok(Some(e));
        }
        loop {
            if let Some(e) = self.current.next() {
                return Ok(Some(e));
            }
            let Some(file) = self.files.next() else { return Ok(None) };
            self.current = read_partition(file)?.into_iter();
        }
    }
}

impl<F: Iterator<Item = BufWriter<std::fs::File>>> Iterator for Buckets<F> {
    type Item = Result<Vec<Spilled>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.buckets {
            return None;
        }
        let b = self.next;
        self.next += 1;
        let mut entries = Vec::new();
        loop {
            match self.entry() {
                Err(e) => return Some(Err(e)),
                Ok(None) => break,
                Ok(Some(e)) if crate::map::bucket_of(e.0, self.buckets) == b => entries.push(e),
                Ok(Some(e)) => {
                    self.held = Some(e);
                    break;
                }
            }
        }
        Some(Ok(entries))
    }
}

/// A spill file's entries, sorted by (hash, archived bytes).
fn read_partition(file: BufWriter<std::fs::File>) -> Result<Vec<Spilled>> {
    let mut file = file.into_inner().map_err(|e| Error::Io(e.into_error()))?;
    file.rewind().map_err(Error::Io)?;
    let mut reader = BufReader::with_capacity(64 << 10, file);
    let mut out = Vec::new();
    let mut head = [0u8; 12];
    loop {
        match reader.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(Error::Io(e)),
        }
        let (h, l) = head.split_at(8);
        let hash = u64::from_le_bytes(h.try_into().map_err(|_| Error::Message(String::from("internal: spill")))?);
        let len = u32::from_le_bytes(l.try_into().map_err(|_| Error::Message(String::from("internal: spill")))?);
        let mut bytes = Vec::new();
        (&mut reader).take(u64::from(len)).read_to_end(&mut bytes).map_err(Error::Io)?;
        if bytes.len() != len as usize {
            return Err(Error::Message(String::from("a spill file of a streamed map was cut short")));
        }
        out.push((hash, bytes));
    }
    out.sort_unstable();
    Ok(out)
}
