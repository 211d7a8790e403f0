//! Hash-bucketed maps: `#[strata(map)]` on `HashMap`, `BTreeMap`, `HashSet`, `BTreeSet`.
//!
//! Entries are spread over buckets of a few KiB by the [stable hash](crate::hash) of
//! their key; a [chunk table](crate::format::table) lists the buckets. A lookup reads
//! one bucket, finds the key's hash by binary search of the bucket's hash array in
//! place, and validates only the entries with that hash (see
//! [`format::bucket`](crate::format::bucket)).

use crate::error::{Error, Result};
use crate::evolve::{Evolved, Origin};
use crate::format::ChunkRef;
use crate::format::bucket::Bucket;
use crate::format::table::{ChunkTable, TableHeader};
use crate::hash::{StableHash, stable_hash};
use crate::load::{Context, Prefetch};
use crate::store::chunk::Chunk;
use crate::store::{Holds, Keep, Store, View, validate};
use crate::{Persist, persist};
use decode::{LOAD_BATCH_ENTRIES, batches, decode_bucket, get_evolved};
use rayon::prelude::*;
use rkyv::Archived;
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::sync::Arc;

mod decode;
mod iter;

pub use iter::Iter;

/// Target raw size of a bucket.
pub const BUCKET_BYTES: usize = 4096;

/// One map entry as archived in a bucket: an rkyv root of its own.
#[derive(rkyv::Portable, bytecheck::CheckBytes, Debug)]
#[rkyv(crate = rkyv)]
#[bytecheck(crate = bytecheck)]
#[repr(C)]
pub struct ArchivedEntry<K, V> {
    /// The archived key.
    pub key: K,
    /// The archived value.
    pub value: V,
}

/// Serializes a borrowed entry as an [`ArchivedEntry`].
pub(crate) struct EntryRef<'a, K, V>(pub &'a K, pub &'a V);

impl<K: rkyv::Archive, V: rkyv::Archive> rkyv::Archive for EntryRef<'_, K, V> {
    type Archived = ArchivedEntry<K::Archived, V::Archived>;
    type Resolver = (K::Resolver, V::Resolver);

    fn resolve(&self, (kr, vr): Self::Resolver, out: rkyv::Place<Self::Archived>) {
        rkyv::munge::munge!(let ArchivedEntry { key, value } = out);
        self.0.resolve(kr, key);
        self.1.resolve(vr, value);
    }
}

impl<K, V, S> rkyv::Serialize<S> for EntryRef<'_, K, V>
where
    K: rkyv::Serialize<S>,
    V: rkyv::Serialize<S>,
    S: rancor::Fallible + ?Sized,
{
    fn serialize(&self, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        Ok((self.0.serialize(serializer)?, self.1.serialize(serializer)?))
    }
}

/// The archived form of a `#[strata(map)]` field: 64 bytes inline in the parent (the
/// bucket table's header and the entry count). No I/O until a key is looked up.
///
/// ```
/// use std::collections::HashMap;
/// use strata::{Archive, Persist};
///
/// #[derive(Persist)]
/// struct Directory {
///     #[strata(map)]
///     ages: HashMap<String, u32>,
/// }
///
/// let dir = Directory { ages: (0..10_000).map(|i| (format!("user{i}"), i % 90)).collect() };
/// let archive = Archive::from_bytes(strata::to_bytes(&dir)?)?;
/// let ages = &archive.root::<Directory>()?.ages;
/// assert_eq!(ages.len(), 10_000);
/// assert_eq!(ages.get("user4242")?.map(|a| a.to_native()), Some(4242 % 90)); // one bucket read
/// assert!(ages.get("nobody")?.is_none());
/// assert_eq!(ages.load()?, dir.ages);                                      // buckets in parallel
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(rkyv::Portable, bytecheck::CheckBytes)]
#[rkyv(crate = rkyv)]
#[bytecheck(crate = bytecheck)]
#[repr(C)]
pub struct BucketMap<K, V> {
    header: TableHeader,
    _types: PhantomData<fn() -> (K, V)>,
}

// SAFETY: `repr(C)`: a padding-free 64-byte `TableHeader` and a ZST: no padding.
unsafe impl<K, V> rkyv::traits::NoUndef for BucketMap<K, V> {}

impl<K, V> BucketMap<K, V> {
    /// The map's header: its table and entry count.
    pub(crate) fn header(&self) -> TableHeader {
        self.header
    }

    pub(crate) fn new(header: TableHeader) -> Self {
        Self { header, _types: PhantomData }
    }

    /// Number of entries, as the file declares it (the buckets prove it as they are
    /// read).
    #[must_use]
    pub fn len(&self) -> usize {
        self.header.len_usize()
    }

    /// Whether the map is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.header.len() == 0
    }

    /// Number of buckets.
    #[must_use]
    pub fn bucket_count(&self) -> usize {
        self.table().entries_usize()
    }

    /// The chunk table locating the buckets.
    #[must_use]
    pub fn table(&self) -> &ChunkTable {
        self.header.table()
    }
}

impl<K, V> std::fmt::Debug for BucketMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketMap").field("len", &self.len()).field("buckets", &self.bucket_count()).finish()
    }
}

/// The bucket of a hash among `buckets`: the hash's high bits scaled to the count
/// (`(hash * buckets) >> 64`), uniform and monotonic in the hash.
#[must_use]
pub fn bucket_of(hash: u64, buckets: u64) -> u64 {
    ((u128::from(hash) * u128::from(buckets)) >> 64) as u64
}

/// A map entry read in place: derefs to the archived value. It holds its bucket, so it
/// stays valid on its own.
pub struct Entry<K: Persist + Send + Sync, V: Persist + Send + Sync> {
    view: View<ArchivedEntry<Archived<K>, Archived<V>>>,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Persist + Send + Sync, V: Persist + Send + Sync> Entry<K, V> {
    fn new(view: View<ArchivedEntry<Archived<K>, Archived<V>>>) -> Self {
        Self { view, _types: PhantomData }
    }

    /// The archived key.
    #[must_use]
    pub fn key(&self) -> &Archived<K> {
        &self.view.key
    }

    /// The archived value.
    #[must_use]
    pub fn value(&self) -> &Archived<V> {
        &self.view.value
    }

    /// The key as a [`View`] (the same bucket, shared).
    #[must_use]
    pub fn key_view(&self) -> View<Archived<K>> {
        View::map(self.view.clone(), |e| &e.key)
    }

    /// The value as a [`View`] (the same bucket, shared).
    #[must_use]
    pub fn value_view(&self) -> View<Archived<V>> {
        View::map(self.view.clone(), |e| &e.value)
    }

    /// The value as an owned `V`, with the lazy fields it holds loaded.
    ///
    /// ```
    /// # use std::collections::HashMap;
    /// # #[derive(strata::Persist)] struct Book { #[strata(map)] pages: HashMap<String, Vec<u32>> }
    /// let book = Book { pages: HashMap::from([("intro".to_string(), vec![1, 2, 3])]) };
    /// let archive = strata::Archive::from_bytes(strata::to_bytes(&book)?)?;
    /// let intro = archive.root::<Book>()?.pages.get("intro")?.unwrap();
    /// assert_eq!(intro.load()?, vec![1, 2, 3]);
    /// assert_eq!(intro.load_key()?, "intro");
    /// # Ok::<(), strata::Error>(())
    /// ```
    ///
    /// # Errors
    /// When a lazy field inside cannot be loaded.
    pub fn load(&self) -> Result<V> {
        crate::load::deserialize_here::<V>(self.value())
    }

    /// The key as an owned `K`; see [`load`](Self::load).
    ///
    /// # Errors
    /// When a lazy field inside cannot be loaded.
    pub fn load_key(&self) -> Result<K> {
        crate::load::deserialize_here::<K>(self.key())
    }
}

impl<K: Persist + Send + Sync, V: Persist + Send + Sync, B: ?Sized> PartialEq<B> for Entry<K, V>
where
    Archived<V>: PartialEq<B>,
{
    /// Compares the entry's value.
    fn eq(&self, other: &B) -> bool {
        *self.value() == *other
    }
}

impl<K: Persist + Send + Sync, V: Persist + Send + Sync> std::ops::Deref for Entry<K, V> {
    type Target = Archived<V>;
    fn deref(&self) -> &Archived<V> {
        &self.view.value
    }
}

impl<K: Persist + Send + Sync, V: Persist + Send + Sync> Clone for Entry<K, V> {
    fn clone(&self) -> Self {
        Self::new(self.view.clone())
    }
}

impl<K: Persist + Send + Sync, V: Persist + Send + Sync> std::fmt::Debug for Entry<K, V>
where
    Archived<K>: std::fmt::Debug,
    Archived<V>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("key", self.key()).field("value", self.value()).finish()
    }
}

/// Whether buckets of `K`, `V` entries hold lazy fields.
fn holds<K: Persist + Send + Sync, V: Persist + Send + Sync>() -> Holds {
    Holds::of(!(persist::is_leaf::<K>() && persist::is_leaf::<V>()))
}

fn bad_bucket(r: &ChunkRef, detail: &str) -> Error {
    Error::InvalidData { at: r.location(), ty: "map bucket", detail: detail.to_owned() }
}

/// Entry `j` of the bucket in `chunk`, validated.
fn entry_in<'x, A>(bytes: &'x [u8], j: usize, r: &ChunkRef, max_depth: u32) -> Result<&'x A>
where
    A: rkyv::Portable + for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
{
    let bucket = Bucket::parse(bytes).map_err(|d| bad_bucket(r, d))?;
    let entry = bucket.entry(j).map_err(|d| bad_bucket(r, d))?;
    validate::<A>(entry, None, r.location(), max_depth)
}

impl<K: Persist + Send + Sync, V: Persist + Send + Sync> BucketMap<K, V>
where
    Archived<K>: 'static,
    ArchivedEntry<Archived<K>, Archived<V>>: for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
{
    /// The archive this map was read from, and the plan its entries are read through
    /// when the file's values have another layout.
    fn origin(&self) -> Result<(Arc<Store>, Option<Evolved>)> {
        Ok(match crate::evolve::origin(self)? {
            Origin::Native(store) => (store, None),
            Origin::Evolved(store, evolved) => (store, Some(evolved)),
        })
    }

    fn bad(&self, detail: &str) -> Error {
        Error::InvalidData { at: self.table().root().location(), ty: "bucketed map", detail: detail.to_owned() }
    }

    /// The entry for `key`, reading one bucket and validating only the entries whose
    /// hash matches. Takes the borrowed form of the key (`&str` for `String` keys).
    ///
    /// # Errors
    /// When the bucket, or the table path to it, is damaged.
    pub fn get<Q>(&self, key: &Q) -> Result<Option<Entry<K, V>>>
    where
        K: Borrow<Q> + StableHash,
        Q: StableHash + ?Sized,
        Archived<K>: PartialEq<Q>,
    {
        if self.is_empty() {
            return Ok(None);
        }
        let hash = stable_hash(key);
        let (store, evolved) = self.origin()?;
        let r = *store.table_leaf(self.table(), bucket_of(hash, self.table().entries()))?.chunk();
        let max_depth = store.limits().max_depth;
        if let Some(evolved) = evolved {
            return get_evolved::<K, V, Q>(&store, &evolved, &r, hash, key, max_depth);
        }
        let chunk = store.chunk(&r, Keep::Yes, holds::<K, V>())?;
        // `None` as the error: no entry has the key.
        let found =
            View::new(chunk, |bytes| -> std::result::Result<&ArchivedEntry<Archived<K>, Archived<V>>, Option<Error>> {
                let bucket = Bucket::parse(bytes).map_err(|d| Some(bad_bucket(&r, d)))?;
                for j in bucket.find(hash) {
                    let entry =
                        entry_in::<ArchivedEntry<Archived<K>, Archived<V>>>(bytes, j, &r, max_depth).map_err(Some)?;
                    if entry.key == *key {
                        return Ok(entry);
                    }
                }
                Err(None)
            });
        match found {
            Ok(view) => Ok(Some(Entry::new(view))),
            Err(None) => Ok(None),
            Err(Some(e)) => Err(e),
        }
    }

    /// Whether `key` is present; see [`get`](Self::get).
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn contains_key<Q>(&self, key: &Q) -> Result<bool>
    where
        K: Borrow<Q> + StableHash,
        Q: StableHash + ?Sized,
        Archived<K>: PartialEq<Q>,
    {
        Ok(self.get(key)?.is_some())
    }

    /// Every entry, streamed bucket by bucket (one bucket held at a time), in bucket
    /// order: the order of the keys' stable hashes.
    #[must_use]
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter::new(self)
    }

    /// Every key, streamed bucket by bucket.
    pub fn keys(&self) -> impl Iterator<Item = Result<View<Archived<K>>>> + '_ {
        self.iter().map(|e| e.map(|e| e.key_view()))
    }

    /// Every value, streamed bucket by bucket.
    pub fn values(&self) -> impl Iterator<Item = Result<View<Archived<V>>>> + '_ {
        self.iter().map(|e| e.map(|e| e.value_view()))
    }

    /// The whole map as a `HashMap`, buckets read and deserialized in parallel.
    ///
    /// # Errors
    /// When any bucket is damaged.
    pub fn load(&self) -> Result<HashMap<K, V>>
    where
        K: Hash + Eq,
    {
        self.load_as()
    }

    /// The whole map as any map or set type (`HashMap`, `BTreeMap`, `HashSet`,
    /// `BTreeSet`): buckets read a window at a time (adjacent buckets with one read),
    /// verified and deserialized in parallel while the previous batch is inserted.
    ///
    /// # Errors
    /// When any bucket is damaged.
    pub fn load_as<M: MapLike<K = K, V = V> + Send>(&self) -> Result<M> {
        if self.is_empty() {
            return Ok(M::with_capacity(0));
        }
        let (store, evolved) = self.origin()?;
        crate::threads::run(store.limits().threads, || self.load_from(&store, evolved.as_ref()))
    }

    fn load_from<M: MapLike<K = K, V = V> + Send>(&self, store: &Arc<Store>, evolved: Option<&Evolved>) -> Result<M> {
        let _nest = crate::load::nest(*self.table().root())?;
        let context = Context::here().with_max_depth(store.limits().max_depth);
        let refs: Vec<ChunkRef> = store.table_leaves(self.table())?.iter().map(|e| *e.chunk()).collect();
        if let (Some(first), Some(last)) = (refs.first(), refs.last()) {
            store.will_need(first.offset(), last.offset().saturating_add(last.stored_len()));
        }
        // Room is reserved for the declared entries only as far as the buckets could
        // hold them (every entry archives to at least the entry type's size), and, as
        // the buckets' sizes are proven only when they are read, at most as much as one
        // chunk may hold: past that the map grows as entries come.
        let raw: u64 = refs.iter().map(ChunkRef::raw_len).sum::<u64>().min(store.limits().max_raw);
        let room = raw / size_of::<ArchivedEntry<Archived<K>, Archived<V>>>().max(1) as u64;
        let map = M::with_capacity(usize::try_from(self.header.len().min(room)).unwrap_or(0));
        // Batches of buckets deserialized in parallel while the previous batch is
        // inserted: the map's serial inserts overlap the decoding, and the entries in
        // flight stay a few hundred KiB (reused memory) instead of a second copy of the
        // whole map.
        //
        // The per-bucket buffers are kept and refilled batch after batch (two sets in
        // turn), never freed on the inserting thread: a buffer freed there would take
        // the lock of the allocating thread's malloc arena while that thread allocates
        // the next entries' strings.
        struct State<M, K, V> {
            map: M,
            ready: Vec<Vec<(K, V)>>,
            spare: Vec<Vec<(K, V)>>,
            total: u64,
        }
        let mut state = State { map, ready: Vec::new(), spare: Vec::new(), total: 0 };
        let holds = if evolved.is_some() { Holds::Nothing } else { holds::<K, V>() };
        let filled = store.windowed(&refs, holds, |_, chunks| {
            let State { map, ready, spare, total } = &mut state;
            let counts: Vec<u64> = chunks
                .iter()
                .map(|c| Bucket::parse(c.bytes()).map(|b| b.len() as u64).map_err(|d| bad_bucket(c.at(), d)))
                .collect::<Result<_>>()?;
            *total = total.saturating_add(counts.iter().sum::<u64>());
            if *total > self.header.len() {
                return Err(self.bad("buckets hold more entries than the map declares"));
            }
            let bytes: u64 = chunks.iter().map(|c| c.bytes().len() as u64).sum();
            let parallel = bytes >= crate::store::PARALLEL_MIN;
            let counted: Vec<Counted<'_>> = chunks.iter().zip(counts).collect();
            for batch in batches(&counted, |(_, n)| *n, LOAD_BATCH_ENTRIES) {
                if spare.len() < batch.len() {
                    spare.resize_with(batch.len(), Vec::new);
                }
                let mut insert = || ready.iter_mut().for_each(|entries| map.extend_entries(entries.drain(..)));
                let decode = |(out, counted): (&mut Vec<(K, V)>, &Counted<'_>)| {
                    context.run(|| decode_bucket(out, counted.0, store, evolved))
                };
                if parallel {
                    let (_, decoded) = crate::threads::par(|| {
                        rayon::join(insert, || {
                            spare.par_iter_mut().zip(batch.par_iter()).map(decode).collect::<Result<()>>()
                        })
                    });
                    decoded?;
                } else {
                    insert();
                    spare.iter_mut().zip(batch.iter()).try_for_each(decode)?;
                }
                // Buffers past this batch's length were emptied by the previous inserts.
                std::mem::swap(ready, spare);
            }
            Ok(())
        });
        let State { mut map, mut ready, spare, total } = state;
        let outcome = filled.and_then(|()| {
            ready.iter_mut().for_each(|entries| map.extend_entries(entries.drain(..)));
            if total == self.header.len() {
                Ok(())
            } else {
                Err(self.bad("buckets hold a different number of entries than the map declares"))
            }
        });
        if let Err(e) = outcome {
            // What was loaded may nest deep: dropped on a stack made for it.
            crate::deep::discard((map, ready, spare));
            return Err(e);
        }
        Ok(map)
    }

    /// The entries of bucket `b`, owned (for a map left in its archive).
    pub(crate) fn load_bucket(&self, b: u64) -> Result<Vec<(K, V)>> {
        let (store, evolved) = self.origin()?;
        let r = *store.table_leaf(self.table(), b)?.chunk();
        let chunk = store.chunk(&r, Keep::No, if evolved.is_some() { Holds::Nothing } else { holds::<K, V>() })?;
        let mut out = Vec::new();
        decode_bucket(&mut out, &chunk, &store, evolved.as_ref())?;
        Ok(out)
    }

    /// The chunk reference of bucket `b` (reads the table path only, not the bucket).
    ///
    /// # Errors
    /// When `b` is out of range or the table is damaged.
    pub fn bucket_chunk(&self, b: usize) -> Result<ChunkRef> {
        Ok(*self.origin()?.0.table_leaf(self.table(), b as u64)?.chunk())
    }
}

/// A bucket's chunk and its entry count.
type Counted<'a> = (&'a Arc<Chunk>, u64);

/// Lists a hash-bucketed map, loaded as `M`, for a load's parallel phase. Not part of
/// the public API.
#[doc(hidden)]
pub fn prefetch<M>(map: &BucketMap<M::K, M::V>) -> Prefetch<'_>
where
    M: MapLike + Send + 'static,
    M::K: Persist + Send + Sync,
    M::V: Persist + Send + Sync,
    ArchivedEntry<Archived<M::K>, Archived<M::V>>: for<'v> bytecheck::CheckBytes<crate::Validator<'v>>,
{
    Prefetch::new(
        map,
        map.header.len().saturating_mul(size_of::<ArchivedEntry<Archived<M::K>, Archived<M::V>>>() as u64),
        BucketMap::load_as::<M>,
    )
}

/// The native map and set types a `#[strata(map)]` field may have.
pub trait MapLike {
    /// The key type.
    type K;
    /// The value type (`()` for sets).
    type V;
    /// Number of entries.
    fn len(&self) -> usize;
    /// Whether the map is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Borrowed entries, in any order.
    fn entries(&self) -> Vec<(&Self::K, &Self::V)>;
    /// An empty map with room for `len` entries where the type can reserve room and
    /// the allocator grants it (a refused reservation leaves the map to grow).
    fn with_capacity(len: usize) -> Self;
    /// Adds entries (a key already present keeps the last value, as `extend` does).
    fn extend_entries(&mut self, entries: impl Iterator<Item = (Self::K, Self::V)>);
    /// The map a [`Writer`](crate::Writer) streamed, when this is the handle to one.
    #[doc(hidden)]
    fn __streamed(&self) -> Option<&crate::written::Written> {
        None
    }
    /// This map, when it is a [`Mapped`](crate::Mapped) left in its archive.
    #[doc(hidden)]
    fn __kept(&self) -> Option<&dyn crate::kept_buckets::KeptBuckets<Self::K, Self::V>> {
        None
    }
    /// A handle to `map` left in its archive, for the map types that have one
    /// ([`Mapped`](crate::Mapped)); `None`: load the entries.
    #[doc(hidden)]
    fn __from_archive(map: &BucketMap<Self::K, Self::V>) -> Option<Result<Self>>
    where
        Self: Sized,
    {
        let _ = map;
        None
    }
}

/// `MapLike` for one crate's hash map and set types (std's here, hashbrown's behind its
/// feature).
macro_rules! hash_map_like {
    ($map:ident, $set:ident) => {
        impl<K: Hash + Eq, V, H: BuildHasher + Default> MapLike for $map<K, V, H> {
            type K = K;
            type V = V;
            fn len(&self) -> usize {
                self.len()
            }
            fn entries(&self) -> Vec<(&K, &V)> {
                self.iter().collect()
            }
            fn with_capacity(len: usize) -> Self {
                let mut m = $map::with_hasher(H::default());
                let _ = m.try_reserve(len);
                m
            }
            fn extend_entries(&mut self, entries: impl Iterator<Item = (K, V)>) {
                self.extend(entries);
            }
        }

        impl<K: Hash + Eq, H: BuildHasher + Default> MapLike for $set<K, H> {
            type K = K;
            type V = ();
            fn len(&self) -> usize {
                self.len()
            }
            fn entries(&self) -> Vec<(&K, &())> {
                self.iter().map(|k| (k, &())).collect()
            }
            fn with_capacity(len: usize) -> Self {
                let mut s = $set::with_hasher(H::default());
                let _ = s.try_reserve(len);
                s
            }
            fn extend_entries(&mut self, entries: impl Iterator<Item = (K, ())>) {
                self.extend(entries.map(|(k, ())| k));
            }
        }
    };
}
#[cfg(feature = "hashbrown")]
pub(crate) use hash_map_like;

hash_map_like!(HashMap, HashSet);

impl<K: Ord, V> MapLike for BTreeMap<K, V> {
    type K = K;
    type V = V;
    fn len(&self) -> usize {
        self.len()
    }
    fn entries(&self) -> Vec<(&K, &V)> {
        self.iter().collect()
    }
    fn with_capacity(_len: usize) -> Self {
        BTreeMap::new()
    }
    fn extend_entries(&mut self, entries: impl Iterator<Item = (K, V)>) {
        self.extend(entries);
    }
}

impl<K: Ord> MapLike for BTreeSet<K> {
    type K = K;
    type V = ();
    fn len(&self) -> usize {
        self.len()
    }
    fn entries(&self) -> Vec<(&K, &())> {
        self.iter().map(|k| (k, &())).collect()
    }
    fn with_capacity(_len: usize) -> Self {
        BTreeSet::new()
    }
    fn extend_entries(&mut self, entries: impl Iterator<Item = (K, ())>) {
        self.extend(entries.map(|(k, ())| k));
    }
}

#[cfg(test)]
mod tests {
    use super::batches;

    #[test]
    fn batches_cover_every_item_once_in_order_and_reach_the_target() {
        let counts: Vec<u64> = (0..500u64).map(|i| (i * 7919) % 61).collect();
        for target in [1, 5, 60, 100, 4096, u64::MAX] {
            let runs: Vec<&[u64]> = batches(&counts, |c| *c, target).collect();
            assert_eq!(runs.concat(), counts, "target {target}");
            assert!(runs.iter().all(|run| !run.is_empty()), "target {target}");
            // Each run but the last stops at the first item that reaches the target.
            for run in runs.iter().take(runs.len().saturating_sub(1)) {
                let sum: u64 = run.iter().sum();
                let head: u64 = run.iter().take(run.len() - 1).sum();
                assert!(sum >= target && head < target, "target {target}: {run:?}");
            }
        }
        assert_eq!(batches(&[] as &[u64], |c| *c, 10).count(), 0);
    }
}
