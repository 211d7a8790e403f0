//! Saves whose big parts are written as they are produced: [`Writer`] streams a
//! sharded vector from an iterator (shards cut, encoded and written as they fill; the
//! vector is never held whole) or a map from an iterator of entries (spilled by hash,
//! then written bucket by bucket), and hands back a [`Sharded`] or [`Mapped`] handle
//! that the root value, written last, refers to.

use crate::Persist;
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::format::meta::ChunkKind;
use crate::format::table::TableHeader;
use crate::hash::StableHash;
use crate::kept::Kept;
use crate::kept_map::KeptMap;
use crate::map::MapLike;
use crate::write::SaveCtx;
pub use crate::written::Written;
use std::collections::HashMap;
use std::hash::Hash;
use std::path::Path;

/// A vector stored as shards, like a `#[strata(shard)] Vec<T>` field (same schema, so
/// each reads the other's files), that a save can also take as already written or
/// still in the file: a field of this type is owned elements, the handle
/// [`Writer::shard`] returns for a vector streamed into the file being written, or,
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

impl<T: Persist + Clone> Sharded<T> {
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

impl<T: Persist + Clone + PartialEq> PartialEq for Sharded<T> {
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
/// written or still in the file: owned entries, the handle [`Writer::map`] returns for a
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
/// references to other equal chunks, and the buckets holding them are written.) The bucket count stays the one the map was saved with; a map saved
/// empty becomes owned at its first insert. Views of a field of this type are
/// [`BucketMap<K, V>`](crate::BucketMap), as for a `#[strata(map)]` field.
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
    K: Persist + StableHash + Hash + Eq + Clone,
    V: Persist + Clone,
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
    K: Persist + StableHash + Hash + Eq + Clone,
    V: Persist + Clone + PartialEq,
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
    K: Persist + StableHash + Hash + Eq,
    V: Persist,
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

/// Writes parts of a value into the file a [`SaveOptions::save_with`] is writing,
/// before the value itself.
///
/// [`SaveOptions::save_with`]: crate::SaveOptions::save_with
pub struct Writer<'s> {
    ctx: &'s SaveCtx<'s>,
    /// Where a streamed map's spill files go: the destination's folder.
    spill: Option<&'s Path>,
}

impl<'s> Writer<'s> {
    pub(crate) fn new(ctx: &'s SaveCtx<'s>, spill: Option<&'s Path>) -> Self {
        Self { ctx, spill }
    }

    /// Streams `entries` into the file as the buckets of the root's field `field` (a
    /// [`Mapped<K, V>`] field), holding a fraction of them: each entry is archived as
    /// it comes and appended to one of 256 temporary spill files (in the destination's
    /// folder) by its key's hash; the files are then read one at a time, in hash order,
    /// and written as buckets. Returns the handle to put in the field. Keys must be
    /// distinct, and keys and values must hold no lazy fields, sharded vectors or maps.
    ///
    /// When every chunked field of the root is streamed, in field order, the file has
    /// the bytes a [`save`](crate::save) of the same value has.
    ///
    /// # Errors
    /// Serialization and I/O errors; keys or values that hold chunks of their own.
    pub fn map<K: Persist + StableHash, V: Persist>(
        &mut self,
        field: &'static str,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Mapped<K, V>> {
        self.map_with(field, entries, None)
    }

    /// [`map`](Self::map) with `codec` for the buckets (a field's `compress = "..."`;
    /// `None`: the save's default).
    ///
    /// # Errors
    /// As [`map`](Self::map).
    pub fn map_with<K: Persist + StableHash, V: Persist>(
        &mut self,
        field: &'static str,
        entries: impl IntoIterator<Item = (K, V)>,
        codec: Option<Codec>,
    ) -> Result<Mapped<K, V>> {
        if !(crate::persist::is_leaf::<K>() && crate::persist::is_leaf::<V>()) {
            return Err(Error::Serialize(format!(
                "the streamed map `{field}`: its keys and values must hold no lazy fields, sharded vectors or maps"
            )));
        }
        let ctx = self.ctx;
        let map = ctx.alloc(ctx.root_entry(), ChunkKind::Map, 0, field);
        let (table, count) = ctx.nested(|| ctx.write_streamed_map(entries.into_iter(), self.spill, codec, map))?;
        ctx.set_index(map, count);
        let header = TableHeader::new(table, count);
        Ok(Mapped { inner: MapInner::Written(Written::new(header, ctx.id(), field)) })
    }

    /// Writes `value` into the file now, as the chunk of the root's field `field` (a
    /// [`Lazy<T>`](crate::Lazy) field), and returns the handle to put in the field: the
    /// value need not be held until the root is written.
    ///
    /// When every chunked field of the root is written ahead, in field order, the file
    /// has the bytes a [`save`](crate::save) of the same value has.
    ///
    /// # Errors
    /// Serialization and I/O errors.
    pub fn lazy<T: Persist>(&mut self, field: &'static str, value: &T) -> Result<crate::Lazy<T>> {
        self.lazy_with(field, value, None)
    }

    /// [`lazy`](Self::lazy) with `codec` for the chunk (a field's `compress = "..."`;
    /// `None`: the save's default).
    ///
    /// # Errors
    /// As [`lazy`](Self::lazy).
    pub fn lazy_with<T: Persist>(
        &mut self,
        field: &'static str,
        value: &T,
        codec: Option<Codec>,
    ) -> Result<crate::Lazy<T>> {
        let ctx = self.ctx;
        let id = ctx.alloc(ctx.root_entry(), ChunkKind::Lazy, 0, field);
        let r = ctx.nested(|| ctx.write_value(value, codec, id))?;
        let r = match value.__count() {
            Some(n) => r.with_count(n),
            None => r,
        };
        Ok(crate::Lazy::written(r, ctx.id(), field))
    }

    /// Streams `items` into the file as the shards of the root's field `field` (a
    /// [`Sharded<T>`] field): shards of about [`DEFAULT_SHARD_BYTES`] serialized bytes
    /// (32 KiB) are cut, encoded (in parallel, a few MiB at a time) and written as the
    /// iterator fills them, so memory holds a window of shards, never the vector.
    /// Returns the handle to put in the field.
    ///
    /// When every chunked field of the root is streamed, in field order, with each
    /// field's shard size and compression, the file has the bytes a
    /// [`save`](crate::save) of the same value has.
    ///
    /// # Errors
    /// Serialization and I/O errors.
    ///
    /// [`DEFAULT_SHARD_BYTES`]: crate::sharded::DEFAULT_SHARD_BYTES
    pub fn shard<T: Persist>(&mut self, field: &'static str, items: impl IntoIterator<Item = T>) -> Result<Sharded<T>> {
        self.shard_with(field, items, crate::sharded::DEFAULT_SHARD_BYTES, None)
    }

    /// [`shard`](Self::shard) with shards of about `shard_bytes` serialized bytes (a
    /// field's `shard_bytes = N`) and `codec` for them (a field's `compress = "..."`;
    /// `None`: the save's default).
    ///
    /// # Errors
    /// Serialization and I/O errors.
    pub fn shard_with<T: Persist>(
        &mut self,
        field: &'static str,
        items: impl IntoIterator<Item = T>,
        shard_bytes: u64,
        codec: Option<Codec>,
    ) -> Result<Sharded<T>> {
        let ctx = self.ctx;
        let vector = ctx.alloc(ctx.root_entry(), ChunkKind::Vector, 0, field);
        let mut count = 0u64;
        let shards = Cutter::new(items.into_iter(), shard_bytes).map(|(start, shard, bytes)| {
            count = start + shard.len() as u64;
            Ok((start, shard, bytes))
        });
        let table = ctx.nested(|| ctx.write_shards(shards, shard_bytes, codec, vector))?;
        ctx.set_index(vector, count);
        let header = TableHeader::new(table, count);
        Ok(Sharded { inner: Inner::Written(Written::new(header, ctx.id(), field)) })
    }
}

/// Cuts a stream of elements into shards of about `target` serialized bytes, as
/// [`crate::write`] cuts a slice: the same shards for the same elements.
struct Cutter<I: Iterator> {
    items: I,
    target: usize,
    start: u64,
}

impl<I: Iterator<Item: Persist>> Cutter<I> {
    fn new(items: I, target: u64) -> Self {
        Self { items, target: usize::try_from(target.max(1)).unwrap_or(usize::MAX), start: 0 }
    }
}

impl<I: Iterator<Item: Persist>> Iterator for Cutter<I> {
    type Item = (u64, Vec<I::Item>, usize);

    fn next(&mut self) -> Option<Self::Item> {
        let elem = size_of::<rkyv::Archived<I::Item>>().max(1);
        let mut shard = Vec::new();
        let mut acc = 0usize;
        if crate::persist::is_flat::<I::Item>() {
            let per = (self.target / elem).max(1);
            shard.extend(self.items.by_ref().take(per));
            acc = shard.len().saturating_mul(elem);
        } else {
            for item in self.items.by_ref() {
                acc = acc.saturating_add(elem.saturating_add(item.__out_of_line()));
                shard.push(item);
                if acc >= self.target {
                    break;
                }
            }
        }
        if shard.is_empty() {
            return None;
        }
        let start = self.start;
        self.start += shard.len() as u64;
        Some((start, shard, acc))
    }
}
