//! The serializer strata drives rkyv with, and the capability that lets a lazy field
//! write its own chunk.
//!
//! rkyv's `Serializer<W, A, S>` is used as is; strata's writer [`ChunkBuf`] fills the
//! `W` slot. Besides collecting one chunk's bytes, it carries the save's context,
//! which is how a lazy field, met deep inside a parent's serialization, writes its own
//! chunk first (children before parents) and hands back the reference the parent
//! stores.

use super::SaveCtx;
use crate::Persist;
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::format::ChunkRef;
use crate::format::meta::{ChunkKind, NO_PARENT};
use crate::format::table::TableHeader;
use crate::hash::StableHash;
use rkyv::rancor::Strategy;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::ser::sharing::Share;
use rkyv::ser::{Positional, Serializer, Writer};
use rkyv::util::AlignedVec;

/// The bytes of one chunk under construction, and the save it belongs to.
pub struct ChunkBuf<'a> {
    pub(crate) bytes: AlignedVec<16>,
    /// `None` while a leaf chunk is encoded in parallel: it may not write children.
    ctx: Option<&'a SaveCtx<'a>>,
    /// The directory entry of the chunk being built: the parent of its children.
    id: u32,
}

impl<'a> ChunkBuf<'a> {
    pub(crate) fn new(bytes: AlignedVec<16>, ctx: Option<&'a SaveCtx<'a>>, id: u32) -> Self {
        Self { bytes, ctx, id }
    }

    /// The save this chunk belongs to; a chunk encoded as a leaf (in parallel) has none,
    /// and finding a chunked field of type `T` inside it is a bug in leaf detection.
    fn save_ctx<T>(&self) -> Result<&'a SaveCtx<'a>> {
        self.ctx.ok_or_else(|| {
            Error::Serialize(format!(
                "internal: a chunked field of type `{}` inside a chunk encoded as a leaf",
                std::any::type_name::<T>()
            ))
        })
    }

    /// Writes a table of `len` entries (a vector's shards or a map's buckets, by
    /// `write`) under a new directory entry of `kind`, named `name`, below this chunk's.
    fn table<T>(
        &self,
        kind: ChunkKind,
        len: u64,
        name: &'static str,
        write: impl FnOnce(&'a SaveCtx<'a>, u32) -> Result<crate::format::table::ChunkTable>,
    ) -> Result<TableHeader> {
        let ctx = self.save_ctx::<T>()?;
        ctx.nested(|| {
            let id = ctx.alloc(self.id, kind, len, name);
            Ok(TableHeader::new(write(ctx, id)?, len))
        })
    }
}

impl Positional for ChunkBuf<'_> {
    fn pos(&self) -> usize {
        self.bytes.len()
    }
}

impl<E> Writer<E> for ChunkBuf<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), E> {
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }
}

/// rkyv's serializer with strata's chunk writer.
pub type SaveSerializer<'a> = Serializer<ChunkBuf<'a>, ArenaHandle<'a>, Share>;

/// The serializer type every [`Persist`] type serializes with.
pub type Saver<'a> = Strategy<SaveSerializer<'a>, Error>;

/// The capability a lazy field needs from its serializer: writing a child chunk. Not
/// part of the public API (the derive names it in bounds).
pub trait ChunkWriter {
    /// Serializes `value` into a chunk of its own, writes it, and returns its
    /// reference. `codec` overrides the save's default compression.
    ///
    /// # Errors
    /// Serialization or I/O errors.
    fn write_chunk<T: Persist>(&mut self, value: &T, codec: Option<Codec>, name: &'static str) -> Result<ChunkRef>;

    /// The number of the save this serializer writes for.
    ///
    /// # Errors
    /// When it writes for no save (a leaf chunk encoded on its own).
    fn save_id(&self) -> Result<u64>;

    /// Writes `value`, the value a shared `Arc` or `Rc` field points to, in a chunk of
    /// its own at its first reference in the save; later references to the same
    /// allocation (the same address) get the same reference.
    ///
    /// # Errors
    /// Serialization or I/O errors.
    fn write_shared<T: Persist>(&mut self, value: &T, name: &'static str) -> Result<ChunkRef>;

    /// Writes `items` as shards of about `shard_bytes` serialized bytes, and the chunk
    /// table that lists them; returns the vector's header.
    ///
    /// # Errors
    /// Serialization or I/O errors.
    fn write_sharded<T: Persist + Send + Sync>(
        &mut self,
        items: &[T],
        shard_bytes: u64,
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<TableHeader>;

    /// Writes `entries` as hash buckets of a few KiB, and the chunk table that lists
    /// them; returns the map's header.
    ///
    /// # Errors
    /// Serialization or I/O errors.
    fn write_buckets<K: Persist + StableHash + Send + Sync, V: Persist + Send + Sync>(
        &mut self,
        entries: &[(&K, &V)],
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<TableHeader>;

    /// Takes the chunk `r` of the file `file` identifies, unchanged, as a lazy field's
    /// value (`name`), when this save appends to that file and its previous version
    /// holds the chunk: `true` then (the chunk is listed in the new directory).
    ///
    /// # Errors
    /// When it writes for no save.
    fn keep_chunk(&mut self, file: Option<(u64, u64)>, r: &ChunkRef, name: &'static str) -> Result<bool>;

    /// Writes a bucketed map left in the archive it was loaded from (`map`, a
    /// [`Mapped`](crate::Mapped) in that state): its changed buckets and table,
    /// referring to unchanged buckets where they are when the save appends to that
    /// file; returns the map's header.
    ///
    /// # Errors
    /// Serialization or I/O errors; reading unchanged buckets when they are written again.
    fn write_kept_map<K: Persist + StableHash + Send + Sync, V: Persist + Send + Sync>(
        &mut self,
        map: &dyn crate::kept_buckets::KeptBuckets<K, V>,
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<TableHeader>;

    /// Writes a sharded vector left in the archive it was loaded from (`vec`, a
    /// [`Sharded`](crate::Sharded) in that state): its changed shards, pushed elements
    /// and table, referring to unchanged shards where they are when the save appends
    /// to that file; returns the vector's header.
    ///
    /// # Errors
    /// Serialization or I/O errors; reading unchanged shards when they are written again.
    fn write_kept<T: Persist + Send + Sync>(
        &mut self,
        vec: &crate::Sharded<T>,
        shard_bytes: u64,
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<TableHeader>;
}

impl<A, S> ChunkWriter for Serializer<ChunkBuf<'_>, A, S> {
    fn write_chunk<T: Persist>(&mut self, value: &T, codec: Option<Codec>, name: &'static str) -> Result<ChunkRef> {
        let ctx = self.writer.save_ctx::<T>()?;
        let parent = self.writer.id;
        ctx.nested(|| {
            if let Some(done) = ctx.take_prepared(value) {
                return Ok(done);
            }
            let id = ctx.alloc(parent, ChunkKind::Lazy, 0, name);
            ctx.write_value(value, codec, id)
        })
    }

    fn save_id(&self) -> Result<u64> {
        Ok(self.writer.save_ctx::<()>()?.id())
    }

    fn write_shared<T: Persist>(&mut self, value: &T, name: &'static str) -> Result<ChunkRef> {
        let ctx = self.writer.save_ctx::<T>()?;
        let parent = self.writer.id;
        ctx.nested(|| {
            // A shared allocation during one save: its address and type. The save
            // borrows the value it writes, so no address is freed and reused meanwhile.
            let key = (std::ptr::from_ref(value) as usize, std::any::TypeId::of::<T>());
            if let Some(done) = ctx.shared_ref(key) {
                return Ok(done);
            }
            let id = ctx.alloc(parent, ChunkKind::Lazy, 0, name);
            let r = ctx.write_value(value, None, id)?;
            let r = match value.__count() {
                Some(n) => r.with_count(n),
                None => r,
            };
            ctx.record_shared(key, r);
            Ok(r)
        })
    }

    fn write_sharded<T: Persist + Send + Sync>(
        &mut self,
        items: &[T],
        shard_bytes: u64,
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<TableHeader> {
        self.writer.table::<T>(ChunkKind::Vector, items.len() as u64, name, |ctx, id| {
            ctx.write_sharded(items, shard_bytes, codec, id)
        })
    }

    fn write_buckets<K: Persist + StableHash + Send + Sync, V: Persist + Send + Sync>(
        &mut self,
        entries: &[(&K, &V)],
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<TableHeader> {
        self.writer
            .table::<V>(ChunkKind::Map, entries.len() as u64, name, |ctx, id| ctx.write_buckets(entries, codec, id))
    }

    fn keep_chunk(&mut self, file: Option<(u64, u64)>, r: &ChunkRef, name: &'static str) -> Result<bool> {
        let ctx = self.writer.save_ctx::<()>()?;
        if !ctx.keep_old(file, r) {
            return Ok(false);
        }
        let id = ctx.alloc(self.writer.id, ChunkKind::Lazy, 0, name);
        ctx.set(id, *r);
        Ok(true)
    }

    fn write_kept_map<K: Persist + StableHash + Send + Sync, V: Persist + Send + Sync>(
        &mut self,
        kept: &dyn crate::kept_buckets::KeptBuckets<K, V>,
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<TableHeader> {
        self.writer.table::<V>(ChunkKind::Map, kept.entries(), name, |ctx, id| ctx.write_kept_map(kept, codec, id))
    }

    fn write_kept<T: Persist + Send + Sync>(
        &mut self,
        vec: &crate::Sharded<T>,
        shard_bytes: u64,
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<TableHeader> {
        let kept = vec
            .kept()
            .ok_or_else(|| crate::Error::Message(String::from("internal: a vector not left in its archive")))?;
        self.writer
            .table::<T>(ChunkKind::Vector, kept.len(), name, |ctx, id| ctx.write_kept(kept, shard_bytes, codec, id))
    }
}

impl<T: ChunkWriter + ?Sized, E> ChunkWriter for Strategy<T, E> {
    fn write_chunk<V: Persist>(&mut self, value: &V, codec: Option<Codec>, name: &'static str) -> Result<ChunkRef> {
        T::write_chunk(self, value, codec, name)
    }

    fn save_id(&self) -> Result<u64> {
        T::save_id(self)
    }

    fn write_shared<V: Persist>(&mut self, value: &V, name: &'static str) -> Result<ChunkRef> {
        T::write_shared(self, value, name)
    }

    fn write_sharded<V: Persist + Send + Sync>(
        &mut self,
        items: &[V],
        shard_bytes: u64,
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<TableHeader> {
        T::write_sharded(self, items, shard_bytes, codec, name)
    }

    fn keep_chunk(&mut self, file: Option<(u64, u64)>, r: &ChunkRef, name: &'static str) -> Result<bool> {
        T::keep_chunk(self, file, r, name)
    }

    fn write_kept_map<K: Persist + StableHash + Send + Sync, V: Persist + Send + Sync>(
        &mut self,
        map: &dyn crate::kept_buckets::KeptBuckets<K, V>,
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<TableHeader> {
        T::write_kept_map(self, map, codec, name)
    }

    fn write_kept<V: Persist + Send + Sync>(
        &mut self,
        vec: &crate::Sharded<V>,
        shard_bytes: u64,
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<TableHeader> {
        T::write_kept(self, vec, shard_bytes, codec, name)
    }

    fn write_buckets<K: Persist + StableHash + Send + Sync, V: Persist + Send + Sync>(
        &mut self,
        entries: &[(&K, &V)],
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<TableHeader> {
        T::write_buckets(self, entries, codec, name)
    }
}

/// Serializes a slice as the root of a chunk, archived as a `Vec<T>`.
pub(crate) struct SliceRoot<'a, T>(pub(crate) &'a [T]);

impl<T: rkyv::Archive> rkyv::Archive for SliceRoot<'_, T> {
    type Archived = rkyv::vec::ArchivedVec<T::Archived>;
    type Resolver = rkyv::vec::VecResolver;

    fn resolve(&self, resolver: Self::Resolver, out: rkyv::Place<Self::Archived>) {
        rkyv::vec::ArchivedVec::resolve_from_len(self.0.len(), resolver, out);
    }
}

impl<T, S> rkyv::Serialize<S> for SliceRoot<'_, T>
where
    T: rkyv::Serialize<S>,
    S: rkyv::rancor::Fallible + rkyv::ser::Allocator + Writer + ?Sized,
{
    fn serialize(&self, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        rkyv::vec::ArchivedVec::<T::Archived>::serialize_from_slice(self.0, serializer)
    }
}

/// Runs one chunk's serialization, turning a panic inside rkyv into an error. rkyv
/// resolves relative pointers with its panicking error type: a chunk whose archived
/// bytes span more than 2 GiB (an `i32` offset) panics there instead of failing. With
/// `panic = "abort"` the process still aborts. The save then fails like any other:
/// its temporary file is removed.
pub(super) fn unpanicked<T, R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("a panic");
        let hint = if what.contains("out of range integral type conversion") {
            " (a chunk's archived bytes must span less than 2 GiB, the reach of rkyv's \
             relative pointers: mark a large vector #[strata(shard)] so that it is cut \
             into shards)"
        } else {
            ""
        };
        Err(Error::Serialize(format!(
            "serializing a chunk of type `{}` failed: {what}{hint}",
            std::any::type_name::<T>()
        )))
    })
}

impl SaveCtx<'_> {
    /// Serializes a leaf value (one that writes no child chunk).
    pub(crate) fn serialize_leaf<T: Persist>(&self, value: &T) -> Result<AlignedVec<16>> {
        self.serialize(value, None, NO_PARENT)
    }

    /// Serializes `value` into a standalone rkyv buffer whose root ends the buffer;
    /// with `ctx`, its lazy fields write their chunks through it.
    pub(crate) fn serialize<'c, T: Persist>(
        &self,
        value: &T,
        ctx: Option<&'c SaveCtx<'c>>,
        id: u32,
    ) -> Result<AlignedVec<16>> {
        crate::deep::with_limit(self.max_depth(), || {
            unpanicked::<T, _>(|| {
                rkyv::util::with_arena(|arena| {
                    let mut ser =
                        Serializer::new(ChunkBuf::new(AlignedVec::new(), ctx, id), arena.acquire(), Share::new());
                    value.__serialize_root(&mut ser)?;
                    Ok(ser.into_writer().bytes)
                })
            })
        })
    }

    /// Serializes any rkyv value as the root of a chunk, into a buffer made for
    /// `capacity` bytes (an estimate: it grows past it if need be).
    pub(crate) fn serialize_root<'c, V>(
        &self,
        value: &V,
        ctx: Option<&'c SaveCtx<'c>>,
        id: u32,
        capacity: usize,
    ) -> Result<AlignedVec<16>>
    where
        V: for<'s> rkyv::Serialize<Saver<'s>>,
    {
        crate::deep::with_limit(self.max_depth(), || {
            unpanicked::<V, _>(|| {
                rkyv::util::with_arena(|arena| {
                    let bytes = AlignedVec::with_capacity(capacity);
                    let mut ser = Serializer::new(ChunkBuf::new(bytes, ctx, id), arena.acquire(), Share::new());
                    rkyv::api::serialize_using::<_, Error>(value, &mut ser)?;
                    Ok(ser.into_writer().bytes)
                })
            })
        })
    }
}

/// The archived bytes of a value that holds no chunk of its own (a map key), outside
/// any save: what orders keys whose stable hashes collide.
pub(crate) fn archived_bytes<T: Persist>(value: &T) -> Result<AlignedVec<16>> {
    archived_bytes_of(value)
}

/// [`archived_bytes`] for any value strata's serializer can archive.
pub(crate) fn archived_bytes_of<V>(value: &V) -> Result<AlignedVec<16>>
where
    V: for<'s> rkyv::Serialize<Saver<'s>>,
{
    unpanicked::<V, _>(|| {
        rkyv::util::with_arena(|arena| {
            let mut ser =
                Serializer::new(ChunkBuf::new(AlignedVec::new(), None, NO_PARENT), arena.acquire(), Share::new());
            rkyv::api::serialize_using::<_, Error>(value, &mut ser)?;
            Ok(ser.into_writer().bytes)
        })
    })
}
