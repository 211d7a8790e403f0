//! Saves whose big parts are written as they are produced: [`Writer`] streams a
//! sharded vector from an iterator (shards cut, encoded and written as they fill; the
//! vector is never held whole), and hands back a [`Sharded`] handle that the root value,
//! written last, refers to.

use crate::Persist;
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::format::meta::ChunkKind;
use crate::format::table::TableHeader;
use crate::write::SaveCtx;

/// A vector stored as shards, like a `#[strata(shard)] Vec<T>` field (same schema, so
/// each reads the other's files), that a save can also take as already written: a
/// field of this type is either owned elements, or the handle [`Writer::shard`]
/// returns for a vector streamed into the file being written.
///
/// Loading gives owned elements; views of a field of this type are
/// [`ShardedVec<T>`](crate::ShardedVec), as for a `#[strata(shard)]` field.
#[derive(Debug, Clone, PartialEq)]
pub struct Sharded<T> {
    inner: Inner<T>,
}

#[derive(Debug, Clone, PartialEq)]
enum Inner<T> {
    Owned(Vec<T>),
    Written(Written),
}

/// A vector a [`Writer`] wrote: its table, and the save and field it was written for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Written {
    header: TableHeader,
    save: u64,
    name: &'static str,
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
            Inner::Written(w) => w.header.len(),
        }
    }

    /// Whether there are no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements, when they are owned (not a streamed vector's handle).
    #[must_use]
    pub fn as_slice(&self) -> Option<&[T]> {
        match &self.inner {
            Inner::Owned(v) => Some(v),
            Inner::Written(_) => None,
        }
    }

    /// The elements, when they are owned (not a streamed vector's handle).
    #[must_use]
    pub fn into_vec(self) -> Option<Vec<T>> {
        match self.inner {
            Inner::Owned(v) => Some(v),
            Inner::Written(_) => None,
        }
    }

    /// The table of a streamed vector, checked to belong to this save and this field.
    pub(crate) fn written(&self, save: u64, field: &str) -> Result<Option<TableHeader>> {
        match &self.inner {
            Inner::Owned(_) => Ok(None),
            Inner::Written(w) if w.save != save => Err(Error::Serialize(format!(
                "the sharded vector `{}` was streamed into another save than the one writing field `{field}`",
                w.name
            ))),
            Inner::Written(w) if w.name != field => Err(Error::Serialize(format!(
                "the sharded vector streamed as `{}` is saved in field `{field}`: stream it under the field's name",
                w.name
            ))),
            Inner::Written(w) => Ok(Some(w.header)),
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

/// Writes parts of a value into the file a [`SaveOptions::save_with`] is writing,
/// before the value itself.
///
/// [`SaveOptions::save_with`]: crate::SaveOptions::save_with
pub struct Writer<'s> {
    ctx: &'s SaveCtx<'s>,
}

impl<'s> Writer<'s> {
    pub(crate) fn new(ctx: &'s SaveCtx<'s>) -> Self {
        Self { ctx }
    }

    /// Streams `items` into the file as the shards of the root's field `field` (a
    /// [`Sharded<T>`] field): shards of about [`DEFAULT_SHARD_BYTES`] serialized bytes
    /// (32 KiB) are cut, encoded (in parallel, a few MiB at a time) and written as the
    /// iterator fills them, so memory holds a window of shards, never the vector.
    /// Returns the handle to put in the field.
    ///
    /// Streaming the root's sharded fields in field order, with the field's shard size
    /// and compression, writes the bytes a [`save`](crate::save) of the same value
    /// writes.
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
        Ok(Sharded { inner: Inner::Written(Written { header, save: ctx.id(), name: field }) })
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
