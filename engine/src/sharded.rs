//! Sharded vectors: `#[strata(shard)]` on a `Vec<T>` field.
//!
//! The vector is cut into shards of about `shard_bytes` serialized bytes (128 KiB by
//! default). Each shard is a chunk holding an rkyv `Vec<T>`; a [chunk
//! table](crate::format::table) lists them. Reading element `i` reads the table path to
//! its shard and that one shard, verified and validated once per open archive.

use crate::archive::{Inner, Reach, owned_view};
use crate::error::{Error, Result};
use crate::format::table::{ChunkTable, TableEntry};
use crate::{Persist, registry};
use rayon::prelude::*;
use rkyv::Archived;
use rkyv::rend::u64_le;
use rkyv::vec::ArchivedVec;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::Arc;

/// Default target size of a shard, in serialized bytes.
pub const DEFAULT_SHARD_BYTES: u64 = 128 * 1024;

/// The archived form of a `#[strata(shard)]` `Vec<T>`: 64 bytes inline in the parent
/// (the chunk table header and the element count). No I/O until an element is read.
///
/// ```
/// use strata::{Archive, Persist};
///
/// #[derive(Persist)]
/// struct Log {
///     #[strata(shard)]
///     lines: Vec<String>,
/// }
///
/// let log = Log { lines: (0..100_000).map(|i| format!("line {i}")).collect() };
/// let archive = Archive::from_bytes(strata::to_bytes(&log)?)?;
/// let lines = &archive.root::<Log>()?.lines;
/// assert_eq!(lines.len(), 100_000);
/// assert!(lines.shard_count() > 1);
/// assert_eq!(lines.get(54_321)?.unwrap().as_str(), "line 54321"); // one shard read
/// assert!(lines.get(100_000)?.is_none());
/// let some: Vec<String> = lines.range(10..13).map(|e| e.map(|s| s.to_string())).collect::<Result<_, _>>()?;
/// assert_eq!(some, ["line 10", "line 11", "line 12"]);
/// assert_eq!(lines.load()?, log.lines);                             // shards in parallel
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(rkyv::Portable, bytecheck::CheckBytes)]
#[rkyv(crate = rkyv)]
#[bytecheck(crate = bytecheck)]
#[repr(C)]
pub struct ShardedVec<T> {
    table: ChunkTable,
    len: u64_le,
    _type: PhantomData<T>,
}

// SAFETY: `repr(C)`: a padding-free 56-byte `ChunkTable`, a u64, and a ZST: no padding.
unsafe impl<T> rkyv::traits::NoUndef for ShardedVec<T> {}

impl<T> ShardedVec<T> {
    pub(crate) fn new(table: ChunkTable, len: u64) -> Self {
        Self { table, len: u64_le::from_native(len), _type: PhantomData }
    }

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len.to_native()
    }

    /// Whether the vector is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of shards.
    #[must_use]
    pub fn shard_count(&self) -> u64 {
        self.table.entries()
    }

    /// The chunk table locating the shards.
    #[must_use]
    pub fn table(&self) -> &ChunkTable {
        &self.table
    }
}

impl<T> std::fmt::Debug for ShardedVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedVec").field("len", &self.len()).field("shards", &self.shard_count()).finish()
    }
}

/// An element of a sharded vector, read in place: derefs to the archived element.
pub struct Elem<'a, T: Persist> {
    value: &'a Archived<T>,
}

impl<T: Persist> std::ops::Deref for Elem<'_, T> {
    type Target = Archived<T>;
    fn deref(&self) -> &Archived<T> {
        self.value
    }
}

impl<'a, T: Persist> Elem<'a, T> {
    /// The archived element, with the lifetime of the archive borrow.
    #[must_use]
    pub fn get(&self) -> &'a Archived<T> {
        self.value
    }
}

impl<T: Persist> std::fmt::Debug for Elem<'_, T>
where
    Archived<T>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: Persist> ShardedVec<T> {
    fn owner(&self) -> Result<Arc<Inner>> {
        registry::owner_of(self).ok_or(Error::Detached)
    }

    /// Element `i`, reading only the shard that holds it, or `None` past the end. The
    /// shard is checksum-verified once per open archive. The first reads of a shard
    /// validate only the element they read; a shard read more often is validated whole,
    /// once, and later reads are cache lookups.
    ///
    /// # Errors
    /// When the shard or the table path to it is damaged.
    pub fn get(&self, i: u64) -> Result<Option<Elem<'_, T>>> {
        if i >= self.len() {
            return Ok(None);
        }
        let value = owned_view(self, |inner| {
            let (_, entry) = inner.table_find(&self.table, i)?;
            let k = i.checked_sub(entry.first()).ok_or_else(|| bad(self, "shard table out of order"))?;
            inner
                .vec_element::<Archived<T>>(entry.chunk(), k)?
                .ok_or_else(|| bad(self, "element missing from the shard that should hold it"))
        })?;
        Ok(Some(Elem { value }))
    }

    /// The shard holding element `i`: its first element's index and its elements.
    fn locate(&self, i: u64) -> Result<(u64, &[Archived<T>])> {
        let first = std::cell::Cell::new(0);
        let slice = owned_view(self, |inner| {
            let (_, entry) = inner.table_find(&self.table, i)?;
            first.set(entry.first());
            let shard = inner.view_chunk::<ArchivedVec<Archived<T>>>(entry.chunk(), Reach::Bulk)?;
            if i < entry.first() {
                return Err(bad(self, "shard table out of order"));
            }
            Ok(shard.as_slice())
        })?;
        Ok((first.get(), slice))
    }

    /// The chunk reference of shard `s` (reads the table path only, not the shard).
    ///
    /// # Errors
    /// When `s` is out of range or the table is damaged.
    pub fn shard_chunk(&self, s: u64) -> Result<crate::format::ChunkRef> {
        if s >= self.shard_count() {
            return Err(bad(self, "shard index out of range"));
        }
        let owner = self.owner()?;
        Ok(*owner.table_leaf(&self.table, s)?.chunk())
    }

    /// Shard `s` as a slice of archived elements (`s < shard_count()`).
    ///
    /// # Errors
    /// When `s` is out of range or the shard is damaged.
    pub fn shard(&self, s: u64) -> Result<&[Archived<T>]> {
        owned_view(self, |inner| Ok(self.shard_at(inner, s)?.1.as_slice()))
    }

    /// Elements `range.start..range.end` (clamped to the length), streamed shard by
    /// shard: one shard is read at a time.
    #[must_use]
    pub fn range(&self, range: Range<u64>) -> Iter<'_, T> {
        let end = range.end.min(self.len());
        Iter { vec: self, next: range.start.min(end), end, shard: None }
    }

    /// All elements, streamed shard by shard.
    #[must_use]
    pub fn iter(&self) -> Iter<'_, T> {
        self.range(0..self.len())
    }

    /// The whole vector, owned: every shard verified, validated and deserialized in
    /// parallel straight into one preallocated vector.
    ///
    /// # Errors
    /// When any shard or the table is damaged.
    pub fn load(&self) -> Result<Vec<T>> {
        let owner = self.owner()?;
        let inner: &Inner = &owner;
        let _nest = crate::parallel::nest(*self.table.root())?;
        let depth = crate::parallel::depth();
        let leaves = self.leaves(inner)?;
        inner.will_need(&leaves);
        let shards: Vec<&ArchivedVec<Archived<T>>> = leaves
            .par_iter()
            .map(|e| inner.view_chunk::<ArchivedVec<Archived<T>>>(e.chunk(), Reach::Bulk))
            .collect::<Result<_>>()?;
        // Check the table against the shards before allocating anything.
        let mut expected_first = 0u64;
        for (e, shard) in leaves.iter().zip(&shards) {
            if e.first() != expected_first {
                return Err(bad(self, "shard table and shard lengths disagree"));
            }
            expected_first = expected_first.saturating_add(shard.len() as u64);
        }
        if expected_first != self.len() {
            return Err(bad(self, "shards hold a different number of elements than the vector declares"));
        }
        let len = usize::try_from(self.len()).map_err(|_| bad(self, "vector too long for this platform"))?;
        let mut out: Vec<T> = Vec::with_capacity(len);
        // Split the spare capacity into one region per shard, in order.
        fn regions<'a, T>(out: &'a mut Vec<T>, len: usize, lens: &[usize]) -> Vec<&'a mut [MaybeUninit<T>]> {
            let mut rest = out.spare_capacity_mut().get_mut(..len).unwrap_or_default();
            let mut regions = Vec::with_capacity(lens.len());
            for &n in lens {
                let n = n.min(rest.len());
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(n);
                regions.push(head);
                rest = tail;
            }
            regions
        }
        let lens: Vec<usize> = shards.iter().map(|s| s.len()).collect();
        let outcomes: Vec<Result<usize>> = regions(&mut out, len, &lens)
            .into_par_iter()
            .zip(shards.par_iter())
            .map(|(region, shard)| {
                crate::parallel::at_depth(depth, || {
                    let mut pool = rkyv::de::Pool::new();
                    let mut written = 0usize;
                    for (slot, elem) in region.iter_mut().zip(shard.iter()) {
                        match rkyv::api::deserialize_using::<T, _, Error>(elem, &mut pool) {
                            Ok(v) => {
                                slot.write(v);
                                written += 1;
                            }
                            Err(e) => {
                                for slot in region.get_mut(..written).unwrap_or_default() {
                                    // SAFETY: the first `written` slots of this region
                                    // were written just above, and are dropped once.
                                    unsafe { slot.assume_init_drop() };
                                }
                                return Err(e);
                            }
                        }
                    }
                    Ok(written)
                })
            })
            .collect();
        let written: usize = outcomes.iter().map(|o| o.as_ref().map_or(0, |w| *w)).sum();
        if let Some(failed) = outcomes.iter().position(Result::is_err).or((written != len).then_some(usize::MAX)) {
            // Drop what the regions that completed hold; the failed ones dropped theirs.
            for (region, outcome) in regions(&mut out, len, &lens).into_iter().zip(&outcomes) {
                if let Ok(w) = outcome {
                    for slot in region.get_mut(..*w).unwrap_or_default() {
                        // SAFETY: a region whose pass succeeded wrote its first `w`
                        // slots (it reported them); each is dropped once.
                        unsafe { slot.assume_init_drop() };
                    }
                }
            }
            return Err(outcomes
                .into_iter()
                .nth(failed)
                .and_then(Result::err)
                .unwrap_or_else(|| bad(self, "shards decoded to fewer elements than the vector holds")));
        }
        // SAFETY: the regions are disjoint, consecutive parts of `out`'s first `len`
        // slots, each pass wrote the first `w` slots of its region and reported `w`, and
        // the reports sum to `len`, so regions were full and every slot in `0..len` was
        // written exactly once.
        unsafe { out.set_len(len) };
        Ok(out)
    }

    /// Every leaf entry of the table, in order.
    fn leaves(&self, inner: &Inner) -> Result<Vec<TableEntry>> {
        let n = self.shard_count();
        let f = u64::from(self.table.fanout()).max(1);
        let mut out = Vec::with_capacity(usize::try_from(n.min(1 << 20)).unwrap_or(0));
        let mut s = 0;
        while s < n {
            out.extend_from_slice(inner.table_node_of(&self.table, s)?);
            s += f;
        }
        if out.len() as u64 != n {
            return Err(bad(self, "chunk table holds a different number of shards than it declares"));
        }
        Ok(out)
    }

    fn shard_at<'a>(&self, inner: &'a Inner, s: u64) -> Result<(u64, &'a ArchivedVec<Archived<T>>)> {
        if s >= self.shard_count() {
            return Err(bad(self, "shard index out of range"));
        }
        let entry = inner.table_leaf(&self.table, s)?;
        let shard = inner.view_chunk::<ArchivedVec<Archived<T>>>(entry.chunk(), Reach::Bulk)?;
        Ok((entry.first(), shard))
    }
}

fn bad<T>(v: &ShardedVec<T>, detail: &str) -> Error {
    Error::InvalidData { at: v.table.root().location(), ty: "sharded vector", detail: detail.to_owned() }
}

/// A streaming iterator over a range of a sharded vector; holds one shard at a time.
pub struct Iter<'a, T: Persist> {
    vec: &'a ShardedVec<T>,
    next: u64,
    end: u64,
    shard: Option<(u64, &'a [Archived<T>])>,
}

impl<'a, T: Persist> Iterator for Iter<'a, T> {
    type Item = Result<Elem<'a, T>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let i = self.next;
        if let Some((first, slice)) = self.shard
            && let Some(value) = slice.get(usize::try_from(i - first).unwrap_or(usize::MAX))
        {
            self.next += 1;
            return Some(Ok(Elem { value }));
        }
        match self.vec.locate(i) {
            Ok((first, slice)) => match slice.get(usize::try_from(i - first).unwrap_or(usize::MAX)) {
                Some(value) => {
                    self.shard = Some((first, slice));
                    self.next += 1;
                    Some(Ok(Elem { value }))
                }
                None => {
                    self.next = self.end;
                    Some(Err(bad(self.vec, "element missing from the shard that should hold it")))
                }
            },
            Err(e) => {
                self.next = self.end;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.end - self.next).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}
