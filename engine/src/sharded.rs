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
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

pub use crate::write::{DEFAULT_COMPRESSED_SHARD_BYTES, DEFAULT_SHARD_BYTES};

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
    _type: PhantomData<fn() -> T>,
}

// SAFETY: `repr(C)`: a padding-free 64-byte `TableHeader` and a ZST: no padding.
unsafe impl<T> rkyv::traits::NoUndef for ShardedVec<T> {}

impl<T> ShardedVec<T> {
    pub(crate) fn new(header: TableHeader) -> Self {
        Self { header, _type: PhantomData }
    }

    /// The vector's header: its table and element count.
    pub(crate) fn header(&self) -> TableHeader {
        self.header
    }

    /// Number of elements, as the file declares it (the shards prove it as they are
    /// read).
    #[must_use]
    pub fn len(&self) -> usize {
        self.header.len_usize()
    }

    /// Whether the vector is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.header.len() == 0
    }

    /// Number of shards.
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.table().entries_usize()
    }

    /// The chunk table locating the shards.
    #[must_use]
    pub fn table(&self) -> &ChunkTable {
        self.header.table()
    }
}

impl<T> std::fmt::Debug for ShardedVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedVec").field("len", &self.header.len()).field("shards", &self.shard_count()).finish()
    }
}

/// An element of a sharded vector, read in place: derefs to the archived element. It
/// holds its shard, so it stays valid on its own.
pub struct Elem<T: Persist + Send + Sync> {
    view: View<Archived<T>>,
    _type: PhantomData<fn() -> T>,
}

impl<T: Persist + Send + Sync> Elem<T> {
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

    /// The element as an owned `T`, with the lazy fields it holds loaded.
    ///
    /// ```
    /// # #[derive(strata::Persist, Debug, PartialEq)] struct Point { x: i32, label: String }
    /// # #[derive(strata::Persist)] struct Plot { #[strata(shard)] points: Vec<Point> }
    /// let plot = Plot { points: vec![Point { x: 1, label: "a".into() }, Point { x: 2, label: "b".into() }] };
    /// let archive = strata::Archive::from_bytes(strata::to_bytes(&plot)?)?;
    /// let points = &archive.root::<Plot>()?.points;
    /// assert_eq!(points.last()?.map(|p| p.load()).transpose()?, Some(Point { x: 2, label: "b".into() }));
    /// # Ok::<(), strata::Error>(())
    /// ```
    ///
    /// # Errors
    /// When a lazy field inside cannot be loaded.
    pub fn load(&self) -> Result<T> {
        crate::load::deserialize_here::<T>(&self.view)
    }
}

impl<T: Persist + Send + Sync, B: ?Sized> PartialEq<B> for Elem<T>
where
    Archived<T>: PartialEq<B>,
{
    fn eq(&self, other: &B) -> bool {
        *self.get() == *other
    }
}

impl<T: Persist + Send + Sync> std::ops::Deref for Elem<T> {
    type Target = Archived<T>;
    fn deref(&self) -> &Archived<T> {
        &self.view
    }
}

impl<T: Persist + Send + Sync> Clone for Elem<T> {
    fn clone(&self) -> Self {
        Self::new(self.view.clone())
    }
}

impl<T: Persist + Send + Sync> std::fmt::Debug for Elem<T>
where
    Archived<T>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.view.fmt(f)
    }
}

/// Whether shards of `T` hold lazy fields.
fn holds<T: Persist + Send + Sync>() -> Holds {
    Holds::of(!persist::is_leaf::<T>())
}

impl<T: Persist + Send + Sync> ShardedVec<T> {
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
    pub fn get(&self, i: usize) -> Result<Option<Elem<T>>> {
        self.element(i as u64)
    }

    /// The first element, or `None` when the vector is empty; see [`get`](Self::get).
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn first(&self) -> Result<Option<Elem<T>>> {
        self.element(0)
    }

    /// The last element, or `None` when the vector is empty; see [`get`](Self::get).
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn last(&self) -> Result<Option<Elem<T>>> {
        match self.header.len().checked_sub(1) {
            Some(i) => self.element(i),
            None => Ok(None),
        }
    }

    fn element(&self, i: u64) -> Result<Option<Elem<T>>> {
        if i >= self.header.len() {
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
    pub fn shard_chunk(&self, s: usize) -> Result<crate::format::ChunkRef> {
        Ok(*self.origin()?.0.table_leaf(self.table(), s as u64)?.chunk())
    }

    /// Shard `s` (`s < shard_count()`): its first element's index and its elements.
    ///
    /// # Errors
    /// When `s` is out of range or the shard is damaged.
    pub fn shard(&self, s: usize) -> Result<(usize, View<[Archived<T>]>)> {
        let (store, evolved) = self.origin()?;
        let entry = store.table_leaf(self.table(), s as u64)?;
        let first = usize::try_from(entry.first()).map_err(|_| self.bad("shard table out of order"))?;
        let vec = self.shard_view(&store, evolved.as_ref(), entry.chunk(), Keep::Yes)?;
        Ok((first, View::map(vec, ArchivedVec::as_slice)))
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

    /// The elements of `range` (`2..5`, `10..`, `..=7`, clamped to the length),
    /// streamed shard by shard from either end: one shard is held at each end.
    #[must_use]
    pub fn range(&self, range: impl RangeBounds<usize>) -> Iter<'_, T> {
        let len = self.header.len();
        let start = match range.start_bound() {
            Bound::Included(&s) => s as u64,
            Bound::Excluded(&s) => (s as u64).saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => (e as u64).saturating_add(1),
            Bound::Excluded(&e) => e as u64,
            Bound::Unbounded => len,
        }
        .min(len);
        Iter { vec: self, next: start.min(end), end, front: None, back: None, one_by_one: None }
    }

    /// All elements, streamed shard by shard.
    #[must_use]
    pub fn iter(&self) -> Iter<'_, T> {
        self.range(..)
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
        crate::threads::run(store.limits().threads, || self.load_from(&store, evolved.as_ref()))
    }

    fn load_from(&self, store: &Arc<Store>, evolved: Option<&Evolved>) -> Result<Vec<T>> {
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
            let end = leaves.get(j + 1).map_or(self.header.len(), |n| n.first());
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
        store.windowed(&refs, holds, |first, chunks| {
            let bytes: u64 = chunks.iter().map(|c| c.bytes().len() as u64).sum();
            let parallel = chunks.len() > 1 && bytes >= crate::store::PARALLEL_MIN;
            filler.fill(first, &chunks, parallel, |chunk, region| {
                context.run(|| {
                    let mut fill = |shard: &ArchivedVec<Archived<T>>| -> Result<()> {
                        if shard.len() != region.len() {
                            return Err(self.bad("a shard holds a different number of elements than the table says"));
                        }
                        let mut pool = rkyv::de::Pool::new();
                        for elem in shard.iter() {
                            region.push(rkyv::api::deserialize_using::<T, _, Error>(elem, &mut pool)?);
                        }
                        Ok(())
                    };
                    match &evolved {
                        None => fill(&*store.view_of::<ArchivedVec<Archived<T>>>(Arc::clone(chunk))?),
                        // Elements that hold no chunk are made in a reused buffer.
                        Some(evolved) if crate::persist::is_leaf::<T>() => {
                            let (at, max_depth) = (chunk.at().location(), store.limits().max_depth);
                            evolved.with_whole(store, Arc::clone(chunk), |bytes| {
                                fill(crate::store::validate::<ArchivedVec<Archived<T>>>(bytes, None, at, max_depth)?)
                            })
                        }
                        Some(evolved) => fill(
                            &*store.view_of::<ArchivedVec<Archived<T>>>(evolved.whole(store, Arc::clone(chunk))?)?,
                        ),
                    }
                })
            })
        })?;
        filler.finish()
    }
}

/// A shard an iterator holds: its first element's index and its elements.
type Held<T> = (u64, View<[Archived<T>]>);

/// A streaming iterator over a range of a sharded vector, from either end; holds one
/// shard at each end. After an error it ends.
///
/// Its length is the count the file declares. The lower bound of its
/// [`size_hint`](Iterator::size_hint) is at most what one chunk may hold
/// ([`OpenOptions::max_decompressed_chunk`](crate::OpenOptions::max_decompressed_chunk))
/// in elements, so that collecting from a file that declares more elements than it
/// holds does not reserve memory for them.
pub struct Iter<'a, T: Persist + Send + Sync> {
    vec: &'a ShardedVec<T>,
    next: u64,
    end: u64,
    front: Option<Held<T>>,
    back: Option<Held<T>>,
    /// A shard that cannot be read whole through a plan (it holds a value the reader
    /// cannot represent): its elements are read one by one.
    one_by_one: Option<crate::format::ChunkRef>,
}

impl<T: Persist + Send + Sync> Iter<'_, T> {
    /// Element `i`, from the shard held at the front or the back (read when it does not
    /// hold `i`).
    fn at(&mut self, i: u64, back: bool) -> Result<Elem<T>> {
        let missing = |vec: &ShardedVec<T>| vec.bad("element missing from the shard that should hold it");
        let holds_i = |(first, slice): &Held<T>| i >= *first && i - first < slice.len() as u64;
        let held = if back { &self.back } else { &self.front };
        let shard = match held.as_ref().filter(|h| holds_i(h)) {
            Some(h) => h.clone(),
            None => {
                if let Some(bad) = self.one_by_one {
                    let (store, _) = self.vec.origin()?;
                    if *store.table_find(self.vec.table(), i)?.1.chunk() == bad {
                        return self.vec.element(i)?.ok_or_else(|| missing(self.vec));
                    }
                }
                match self.vec.locate(i) {
                    Ok(h) => {
                        *(if back { &mut self.back } else { &mut self.front }) = Some(h.clone());
                        h
                    }
                    // A shard read through a plan that holds a value the reader cannot
                    // represent: its elements are read one by one.
                    Err(Error::UnknownVariant { .. }) => {
                        let (store, _) = self.vec.origin()?;
                        self.one_by_one = Some(*store.table_find(self.vec.table(), i)?.1.chunk());
                        return self.vec.element(i)?.ok_or_else(|| missing(self.vec));
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let (first, slice) = shard;
        let k = usize::try_from(i - first).unwrap_or(usize::MAX);
        View::try_map(slice, |s| s.get(k).ok_or(())).map(Elem::new).map_err(|()| missing(self.vec))
    }

    fn remaining(&self) -> usize {
        usize::try_from(self.end - self.next).unwrap_or(usize::MAX)
    }
}

impl<T: Persist + Send + Sync> Iterator for Iter<'_, T> {
    type Item = Result<Elem<T>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let i = self.next;
        self.next += 1;
        Some(self.at(i, false).inspect_err(|_| self.next = self.end))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining();
        let most = self.vec.origin().map_or(0, |(store, _)| store.limits().max_raw);
        let room = usize::try_from(most / (size_of::<Archived<T>>().max(1) as u64)).unwrap_or(usize::MAX);
        (n.min(room), Some(n))
    }

    fn nth(&mut self, n: usize) -> Option<Self::Item> {
        self.next = self.next.saturating_add(n as u64).min(self.end);
        self.next()
    }
}

impl<T: Persist + Send + Sync> DoubleEndedIterator for Iter<'_, T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        self.end -= 1;
        let i = self.end;
        Some(self.at(i, true).inspect_err(|_| self.end = self.next))
    }
}

impl<T: Persist + Send + Sync> ExactSizeIterator for Iter<'_, T> {
    fn len(&self) -> usize {
        self.remaining()
    }
}

impl<T: Persist + Send + Sync> std::iter::FusedIterator for Iter<'_, T> {}

/// Lists a sharded vector for a load's parallel phase. Not part of the public API.
#[doc(hidden)]
pub fn prefetch<T: Persist + Send + Sync>(vec: &ShardedVec<T>) -> Prefetch<'_> {
    Prefetch::new(vec, vec.header.len().saturating_mul(size_of::<Archived<T>>() as u64), ShardedVec::load)
}
