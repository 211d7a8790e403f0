//! The chunk table: how a sharded vector finds its shards and a map its buckets.
//!
//! ## Format
//! A table of `N` leaf entries, each `{ first: u64, chunk: ChunkRef }` (48 bytes,
//! [`TableEntry`]), sorted by `first`: for a vector, the index of the shard's first
//! element; for a map, the bucket's number. The entries are stored in a tree of *index
//! nodes*. Each node is a raw chunk holding an rkyv `Vec<TableEntry>` of at most
//! `fanout` entries. Level-0 nodes hold the leaf entries, in order, `fanout` per node
//! (the last node may hold fewer); a node of level `l + 1` holds one entry per node of
//! level `l` (its `first` is the first `first` below it). The top level has one node,
//! the root.
//!
//! The table's header, stored inline in the parent ([`ChunkTable`], 56 bytes):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 40 | root node reference |
//! | 40 | 8 | number of leaf entries `N` |
//! | 48 | 4 | depth: number of levels (1 when `N <= fanout`) |
//! | 52 | 4 | fanout (2..=4096; the writer's choice: [`fanout_for`]) |
//!
//! Leaf `s` is reached by position: its index at level 0 is `s`, its node's index at
//! level 1 is `s / fanout`, and so on; each step reads one small node chunk. A reader
//! checks each node's entry count against the shape that `N`, `depth` and `fanout`
//! imply, so a damaged table is an error, never a wrong answer.
//!
//! A sharded vector and a bucketed map store the same 64-byte [`TableHeader`] inline:
//! the table header and their element or entry count.
//!
//! This module owns the table: its layout, how a reader walks it ([`ChunkTable::find`],
//! [`ChunkTable::leaf`], [`ChunkTable::leaves`], over nodes a caller reads), and how a
//! writer builds it ([`build`], placing nodes through a caller's function).

use super::archived::{vec_header, vec_span};
use super::chunk_ref::{CHUNK_REF_LEN, ChunkRef};
use crate::error::{Error, Result};
use rkyv::rend::{u32_le, u64_le};

/// The entries of a one-level table's single node as this version writes it: 512 x 48
/// bytes = 24 KiB. A table of more leaves has two levels or more ([`fanout_for`]).
pub const FANOUT: u32 = 512;

/// The most entries per index node this version writes, in tables of two levels or
/// more: 2,048 x 48 bytes = 96 KiB. A lookup reads one node per level, and each level
/// is a dependent read (a disk seek cold, a round trip on object storage): two levels
/// address 4,194,304 shards or buckets (a 16 GiB map in 4 KiB buckets, a 128 GiB vector
/// in 32 KiB shards).
pub const MAX_FANOUT: u32 = 2048;

/// Deepest table a reader accepts (even with the narrowest fanout, 2, ten levels
/// address 1,024 leaves; with the writer's, far beyond any file).
pub const MAX_DEPTH: u32 = 10;

/// Length of one [`TableEntry`].
pub const ENTRY_LEN: usize = 48;

/// One entry of an index node (48 bytes).
#[derive(rkyv::Portable, bytecheck::CheckBytes, Clone, Copy, Debug, PartialEq, Eq)]
#[rkyv(crate = rkyv)]
#[bytecheck(crate = bytecheck)]
#[repr(C)]
pub struct TableEntry {
    first: u64_le,
    chunk: ChunkRef,
}

// SAFETY: `repr(C)` of a u64 and a padding-free `ChunkRef` (alignment 8): no padding.
unsafe impl rkyv::traits::NoUndef for TableEntry {}
const _: () = assert!(size_of::<TableEntry>() == ENTRY_LEN);

impl TableEntry {
    /// An entry.
    #[must_use]
    pub fn new(first: u64, chunk: ChunkRef) -> Self {
        Self { first: u64_le::from_native(first), chunk }
    }

    /// The first key (element index or bucket number) below this entry.
    #[must_use]
    pub fn first(&self) -> u64 {
        self.first.to_native()
    }

    /// The chunk this entry points at (an index node or a shard or bucket).
    #[must_use]
    pub fn chunk(&self) -> &ChunkRef {
        &self.chunk
    }

    /// Decodes an entry from its 48 little-endian bytes.
    #[must_use]
    pub fn from_bytes(b: &[u8; ENTRY_LEN]) -> Self {
        let mut first = [0u8; 8];
        let mut chunk = [0u8; CHUNK_REF_LEN];
        first.copy_from_slice(b.get(..8).unwrap_or(&[0; 8]));
        chunk.copy_from_slice(b.get(8..).unwrap_or(&[0; CHUNK_REF_LEN]));
        Self::new(u64::from_le_bytes(first), ChunkRef::from_bytes(&chunk))
    }

    /// Encodes the entry as its 48 bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; ENTRY_LEN] {
        let mut out = [0u8; ENTRY_LEN];
        let (first, chunk) = out.split_at_mut(8);
        first.copy_from_slice(&self.first().to_le_bytes());
        chunk.copy_from_slice(&self.chunk.to_bytes());
        out
    }
}

/// An index node's entries, read from its bytes (an rkyv `Vec<TableEntry>`) one by one
/// as a lookup needs them. Every bit pattern of an entry is a value, so the entries are
/// not validated; each chunk reference is checked when it is followed.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    bytes: &'a [u8],
    start: usize,
    len: usize,
}

impl<'a> Node<'a> {
    /// Where a node's entries lie in its chunk's bytes: their start and count.
    ///
    /// # Errors
    /// A description of what does not fit.
    pub fn span(bytes: &[u8]) -> Result<(usize, usize), &'static str> {
        vec_span(bytes, ENTRY_LEN)
    }

    /// The node whose `len` entries start at `start` of `bytes` (as [`Node::span`]
    /// found them).
    #[must_use]
    pub fn new(bytes: &'a [u8], start: usize, len: usize) -> Self {
        Self { bytes, start, len }
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the node has no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn raw(&self, j: usize) -> Option<&'a [u8]> {
        let at = self.start.checked_add(j.checked_mul(ENTRY_LEN)?)?;
        (j < self.len).then(|| self.bytes.get(at..at.checked_add(ENTRY_LEN)?)).flatten()
    }

    /// Entry `j`.
    #[must_use]
    pub fn get(&self, j: usize) -> Option<TableEntry> {
        let mut b = [0u8; ENTRY_LEN];
        b.copy_from_slice(self.raw(j)?);
        Some(TableEntry::from_bytes(&b))
    }

    /// The `first` of entry `j`.
    #[must_use]
    pub fn first(&self, j: usize) -> Option<u64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.raw(j)?.get(..8)?);
        Some(u64::from_le_bytes(b))
    }

    /// How many leading entries have `first <= key` (binary search; entries are sorted
    /// by `first` in a sound table).
    #[must_use]
    pub fn partition_point(&self, key: u64) -> usize {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.first(mid).is_some_and(|f| f <= key) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// A node's bytes for `entries`: the entries, then the vector header (what rkyv
    /// archives a `Vec<TableEntry>` to).
    #[must_use]
    pub fn encode(entries: &[TableEntry]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(entries.len().checked_mul(ENTRY_LEN)?.checked_add(8)?);
        for e in entries {
            out.extend_from_slice(&e.to_bytes());
        }
        out.extend_from_slice(&vec_header(out.len(), entries.len())?);
        Some(out)
    }
}

/// A node as read by a table's reader: whatever keeps its bytes, and the node in them.
pub trait NodeBytes {
    /// The node.
    fn node(&self) -> Node<'_>;
}

/// The inline header of a sharded vector or a bucketed map (64 bytes): the chunk table
/// over its shards or buckets, then its element or entry count.
#[derive(rkyv::Portable, bytecheck::CheckBytes, Clone, Copy, Debug, PartialEq, Eq)]
#[rkyv(crate = rkyv)]
#[bytecheck(crate = bytecheck, verify)]
#[repr(C)]
pub struct TableHeader {
    table: ChunkTable,
    len: u64_le,
}

// SAFETY: `repr(C)`: a padding-free 56-byte `ChunkTable` and a u64: no padding.
unsafe impl rkyv::traits::NoUndef for TableHeader {}
const _: () = assert!(size_of::<TableHeader>() == 64);

impl TableHeader {
    /// A header.
    #[must_use]
    pub fn new(table: ChunkTable, len: u64) -> Self {
        Self { table, len: u64_le::from_native(len) }
    }

    /// The header of an empty vector or map that has no table in the file (a field a
    /// newer type added, read from an older file): no entries, a root reference to
    /// nothing, the writer's fanout. Readers look at no chunk of an empty table.
    #[must_use]
    pub fn empty() -> Self {
        let none = ChunkRef::new(0, 0, 0, 0, super::Encoding::None);
        Self::new(ChunkTable::new(none, 0, depth_for(0, u64::from(FANOUT)), fanout_for(0)), 0)
    }

    /// Encodes the header as its 64 little-endian bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        let t = &self.table;
        let parts: [&[u8]; 5] = [
            &t.root.to_bytes(),
            &t.entries().to_le_bytes(),
            &t.depth().to_le_bytes(),
            &t.fanout().to_le_bytes(),
            &self.len().to_le_bytes(),
        ];
        let mut at = 0;
        for part in parts {
            if let Some(dst) = out.get_mut(at..at + part.len()) {
                dst.copy_from_slice(part);
            }
            at += part.len();
        }
        out
    }

    /// Decodes a header from its 64 bytes, without judging it.
    #[must_use]
    pub fn from_bytes(b: &[u8; 64]) -> Self {
        let mut t = [0u8; 56];
        let mut n = [0u8; 8];
        t.copy_from_slice(b.get(..56).unwrap_or(&[0; 56]));
        n.copy_from_slice(b.get(56..).unwrap_or(&[0; 8]));
        Self::new(ChunkTable::from_bytes(&t), u64::from_le_bytes(n))
    }

    /// The chunk table.
    #[must_use]
    pub fn table(&self) -> &ChunkTable {
        &self.table
    }

    /// The element (vector) or entry (map) count.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len.to_native()
    }

    /// The count as a `usize` (a validated header's count fits: see its `Verify`).
    #[must_use]
    pub fn len_usize(&self) -> usize {
        usize::try_from(self.len()).unwrap_or(usize::MAX)
    }

    /// Whether the count is zero.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// SAFETY: reads only the type-checked count of `self`, rejecting one this platform's
// `usize` cannot hold (collections give their lengths and indices as `usize`).
unsafe impl<C> bytecheck::Verify<C> for TableHeader
where
    C: rancor::Fallible + ?Sized,
    C::Error: rancor::Source,
{
    fn verify(&self, _context: &mut C) -> Result<(), C::Error> {
        if usize::try_from(self.len()).is_err() {
            return Err(<C::Error as rancor::Source>::new(BadTable("count too large for this platform")));
        }
        Ok(())
    }
}

/// The inline header of a chunk table (56 bytes).
#[derive(rkyv::Portable, bytecheck::CheckBytes, Clone, Copy, Debug, PartialEq, Eq)]
#[rkyv(crate = rkyv)]
#[bytecheck(crate = bytecheck, verify)]
#[repr(C)]
pub struct ChunkTable {
    root: ChunkRef,
    entries: u64_le,
    depth: u32_le,
    fanout: u32_le,
}

// SAFETY: `repr(C)`: a padding-free `ChunkRef` (40), a u64 and two u32: 56 bytes, no padding.
unsafe impl rkyv::traits::NoUndef for ChunkTable {}

impl ChunkTable {
    /// A table header.
    #[must_use]
    pub fn new(root: ChunkRef, entries: u64, depth: u32, fanout: u32) -> Self {
        Self {
            root,
            entries: u64_le::from_native(entries),
            depth: u32_le::from_native(depth),
            fanout: u32_le::from_native(fanout),
        }
    }

    /// Decodes a header from its 56 bytes (little-endian), without judging it.
    #[must_use]
    pub fn from_bytes(b: &[u8; 56]) -> Self {
        let mut r = [0u8; 40];
        r.copy_from_slice(b.get(..40).unwrap_or(&[0; 40]));
        let word = |at: usize, n: usize| {
            let mut w = [0u8; 8];
            if let (Some(dst), Some(src)) = (w.get_mut(..n), b.get(at..at + n)) {
                dst.copy_from_slice(src);
            }
            u64::from_le_bytes(w)
        };
        Self::new(ChunkRef::from_bytes(&r), word(40, 8), word(48, 4) as u32, word(52, 4) as u32)
    }

    /// Checks the header's shape: fanout, depth, and that the depth fits the count.
    ///
    /// # Errors
    /// [`crate::Error::InvalidData`] naming what is wrong.
    pub fn check(&self) -> crate::Result<()> {
        let bad =
            |d: &str| crate::Error::InvalidData { at: self.root.location(), ty: "chunk table", detail: d.to_owned() };
        if !(2..=4096).contains(&self.fanout()) {
            return Err(bad("fanout out of range"));
        }
        if self.depth() == 0
            || self.depth() > MAX_DEPTH
            || self.depth() != depth_for(self.entries(), u64::from(self.fanout()))
        {
            return Err(bad("depth does not fit the entry count"));
        }
        Ok(())
    }

    /// The root node.
    #[must_use]
    pub fn root(&self) -> &ChunkRef {
        &self.root
    }

    /// Number of leaf entries (shards or buckets).
    #[must_use]
    pub fn entries(&self) -> u64 {
        self.entries.to_native()
    }

    /// The entry count as a `usize` (a validated table's count fits: see its `Verify`).
    #[must_use]
    pub fn entries_usize(&self) -> usize {
        usize::try_from(self.entries()).unwrap_or(usize::MAX)
    }

    /// Number of levels.
    #[must_use]
    pub fn depth(&self) -> u32 {
        self.depth.to_native()
    }

    /// Entries per node.
    #[must_use]
    pub fn fanout(&self) -> u32 {
        self.fanout.to_native()
    }

    /// Entries node `node_index` of `level` must hold: level `l` has
    /// `items(l) = ceil(N / fanout^l)` entries in all, `fanout` per node.
    #[must_use]
    pub fn node_len(&self, level: u32, node_index: u64) -> u64 {
        let f = u64::from(self.fanout());
        let items = level_count(self.entries(), f, level);
        items.saturating_sub(node_index.saturating_mul(f)).min(f)
    }

    fn bad(&self, detail: &str) -> Error {
        Error::InvalidData { at: self.root.location(), ty: "chunk table", detail: detail.to_owned() }
    }

    /// Reads node `r` (of `level`, number `index`) and checks its entry count against
    /// the table's shape.
    fn checked<N: NodeBytes>(
        &self,
        r: &ChunkRef,
        level: u32,
        index: u64,
        read: &mut impl FnMut(&ChunkRef) -> Result<N>,
    ) -> Result<N> {
        let node = read(r)?;
        if node.node().len() as u64 != self.node_len(level, index) {
            return Err(self.bad("index node has the wrong number of entries"));
        }
        Ok(node)
    }

    /// The level-0 entry for leaf `s`, reading one node per level with `read`.
    ///
    /// # Errors
    /// When the header is malformed, `s` is out of range, `read` fails, or a node does
    /// not have the shape the header implies.
    pub fn leaf<N: NodeBytes>(&self, s: u64, mut read: impl FnMut(&ChunkRef) -> Result<N>) -> Result<TableEntry> {
        self.check()?;
        if s >= self.entries() {
            return Err(self.bad("leaf index beyond the table"));
        }
        let f = u64::from(self.fanout());
        let mut chunk = self.root;
        let mut level = self.depth() - 1;
        loop {
            let node = self.checked(&chunk, level, div_pow(s, f, level + 1), &mut read)?;
            let pos = usize::try_from(div_pow(s, f, level) % f).unwrap_or(usize::MAX);
            let entry = node.node().get(pos).ok_or_else(|| self.bad("index entry missing"))?;
            if level == 0 {
                return Ok(entry);
            }
            chunk = *entry.chunk();
            level -= 1;
        }
    }

    /// The leaf whose range holds `key` (a vector's element index): descends the table
    /// picking, in each node, the last entry whose `first` is at most `key`. Returns the
    /// leaf's index and entry.
    ///
    /// # Errors
    /// As [`leaf`](Self::leaf).
    pub fn find<N: NodeBytes>(
        &self,
        key: u64,
        mut read: impl FnMut(&ChunkRef) -> Result<N>,
    ) -> Result<(u64, TableEntry)> {
        self.check()?;
        let f = u64::from(self.fanout());
        let mut chunk = self.root;
        let mut level = self.depth() - 1;
        let mut node_index = 0u64;
        loop {
            let node = self.checked(&chunk, level, node_index, &mut read)?;
            let pos = node.node().partition_point(key);
            let entry = pos
                .checked_sub(1)
                .and_then(|p| node.node().get(p))
                .ok_or_else(|| self.bad("key before the table's first entry"))?;
            let index = node_index.saturating_mul(f).saturating_add(pos as u64 - 1);
            if level == 0 {
                return Ok((index, entry));
            }
            node_index = index;
            chunk = *entry.chunk();
            level -= 1;
        }
    }

    /// Every leaf entry, in order, reading each node once.
    ///
    /// # Errors
    /// As [`leaf`](Self::leaf).
    pub fn leaves<N: NodeBytes>(
        &self,
        mut read_level: impl FnMut(&[ChunkRef]) -> Result<Vec<N>>,
    ) -> Result<Vec<TableEntry>> {
        self.check()?;
        // Level by level from the root: each level's entries are the next level's nodes,
        // all read with one call (a bulk read).
        let mut level_entries = vec![TableEntry::new(0, self.root)];
        for level in (0..self.depth()).rev() {
            let mut next = Vec::with_capacity(
                usize::try_from(level_count(self.entries(), u64::from(self.fanout()), level).min(1 << 20)).unwrap_or(0),
            );
            let refs: Vec<ChunkRef> = level_entries.iter().map(|e| *e.chunk()).collect();
            let nodes = read_level(&refs)?;
            if nodes.len() != refs.len() {
                return Err(self.bad("internal: a level's nodes were read partly"));
            }
            for (index, node) in nodes.iter().enumerate() {
                let node = node.node();
                if node.len() as u64 != self.node_len(level, index as u64) {
                    return Err(self.bad("index node has the wrong number of entries"));
                }
                next.extend((0..node.len()).filter_map(|j| node.get(j)));
            }
            level_entries = next;
        }
        if level_entries.len() as u64 != self.entries() {
            return Err(self.bad("the table holds a different number of leaves than it declares"));
        }
        Ok(level_entries)
    }
}

fn div_pow(s: u64, f: u64, exp: u32) -> u64 {
    (0..exp).fold(s, |acc, _| acc / f)
}

/// Builds the index nodes of a table over `leaves`, bottom-up: each level's nodes are
/// handed to `place` in runs of consecutive nodes (`level`, the first node's number,
/// the nodes' entries, whether this is the top level), which writes them and returns
/// their references in order.
///
/// # Errors
/// `place`'s errors, or an internal error when it returns the wrong number of
/// references.
pub fn build(
    leaves: Vec<TableEntry>,
    mut place: impl FnMut(u32, u64, &[&[TableEntry]], bool) -> Result<Vec<ChunkRef>>,
) -> Result<ChunkTable> {
    let count = leaves.len() as u64;
    let fanout = fanout_for(count);
    let f = fanout as usize;
    let depth = depth_for(count, u64::from(fanout));
    // A level's nodes go out a few MiB at a time.
    let per_run = ((4usize << 20) / (f * ENTRY_LEN).max(1)).max(1);
    let mut level = leaves;
    for l in 0..depth {
        let groups: Vec<&[TableEntry]> = if level.is_empty() { vec![&[]] } else { level.chunks(f).collect() };
        let top = l + 1 == depth;
        let mut next = Vec::with_capacity(groups.len());
        for (r, run) in groups.chunks(per_run).enumerate() {
            let refs = place(l, (r * per_run) as u64, run, top)?;
            if refs.len() != run.len() {
                return Err(Error::Serialize(String::from("internal: a table level was placed partly")));
            }
            next.extend(
                run.iter()
                    .zip(refs)
                    .map(|(group, node)| TableEntry::new(group.first().map_or(0, TableEntry::first), node)),
            );
        }
        level = next;
    }
    let root =
        level.first().map(|e| *e.chunk()).ok_or_else(|| Error::Serialize(String::from("internal: empty table")))?;
    Ok(ChunkTable::new(root, count, depth, fanout))
}

/// How many entries all nodes of `level` hold together: `N` at level 0, and at level
/// `l + 1` one per node of level `l`.
#[must_use]
pub fn level_count(entries: u64, fanout: u64, level: u32) -> u64 {
    let mut n = entries;
    for _ in 0..level {
        n = n.div_ceil(fanout.max(2));
    }
    n
}

/// The fanout the writer gives a table of `entries` leaves: one level up to [`FANOUT`]
/// leaves, else the least depth that nodes of at most [`MAX_FANOUT`] entries allow
/// (each level is one dependent read on a cold file or a remote one), with the
/// narrowest nodes that keep that depth (a warm lookup checksums and copies whole
/// nodes: 2,500 buckets make two levels of 50 entries, not 5 and 512). A single-node
/// table keeps [`FANOUT`]: its one node holds every entry whatever the fanout says.
#[must_use]
pub fn fanout_for(entries: u64) -> u32 {
    if entries <= u64::from(FANOUT) {
        return FANOUT;
    }
    let max = u64::from(MAX_FANOUT);
    let depth = depth_for(entries, max).max(2);
    // The least `f` with `f^depth >= entries` (so `depth_for(entries, f) == depth`):
    // start from the float root and step to the exact integer.
    let mut f = ((entries as f64).powf(1.0 / f64::from(depth)).floor() as u64).clamp(2, max);
    while f < max && depth_for(entries, f) > depth {
        f += 1;
    }
    while f > 2 && depth_for(entries, f - 1) == depth {
        f -= 1;
    }
    u32::try_from(f).unwrap_or(MAX_FANOUT)
}

/// The depth a table of `entries` leaves needs with `fanout`.
#[must_use]
pub fn depth_for(entries: u64, fanout: u64) -> u32 {
    let mut depth = 1;
    let mut n = entries;
    while n > fanout {
        n = n.div_ceil(fanout);
        depth += 1;
    }
    depth
}

#[derive(Debug)]
struct BadTable(&'static str);
impl std::fmt::Display for BadTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for BadTable {}

// SAFETY: reads only the type-checked fields of `self`, rejecting shapes the reader
// must never see (depth or fanout out of range, or a depth that does not fit N).
unsafe impl<C> bytecheck::Verify<C> for ChunkTable
where
    C: rancor::Fallible + ?Sized,
    C::Error: rancor::Source,
{
    fn verify(&self, _context: &mut C) -> Result<(), C::Error> {
        let fanout = self.fanout();
        let problem = if !(2..=4096).contains(&fanout) {
            Some("chunk table fanout out of range")
        } else if self.depth() == 0 || self.depth() > MAX_DEPTH {
            Some("chunk table depth out of range")
        } else if self.depth() != depth_for(self.entries(), u64::from(fanout)) {
            Some("chunk table depth does not fit its entry count")
        } else if usize::try_from(self.entries()).is_err() {
            Some("chunk table entry count too large for this platform")
        } else {
            None
        };
        match problem {
            Some(p) => Err(<C::Error as rancor::Source>::new(BadTable(p))),
            None => Ok(()),
        }
    }
}

impl rkyv::Archive for TableEntry {
    type Archived = TableEntry;
    type Resolver = ();

    fn resolve(&self, (): (), out: rkyv::Place<Self>) {
        out.write(*self);
    }
}

impl<S: rancor::Fallible + ?Sized> rkyv::Serialize<S> for TableEntry {
    fn serialize(&self, _: &mut S) -> Result<(), S::Error> {
        Ok(())
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
