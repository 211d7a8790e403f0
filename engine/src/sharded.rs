//! Sharded vectors: `#[strata(shard)]` on a `Vec<T>` field.
//!
//! The vector is cut into shards of about `shard_bytes` serialized bytes. Each shard is
//! a chunk holding an rkyv `Vec<T>`; a [chunk table](crate::raw::format::table) lists
//! them. Reading element `i` reads the table path to its shard and that one shard,
//! verified and validated once while the archive holds it.

use crate::error::{Error, Result};
use crate::evolve::{Element, Evolved, Origin};
use crate::format::table::{ChunkTable, TableHeader};
use crate::load::{Context, Prefetch};
use crate::store::fill::Filler;
use crate::store::{Holds, Keep, Store, View};
use crate::{Persist, persist};
use rkyv::Archived;
use rkyv::vec::ArchivedVec;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Arc;

/// Default target size of a shard, in serialized bytes.
pub const DEFAULT_SHARD_BYTES: u64 = 32 * 1024;

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
    header: TableHeader,
    _type: PhantomData<T>,
}

// SAFETY: `repr(C)`: a padding-free 64-byte `TableHeader` and a ZST: no padding.
unsafe impl<T> rkyv::traits::NoUndef for ShardedVec<T> {}

impl<T> ShardedVec<T> {
    pub(crate) fn new(header: TableHeader) -> Self {
        Self { header, _type: PhantomData }
    }

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.header.len()
    }

    /// Whether the vector is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of shards.
    #[must_use]
    pub fn shard_count(&self) -> u64 {
        self.table().entries()
    }

    /// The chunk table locating the shards.
    #[must_use]
    pub fn table(&self) -> &ChunkTable {
        self.header.table()
    }
}

impl<T> std::fmt::Debug for ShardedVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedVec").field("len", &self.len()).field("shards", &self.shard_count()).finish()
    }
}

/// An element of a sharded vector, read in place: derefs to the archived element. It
/// holds its shard, so it stays valid on its own.
pub struct Elem<T: Persist> {
    view: View<Archived<T>>,
    _type: PhantomData<T>,
}

impl<T: Persist> Elem<T> {
    fn new(view: View<Archived<T>>) -> Self {
        Self { view, _type: PhantomData }
    }

    /// The archived element.
    #[must_use]
    pub fn get(&self) -> &Archived<T> {
        &self.view
    }

    /// The element as a [`View`] (the same shard, shared).
    #[must_use]
    pub fn view(&self) -> View<Archived<T>> {
        self.view.clone()
    }
}

impl<T: Persist> std::ops::Deref for Elem<T> {
    type Target = Archived<T>;
    fn deref(&self) -> &Archived<T> {
        &self.view
    }
}

impl<T: Persist> Clone for Elem<T> {
    fn clone(&self) -> Self {
        Self::new(self.view.clone())
    }
}

impl<T: Persist> std::fmt::Debug for Elem<T>
where
    Archived<T>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.view.fmt(f)
    }
}

/// Whether shards of `T` hold lazy fields.
fn holds<T: Persist>() -> Holds {
    Holds::of(!persist::is_leaf::<T>())
}

impl<T: Persist> ShardedVec<T> {
    /// The archive this vector was read from, and the plan its shards are read
    /// through when the file's elements have another layout.
    fn origin(&self) -> Result<(Arc<Store>, Option<Evolved>)> {
        Ok(match crate::evolve::origin(self)? {
            Origin::Native(store) => (store, None),
            Origin::Evolved(store, evolved) => (store, Some(evolved)),
        })
    }

    fn bad(&self, detail: &str) -> Error {
        Error::InvalidData { at: self.table().root().location(), ty: "sharded vector", detail: detail.to_owned() }
    }

    /// Element `i`, reading only the shard that holds it, or `None` past the end. The
    /// shard is checksum-verified once while the archive holds it. The first reads of
    /// a shard validate only the element they read; a shard read more often is
    /// validated whole, once, and later reads are lookups.
    ///
    /// # Errors
    /// When the shard or the table path to it is damaged.
    pub fn get(&self, i: u64) -> Result<Option<Elem<T>>> {
        if i >= self.len() {
            return Ok(None);
        }
        let (store, evolved) = self.origin()?;
        let (_, entry) = store.table_find(self.table(), i)?;
        let k = i.checked_sub(entry.first()).ok_or_else(|| self.bad("shard table out of order"))?;
        let missing = || self.bad("element missing from the shard that should hold it");
        let view = match evolved {
            None => store.element::<Archived<T>>(entry.chunk(), k, holds::<T>())?.ok_or_else(missing)?,
            Some(evolved) => match evolved.element(&store, entry.chunk(), k)?.ok_or_else(missing)? {
                Element::One(chunk) => store.view_of::<Archived<T>>(chunk)?,
                Element::Whole(chunk) => {
                    let vec = store.view_of::<ArchivedVec<Archived<T>>>(chunk)?;
                    let k = usize::try_from(k).unwrap_or(usize::MAX);
                    View::try_map(vec, |v| v.get(k).ok_or(())).map_err(|()| missing())?
                }
            },
        };
        Ok(Some(Elem::new(view)))
    }

    /// The chunk reference of shard `s` (reads the table path only, not the shard).
    ///
    /// # Errors
    /// When `s` is out of range or the table is damaged.
    pub fn shard_chunk(&self, s: u64) -> Result<crate::format::ChunkRef> {
        Ok(*self.origin()?.0.table_leaf(self.table(), s)?.chunk())
    }

    /// Shard `s` (`s < shard_count()`): its first element's index and its elements.
    ///
    /// # Errors
    /// When `s` is out of range or the shard is damaged.
    pub fn shard(&self, s: u64) -> Result<(u64, View<[Archived<T>]>)> {
        let (store, evolved) = self.origin()?;
        let entry = store.table_leaf(self.table(), s)?;
        let vec = self.shard_view(&store, evolved.as_ref(), entry.chunk(), Keep::Yes)?;
        Ok((entry.first(), View::map(vec, ArchivedVec::as_slice)))
    }

    /// The shard `r` as a vector of the reader's elements: read in place, or
    /// transcoded through the plan.
    fn shard_view(
        &self,
        store: &Store,
        evolved: Option<&Evolved>,
        r: &crate::format::ChunkRef,
        keep: Keep,
    ) -> Result<View<ArchivedVec<Archived<T>>>> {
        match evolved {
            None => store.view::<ArchivedVec<Archived<T>>>(r, keep, holds::<T>()),
            Some(evolved) => store.view_of::<ArchivedVec<Archived<T>>>(evolved.chunk(store, r, keep)?),
        }
    }

    /// The shard holding element `i` (read in bulk, not kept by the cache): its first
    /// element's index and its elements.
    fn locate(&self, i: u64) -> Result<(u64, View<[Archived<T>]>)> {
        let (store, evolved) = self.origin()?;
        let (_, entry) = store.table_find(self.table(), i)?;
        if i < entry.first() {
            return Err(self.bad("shard table out of order"));
        }
        let vec = self.shard_view(&store, evolved.as_ref(), entry.chunk(), Keep::No)?;
        Ok((entry.first(), View::map(vec, ArchivedVec::as_slice)))
    }

    /// Elements `range.start..range.end` (clamped to the length), streamed shard by
    /// shard: one shard is held at a time.
    #[must_use]
    pub fn range(&self, range: Range<u64>) -> Iter<'_, T> {
        let end = range.end.min(self.len());
        Iter { vec: self, next: range.start.min(end), end, shard: None, one_by_one: None }
    }

    /// All elements, streamed shard by shard.
    #[must_use]
    pub fn iter(&self) -> Iter<'_, T> {
        self.range(0..self.len())
    }

    /// The whole vector, owned: shards read a window at a time (adjacent shards with
    /// one read), verified, validated and deserialized in parallel straight into one
    /// preallocated vector.
    ///
    /// # Errors
    /// When any shard or the table is damaged.
    pub fn load(&self) -> Result<Vec<T>> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let (store, evolved) = self.origin()?;
        let _nest = crate::load::nest(*self.table().root())?;
        let context = Context::here().with_max_depth(store.limits().max_depth);
        let leaves = store.table_leaves(self.table())?;
        // Each shard's length, from the table: checked against the shards' own lengths
        // as they are decoded, and bounded by their sizes before anything is allocated
        // (every element takes at least its archived size in its shard).
        let elem_size = match &evolved {
            None => size_of::<Archived<T>>() as u64,
            Some(evolved) => evolved.file_size()?,
        };
        let mut lens = Vec::with_capacity(leaves.len());
        for (j, e) in leaves.iter().enumerate() {
            let end = leaves.get(j + 1).map_or(self.len(), |n| n.first());
            let n = end.checked_sub(e.first()).filter(|_| j > 0 || e.first() == 0);
            let n = n.ok_or_else(|| self.bad("shard table out of order"))?;
            let bytes = n.saturating_mul(elem_size);
            if bytes > e.chunk().raw_len() {
                return Err(self.bad("a shard cannot hold the elements the table gives it"));
            }
            lens.push(usize::try_from(n).map_err(|_| self.bad("vector too long for this platform"))?);
        }
        if leaves.is_empty() {
            return Err(self.bad("a vector with elements and no shards"));
        }
        let refs: Vec<crate::format::ChunkRef> = leaves.iter().map(|e| *e.chunk()).collect();
        if let (Some(first), Some(last)) = (refs.first(), refs.last()) {
            store.will_need(first.offset(), last.offset().saturating_add(last.stored_len()));
        }
        let mut filler = Filler::<T>::new(&lens, store.limits().max_raw)?;
        let holds = if evolved.is_some() { Holds::Nothing } else { holds::<T>() };
        store.windowed(&refs, holds, crate::store::BULK_WINDOW, |first, chunks| {
            let bytes: u64 = chunks.iter().map(|c| c.bytes().len() as u64).sum();
            let parallel = chunks.len() > 1 && bytes >= crate::store::PARALLEL_MIN;
            filler.fill(first, &chunks, parallel, |chunk, region| {
                context.run(|| {
                    let chunk = match &evolved {
                        None => Arc::clone(chunk),
                        Some(evolved) => evolved.whole(&store, Arc::clone(chunk))?,
                    };
                    let shard = store.view_of::<ArchivedVec<Archived<T>>>(chunk)?;
                    if shard.len() != region.len() {
                        return Err(self.bad("a shard holds a different number of elements than the table says"));
                    }
                    let mut pool = rkyv::de::Pool::new();
                    for elem in shard.iter() {
                        region.push(rkyv::api::deserialize_using::<T, _, Error>(elem, &mut pool)?);
                    }
                    Ok(())
                })
            })
        })?;
        filler.finish()
    }
}

/// A streaming iterator over a range of a sharded vector; holds one shard at a time.
pub struct Iter<'a, T: Persist> {
    vec: &'a ShardedVec<T>,
    next: u64,
    end: u64,
    shard: Option<(u64, View<[Archived<T>]>)>,
    /// A shard that cannot be read whole through a plan (it holds a value the reader
    /// cannot represent): its elements are read one by one.
    one_by_one: Option<crate::format::ChunkRef>,
}

impl<T: Persist> Iter<'_, T> {
    /// Element `i`, read alone when it lies in the shard `one_by_one`.
    fn alone(&mut self, i: u64) -> Option<Result<Elem<T>>> {
        let shard = |vec: &ShardedVec<T>| -> Result<crate::format::ChunkRef> {
            let (store, _) = vec.origin()?;
            Ok(*store.table_find(vec.table(), i)?.1.chunk())
        };
        let r = match shard(self.vec) {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        if self.one_by_one.is_some_and(|bad| bad != r) {
            return None;
        }
        self.one_by_one = Some(r);
        self.next += 1;
        let missing = || self.vec.bad("element missing from the shard that should hold it");
        Some(self.vec.get(i).and_then(|e| e.ok_or_else(missing)))
    }
}

impl<T: Persist> Iterator for Iter<'_, T> {
    type Item = Result<Elem<T>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let i = self.next;
        let holds_i = |(first, slice): &(u64, View<[Archived<T>]>)| i >= *first && i - first < slice.len() as u64;
        if !self.shard.as_ref().is_some_and(holds_i)
            && self.one_by_one.is_some()
            && let Some(alone) = self.alone(i)
        {
            return Some(alone);
        }
        let held = self.shard.as_ref().filter(|s| holds_i(s));
        let (first, slice) = match held {
            Some(s) => s.clone(),
            None => match self.vec.locate(i) {
                Ok(s) => {
                    self.shard = Some(s.clone());
                    s
                }
                // A shard read through a plan that holds a value the reader cannot
                // represent: its elements are read one by one.
                Err(Error::UnknownVariant { .. }) => {
                    self.one_by_one = None;
                    return self.alone(i);
                }
                Err(e) => {
                    self.next = self.end;
                    return Some(Err(e));
                }
            },
        };
        let k = usize::try_from(i - first).unwrap_or(usize::MAX);
        match View::try_map(slice, |s| s.get(k).ok_or(())) {
            Ok(view) => {
                self.next += 1;
                Some(Ok(Elem::new(view)))
            }
            Err(()) => {
                self.next = self.end;
                Some(Err(self.vec.bad("element missing from the shard that should hold it")))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.end - self.next).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

/// Lists a sharded vector for a load's parallel phase. Not part of the public API.
#[doc(hidden)]
pub fn prefetch<T: Persist>(vec: &ShardedVec<T>) -> Prefetch<'_> {
    Prefetch::new(vec, vec.len().saturating_mul(size_of::<Archived<T>>() as u64), ShardedVec::load)
}
