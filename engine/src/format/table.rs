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

use super::chunk_ref::ChunkRef;
use rkyv::rend::{u32_le, u64_le};

/// The most entries per index node this version writes: 512 x 48 bytes = 24 KiB. A
/// lookup reads one node per level, and cold, each level is a dependent disk read: with
/// 512, two levels address 262,144 shards or buckets (a 32 GiB vector in 128 KiB
/// shards). Tables that need fewer per node get narrower nodes ([`fanout_for`]).
pub const FANOUT: u32 = 512;

/// Deepest table a reader accepts (64^10 leaves is far beyond any file).
pub const MAX_DEPTH: u32 = 10;

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

/// The fanout the writer gives a table of `entries` leaves: the depth stays the least
/// that nodes of at most [`FANOUT`] entries allow (each level is one dependent read on
/// a cold file), and the nodes are the narrowest that keep that depth (a warm lookup
/// checksums and copies whole nodes: 2,500 buckets make two levels of 50 entries, not
/// 5 and 512). A single-node table keeps [`FANOUT`]: its one node holds every entry
/// whatever the fanout says.
#[must_use]
pub fn fanout_for(entries: u64) -> u32 {
    let max = u64::from(FANOUT);
    let depth = depth_for(entries, max);
    if depth <= 1 {
        return FANOUT;
    }
    // The least `f` with `f^depth >= entries` (so `depth_for(entries, f) == depth`):
    // start from the float root and step to the exact integer.
    let mut f = ((entries as f64).powf(1.0 / f64::from(depth)).floor() as u64).clamp(2, max);
    while f < max && depth_for(entries, f) > depth {
        f += 1;
    }
    while f > 2 && depth_for(entries, f - 1) == depth {
        f -= 1;
    }
    u32::try_from(f).unwrap_or(FANOUT)
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
mod tests {
    use super::{FANOUT, depth_for, fanout_for};

    #[test]
    fn the_writers_fanout_keeps_the_least_depth_with_the_narrowest_nodes() {
        let max = u64::from(FANOUT);
        let counts = (0..5_000u64).chain((5_000..1_000_000).step_by(997)).chain([max * max, max * max + 1, 1 << 40]);
        for n in counts {
            let f = u64::from(fanout_for(n));
            let depth = depth_for(n, max);
            assert!((2..=max).contains(&f), "{n}: fanout {f}");
            assert_eq!(depth_for(n, f), depth, "{n}: fanout {f} changes the depth");
            if depth > 1 {
                assert!(f == 2 || depth_for(n, f - 1) > depth, "{n}: fanout {f} is not the narrowest");
            } else {
                assert_eq!(f, max, "{n}: a single node keeps the default fanout");
            }
        }
        assert_eq!(fanout_for(2_500), 50);
    }
}
