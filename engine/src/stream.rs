//! Saves whose big parts are written as they are produced: [`Writer`](crate::Writer) streams a
//! sharded vector from an iterator (shards cut, encoded and written as they fill; the
//! vector is never held whole) or a map from an iterator of entries (spilled by hash,
//! then written bucket by bucket), and hands back a [`Sharded`] or [`Mapped`] handle
//! that the root value, written last, refers to. The writer is in `writer.rs`.

use crate::Persist;
use crate::error::{Error, Result};
use crate::hash::StableHash;
use crate::kept::Kept;
use crate::kept_map::KeptMap;
use crate::map::MapLike;
pub use crate::written::Written;
use std::collections::HashMap;
use std::hash::Hash;

/// A vector stored as shards, like a `#[strata(shard)] Vec<T>` field (same schema, so
/// each reads the other's files), that a save can also take as already written or
/// still in the file: a field of this type is owned elements, the handle
/// [`Writer::shard`](crate::Writer::shard) returns for a vector streamed into the file being written, or,
/// after a load, a handle to the vector **left in the archive** it was loaded from.
///
/// Loading a value with a `Sharded<T>` field reads none of its shards: elements are
/// read on demand ([`get`](Self::get)), a shard is loaded when one of its elements is
/// changed ([`get_mut`](Self::get_mut), [`set`](Self::set)), and pushed elements are
/// kept apart. An [incremental](crate::SaveOptions::incremental) save to the file it
/// was loaded from then refers to every unchanged shard where it is, without reading
/// or serializing it, and writes the changed shards, the pushed elements, the table and
/// the root: a save in proportion to the change. (Elements holding lazy fields, and
/// saves to another file, read and write unchanged shards again, with the same
/// result.) Views of a field of this type are [`ShardedVec<T>`](crate::ShardedVec), as
/// for a `#[strata(shard)]` field.
///
/// A `Sharded<T>` is also a value of its own: saved as the root (where a `Vec<T>` would
/// be one chunk), it is sharded as a field is, [`Archive::root`](crate::Archive::root)
/// gives its [`ShardedVec<T>`](crate::ShardedVec) and a load leaves it in the archive.
///
/// ```
/// #[derive(strata::Persist, Debug, PartialEq)]
/// struct World { turn: u64, players: strata::Sharded<(u32, String)> }
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("world.strata");
/// let incremental = strata::SaveOptions::new().incremental(true);
/// let world = World { turn: 1, players: (0..100_000).map(|i| (i, format!("p{i}"))).collect::<Vec<_>>().into() };
/// incremental.save(&path, &world)?;
///
/// let mut world: World = strata::Archive::open(&path)?.load()?; // no shard read
/// world.turn += 1;
/// world.players.set(77_777, (0, "renamed".into()))?;           // one shard loaded
/// let stats = incremental.save(&path, &world)?;
/// assert_eq!(stats.chunks, 6); // the shard, its index node, pages, meta, copies, root
/// let again: World = strata::Archive::open(&path)?.load()?;
/// assert_eq!(again.players.get(77_777)?.unwrap().1, "renamed");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Sharded<T> {
    inner: Inner<T>,
}

#[derive(Debug, Clone)]
enum Inner<T> {
    Owned(Vec<T>),
    Written(Written),
    Kept(Kept<T>),
}

impl<T> Sharded<T> {
    /// The handle of a vector streamed into the file being written.
    pub(crate) fn from_written(written: Written) -> Self {
        Self { inner: Inner::Written(written) }
    }

    /// Owned elements, saved as shards.
    #[must_use]
    pub fn new(items: Vec<T>) -> Self {
        Self { inner: Inner::Owned(items) }
    }

    /// The number of elements.
    #[must_use]
    pub fn len(&self) -> u64 {
        match &self.inner {
            Inner::Owned(v) => v.len() as u64,
            Inner::Written(w) => w.header().len(),
            Inner::Kept(k) => k.len(),
        }
    }

    /// Whether there are no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements, when they are owned (not a streamed vector's handle, nor one left
    /// in its archive).
    #[must_use]
    pub fn as_slice(&self) -> Option<&[T]> {
        match &self.inner {
            Inner::Owned(v) => Some(v),
            Inner::Written(_) | Inner::Kept(_) => None,
        }
    }

    /// The streamed vector this handle stands for, if it is one.
    pub(crate) fn streamed(&self) -> Option<&Written> {
        match &self.inner {
            Inner::Written(w) => Some(w),
            Inner::Owned(_) | Inner::Kept(_) => None,
        }
    }

    /// The vector left in its archive this handle stands for, if it is one.
    pub(crate) fn kept(&self) -> Option<&Kept<T>> {
        match &self.inner {
            Inner::Kept(k) => Some(k),
            Inner::Owned(_) | Inner::Written(_) => None,
        }
    }

    /// Whether the elements are still in the archive the value was loaded from (all or
    /// some of them: changed shards and pushed elements are held in memory).
    #[must_use]
    pub fn is_in_archive(&self) -> bool {
        matches!(self.inner, Inner::Kept(_))
    }

    /// A handle to a vector left in its archive.
    pub(crate) fn from_kept(kept: Kept<T>) -> Self {
        Self { inner: Inner::Kept(kept) }
    }
}

impl<T: Persist + Send + Sync + Clone> Sharded<T> {
    fn no_elements() -> Error {
        Error::Message(String::from("a streamed vector's handle holds no elements: they are in the file being written"))
    }

    /// Element `i` (read from the archive when the vector is left there), or `None`
    /// past the end.
    ///
    /// # Errors
    /// Reading the element; a streamed vector's handle.
    pub fn get(&self, i: u64) -> Result<Option<T>> {
        match &self.inner {
            Inner::Owned(v) => Ok(usize::try_from(i).ok().and_then(|i| v.get(i)).cloned()),
            Inner::Kept(k) => k.get(i),
            Inner::Written(_) => Err(Self::no_elements()),
        }
    }

    /// Element `i`, to change in place, or `None` past the end. For a vector left in
    /// its archive, the shard holding it is loaded and will be written by the next
    /// save; the others stay in the file.
    ///
    /// # Errors
    /// Reading the shard; a streamed vector's handle.
    pub fn get_mut(&mut self, i: u64) -> Result<Option<&mut T>> {
        match &mut self.inner {
            Inner::Owned(v) => Ok(usize::try_from(i).ok().and_then(|i| v.get_mut(i))),
            Inner::Kept(k) => k.get_mut(i),
            Inner::Written(_) => Err(Self::no_elements()),
        }
    }

    /// Replaces element `i`; see [`get_mut`](Self::get_mut).
    ///
    /// # Errors
    /// As [`get_mut`](Self::get_mut); an index past the end.
    pub fn set(&mut self, i: u64, value: T) -> Result<()> {
        let len = self.len();
        let slot = self.get_mut(i)?.ok_or_else(|| Error::Message(format!("index {i} is past the end ({len})")))?;
        *slot = value;
        Ok(())
    }

    /// Adds an element after the last (kept in memory until a save).
    ///
    /// # Errors
    /// A streamed vector's handle.
    pub fn push(&mut self, value: T) -> Result<()> {
        match &mut self.inner {
            Inner::Owned(v) => v.push(value),
            Inner::Kept(k) => k.push(value),
            Inner::Written(_) => return Err(Self::no_elements()),
        }
        Ok(())
    }

    /// Every element, owned (the stored ones read in bulk).
    ///
    /// # Errors
    /// Reading the shards; a streamed vector's handle.
    pub fn to_vec(&self) -> Result<Vec<T>> {
        match &self.inner {
            Inner::Owned(v) => Ok(v.clone()),
            Inner::Kept(k) => k.to_vec(),
            Inner::Written(_) => Err(Self::no_elements()),
        }
    }

    /// Every element, owned, consuming the vector.
    ///
    /// # Errors
    /// As [`to_vec`](Self::to_vec).
    pub fn into_vec(self) -> Result<Vec<T>> {
        match self.inner {
            Inner::Owned(v) => Ok(v),
            Inner::Kept(k) => k.into_vec(),
            Inner::Written(_) => Err(Self::no_elements()),
        }
    }

    /// Makes the elements owned (reading those left in the archive) and gives them, for
    /// changes of any kind; the next save writes the whole vector.
    ///
    /// # Errors
    /// As [`to_vec`](Self::to_vec).
    pub fn make_owned(&mut self) -> Result<&mut Vec<T>> {
        if let Inner::Kept(k) = &self.inner {
            self.inner = Inner::Owned(k.to_vec()?);
        }
        match &mut self.inner {
            Inner::Owned(v) => Ok(v),
            Inner::Kept(_) | Inner::Written(_) => Err(Self::no_elements()),
        }
    }
}

impl<T: Persist + Send + Sync + Clone + PartialEq> PartialEq for Sharded<T> {
    /// Equal elements (read from the archive where they are left there; a read that
    /// fails is unequal); streamed handles are equal when they name the same vector.
    fn eq(&self, other: &Self) -> bool {
        match (&self.inner, &other.inner) {
            (Inner::Written(a), Inner::Written(b)) => a == b,
            (Inner::Written(_), _) | (_, Inner::Written(_)) => false,
            (Inner::Owned(a), Inner::Owned(b)) => a == b,
            _ => self.len() == other.len() && matches!((self.to_vec(), other.to_vec()), (Ok(a), Ok(b)) if a == b),
        }
    }
}

impl<T> From<Vec<T>> for Sharded<T> {
    fn from(items: Vec<T>) -> Self {
        Self::new(items)
    }
}

impl<T> Default for Sharded<T> {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

/// A map stored as hash buckets, like a `#[strata(map)] HashMap<K, V>` field (same
/// schema, so each reads the other's files), that a save can also take as already
/// written or still in the file: owned entries, the handle [`Writer::map`](crate::Writer::map) returns for a
/// map streamed into the file being written, or, after a load, a handle to the map
/// **left in the archive** it was loaded from.
///
/// Loading a value with a `Mapped<K, V>` field reads none of its buckets:
/// [`get`](Self::get) reads one bucket, and [`insert`](Self::insert) and
/// [`remove`](Self::remove) load the bucket they change. An
/// [incremental](crate::SaveOptions::incremental) save to the file it was loaded from
/// then refers to every unchanged bucket where it is, without reading or serializing
/// it, and writes the changed buckets, the table and the root. (Entries holding lazy
/// fields, and saves to another file, read and write unchanged buckets again, with the
/// same result; an incremental save then reuses the ones whose bytes did not change,
/// but a change that removes or adds a lazy value equal to others can move their
/// references to other equal chunks, and the buckets holding them are written.) The
/// bucket count stays the one the map was saved with; a map saved empty becomes owned
/// at its first insert. Views of a field of this type are
/// [`BucketMap<K, V>`](crate::BucketMap), as for a `#[strata(map)]` field. Saved as
/// the root value (or inside another type), a `Mapped<K, V>` is bucketed as a field is.
///
/// ```
/// #[derive(strata::Persist)]
/// struct Index { by_name: strata::Mapped<String, u64> }
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("index.strata");
/// let incremental = strata::SaveOptions::new().incremental(true);
/// let names = (0..100_000u64).map(|i| (format!("name {i}"), i)).collect::<std::collections::HashMap<_, _>>();
/// incremental.save(&path, &Index { by_name: names.into() })?;
///
/// let mut index: Index = strata::Archive::open(&path)?.load()?; // no bucket read
/// index.by_name.insert("new".into(), 7)?;                        // one bucket loaded
/// let stats = incremental.save(&path, &index)?;
/// assert!(stats.chunks <= 8);
/// let index: Index = strata::Archive::open(&path)?.load()?;
/// assert_eq!(index.by_name.get(&"new".to_string())?, Some(7));
/// assert_eq!(index.by_name.len(), 100_001);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Mapped<K, V> {
    inner: MapInner<K, V>,
}

#[derive(Debug, Clone)]
enum MapInner<K, V> {
    Owned(HashMap<K, V>),
    Written(Written),
    Kept(KeptMap<K, V>),
}

impl<K, V> Mapped<K, V> {
    /// The handle of a map streamed into the file being written.
    pub(crate) fn from_written(written: Written) -> Self {
        Self { inner: MapInner::Written(written) }
    }

    /// Owned entries, saved as buckets.
    #[must_use]
    pub fn new(entries: HashMap<K, V>) -> Self {
        Self { inner: MapInner::Owned(entries) }
    }

    /// The entries, when they are owned (not a streamed map's handle, nor one left in
    /// its archive).
    #[must_use]
    pub fn as_map(&self) -> Option<&HashMap<K, V>> {
        match &self.inner {
            MapInner::Owned(m) => Some(m),
            MapInner::Written(_) | MapInner::Kept(_) => None,
        }
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> u64 {
        match &self.inner {
            MapInner::Owned(m) => m.len() as u64,
            MapInner::Written(w) => w.header().len(),
            MapInner::Kept(k) => k.len(),
        }
    }

    /// Whether there are no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the entries are still in the archive the value was loaded from (all or
    /// some of them: changed buckets are held in memory).
    #[must_use]
    pub fn is_in_archive(&self) -> bool {
        matches!(self.inner, MapInner::Kept(_))
    }

    /// The map left in its archive this handle stands for, if it is one.
    pub(crate) fn kept(&self) -> Option<&KeptMap<K, V>> {
        match &self.inner {
            MapInner::Kept(k) => Some(k),
            MapInner::Owned(_) | MapInner::Written(_) => None,
        }
    }
}

impl<K, V> Mapped<K, V>
where
    K: Persist + Send + Sync + StableHash + Hash + Eq + Clone,
    V: Persist + Send + Sync + Clone,
    rkyv::Archived<K>: 'static,
    crate::map::ArchivedEntry<rkyv::Archived<K>, rkyv::Archived<V>>:
        for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
{
    fn no_entries() -> Error {
        Error::Message(String::from("a streamed map's handle holds no entries: they are in the file being written"))
    }

    /// The value of `key` (read from the archive, one bucket, when the map is left
    /// there).
    ///
    /// # Errors
    /// Reading the bucket; a streamed map's handle.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        match &self.inner {
            MapInner::Owned(m) => Ok(m.get(key).cloned()),
            MapInner::Kept(k) => k.get(key),
            MapInner::Written(_) => Err(Self::no_entries()),
        }
    }

    /// Inserts an entry; the value it replaces. For a map left in its archive, the
    /// bucket of the key is loaded and will be written by the next save.
    ///
    /// # Errors
    /// Reading the bucket; a streamed map's handle.
    pub fn insert(&mut self, key: K, value: V) -> Result<Option<V>> {
        if let MapInner::Kept(k) = &self.inner
            && k.buckets() == 0
        {
            self.inner = MapInner::Owned(HashMap::new());
        }
        match &mut self.inner {
            MapInner::Owned(m) => Ok(m.insert(key, value)),
            MapInner::Kept(k) => k.insert(key, value),
            MapInner::Written(_) => Err(Self::no_entries()),
        }
    }

    /// Removes the entry of `key`; its value. See [`insert`](Self::insert).
    ///
    /// # Errors
    /// As [`insert`](Self::insert).
    pub fn remove(&mut self, key: &K) -> Result<Option<V>> {
        match &mut self.inner {
            MapInner::Owned(m) => Ok(m.remove(key)),
            MapInner::Kept(k) => k.remove(key),
            MapInner::Written(_) => Err(Self::no_entries()),
        }
    }

    /// Every entry, owned (the stored ones read in bulk).
    ///
    /// # Errors
    /// Reading the buckets; a streamed map's handle.
    pub fn to_map(&self) -> Result<HashMap<K, V>> {
        match &self.inner {
            MapInner::Owned(m) => Ok(m.clone()),
            MapInner::Kept(k) => k.to_map(),
            MapInner::Written(_) => Err(Self::no_entries()),
        }
    }

    /// Every entry, owned, consuming the map.
    ///
    /// # Errors
    /// As [`to_map`](Self::to_map).
    pub fn into_map(self) -> Result<HashMap<K, V>> {
        match self.inner {
            MapInner::Owned(m) => Ok(m),
            MapInner::Kept(k) => k.to_map(),
            MapInner::Written(_) => Err(Self::no_entries()),
        }
    }

    /// Makes the entries owned (reading those left in the archive) and gives them, for
    /// changes of any kind; the next save writes the whole map.
    ///
    /// # Errors
    /// As [`to_map`](Self::to_map).
    pub fn make_owned(&mut self) -> Result<&mut HashMap<K, V>> {
        if let MapInner::Kept(k) = &self.inner {
            self.inner = MapInner::Owned(k.to_map()?);
        }
        match &mut self.inner {
            MapInner::Owned(m) => Ok(m),
            MapInner::Kept(_) | MapInner::Written(_) => Err(Self::no_entries()),
        }
    }
}

impl<K, V> PartialEq for Mapped<K, V>
where
    K: Persist + Send + Sync + StableHash + Hash + Eq + Clone,
    V: Persist + Send + Sync + Clone + PartialEq,
    rkyv::Archived<K>: 'static,
    crate::map::ArchivedEntry<rkyv::Archived<K>, rkyv::Archived<V>>:
        for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
{
    /// Equal entries (read from the archive where they are left there; a read that
    /// fails is unequal); streamed handles are equal when they name the same map.
    fn eq(&self, other: &Self) -> bool {
        match (&self.inner, &other.inner) {
            (MapInner::Written(a), MapInner::Written(b)) => a == b,
            (MapInner::Written(_), _) | (_, MapInner::Written(_)) => false,
            (MapInner::Owned(a), MapInner::Owned(b)) => a == b,
            _ => matches!((self.to_map(), other.to_map()), (Ok(a), Ok(b)) if a == b),
        }
    }
}

impl<K, V> From<HashMap<K, V>> for Mapped<K, V> {
    fn from(entries: HashMap<K, V>) -> Self {
        Self::new(entries)
    }
}

impl<K, V> Default for Mapped<K, V> {
    fn default() -> Self {
        Self::new(HashMap::new())
    }
}

impl<K, V> MapLike for Mapped<K, V>
where
    K: Persist + Send + Sync + StableHash + Hash + Eq,
    V: Persist + Send + Sync,
    rkyv::Archived<K>: 'static,
    crate::map::ArchivedEntry<rkyv::Archived<K>, rkyv::Archived<V>>:
        for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
{
    type K = K;
    type V = V;
    fn len(&self) -> usize {
        match &self.inner {
            MapInner::Owned(m) => m.len(),
            MapInner::Written(w) => w.header().len_usize(),
            MapInner::Kept(k) => usize::try_from(k.len()).unwrap_or(usize::MAX),
        }
    }
    fn entries(&self) -> Vec<(&K, &V)> {
        self.as_map().map(|m| m.iter().collect()).unwrap_or_default()
    }
    fn with_capacity(len: usize) -> Self {
        let mut m = HashMap::new();
        let _ = m.try_reserve(len);
        Self::new(m)
    }
    fn extend_entries(&mut self, entries: impl Iterator<Item = (K, V)>) {
        match &mut self.inner {
            MapInner::Owned(m) => m.extend(entries),
            MapInner::Written(_) | MapInner::Kept(_) => self.inner = MapInner::Owned(entries.collect()),
        }
    }
    fn __streamed(&self) -> Option<&Written> {
        match &self.inner {
            MapInner::Written(w) => Some(w),
            MapInner::Owned(_) | MapInner::Kept(_) => None,
        }
    }
    fn __kept(&self) -> Option<&dyn crate::kept_buckets::KeptBuckets<K, V>> {
        self.kept().map(|k| k as &dyn crate::kept_buckets::KeptBuckets<K, V>)
    }
    fn __from_archive(map: &crate::BucketMap<K, V>) -> Option<Result<Self>> {
        match crate::evolve::origin(map) {
            Ok(crate::evolve::Origin::Native(store)) => {
                Some(KeptMap::new(map, store).map(|k| Self { inner: MapInner::Kept(k) }))
            }
            _ => None,
        }
    }
}
