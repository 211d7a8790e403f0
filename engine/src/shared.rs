//! `Arc<T>` and `Rc<T>` fields shared across the whole archive.
//!
//! A field of type `Arc<T>` or `Rc<T>` (sized `T`) is stored as a lazy field is
//! (`lazy T` in the schema, a [`Promise<T>`] in the view), and so are the elements of
//! `Vec<Arc<T>>` and `Option<Arc<T>>` fields (`Vec<lazy T>`), and of their `Rc` forms,
//! except that every reference to one allocation refers to one chunk: the save writes
//! the value at its first reference and records the chunk by the allocation's address;
//! later references reuse the reference. A type holding such a field holds a chunk of
//! its own, so it is written by the save's ordered, depth-first walk: the first
//! reference, and so the file, depend only on the value. `Arc` and `Rc` fields of one
//! `T` have the same schema and read each other's files.
//!
//! Loading gives one `Arc` per chunk for as long as any holder keeps it (an identity
//! map per open archive and type, by chunk reference), so `Arc::ptr_eq` holds after a
//! load wherever it held before the save. An `Rc` cannot be shared between threads, so
//! its identity map lives on the loading thread for the duration of one load (the
//! outermost deserialization, see `rc_loads`): `Rc::ptr_eq` holds within each value a load
//! returns. Values holding an `Rc` are saved and loaded on the calling thread; they
//! cannot be the elements of sharded vectors, the entries of maps or lazy values, whose
//! parts a save and a load handle in parallel.

use crate::Persist;
use crate::error::Result;
use crate::format::ChunkRef;
use crate::promise::Promise;
use crate::with::FieldName;
use crate::write::ChunkWriter;
use rancor::{Fallible, Source};
use rkyv::Place;
use rkyv::with::{ArchiveWith, DeserializeWith, SerializeWith};
use std::any::TypeId;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// Stores an `Arc<T>` or `Rc<T>` field in a chunk of its own, one per allocation in
/// the whole archive. Not part of the public API.
#[derive(Debug)]
pub struct Shared<N>(PhantomData<N>);

impl<T, N> ArchiveWith<Arc<T>> for Shared<N> {
    type Archived = Promise<T>;
    type Resolver = ChunkRef;

    fn resolve_with(_: &Arc<T>, resolver: ChunkRef, out: Place<Promise<T>>) {
        out.write(Promise::new(resolver));
    }
}

impl<T, S, N: FieldName> SerializeWith<Arc<T>, S> for Shared<N>
where
    T: Persist + Send + Sync,
    S: Fallible + ChunkWriter + ?Sized,
    S::Error: Source,
{
    fn serialize_with(field: &Arc<T>, serializer: &mut S) -> std::result::Result<ChunkRef, S::Error> {
        serializer.write_shared(&**field, N::NAME).map(crate::promise::typed::<T>).map_err(S::Error::new)
    }
}

impl<T, N> ArchiveWith<Rc<T>> for Shared<N> {
    type Archived = Promise<T>;
    type Resolver = ChunkRef;

    fn resolve_with(_: &Rc<T>, resolver: ChunkRef, out: Place<Promise<T>>) {
        out.write(Promise::new(resolver));
    }
}

impl<T, S, N: FieldName> SerializeWith<Rc<T>, S> for Shared<N>
where
    T: Persist,
    S: Fallible + ChunkWriter + ?Sized,
    S::Error: Source,
{
    fn serialize_with(field: &Rc<T>, serializer: &mut S) -> std::result::Result<ChunkRef, S::Error> {
        serializer.write_shared(&**field, N::NAME).map(crate::promise::typed::<T>).map_err(S::Error::new)
    }
}

impl<T, D, N> DeserializeWith<Promise<T>, Rc<T>, D> for Shared<N>
where
    T: Persist,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &Promise<T>, _: &mut D) -> std::result::Result<Rc<T>, D::Error> {
        field.load_rc().map_err(D::Error::new)
    }
}

impl<T, D, N> DeserializeWith<Promise<T>, Arc<T>, D> for Shared<N>
where
    T: Persist + Send + Sync,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &Promise<T>, _: &mut D) -> std::result::Result<Arc<T>, D::Error> {
        field.load_shared().map_err(D::Error::new)
    }
}

/// The values of one type loaded from shared chunks of one open archive, by chunk
/// reference (all of it: a damaged reference to the same place is not the same chunk),
/// while something holds them.
pub(crate) struct Identity<T> {
    loaded: Mutex<HashMap<ChunkRef, Weak<T>>>,
}

impl<T> Default for Identity<T> {
    fn default() -> Self {
        Self { loaded: Mutex::new(HashMap::new()) }
    }
}

impl<T: Persist + Send + Sync> Identity<T> {
    fn live(&self, at: &ChunkRef) -> Option<Arc<T>> {
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner).get(at).and_then(Weak::upgrade)
    }

    /// `value`, or the one another load registered for `at` meanwhile.
    fn register(&self, at: ChunkRef, value: Arc<T>) -> Arc<T> {
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = loaded.get(&at).and_then(Weak::upgrade) {
            drop(loaded);
            if let Some(v) = Arc::into_inner(value) {
                crate::deep::discard(v);
            }
            return existing;
        }
        // Entries whose values are gone are dropped as the map grows.
        if loaded.len() >= 64 && loaded.len().is_power_of_two() {
            loaded.retain(|_, w| w.strong_count() > 0);
        }
        loaded.insert(at, Arc::downgrade(&value));
        value
    }
}

impl<T: Persist + Send + Sync> Promise<T> {
    /// Loads the value as an `Arc` shared with every other load of the same chunk from
    /// this archive while any of them is held: what an `Arc<T>` field's view gives
    /// (a field of type `Arc<T>` is stored once per allocation, see the crate's
    /// documentation), and what [`load`](Self::load) of the value around it puts there.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_shared(&self) -> Result<Arc<T>> {
        let store = match crate::evolve::origin(self)? {
            crate::evolve::Origin::Native(store) | crate::evolve::Origin::Evolved(store, _) => store,
        };
        let ids = store.attached(TypeId::of::<Identity<T>>(), || Ok(Identity::<T>::default()))?;
        let at = *self.chunk();
        if let Some(v) = ids.live(&at) {
            return Ok(v);
        }
        let value = Arc::new(self.load()?);
        Ok(ids.register(at, value))
    }
}

/// `Arc<T>` and `Rc<T>`: what a function giving a shared field's default value returns.
/// Not part of the public API.
pub trait SharedPointer<T> {
    /// The value, taken out of the pointer when it is the only one, else cloned.
    fn unwrap_or_clone(self) -> T;
}

impl<T: Clone> SharedPointer<T> for Arc<T> {
    fn unwrap_or_clone(self) -> T {
        Arc::unwrap_or_clone(self)
    }
}

impl<T: Clone> SharedPointer<T> for Rc<T> {
    fn unwrap_or_clone(self) -> T {
        Rc::unwrap_or_clone(self)
    }
}

impl<T: Persist> Promise<T> {
    /// Loads the value as an `Rc` shared with every other reference to the same chunk
    /// met by the same load: what an `Rc<T>` field's view gives (a field of type
    /// `Rc<T>` is stored once per allocation, see the crate's documentation), and what
    /// [`load`](Self::load) of the value around it puts there. Outside a load, each
    /// call gives a new `Rc`.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_rc(&self) -> Result<Rc<T>> {
        let store = match crate::evolve::origin(self)? {
            crate::evolve::Origin::Native(store) | crate::evolve::Origin::Evolved(store, _) => store,
        };
        let key = (Arc::as_ptr(&store) as usize, *self.chunk());
        if let Some(v) = crate::rc_loads::found::<T>(key) {
            return Ok(v);
        }
        let value = Rc::new(self.load()?);
        crate::rc_loads::keep(key, &value);
        Ok(value)
    }
}

/// An element of a sharded `Vec<Arc<T>>` field: stored as a shared field is (`lazy T`),
/// so that every reference to one allocation, in any shard or elsewhere in the archive,
/// refers to one chunk. Not part of the public API.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct SharedArc<T> {
    arc: Arc<T>,
    /// The field's name, for the chunk's directory entry.
    name: &'static str,
}

impl<T> rkyv::Archive for SharedArc<T> {
    type Archived = Promise<T>;
    type Resolver = ChunkRef;

    fn resolve(&self, resolver: ChunkRef, out: Place<Promise<T>>) {
        out.write(Promise::new(resolver));
    }
}

impl<T, S> rkyv::Serialize<S> for SharedArc<T>
where
    T: Persist + Send + Sync,
    S: Fallible + ChunkWriter + ?Sized,
    S::Error: Source,
{
    fn serialize(&self, serializer: &mut S) -> std::result::Result<ChunkRef, S::Error> {
        serializer.write_shared(&*self.arc, self.name).map(crate::promise::typed::<T>).map_err(S::Error::new)
    }
}

impl<T, D> rkyv::Deserialize<SharedArc<T>, D> for Promise<T>
where
    T: Persist + Send + Sync,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize(&self, _: &mut D) -> std::result::Result<SharedArc<T>, D::Error> {
        self.load_shared().map(|arc| SharedArc { arc, name: "" }).map_err(D::Error::new)
    }
}

impl<T: Persist + Send + Sync> Persist for SharedArc<T> {
    fn __describe(s: &mut crate::schema::SchemaBuilder) -> String {
        format!("lazy {}", s.of::<T>())
    }
    fn __is_leaf() -> bool {
        false
    }
}

/// Stores a `Vec<Arc<T>>` field as a sharded vector of shared references
/// (`shard Vec<lazy T>`): each allocation is stored once in the archive, whichever
/// shards refer to it. Not part of the public API.
#[derive(Debug)]
pub struct AsSharedShards<
    N = crate::field::Unnamed,
    const BYTES: u64 = { crate::sharded::DEFAULT_SHARD_BYTES },
    const MODE: u8 = 0,
    const LEVEL: i32 = 0,
>(PhantomData<N>);

impl<T, N, const BYTES: u64, const MODE: u8, const LEVEL: i32> ArchiveWith<Vec<Arc<T>>>
    for AsSharedShards<N, BYTES, MODE, LEVEL>
{
    type Archived = crate::sharded::ShardedVec<SharedArc<T>>;
    type Resolver = crate::format::table::TableHeader;

    fn resolve_with(_: &Vec<Arc<T>>, resolver: Self::Resolver, out: Place<Self::Archived>) {
        out.write(crate::sharded::ShardedVec::new(resolver));
    }
}

impl<T, S, N: FieldName, const BYTES: u64, const MODE: u8, const LEVEL: i32> SerializeWith<Vec<Arc<T>>, S>
    for AsSharedShards<N, BYTES, MODE, LEVEL>
where
    T: Persist + Send + Sync,
    S: Fallible + ChunkWriter + ?Sized,
    S::Error: Source,
{
    fn serialize_with(field: &Vec<Arc<T>>, serializer: &mut S) -> std::result::Result<Self::Resolver, S::Error> {
        let items: Vec<SharedArc<T>> =
            field.iter().map(|arc| SharedArc { arc: Arc::clone(arc), name: N::NAME }).collect();
        let codec = crate::with::codec_of(MODE, LEVEL);
        serializer.write_sharded(&items, BYTES, codec, N::NAME).map_err(S::Error::new)
    }
}

impl<T, D, N, const BYTES: u64, const MODE: u8, const LEVEL: i32>
    DeserializeWith<crate::sharded::ShardedVec<SharedArc<T>>, Vec<Arc<T>>, D> for AsSharedShards<N, BYTES, MODE, LEVEL>
where
    T: Persist + Send + Sync,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(
        field: &crate::sharded::ShardedVec<SharedArc<T>>,
        _: &mut D,
    ) -> std::result::Result<Vec<Arc<T>>, D::Error> {
        let items = match crate::load::take_loaded::<_, Vec<SharedArc<T>>>(field) {
            Some(v) => v,
            None => field.load().map_err(D::Error::new)?,
        };
        Ok(items.into_iter().map(|s| s.arc).collect())
    }
}

/// A map whose values are `Arc`s (`HashMap<K, Arc<V>>`, `BTreeMap<K, Arc<V>>`): as a
/// bucketed map field it is stored as the same map of shared references
/// (`map HashMap<K, lazy V>`). Not part of the public API.
pub trait SharedValues: Sized {
    /// The key type.
    type K;
    /// The type the values point to.
    type V;
    /// The map as stored: the same keys, shared references as values.
    type Stored: crate::map::MapLike<K = Self::K, V = SharedArc<Self::V>>;
    /// The entries, each value a shared reference named `name` in the directory.
    fn shared_entries(&self, name: &'static str) -> Vec<(&Self::K, SharedArc<Self::V>)>;
    /// The map with the loaded values.
    fn from_stored(stored: Self::Stored) -> Self;
}

impl<K: std::hash::Hash + Eq, V, H: std::hash::BuildHasher + Default> SharedValues for HashMap<K, Arc<V>, H> {
    type K = K;
    type V = V;
    type Stored = HashMap<K, SharedArc<V>, H>;
    fn shared_entries(&self, name: &'static str) -> Vec<(&K, SharedArc<V>)> {
        self.iter().map(|(k, v)| (k, SharedArc { arc: Arc::clone(v), name })).collect()
    }
    fn from_stored(stored: Self::Stored) -> Self {
        stored.into_iter().map(|(k, v)| (k, v.arc)).collect()
    }
}

impl<K: Ord, V> SharedValues for std::collections::BTreeMap<K, Arc<V>> {
    type K = K;
    type V = V;
    type Stored = std::collections::BTreeMap<K, SharedArc<V>>;
    fn shared_entries(&self, name: &'static str) -> Vec<(&K, SharedArc<V>)> {
        self.iter().map(|(k, v)| (k, SharedArc { arc: Arc::clone(v), name })).collect()
    }
    fn from_stored(stored: Self::Stored) -> Self {
        stored.into_iter().map(|(k, v)| (k, v.arc)).collect()
    }
}

/// Stores a `HashMap<K, Arc<V>>` or `BTreeMap<K, Arc<V>>` field as a bucketed map of
/// shared references (`map HashMap<K, lazy V>`): each allocation is stored once in the
/// archive, whichever buckets refer to it. Not part of the public API.
#[derive(Debug)]
pub struct AsSharedBuckets<N = crate::field::Unnamed, const MODE: u8 = 0, const LEVEL: i32 = 0>(PhantomData<N>);

impl<M: SharedValues, N, const MODE: u8, const LEVEL: i32> ArchiveWith<M> for AsSharedBuckets<N, MODE, LEVEL> {
    type Archived = crate::map::BucketMap<M::K, SharedArc<M::V>>;
    type Resolver = crate::format::table::TableHeader;

    fn resolve_with(_: &M, resolver: Self::Resolver, out: Place<Self::Archived>) {
        out.write(crate::map::BucketMap::new(resolver));
    }
}

impl<M, S, N: FieldName, const MODE: u8, const LEVEL: i32> SerializeWith<M, S> for AsSharedBuckets<N, MODE, LEVEL>
where
    M: SharedValues,
    M::K: Persist + Send + Sync + crate::hash::StableHash,
    M::V: Persist + Send + Sync,
    S: Fallible + ChunkWriter + ?Sized,
    S::Error: Source,
{
    fn serialize_with(field: &M, serializer: &mut S) -> std::result::Result<Self::Resolver, S::Error> {
        let values = field.shared_entries(N::NAME);
        let entries: Vec<(&M::K, &SharedArc<M::V>)> = values.iter().map(|(k, v)| (*k, v)).collect();
        let codec = crate::with::codec_of(MODE, LEVEL);
        serializer.write_buckets(&entries, codec, N::NAME).map_err(S::Error::new)
    }
}

impl<M, D, N, const MODE: u8, const LEVEL: i32> DeserializeWith<crate::map::BucketMap<M::K, SharedArc<M::V>>, M, D>
    for AsSharedBuckets<N, MODE, LEVEL>
where
    M: SharedValues,
    M::Stored: Send + 'static,
    M::K: Persist + Send + Sync,
    M::V: Persist + Send + Sync,
    rkyv::Archived<M::K>: 'static,
    crate::map::ArchivedEntry<rkyv::Archived<M::K>, Promise<M::V>>: for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(
        field: &crate::map::BucketMap<M::K, SharedArc<M::V>>,
        _: &mut D,
    ) -> std::result::Result<M, D::Error> {
        let stored = match crate::load::take_loaded::<_, M::Stored>(field) {
            Some(v) => v,
            None => field.load_as::<M::Stored>().map_err(D::Error::new)?,
        };
        Ok(M::from_stored(stored))
    }
}
