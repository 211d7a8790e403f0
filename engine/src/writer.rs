//! [`Writer`]: the parts of a value a streamed save writes before the value itself.

use crate::Persist;
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::format::meta::ChunkKind;
use crate::format::table::TableHeader;
use crate::hash::StableHash;
use crate::stream::{Mapped, Sharded};
use crate::write::SaveCtx;
use crate::written::Written;
use std::path::Path;

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
    /// [`Mapped<K, V>`] field, or `"entries"` when the root is a `Mapped<K, V>`), holding a fraction of them: each entry is archived as
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
    pub fn map<K: Persist + Send + Sync + StableHash, V: Persist + Send + Sync>(
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
    pub fn map_with<K: Persist + Send + Sync + StableHash, V: Persist + Send + Sync>(
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
        Ok(Mapped::from_written(Written::new(header, ctx.id(), field)))
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
    pub fn lazy<T: Persist + Send + Sync>(&mut self, field: &'static str, value: &T) -> Result<crate::Lazy<T>> {
        self.lazy_with(field, value, None)
    }

    /// [`lazy`](Self::lazy) with `codec` for the chunk (a field's `compress = "..."`;
    /// `None`: the save's default).
    ///
    /// # Errors
    /// As [`lazy`](Self::lazy).
    pub fn lazy_with<T: Persist + Send + Sync>(
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
    /// [`Sharded<T>`] field, or `"items"` when the root is a `Sharded<T>`): shards of
    /// about [`DEFAULT_SHARD_BYTES`] serialized bytes (32 KiB; 8 KiB when the save
    /// compresses) are cut, encoded (in parallel, a few MiB at a time) and written as the
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
    pub fn shard<T: Persist + Send + Sync>(
        &mut self,
        field: &'static str,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Sharded<T>> {
        self.shard_with(field, items, crate::sharded::DEFAULT_SHARD_BYTES, None)
    }

    /// [`shard`](Self::shard) with shards of about `shard_bytes` serialized bytes (a
    /// field's `shard_bytes = N`) and `codec` for them (a field's `compress = "..."`;
    /// `None`: the save's default).
    ///
    /// # Errors
    /// Serialization and I/O errors.
    pub fn shard_with<T: Persist + Send + Sync>(
        &mut self,
        field: &'static str,
        items: impl IntoIterator<Item = T>,
        shard_bytes: u64,
        codec: Option<Codec>,
    ) -> Result<Sharded<T>> {
        let ctx = self.ctx;
        let shard_bytes = ctx.shard_bytes(shard_bytes, codec);
        let vector = ctx.alloc(ctx.root_entry(), ChunkKind::Vector, 0, field);
        let mut count = 0u64;
        let shards = Cutter::new(items.into_iter(), shard_bytes).map(|(start, shard, bytes)| {
            count = start + shard.len() as u64;
            Ok((start, shard, bytes))
        });
        let table = ctx.nested(|| ctx.write_shards(shards, shard_bytes, codec, vector))?;
        ctx.set_index(vector, count);
        let header = TableHeader::new(table, count);
        Ok(Sharded::from_written(Written::new(header, ctx.id(), field)))
    }
}

/// Cuts a stream of elements into shards of about `target` serialized bytes, as
/// [`crate::write`] cuts a slice: the same shards for the same elements.
struct Cutter<I: Iterator> {
    items: I,
    target: usize,
    start: u64,
}

impl<I: Iterator<Item: Persist + Send + Sync>> Cutter<I> {
    fn new(items: I, target: u64) -> Self {
        Self { items, target: usize::try_from(target.max(1)).unwrap_or(usize::MAX), start: 0 }
    }
}

impl<I: Iterator<Item: Persist + Send + Sync>> Iterator for Cutter<I> {
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
