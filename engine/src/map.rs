//! Hash-bucketed maps: `#[strata(map)]` on `HashMap`, `BTreeMap`, `HashSet`, `BTreeSet`.
//!
//! Entries are spread over buckets of a few KiB by the [stable hash](crate::hash) of
//! their key; a [chunk table](crate::format::table) lists the buckets. A lookup reads
//! one bucket, finds the key's hash by binary search of the bucket's hash array in
//! place, and validates only the entries with that hash (see
//! [`format::bucket`](crate::format::bucket)).

use crate::archive::{Inner, Reach, owned_view};
use crate::error::{Error, Result};
use crate::format::ChunkRef;
use crate::format::bucket::Bucket;
use crate::format::table::{ChunkTable, TableEntry};
use crate::hash::{StableHash, stable_hash};
use crate::{Persist, registry};
use rayon::prelude::*;
use rkyv::Archived;
use rkyv::rend::u64_le;
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::sync::Arc;

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
    table: ChunkTable,
    len: u64_le,
    _types: PhantomData<(K, V)>,
}

// SAFETY: `repr(C)`: a padding-free 56-byte `ChunkTable`, a u64 and a ZST: no padding.
unsafe impl<K, V> rkyv::traits::NoUndef for BucketMap<K, V> {}

impl<K, V> BucketMap<K, V> {
    pub(crate) fn new(table: ChunkTable, len: u64) -> Self {
        Self { table, len: u64_le::from_native(len), _types: PhantomData }
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len.to_native()
    }

    /// Whether the map is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of buckets.
    #[must_use]
    pub fn bucket_count(&self) -> u64 {
        self.table.entries()
    }

    /// The chunk table locating the buckets.
    #[must_use]
    pub fn table(&self) -> &ChunkTable {
        &self.table
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

/// A map entry read in place: derefs to the archived value.
pub struct Entry<'a, K: Persist, V: Persist> {
    entry: &'a ArchivedEntry<Archived<K>, Archived<V>>,
}

impl<'a, K: Persist, V: Persist> Entry<'a, K, V> {
    /// The archived key.
    #[must_use]
    pub fn key(&self) -> &'a Archived<K> {
        &self.entry.key
    }

    /// The archived value.
    #[must_use]
    pub fn value(&self) -> &'a Archived<V> {
        &self.entry.value
    }
}

impl<K: Persist, V: Persist> std::ops::Deref for Entry<'_, K, V> {
    type Target = Archived<V>;
    fn deref(&self) -> &Archived<V> {
        &self.entry.value
    }
}

impl<K: Persist, V: Persist> BucketMap<K, V>
where
    Archived<K>: 'static,
    ArchivedEntry<Archived<K>, Archived<V>>: for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
{
    fn owner(&self) -> Result<Arc<Inner>> {
        registry::owner_of(self).ok_or(Error::Detached)
    }

    /// The entry for `key`, reading one bucket and validating only the entries whose
    /// hash matches. Takes the borrowed form of the key (`&str` for `String` keys).
    ///
    /// # Errors
    /// When the bucket, or the table path to it, is damaged.
    pub fn get<Q>(&self, key: &Q) -> Result<Option<Entry<'_, K, V>>>
    where
        K: Borrow<Q> + StableHash,
        Q: StableHash + ?Sized,
        Archived<K>: PartialEq<Q>,
    {
        if self.is_empty() {
            return Ok(None);
        }
        let hash = stable_hash(key);
        let found = owned_view(self, |inner| {
            let bucket_ref = self.bucket_ref(inner, bucket_of(hash, self.bucket_count()))?;
            let bytes = inner.raw_chunk(&bucket_ref, Reach::Point)?;
            let bucket = Bucket::parse(bytes).map_err(|d| bad_bucket(&bucket_ref, d))?;
            for j in bucket.find(hash) {
                let entry_bytes = bucket.entry(j).map_err(|d| bad_bucket(&bucket_ref, d))?;
                let entry = crate::archive::validate::<ArchivedEntry<Archived<K>, Archived<V>>>(
                    entry_bytes,
                    bucket_ref.location(),
                )?;
                if entry.key == *key {
                    return Ok(std::slice::from_ref(entry));
                }
            }
            Ok(&[][..])
        })?;
        Ok(found.first().map(|entry| Entry { entry }))
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
        Iter { map: self, bucket: 0, current: None }
    }

    /// Every key, streamed bucket by bucket.
    pub fn keys(&self) -> impl Iterator<Item = Result<&Archived<K>>> + '_ {
        self.iter().map(|e| e.map(|e| e.key()))
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
    /// `BTreeSet`), buckets read and deserialized in parallel.
    ///
    /// # Errors
    /// When any bucket is damaged.
    pub fn load_as<M: MapLike<K = K, V = V> + Send>(&self) -> Result<M> {
        let _nest = crate::parallel::nest(*self.table.root())?;
        let depth = crate::parallel::depth();
        let owner = self.owner()?;
        let inner: &Inner = &owner;
        let buckets = self.bucket_count();
        let f = u64::from(self.table.fanout()).max(1);
        let mut refs: Vec<TableEntry> = Vec::new();
        let mut s = 0;
        while s < buckets {
            refs.extend_from_slice(inner.table_node_of(&self.table, s)?);
            s += f;
        }
        if refs.len() as u64 != buckets {
            return Err(bad_map(self, "bucket table holds a different number of buckets than it declares"));
        }
        inner.will_need(&refs);
        // Every bucket verified and its header parsed first: the entry count that sizes
        // the map comes from verified bytes, never from a declared length alone.
        let buckets: Vec<(ChunkRef, Bucket<'_>)> = refs
            .par_iter()
            .map(|e| {
                let r = *e.chunk();
                let bytes = crate::parallel::at_depth(depth, || inner.raw_chunk(&r, Reach::Bulk))?;
                Ok((r, Bucket::parse(bytes).map_err(|d| bad_bucket(&r, d))?))
            })
            .collect::<Result<_>>()?;
        let total = buckets.iter().map(|(_, b)| b.len() as u64).sum::<u64>();
        if total != self.len() {
            return Err(bad_map(self, "buckets hold a different number of entries than the map declares"));
        }
        // Room is reserved for the declared entries only as far as the entry data could
        // hold them (every valid entry archives to at least the entry type's size).
        let data: usize = buckets.iter().map(|(_, b)| b.data_len()).sum();
        let room = data / size_of::<ArchivedEntry<Archived<K>, Archived<V>>>().max(1);
        let mut map = M::with_capacity(usize::try_from(total).map_or(room, |t| t.min(room)));
        // Batches of buckets deserialized in parallel while the previous batch is
        // inserted: the map's serial inserts overlap the decoding, and the entries in
        // flight stay a few hundred KiB (reused memory) instead of a second copy of the
        // whole map.
        //
        // The per-bucket buffers are kept and refilled batch after batch (two sets in
        // turn), never freed on the inserting thread: a buffer freed there would take
        // the lock of the allocating thread's malloc arena while that thread allocates
        // the next entries' strings.
        let mut ready: Vec<Vec<(K, V)>> = Vec::new();
        let mut spare: Vec<Vec<(K, V)>> = Vec::new();
        for batch in batches(&buckets, |(_, b)| b.len() as u64, LOAD_BATCH_ENTRIES) {
            if spare.len() < batch.len() {
                spare.resize_with(batch.len(), Vec::new);
            }
            let (_, decoded) = rayon::join(
                || ready.iter_mut().for_each(|entries| map.extend_entries(entries.drain(..))),
                || {
                    spare
                        .par_iter_mut()
                        .zip(batch.par_iter())
                        .map(|(out, (r, bucket))| crate::parallel::at_depth(depth, || decode_bucket(out, r, bucket)))
                        .collect::<Result<()>>()
                },
            );
            decoded?;
            // Buffers past this batch's length were emptied by the previous inserts.
            std::mem::swap(&mut ready, &mut spare);
        }
        ready.iter_mut().for_each(|entries| map.extend_entries(entries.drain(..)));
        Ok(map)
    }

    /// The chunk reference of bucket `b` (reads the table path only, not the bucket).
    ///
    /// # Errors
    /// When `b` is out of range or the table is damaged.
    pub fn bucket_chunk(&self, b: u64) -> Result<crate::format::ChunkRef> {
        if b >= self.bucket_count() {
            return Err(bad_map(self, "bucket index out of range"));
        }
        let owner = self.owner()?;
        self.bucket_ref(&owner, b)
    }

    fn bucket_ref(&self, inner: &Inner, b: u64) -> Result<crate::format::ChunkRef> {
        Ok(*inner.table_leaf(&self.table, b)?.chunk())
    }
}

fn bad_map<K, V>(m: &BucketMap<K, V>, detail: &str) -> Error {
    Error::InvalidData { at: m.table.root().location(), ty: "bucketed map", detail: detail.to_owned() }
}

fn bad_bucket(r: &crate::format::ChunkRef, detail: &str) -> Error {
    Error::InvalidData { at: r.location(), ty: "map bucket", detail: detail.to_owned() }
}

/// A streaming iterator over a bucketed map; holds one bucket at a time.
pub struct Iter<'a, K: Persist, V: Persist> {
    map: &'a BucketMap<K, V>,
    bucket: u64,
    current: Option<(crate::format::ChunkRef, Bucket<'a>, usize)>,
}

impl<'a, K: Persist, V: Persist> Iterator for Iter<'a, K, V>
where
    Archived<K>: 'static,
    ArchivedEntry<Archived<K>, Archived<V>>: for<'b> bytecheck::CheckBytes<crate::Validator<'b>>,
{
    type Item = Result<Entry<'a, K, V>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((r, bucket, j)) = &mut self.current {
                if *j < bucket.len() {
                    let at = *j;
                    *j += 1;
                    let entry = bucket.entry(at).map_err(|d| bad_bucket(r, d)).and_then(|b| {
                        crate::archive::validate::<ArchivedEntry<Archived<K>, Archived<V>>>(b, r.location())
                    });
                    return Some(entry.map(|entry| Entry { entry }).inspect_err(|_| self.bucket = u64::MAX));
                }
                self.current = None;
            }
            if self.bucket >= self.map.bucket_count() {
                return None;
            }
            let b = self.bucket;
            self.bucket += 1;
            let map = self.map;
            let chunk = std::cell::Cell::new(None);
            let loaded = owned_view(map, |inner| {
                let r = map.bucket_ref(inner, b)?;
                chunk.set(Some(r));
                inner.raw_chunk(&r, Reach::Bulk)
            })
            .and_then(|bytes| {
                let r = chunk.get().ok_or(Error::Detached)?;
                Bucket::parse(bytes).map(|bucket| (r, bucket)).map_err(|d| bad_bucket(&r, d))
            });
            match loaded {
                Ok((r, bucket)) => self.current = Some((r, bucket, 0)),
                Err(e) => {
                    self.bucket = u64::MAX;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Entries per batch of a map's full load (see [`BucketMap::load_as`]).
const LOAD_BATCH_ENTRIES: u64 = 4096;

/// Consecutive runs of `items` holding at least `entries` entries each (by `count`),
/// the last run possibly fewer; an item is never split.
fn batches<'s, X>(items: &'s [X], count: impl Fn(&X) -> u64 + 's, entries: u64) -> impl Iterator<Item = &'s [X]> + 's {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut n = 0u64;
        let cut = rest
            .iter()
            .position(|x| {
                n = n.saturating_add(count(x));
                n >= entries
            })
            .map_or(rest.len(), |i| i + 1);
        let (head, tail) = rest.split_at(cut);
        rest = tail;
        Some(head)
    })
}

/// Validates and deserializes every entry of one bucket into `out` (emptied first).
fn decode_bucket<K: Persist, V: Persist>(out: &mut Vec<(K, V)>, r: &ChunkRef, bucket: &Bucket<'_>) -> Result<()>
where
    ArchivedEntry<Archived<K>, Archived<V>>: for<'v> bytecheck::CheckBytes<crate::Validator<'v>>,
{
    out.clear();
    out.reserve(bucket.len());
    let mut pool = rkyv::de::Pool::new();
    for j in 0..bucket.len() {
        let entry_bytes = bucket.entry(j).map_err(|d| bad_bucket(r, d))?;
        let entry = crate::archive::validate::<ArchivedEntry<Archived<K>, Archived<V>>>(entry_bytes, r.location())?;
        let k = rkyv::api::deserialize_using::<K, _, Error>(&entry.key, &mut pool)?;
        let v = rkyv::api::deserialize_using::<V, _, Error>(&entry.value, &mut pool)?;
        out.push((k, v));
    }
    Ok(())
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
}

impl<K: Hash + Eq, V, H: BuildHasher + Default> MapLike for HashMap<K, V, H> {
    type K = K;
    type V = V;
    fn len(&self) -> usize {
        self.len()
    }
    fn entries(&self) -> Vec<(&K, &V)> {
        self.iter().collect()
    }
    fn with_capacity(len: usize) -> Self {
        let mut m = HashMap::with_hasher(H::default());
        let _ = m.try_reserve(len);
        m
    }
    fn extend_entries(&mut self, entries: impl Iterator<Item = (K, V)>) {
        self.extend(entries);
    }
}

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

impl<K: Hash + Eq, H: BuildHasher + Default> MapLike for HashSet<K, H> {
    type K = K;
    type V = ();
    fn len(&self) -> usize {
        self.len()
    }
    fn entries(&self) -> Vec<(&K, &())> {
        self.iter().map(|k| (k, &())).collect()
    }
    fn with_capacity(len: usize) -> Self {
        let mut s = HashSet::with_hasher(H::default());
        let _ = s.try_reserve(len);
        s
    }
    fn extend_entries(&mut self, entries: impl Iterator<Item = (K, ())>) {
        self.extend(entries.map(|(k, ())| k));
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
