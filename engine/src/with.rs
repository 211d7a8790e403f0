//! rkyv `with`-wrappers that the derive applies to fields. Not part of the public API.
//!
//! Besides these: [`crate::deep::Deep`] on recursive fields and
//! [`crate::write::deterministic::Deterministic`] on inline hash maps and sets.

use crate::Persist;
use crate::codec::Codec;
use crate::error::Error;
pub use crate::field::{FieldName, Unnamed};
use crate::format::ChunkRef;
use crate::format::table::TableHeader;
use crate::load::take_loaded;
use crate::promise::Promise;
use crate::write::ChunkWriter;
use rancor::{Fallible, Source};
use rkyv::Place;
use rkyv::with::{ArchiveWith, DeserializeWith, SerializeWith};

/// The compression a wrapper's `MODE` and `LEVEL` ask for: 0 = the save's default,
/// 1 = uncompressed, 2 = zstd at `LEVEL`.
#[must_use]
pub const fn codec_of(mode: u8, level: i32) -> Option<Codec> {
    match mode {
        1 => Some(Codec::None),
        2 => Some(Codec::Zstd(level)),
        _ => None,
    }
}

/// Stores a field in its own chunk. `MODE`: 0 = the save's default compression,
/// 1 = uncompressed, 2 = zstd at `LEVEL`.
#[derive(Debug)]
pub struct Lazy<N = Unnamed, const MODE: u8 = 0, const LEVEL: i32 = 0>(std::marker::PhantomData<N>);

impl<T, N, const MODE: u8, const LEVEL: i32> ArchiveWith<T> for Lazy<N, MODE, LEVEL> {
    type Archived = Promise<T>;
    type Resolver = ChunkRef;

    fn resolve_with(_: &T, resolver: ChunkRef, out: Place<Promise<T>>) {
        out.write(Promise::new(resolver));
    }
}

impl<T, S, N: FieldName, const MODE: u8, const LEVEL: i32> SerializeWith<T, S> for Lazy<N, MODE, LEVEL>
where
    T: Persist + Send + Sync,
    S: Fallible + ChunkWriter + ?Sized,
    S::Error: Source,
{
    fn serialize_with(field: &T, serializer: &mut S) -> Result<ChunkRef, S::Error> {
        let r = serializer.write_chunk(field, codec_of(MODE, LEVEL), N::NAME).map_err(S::Error::new)?;
        Ok(crate::promise::typed::<T>(match field.__count() {
            Some(n) => r.with_count(n),
            None => r,
        }))
    }
}

impl<T, D, N, const MODE: u8, const LEVEL: i32> DeserializeWith<Promise<T>, T, D> for Lazy<N, MODE, LEVEL>
where
    T: Persist + Send + Sync,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &Promise<T>, _: &mut D) -> Result<T, D::Error> {
        match take_loaded::<_, T>(field) {
            Some(v) => Ok(v),
            None => field.load().map_err(D::Error::new),
        }
    }
}

/// Stores a [`crate::Lazy<T>`] handle in its own chunk, as [`Lazy`] stores a `T`.
#[derive(Debug)]
pub struct AsLazy<N = Unnamed, const MODE: u8 = 0, const LEVEL: i32 = 0>(std::marker::PhantomData<N>);

impl<T, N, const MODE: u8, const LEVEL: i32> ArchiveWith<crate::Lazy<T>> for AsLazy<N, MODE, LEVEL> {
    type Archived = Promise<T>;
    type Resolver = ChunkRef;

    fn resolve_with(_: &crate::Lazy<T>, resolver: ChunkRef, out: Place<Promise<T>>) {
        out.write(Promise::new(resolver));
    }
}

impl<T, S, N: FieldName, const MODE: u8, const LEVEL: i32> SerializeWith<crate::Lazy<T>, S> for AsLazy<N, MODE, LEVEL>
where
    T: Persist + Send + Sync,
    S: Fallible + ChunkWriter + ?Sized,
    S::Error: Source,
{
    fn serialize_with(field: &crate::Lazy<T>, serializer: &mut S) -> Result<ChunkRef, S::Error> {
        // A value a `Writer` wrote ahead into this save.
        if let Some(written) = field.written_chunk(serializer.save_id().map_err(S::Error::new)?, N::NAME) {
            return written.map(crate::promise::typed::<T>).map_err(S::Error::new);
        }
        // An unchanged value of the file the save appends to is referred to where it is.
        if let Some((store, r)) = field.kept()
            && crate::persist::is_leaf::<T>()
            && serializer.keep_chunk(store.file_id(), &r, N::NAME).map_err(S::Error::new)?
        {
            return Ok(crate::promise::typed::<T>(r));
        }
        let value = field.get().map_err(S::Error::new)?;
        let r = serializer.write_chunk(value, codec_of(MODE, LEVEL), N::NAME).map_err(S::Error::new)?;
        Ok(crate::promise::typed::<T>(match value.__count() {
            Some(n) => r.with_count(n),
            None => r,
        }))
    }
}

impl<T, D, N, const MODE: u8, const LEVEL: i32> DeserializeWith<Promise<T>, crate::Lazy<T>, D>
    for AsLazy<N, MODE, LEVEL>
where
    T: Persist + Send + Sync,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &Promise<T>, _: &mut D) -> Result<crate::Lazy<T>, D::Error> {
        // Left in the archive, unless it is read through a plan (another layout).
        match crate::evolve::origin(field) {
            Ok(crate::evolve::Origin::Native(store)) => crate::Lazy::in_archive(field, store).map_err(D::Error::new),
            _ => field.load().map(crate::Lazy::new).map_err(D::Error::new),
        }
    }
}

/// Stores a `usize` as 64 bits (rkyv's own archived `usize` is 32 bits and would
/// truncate); loading a value that does not fit this platform's `usize` is an error.
#[derive(Debug)]
pub struct AsU64;

impl ArchiveWith<usize> for AsU64 {
    type Archived = rkyv::Archived<u64>;
    type Resolver = ();

    fn resolve_with(field: &usize, (): (), out: Place<Self::Archived>) {
        out.write(rkyv::Archived::<u64>::from_native(*field as u64));
    }
}

impl<S: Fallible + ?Sized> SerializeWith<usize, S> for AsU64 {
    fn serialize_with(_: &usize, _: &mut S) -> Result<(), S::Error> {
        Ok(())
    }
}

impl<D> DeserializeWith<rkyv::Archived<u64>, usize, D> for AsU64
where
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &rkyv::Archived<u64>, _: &mut D) -> Result<usize, D::Error> {
        usize::try_from(field.to_native()).map_err(|_| {
            D::Error::new(Error::Message(format!("stored usize {} does not fit this platform", field.to_native())))
        })
    }
}

/// Stores an `isize` as 64 bits; see [`AsU64`].
#[derive(Debug)]
pub struct AsI64;

impl ArchiveWith<isize> for AsI64 {
    type Archived = rkyv::Archived<i64>;
    type Resolver = ();

    fn resolve_with(field: &isize, (): (), out: Place<Self::Archived>) {
        out.write(rkyv::Archived::<i64>::from_native(*field as i64));
    }
}

impl<S: Fallible + ?Sized> SerializeWith<isize, S> for AsI64 {
    fn serialize_with(_: &isize, _: &mut S) -> Result<(), S::Error> {
        Ok(())
    }
}

impl<D> DeserializeWith<rkyv::Archived<i64>, isize, D> for AsI64
where
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &rkyv::Archived<i64>, _: &mut D) -> Result<isize, D::Error> {
        isize::try_from(field.to_native()).map_err(|_| {
            D::Error::new(Error::Message(format!("stored isize {} does not fit this platform", field.to_native())))
        })
    }
}

/// Stores a `Vec<T>` as shards of about `BYTES` serialized bytes. `MODE` and `LEVEL` as
/// for [`Lazy`].
#[derive(Debug)]
pub struct AsShards<
    N = Unnamed,
    const BYTES: u64 = { crate::sharded::DEFAULT_SHARD_BYTES },
    const MODE: u8 = 0,
    const LEVEL: i32 = 0,
>(std::marker::PhantomData<N>);

impl<T, N, const BYTES: u64, const MODE: u8, const LEVEL: i32> ArchiveWith<Vec<T>> for AsShards<N, BYTES, MODE, LEVEL> {
    type Archived = crate::sharded::ShardedVec<T>;
    type Resolver = TableHeader;

    fn resolve_with(_: &Vec<T>, resolver: Self::Resolver, out: Place<Self::Archived>) {
        out.write(crate::sharded::ShardedVec::new(resolver));
    }
}

impl<T, S, N: FieldName, const BYTES: u64, const MODE: u8, const LEVEL: i32> SerializeWith<Vec<T>, S>
    for AsShards<N, BYTES, MODE, LEVEL>
where
    T: Persist + Send + Sync,
    S: Fallible + ChunkWriter + ?Sized,
    S::Error: Source,
{
    fn serialize_with(field: &Vec<T>, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        serializer.write_sharded(field, BYTES, codec_of(MODE, LEVEL), N::NAME).map_err(S::Error::new)
    }
}

impl<T, D, N, const BYTES: u64, const MODE: u8, const LEVEL: i32>
    DeserializeWith<crate::sharded::ShardedVec<T>, Vec<T>, D> for AsShards<N, BYTES, MODE, LEVEL>
where
    T: Persist + Send + Sync,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &crate::sharded::ShardedVec<T>, _: &mut D) -> Result<Vec<T>, D::Error> {
        match take_loaded::<_, Vec<T>>(field) {
            Some(v) => Ok(v),
            None => field.load().map_err(D::Error::new),
        }
    }
}

impl<T, N, const BYTES: u64, const MODE: u8, const LEVEL: i32> ArchiveWith<crate::stream::Sharded<T>>
    for AsShards<N, BYTES, MODE, LEVEL>
{
    type Archived = crate::sharded::ShardedVec<T>;
    type Resolver = TableHeader;

    fn resolve_with(_: &crate::stream::Sharded<T>, resolver: Self::Resolver, out: Place<Self::Archived>) {
        out.write(crate::sharded::ShardedVec::new(resolver));
    }
}

impl<T, S, N: FieldName, const BYTES: u64, const MODE: u8, const LEVEL: i32> SerializeWith<crate::stream::Sharded<T>, S>
    for AsShards<N, BYTES, MODE, LEVEL>
where
    T: Persist + Send + Sync,
    S: Fallible + ChunkWriter + ?Sized,
    S::Error: Source,
{
    fn serialize_with(field: &crate::stream::Sharded<T>, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        match (field.streamed(), field.as_slice()) {
            (Some(written), _) => {
                let save = serializer.save_id().map_err(S::Error::new)?;
                written.check(save, N::NAME).map_err(S::Error::new)
            }
            (None, Some(items)) => {
                serializer.write_sharded(items, BYTES, codec_of(MODE, LEVEL), N::NAME).map_err(S::Error::new)
            }
            (None, None) => serializer.write_kept(field, BYTES, codec_of(MODE, LEVEL), N::NAME).map_err(S::Error::new),
        }
    }
}

impl<T, D, N, const BYTES: u64, const MODE: u8, const LEVEL: i32>
    DeserializeWith<crate::sharded::ShardedVec<T>, crate::stream::Sharded<T>, D> for AsShards<N, BYTES, MODE, LEVEL>
where
    T: Persist + Send + Sync,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(
        field: &crate::sharded::ShardedVec<T>,
        _: &mut D,
    ) -> Result<crate::stream::Sharded<T>, D::Error> {
        if let Some(v) = take_loaded::<_, Vec<T>>(field) {
            return Ok(crate::stream::Sharded::new(v));
        }
        // Left in the archive, unless it is read through a plan (another layout).
        match crate::evolve::origin(field) {
            Ok(crate::evolve::Origin::Native(store)) => {
                crate::kept::Kept::new(field, store).map(crate::stream::Sharded::from_kept).map_err(D::Error::new)
            }
            _ => field.load().map(crate::stream::Sharded::new).map_err(D::Error::new),
        }
    }
}

/// Stores a map or set as hash buckets. `MODE` and `LEVEL` as for [`Lazy`].
#[derive(Debug)]
pub struct Bucketed<N = Unnamed, const MODE: u8 = 0, const LEVEL: i32 = 0>(std::marker::PhantomData<N>);

impl<M: crate::map::MapLike, N, const MODE: u8, const LEVEL: i32> ArchiveWith<M> for Bucketed<N, MODE, LEVEL> {
    type Archived = crate::map::BucketMap<M::K, M::V>;
    type Resolver = TableHeader;

    fn resolve_with(_: &M, resolver: Self::Resolver, out: Place<Self::Archived>) {
        out.write(crate::map::BucketMap::new(resolver));
    }
}

impl<M, S, N: FieldName, const MODE: u8, const LEVEL: i32> SerializeWith<M, S> for Bucketed<N, MODE, LEVEL>
where
    M: crate::map::MapLike,
    M::K: Persist + Send + Sync + crate::hash::StableHash,
    M::V: Persist + Send + Sync,
    S: Fallible + ChunkWriter + ?Sized,
    S::Error: Source,
{
    fn serialize_with(field: &M, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        if let Some(written) = field.__streamed() {
            let save = serializer.save_id().map_err(S::Error::new)?;
            return written.check(save, N::NAME).map_err(S::Error::new);
        }
        if let Some(kept) = field.__kept() {
            return serializer.write_kept_map(kept, codec_of(MODE, LEVEL), N::NAME).map_err(S::Error::new);
        }
        serializer.write_buckets(&field.entries(), codec_of(MODE, LEVEL), N::NAME).map_err(S::Error::new)
    }
}

impl<M, D, N, const MODE: u8, const LEVEL: i32> DeserializeWith<crate::map::BucketMap<M::K, M::V>, M, D>
    for Bucketed<N, MODE, LEVEL>
where
    M: crate::map::MapLike + Send + 'static,
    M::K: Persist + Send + Sync,
    M::V: Persist + Send + Sync,
    rkyv::Archived<M::K>: 'static,
    crate::map::ArchivedEntry<rkyv::Archived<M::K>, rkyv::Archived<M::V>>:
        for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &crate::map::BucketMap<M::K, M::V>, _: &mut D) -> Result<M, D::Error> {
        if let Some(v) = take_loaded::<_, M>(field) {
            return Ok(v);
        }
        // A `Mapped` is left in the archive (unless read through a plan).
        match M::__from_archive(field) {
            Some(kept) => kept.map_err(D::Error::new),
            None => field.load_as::<M>().map_err(D::Error::new),
        }
    }
}
