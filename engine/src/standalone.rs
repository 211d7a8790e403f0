//! [`Sharded<T>`] and [`Mapped<K, V>`] as values of their own: a file's root (a vector
//! or map saved by itself is sharded or bucketed, as a field is), or an element of
//! another value.
//!
//! The schema describes them as named one-field structs, `Sharded<T> = struct
//! { items: shard Vec<T> }` and `Mapped<K, V> = struct { entries: map HashMap<K, V> }`,
//! whose archived form is the field's own ([`ShardedVec<T>`], [`BucketMap<K, V>`]: a
//! one-field `repr(C)` struct has its field's layout). Tools, evolution and compaction
//! read them as they read any struct with such a field.

use crate::Persist;
use crate::field::FieldName;
use crate::format::table::TableHeader;
use crate::hash::StableHash;
use crate::map::{ArchivedEntry, BucketMap};
use crate::schema::SchemaBuilder;
use crate::sharded::ShardedVec;
use crate::stream::{Mapped, Sharded};
use crate::with::{AsShards, Bucketed};
use crate::write::ChunkWriter;
use rancor::{Fallible, Source};
use rkyv::Place;
use rkyv::with::{ArchiveWith, DeserializeWith, SerializeWith};
use std::hash::Hash;

/// The name of a standalone [`Sharded<T>`]'s one field: what
/// [`Writer::shard`](crate::Writer::shard) is given to stream a root `Sharded<T>`.
pub(crate) const ITEMS: &str = "items";

/// The name of a standalone [`Mapped<K, V>`]'s one field: what
/// [`Writer::map`](crate::Writer::map) is given to stream a root `Mapped<K, V>`.
pub(crate) const ENTRIES: &str = "entries";

/// Names a standalone sharded vector's field.
#[derive(Debug)]
pub(crate) struct Items;

impl FieldName for Items {
    const NAME: &'static str = ITEMS;
}

/// Names a standalone map's field.
#[derive(Debug)]
pub(crate) struct Entries;

impl FieldName for Entries {
    const NAME: &'static str = ENTRIES;
}

type ItemsWith = AsShards<Items>;
type EntriesWith = Bucketed<Entries>;

/// The definition of a one-field struct whose archived form is `A`.
fn one_field<A>(field: &str, storage_and_ty: &str) -> String {
    format!("struct size {} align {} {{ {field} @0: {storage_and_ty} }}", size_of::<A>(), align_of::<A>())
}

impl<T: Persist + Send + Sync> rkyv::Archive for Sharded<T> {
    type Archived = ShardedVec<T>;
    type Resolver = TableHeader;

    fn resolve(&self, resolver: Self::Resolver, out: Place<Self::Archived>) {
        <ItemsWith as ArchiveWith<Self>>::resolve_with(self, resolver, out);
    }
}

impl<T, S> rkyv::Serialize<S> for Sharded<T>
where
    T: Persist + Send + Sync,
    S: Fallible + ChunkWriter + ?Sized,
    S::Error: Source,
{
    fn serialize(&self, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        <ItemsWith as SerializeWith<Self, S>>::serialize_with(self, serializer)
    }
}

impl<T, D> rkyv::Deserialize<Sharded<T>, D> for ShardedVec<T>
where
    T: Persist + Send + Sync,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize(&self, deserializer: &mut D) -> Result<Sharded<T>, D::Error> {
        <ItemsWith as DeserializeWith<Self, Sharded<T>, D>>::deserialize_with(self, deserializer)
    }
}

impl<T: Persist + Send + Sync> Persist for Sharded<T> {
    fn __describe(s: &mut SchemaBuilder) -> String {
        let item = s.of::<T>();
        s.named(format!("Sharded<{item}>"), |_, _| one_field::<ShardedVec<T>>(ITEMS, &format!("shard Vec<{item}>")))
    }

    fn __is_leaf() -> bool {
        false
    }
}

impl<K, V> rkyv::Archive for Mapped<K, V>
where
    K: Persist + Send + Sync + StableHash + Hash + Eq,
    V: Persist + Send + Sync,
    ArchivedEntry<rkyv::Archived<K>, rkyv::Archived<V>>: for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
{
    type Archived = BucketMap<K, V>;
    type Resolver = TableHeader;

    fn resolve(&self, resolver: Self::Resolver, out: Place<Self::Archived>) {
        <EntriesWith as ArchiveWith<Self>>::resolve_with(self, resolver, out);
    }
}

impl<K, V, S> rkyv::Serialize<S> for Mapped<K, V>
where
    K: Persist + Send + Sync + StableHash + Hash + Eq,
    V: Persist + Send + Sync,
    ArchivedEntry<rkyv::Archived<K>, rkyv::Archived<V>>: for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
    S: Fallible + ChunkWriter + ?Sized,
    S::Error: Source,
{
    fn serialize(&self, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        <EntriesWith as SerializeWith<Self, S>>::serialize_with(self, serializer)
    }
}

impl<K, V, D> rkyv::Deserialize<Mapped<K, V>, D> for BucketMap<K, V>
where
    K: Persist + Send + Sync + StableHash + Hash + Eq,
    V: Persist + Send + Sync,
    ArchivedEntry<rkyv::Archived<K>, rkyv::Archived<V>>: for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize(&self, deserializer: &mut D) -> Result<Mapped<K, V>, D::Error> {
        <EntriesWith as DeserializeWith<Self, Mapped<K, V>, D>>::deserialize_with(self, deserializer)
    }
}

impl<K, V> Persist for Mapped<K, V>
where
    K: Persist + Send + Sync + StableHash + Hash + Eq,
    V: Persist + Send + Sync,
    ArchivedEntry<rkyv::Archived<K>, rkyv::Archived<V>>: for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
{
    fn __describe(s: &mut SchemaBuilder) -> String {
        let (k, v) = (s.of::<K>(), s.of::<V>());
        s.named(format!("Mapped<{k}, {v}>"), |_, _| {
            one_field::<BucketMap<K, V>>(ENTRIES, &format!("map HashMap<{k}, {v}>"))
        })
    }

    fn __is_leaf() -> bool {
        false
    }
}
