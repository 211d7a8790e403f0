//! The serializer strata drives rkyv with, and the chunk writer behind it.
//!
//! rkyv's `Serializer<W, A, S>` is used as is; strata's writer `ChunkBuf` fills the `W`
//! slot. Besides collecting one chunk's bytes, it carries the save's context, which is
//! how a lazy field, met deep inside a parent's serialization, writes its own chunk
//! first (children before parents) and hands back the reference the parent stores.

use crate::Persist;
use crate::codec::{self, Codec};
use crate::error::{Error, Result};
use crate::format::meta::{ChunkKind, DirEntry, Meta, NO_PARENT};
use crate::format::table::{self, ChunkTable, TableEntry};
use crate::format::{self, ChunkRef};
use crate::hash::StableHash;
use crate::sink::Sink;
use rayon::prelude::*;
use rkyv::rancor::Strategy;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::ser::sharing::Share;
use rkyv::ser::{Positional, Serializer, Writer};
use rkyv::util::AlignedVec;
use std::sync::atomic::{AtomicU64, Ordering};

/// The bytes of one chunk under construction, and the save it belongs to.
pub struct ChunkBuf<'a> {
    bytes: AlignedVec<16>,
    /// `None` while a leaf chunk is encoded in parallel: it may not write children.
    ctx: Option<&'a SaveCtx<'a>>,
    /// The directory entry of the chunk being built: the parent of its children.
    id: u32,
}

impl<'a> ChunkBuf<'a> {
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

/// The capability a lazy field needs from its serializer: writing a child chunk.
pub trait ChunkWriter {
    /// Serializes `value` into a chunk of its own, writes it, and returns its
    /// reference. `codec` overrides the save's default compression.
    ///
    /// # Errors
    /// Serialization or I/O errors.
    fn write_chunk<T: Persist>(&mut self, value: &T, codec: Option<Codec>, name: &'static str) -> Result<ChunkRef>;

    /// Writes `items` as shards of about `shard_bytes` serialized bytes, and the chunk
    /// table that lists them; returns the table's header.
    ///
    /// # Errors
    /// Serialization or I/O errors.
    fn write_sharded<T: Persist>(
        &mut self,
        items: &[T],
        shard_bytes: u64,
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<ChunkTable>;

    /// Writes `entries` as hash buckets of a few KiB, and the chunk table that lists
    /// them; returns the table's header.
    ///
    /// # Errors
    /// Serialization or I/O errors.
    fn write_buckets<K: Persist + StableHash, V: Persist>(
        &mut self,
        entries: &[(&K, &V)],
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<ChunkTable>;
}

impl<A, S> ChunkWriter for Serializer<ChunkBuf<'_>, A, S> {
    fn write_chunk<T: Persist>(&mut self, value: &T, codec: Option<Codec>, name: &'static str) -> Result<ChunkRef> {
        let ctx = self.writer.save_ctx::<T>()?;
        if let Some(done) = ctx.take_prepared(value) {
            return Ok(done);
        }
        let id = ctx.alloc(self.writer.id, ChunkKind::Lazy, 0, name);
        ctx.write_value(value, codec, id)
    }

    fn write_sharded<T: Persist>(
        &mut self,
        items: &[T],
        shard_bytes: u64,
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<ChunkTable> {
        let ctx = self.writer.save_ctx::<T>()?;
        let id = ctx.alloc(self.writer.id, ChunkKind::Vector, items.len() as u64, name);
        ctx.write_sharded(items, shard_bytes, codec, id)
    }

    fn write_buckets<K: Persist + StableHash, V: Persist>(
        &mut self,
        entries: &[(&K, &V)],
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<ChunkTable> {
        let ctx = self.writer.save_ctx::<V>()?;
        let id = ctx.alloc(self.writer.id, ChunkKind::Map, entries.len() as u64, name);
        ctx.write_buckets(entries, codec, id)
    }
}

impl<T: ChunkWriter + ?Sized, E> ChunkWriter for Strategy<T, E> {
    fn write_chunk<V: Persist>(&mut self, value: &V, codec: Option<Codec>, name: &'static str) -> Result<ChunkRef> {
        T::write_chunk(self, value, codec, name)
    }

    fn write_sharded<V: Persist>(
        &mut self,
        items: &[V],
        shard_bytes: u64,
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<ChunkTable> {
        T::write_sharded(self, items, shard_bytes, codec, name)
    }

    fn write_buckets<K: Persist + StableHash, V: Persist>(
        &mut self,
        entries: &[(&K, &V)],
        codec: Option<Codec>,
        name: &'static str,
    ) -> Result<ChunkTable> {
        T::write_buckets(self, entries, codec, name)
    }
}

/// Serializes a slice as the root of a chunk, archived as a `Vec<T>`.
struct SliceRoot<'a, T>(&'a [T]);

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

/// How many chunks of about `chunk_bytes` to encode in parallel before writing them:
/// at least two per thread (every core busy) and about 4 MiB (few writes, and a bound
/// on the memory held between encoding and writing).
fn window(chunk_bytes: u64) -> usize {
    let by_size = usize::try_from((4u64 << 20) / chunk_bytes.max(1)).unwrap_or(1);
    by_size.max(rayon::current_num_threads().max(1) * 2)
}

/// Where to cut `items` into shards of about `target` serialized bytes, with each
/// shard's estimated size (what its buffer is sized for). Depends only on the values
/// (never on the thread count), so files stay deterministic.
fn shard_bounds<T: Persist>(items: &[T], target: u64) -> Vec<(std::ops::Range<usize>, usize)> {
    let target = usize::try_from(target.max(1)).unwrap_or(usize::MAX);
    let elem = size_of::<T::Archived>().max(1);
    let mut out = Vec::new();
    if crate::parallel::is_flat::<T>() {
        let per = (target / elem).max(1);
        let mut start = 0;
        while start < items.len() {
            let end = start.saturating_add(per).min(items.len());
            out.push((start..end, (end - start).saturating_mul(elem)));
            start = end;
        }
        return out;
    }
    let sizes: Vec<usize> = items.par_iter().map(|v| elem.saturating_add(v.__out_of_line())).collect();
    let (mut start, mut acc) = (0, 0usize);
    for (i, size) in sizes.into_iter().enumerate() {
        acc = acc.saturating_add(size);
        if acc >= target {
            out.push((start..i + 1, acc));
            start = i + 1;
            acc = 0;
        }
    }
    if start < items.len() {
        out.push((start..items.len(), acc));
    }
    out
}

/// Runs one chunk's serialization, turning a panic inside rkyv into an error. rkyv
/// resolves relative pointers with its panicking error type: a chunk whose archived
/// bytes span more than 2 GiB (an `i32` offset) panics there instead of failing. With
/// `panic = "abort"` the process still aborts. The save then fails like any other:
/// its temporary file is removed.
fn unpanicked<T>(f: impl FnOnce() -> Result<AlignedVec<16>>) -> Result<AlignedVec<16>> {
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

/// Totals of one save.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaveStats {
    /// Chunks written (root and schema included).
    pub chunks: u64,
    /// Bytes of archived values before compression.
    pub raw_bytes: u64,
    /// Bytes of chunks as stored (after compression).
    pub stored_bytes: u64,
    /// Length of the whole file.
    pub file_len: u64,
    /// Wall-clock time of the save.
    pub elapsed: std::time::Duration,
}

/// One chunk, encoded and checksummed, not yet placed.
struct Encoded {
    raw_len: u64,
    encoding: format::Encoding,
    stored: Stored,
    checksum: u64,
}

/// A chunk's stored bytes: the serialized buffer itself, or its compressed form.
enum Stored {
    Raw(AlignedVec<16>),
    Packed(Vec<u8>),
}

impl From<AlignedVec<16>> for Stored {
    fn from(v: AlignedVec<16>) -> Self {
        Stored::Raw(v)
    }
}

impl Stored {
    fn bytes(&self) -> &[u8] {
        match self {
            Stored::Raw(b) => b,
            Stored::Packed(b) => b,
        }
    }
}

/// A leaf chunk ready to be placed.
enum Leaf<'v> {
    Encoded(Encoded),
    /// A byte vector written from itself, and its checksum.
    Direct(Direct<'v>, u64),
}

/// Below this many bytes, a byte vector is serialized like any value: one buffer and
/// one write cost less than two writes.
const DIRECT_MIN: usize = 64 << 10;

/// The chunk of a `Vec<u8>`, stored uncompressed, made of the vector's own bytes: what
/// rkyv archives such a root to is the bytes, zero padding to the header's alignment
/// (4), and the `ArchivedVec` header, a 32-bit relative offset back to the bytes and
/// the 32-bit length (the layout the layout fingerprint pins; a unit test compares
/// both ways byte for byte). Writing it from the vector saves copying the bytes into a
/// fresh buffer, page faults included, on the save's critical path: a lone 200 MiB
/// blob saved in 213-219 ms instead of 376-384 ms on the README's machine
/// (`cargo run --release --example blob_save`).
struct Direct<'v> {
    data: &'v [u8],
    tail: [u8; 11],
    tail_len: usize,
}

impl<'v> Direct<'v> {
    /// The direct form of `raw` under `codec`, when it has one: uncompressed, at least
    /// [`DIRECT_MIN`] bytes, and within reach of a 32-bit offset (a longer vector takes
    /// the ordinary path, which reports the limit).
    fn of(raw: Option<&'v [u8]>, codec: Codec) -> Option<Self> {
        let data = raw.filter(|d| codec == Codec::None && d.len() >= DIRECT_MIN)?;
        let header_at = data.len().next_multiple_of(4);
        let back = i32::try_from(header_at).ok()?.checked_neg()?;
        let len = u32::try_from(data.len()).ok()?;
        let pad = header_at - data.len();
        let mut tail = [0u8; 11];
        tail.get_mut(pad..pad + 4)?.copy_from_slice(&back.to_le_bytes());
        tail.get_mut(pad + 4..pad + 8)?.copy_from_slice(&len.to_le_bytes());
        Some(Self { data, tail, tail_len: pad + 8 })
    }

    /// What follows the bytes: padding and header.
    fn tail(&self) -> &[u8] {
        self.tail.get(..self.tail_len).unwrap_or_default()
    }

    /// The chunk's length.
    fn len(&self) -> u64 {
        (self.data.len() + self.tail_len) as u64
    }

    /// The chunk's checksum, as [`format::checksum`] gives over its bytes.
    fn checksum(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(self.data);
        h.update(self.tail());
        h.digest()
    }
}

/// The state of one save: where the next chunk goes, and running totals.
pub struct SaveCtx<'a> {
    sink: &'a dyn Sink,
    prepared: std::sync::Mutex<std::collections::HashMap<(usize, std::any::TypeId), ChunkRef>>,
    directory: std::sync::Mutex<Vec<DirEntry>>,
    /// The buffer a window of chunks is gathered in before its one write, kept for the
    /// whole save: allocating megabytes per window cost page faults on every window.
    window_buf: std::sync::Mutex<Vec<u8>>,
    default_codec: Codec,
    next: AtomicU64,
    chunks: AtomicU64,
    raw_bytes: AtomicU64,
    stored_bytes: AtomicU64,
}

impl<'a> SaveCtx<'a> {
    pub(crate) fn new(sink: &'a dyn Sink, default_codec: Codec, start: u64) -> Self {
        Self {
            sink,
            prepared: std::sync::Mutex::default(),
            directory: std::sync::Mutex::default(),
            window_buf: std::sync::Mutex::default(),
            default_codec,
            next: AtomicU64::new(start),
            chunks: AtomicU64::new(0),
            raw_bytes: AtomicU64::new(0),
            stored_bytes: AtomicU64::new(0),
        }
    }

    /// Adds a directory entry (its chunk reference comes later) and returns its number.
    /// Numbers are given in the order chunks are started, which depends only on the
    /// value: never inside a parallel section.
    pub(crate) fn alloc(&self, parent: u32, kind: ChunkKind, index: u64, name: &str) -> u32 {
        let mut dir = self.directory.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let id = u32::try_from(dir.len()).unwrap_or(u32::MAX);
        dir.push(DirEntry {
            chunk: ChunkRef::new(0, 0, 0, 0, format::Encoding::None),
            parent,
            kind: kind as u8,
            index,
            name: name.to_owned(),
        });
        id
    }

    /// Records where entry `id`'s chunk was written.
    fn set(&self, id: u32, chunk: ChunkRef) -> ChunkRef {
        if let Some(e) = self.directory.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(id as usize) {
            e.chunk = chunk;
        }
        chunk
    }

    /// Writes the root value: entry 0.
    pub(crate) fn write_root<T: Persist>(&self, value: &T, schema: &str) -> Result<(ChunkRef, ChunkRef)> {
        let id = self.alloc(NO_PARENT, ChunkKind::Root, 0, "");
        // The root's descendants first, then the meta chunk, then the root itself, so
        // that the root ends right before the footer and one read at the end of the file
        // brings both.
        self.write_leaves_of(value, id)?;
        let root = self.serialize(value, Some(self), id)?;
        let meta_ref = self.write_meta(schema, &root)?;
        let root_ref = self.write_raw(&root, Codec::None)?;
        Ok((root_ref, meta_ref))
    }

    /// Writes the meta chunk (schema and directory), listing the root that will follow
    /// it. References have a fixed size, so the meta chunk's length does not depend on
    /// the root's offset: it is serialized once to learn that length, and again with the
    /// root's real reference.
    fn write_meta(&self, schema: &str, root: &[u8]) -> Result<ChunkRef> {
        let chunks = std::mem::take(&mut *self.directory.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let mut meta = Meta { schema: schema.to_owned(), chunks };
        let root_ref = |offset: u64| {
            ChunkRef::new(offset, root.len() as u64, root.len() as u64, format::checksum(root), format::Encoding::None)
        };
        let probe = self.serialize_root(&meta, None, NO_PARENT, 0)?;
        let meta_at = format::align_up(self.next.load(Ordering::Acquire)).unwrap_or(u64::MAX);
        let root_at = format::align_up(meta_at.saturating_add(probe.len() as u64)).unwrap_or(u64::MAX);
        if let Some(entry) = meta.chunks.first_mut() {
            entry.chunk = root_ref(root_at);
        }
        let raw = self.serialize_root(&meta, None, NO_PARENT, 0)?;
        if raw.len() != probe.len() {
            return Err(Error::Serialize(String::from("internal: the meta chunk's length changed")));
        }
        self.write_raw(&raw, Codec::None)
    }

    /// Serializes `value` (its lazy fields first, as chunks of their own) and writes it
    /// as one chunk: directory entry `id`.
    pub(crate) fn write_value<T: Persist>(&self, value: &T, codec: Option<Codec>, id: u32) -> Result<ChunkRef> {
        let codec = codec.unwrap_or(self.default_codec);
        if let Some(direct) = Direct::of(value.__raw_bytes(), codec) {
            return Ok(self.set(id, self.place_direct(&direct, None)?));
        }
        self.write_leaves_of(value, id)?;
        let raw = self.serialize(value, Some(self), id)?;
        let r = self.write_raw(&raw, codec)?;
        Ok(self.set(id, r))
    }

    /// Encodes the leaf lazy fields of `value`'s chunk in parallel, windows of one per
    /// thread, and writes them in field order; their references wait in `prepared`.
    fn write_leaves_of<T: Persist>(&self, value: &T, parent: u32) -> Result<()> {
        let mut pending = Vec::new();
        value.__prepare(&mut pending);
        let leaves: Vec<_> = pending.into_iter().filter(|p| p.leaf).collect();
        if leaves.len() < 2 {
            return Ok(());
        }
        let window = rayon::current_num_threads().max(1);
        for group in leaves.chunks(window) {
            let ids: Vec<u32> = group.iter().map(|p| self.alloc(parent, ChunkKind::Lazy, 0, p.name)).collect();
            // A byte vector is only checksummed here; it is written from itself below.
            let encoded: Vec<Result<Leaf<'_>>> = group
                .par_iter()
                .map(|p| {
                    let codec = p.codec.unwrap_or(self.default_codec);
                    if let Some(direct) = Direct::of(p.raw, codec) {
                        let checksum = direct.checksum();
                        return Ok(Leaf::Direct(direct, checksum));
                    }
                    Ok(Leaf::Encoded(Self::encode((p.serialize)(self)?, codec)?))
                })
                .collect();
            for ((p, e), id) in group.iter().zip(encoded).zip(ids) {
                let placed = match e? {
                    Leaf::Encoded(e) => self.place(&e)?,
                    Leaf::Direct(d, checksum) => self.place_direct(&d, Some(checksum))?,
                };
                let r = self.set(id, placed);
                self.prepared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(p.key, r);
            }
        }
        Ok(())
    }

    /// Writes `items` as shards, in parallel windows when the elements are leaves.
    pub(crate) fn write_sharded<T: Persist>(
        &self,
        items: &[T],
        shard_bytes: u64,
        codec: Option<Codec>,
        vector: u32,
    ) -> Result<ChunkTable> {
        let codec = codec.unwrap_or(self.default_codec);
        let bounds = shard_bounds(items, shard_bytes);
        let mut entries = Vec::with_capacity(bounds.len());
        let slice = |r: &std::ops::Range<usize>| items.get(r.clone()).unwrap_or_default();
        if crate::parallel::is_leaf::<T>() {
            let window = window(shard_bytes);
            let windows = bounds.chunks(window).enumerate().map(|(g, group)| {
                let first = (g * window) as u64;
                let ids: Vec<u32> =
                    (0..group.len()).map(|j| self.alloc(vector, ChunkKind::Shard, first + j as u64, "")).collect();
                (group, ids)
            });
            self.write_windows(
                windows,
                |(group, _)| {
                    group
                        .par_iter()
                        .map(|(r, bytes)| {
                            let raw = self.serialize_root(&SliceRoot(slice(r)), None, NO_PARENT, bytes + 64)?;
                            Self::encode(raw, codec)
                        })
                        .collect()
                },
                |(group, ids), refs| {
                    for (((r, _), c), id) in group.iter().zip(refs).zip(ids) {
                        entries.push(TableEntry::new(r.start as u64, self.set(id, c)));
                    }
                },
            )?;
        } else {
            for (s, (r, bytes)) in bounds.iter().enumerate() {
                let id = self.alloc(vector, ChunkKind::Shard, s as u64, "");
                let raw = self.serialize_root(&SliceRoot(slice(r)), Some(self), id, bytes + 64)?;
                entries.push(TableEntry::new(r.start as u64, self.set(id, self.write_raw(&raw, codec)?)));
            }
        }
        self.write_table(entries, vector)
    }

    /// Writes `entries` as buckets: each entry is archived on its own, entries are
    /// ordered by (stable hash, archived bytes) so that files do not depend on the map's
    /// iteration order, and buckets are encoded in parallel windows when entries are
    /// leaves.
    pub(crate) fn write_buckets<K: Persist + StableHash, V: Persist>(
        &self,
        entries: &[(&K, &V)],
        codec: Option<Codec>,
        map: u32,
    ) -> Result<ChunkTable> {
        let codec = codec.unwrap_or(self.default_codec);
        let leaf = crate::parallel::is_leaf::<K>() && crate::parallel::is_leaf::<V>();
        let entry_size = size_of::<crate::map::ArchivedEntry<K::Archived, V::Archived>>() + 12;
        let estimate: usize = entries
            .par_iter()
            .map(|(k, v)| entry_size.saturating_add(k.__out_of_line()).saturating_add(v.__out_of_line()))
            .sum();
        let buckets = (estimate.div_ceil(crate::map::BUCKET_BYTES) as u64).max(1);
        let mut hashed: Vec<(u64, usize)> =
            entries.par_iter().enumerate().map(|(i, (k, _))| (crate::hash::stable_hash(*k), i)).collect();
        hashed.par_sort_unstable();
        // Contiguous runs of `hashed` per bucket (the bucket is monotonic in the hash).
        let mut runs: Vec<std::ops::Range<usize>> = Vec::with_capacity(usize::try_from(buckets).unwrap_or(0));
        let mut at = 0;
        for b in 0..buckets {
            let start = at;
            while at < hashed.len() && hashed.get(at).is_some_and(|(h, _)| crate::map::bucket_of(*h, buckets) == b) {
                at += 1;
            }
            runs.push(start..at);
        }
        let build = |run: &std::ops::Range<usize>, ctx: Option<&SaveCtx<'_>>, id: u32| -> Result<AlignedVec<16>> {
            let items = hashed.get(run.clone()).unwrap_or_default();
            self.build_bucket(items, entries, ctx, id)
        };
        let mut table = Vec::with_capacity(runs.len());
        if leaf {
            let window = window(crate::map::BUCKET_BYTES as u64);
            let windows = runs.chunks(window).enumerate().map(|(g, group)| {
                let first = (g * window) as u64;
                let ids: Vec<u32> =
                    (0..group.len()).map(|j| self.alloc(map, ChunkKind::Bucket, first + j as u64, "")).collect();
                (group, first, ids)
            });
            self.write_windows(
                windows,
                |(group, _, _)| group.par_iter().map(|run| Self::encode(build(run, None, NO_PARENT)?, codec)).collect(),
                |(_, first, ids), refs| {
                    for ((j, c), id) in refs.into_iter().enumerate().zip(ids) {
                        table.push(TableEntry::new(first + j as u64, self.set(id, c)));
                    }
                },
            )?;
        } else {
            for (b, run) in runs.iter().enumerate() {
                let id = self.alloc(map, ChunkKind::Bucket, b as u64, "");
                let bytes = build(run, Some(self), id)?;
                table.push(TableEntry::new(b as u64, self.set(id, self.write_raw(&bytes, codec)?)));
            }
        }
        self.write_table(table, map)
    }

    /// One bucket's bytes: the header, then every entry serialized straight into the
    /// same buffer, each starting at a multiple of 16 and ending with its own root.
    /// `items` are (hash, index into `entries`), sorted by hash.
    fn build_bucket<K: Persist, V: Persist>(
        &self,
        items: &[(u64, usize)],
        entries: &[(&K, &V)],
        ctx: Option<&SaveCtx<'_>>,
        id: u32,
    ) -> Result<AlignedVec<16>> {
        let order = if items.windows(2).any(|w| w.first().map(|a| a.0) == w.get(1).map(|b| b.0)) {
            // Equal hashes (collisions): order those entries by their archived bytes, so
            // that the file does not depend on the map's iteration order. Rare.
            let mut keyed: Vec<(u64, AlignedVec<16>, usize)> = Vec::with_capacity(items.len());
            for &(hash, i) in items {
                let Some((k, v)) = entries.get(i) else { continue };
                keyed.push((hash, self.serialize_root(&crate::map::EntryRef(*k, *v), None, NO_PARENT, 0)?, i));
            }
            keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.as_slice().cmp(b.1.as_slice())));
            keyed.into_iter().map(|(h, _, i)| (h, i)).collect()
        } else {
            items.to_vec()
        };
        let bad = |e: &str| Error::Serialize(e.to_owned());
        let header = crate::format::bucket::header_len(order.len()).ok_or_else(|| bad("bucket too large"))?;
        // Sized for the entries (each starts at a multiple of 16), so that it does not
        // grow (and copy itself) entry by entry.
        let entry = size_of::<crate::map::ArchivedEntry<K::Archived, V::Archived>>() + 16;
        let capacity = order.iter().fold(header, |n, &(_, i)| {
            entries.get(i).map_or(n, |(k, v)| {
                n.saturating_add(entry).saturating_add(k.__out_of_line()).saturating_add(v.__out_of_line())
            })
        });
        let mut bytes = AlignedVec::<16>::with_capacity(capacity);
        bytes.resize(header, 0);
        let (mut bytes, ends) = rkyv::util::with_arena(|arena| -> Result<(AlignedVec<16>, Vec<u32>)> {
            let mut ser = Serializer::new(ChunkBuf { bytes, ctx, id }, arena.acquire(), Share::new());
            let mut ends = Vec::with_capacity(order.len());
            for &(_, i) in &order {
                let Some((k, v)) = entries.get(i) else { continue };
                let start = ser.writer.bytes.len().next_multiple_of(16);
                ser.writer.bytes.resize(start, 0);
                // Each entry is an archive of its own: nothing may point into another.
                ser.sharing = Share::new();
                rkyv::api::serialize_using::<_, Error>(&crate::map::EntryRef(*k, *v), &mut ser)?;
                let end = ser.writer.bytes.len() - header;
                ends.push(u32::try_from(end).map_err(|_| bad("bucket larger than 4 GiB"))?);
            }
            Ok((ser.into_writer().bytes, ends))
        })?;
        let hashes: Vec<u64> = order.iter().map(|&(h, _)| h).collect();
        crate::format::bucket::write_header(bytes.get_mut(..header).unwrap_or_default(), &hashes, &ends)
            .map_err(bad)?;
        Ok(bytes)
    }

    /// Writes the index nodes of a chunk table over `leaves`, bottom-up. The root node
    /// is the chunk of directory entry `owner` (the vector or map); the others get
    /// entries of their own.
    fn write_table(&self, leaves: Vec<TableEntry>, owner: u32) -> Result<ChunkTable> {
        let count = leaves.len() as u64;
        let fanout = table::fanout_for(count);
        let f = fanout as usize;
        let depth = table::depth_for(count, u64::from(fanout));
        let mut level = leaves;
        for l in 0..depth {
            let mut next = Vec::with_capacity(level.len().div_ceil(f).max(1));
            let groups: Vec<&[TableEntry]> = if level.is_empty() { vec![&[]] } else { level.chunks(f).collect() };
            let top = l + 1 == depth;
            // A level's nodes go out as consecutive chunks, a few MiB per write.
            let node_bytes = (f * size_of::<TableEntry>()) as u64;
            let per_write = usize::try_from((4u64 << 20) / node_bytes.max(1)).unwrap_or(1).max(1);
            for (w, window) in groups.chunks(per_write).enumerate() {
                let encoded: Vec<Encoded> = window
                    .iter()
                    .map(|group| {
                        let raw = self.serialize_root(&SliceRoot(group), None, NO_PARENT, size_of_val(*group) + 64)?;
                        Self::encode(raw, Codec::None)
                    })
                    .collect::<Result<_>>()?;
                for (j, (group, node)) in window.iter().zip(self.place_all(&encoded)?).enumerate() {
                    let n = (w * per_write + j) as u64;
                    let id =
                        if top { owner } else { self.alloc(owner, ChunkKind::IndexNode, (u64::from(l) << 48) | n, "") };
                    next.push(TableEntry::new(group.first().map_or(0, TableEntry::first), self.set(id, node)));
                }
            }
            level = next;
        }
        let root =
            level.first().map(|e| *e.chunk()).ok_or_else(|| Error::Serialize(String::from("internal: empty table")))?;
        Ok(ChunkTable::new(root, count, depth, fanout))
    }

    /// The reference of `value`'s chunk if it was written ahead by the parallel phase.
    fn take_prepared<T: Persist>(&self, value: &T) -> Option<ChunkRef> {
        self.prepared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&crate::parallel::key_of(value))
    }

    /// Serializes a leaf value (one that writes no child chunk).
    pub(crate) fn serialize_leaf<T: Persist>(&self, value: &T) -> Result<AlignedVec<16>> {
        self.serialize(value, None, NO_PARENT)
    }

    /// Serializes `value` into a standalone rkyv buffer whose root ends the buffer.
    fn serialize<T: Persist>(&self, value: &T, ctx: Option<&SaveCtx<'_>>, id: u32) -> Result<AlignedVec<16>> {
        unpanicked::<T>(|| {
            rkyv::util::with_arena(|arena| {
                let mut ser =
                    Serializer::new(ChunkBuf { bytes: AlignedVec::new(), ctx, id }, arena.acquire(), Share::new());
                value.__serialize_root(&mut ser)?;
                Ok(ser.into_writer().bytes)
            })
        })
    }

    /// Serializes any rkyv value as the root of a chunk, into a buffer made for
    /// `capacity` bytes (an estimate: it grows past it if need be).
    fn serialize_root<V>(
        &self,
        value: &V,
        ctx: Option<&SaveCtx<'_>>,
        id: u32,
        capacity: usize,
    ) -> Result<AlignedVec<16>>
    where
        V: for<'s> rkyv::Serialize<Saver<'s>>,
    {
        unpanicked::<V>(|| {
            rkyv::util::with_arena(|arena| {
                let bytes = AlignedVec::with_capacity(capacity);
                let mut ser = Serializer::new(ChunkBuf { bytes, ctx, id }, arena.acquire(), Share::new());
                rkyv::api::serialize_using::<_, Error>(value, &mut ser)?;
                Ok(ser.into_writer().bytes)
            })
        })
    }

    fn encode(raw: impl Into<Stored>, codec: Codec) -> Result<Encoded> {
        let raw: Stored = raw.into();
        let raw_len = raw.bytes().len() as u64;
        let (encoding, packed) = codec::encode(raw.bytes(), codec)?;
        let stored = match packed {
            Some(p) => Stored::Packed(p),
            None => raw,
        };
        let checksum = format::checksum(stored.bytes());
        Ok(Encoded { raw_len, encoding, stored, checksum })
    }

    /// Encodes, checksums and writes one chunk's bytes at the next aligned position.
    pub(crate) fn write_raw(&self, raw: &[u8], codec: Codec) -> Result<ChunkRef> {
        let (encoding, packed) = codec::encode(raw, codec)?;
        let stored = packed.as_deref().unwrap_or(raw);
        self.place_bytes(raw.len() as u64, encoding, stored, format::checksum(stored))
    }

    /// Encodes windows of chunks (`encode`, in parallel inside) while the window before
    /// is written (`place_all`), then hands each window's references to `placed`, in
    /// order: positions follow the windows' order, whatever the threads do. Without the
    /// overlap one core idled through every write (a few MiB copied into the page cache,
    /// ~1 ms per MiB on the machine of the README's figures). One window more is held
    /// in memory.
    fn write_windows<W: Send + Sync>(
        &self,
        windows: impl Iterator<Item = W>,
        encode: impl Fn(&W) -> Result<Vec<Encoded>> + Sync,
        mut placed: impl FnMut(W, Vec<ChunkRef>),
    ) -> Result<()> {
        let mut pending: Option<(W, Vec<Encoded>)> = None;
        for w in windows {
            let (written, encoded) = rayon::join(
                || pending.take().map(|(pw, chunks)| self.place_all(&chunks).map(|refs| (pw, refs))).transpose(),
                || encode(&w),
            );
            if let Some((pw, refs)) = written? {
                placed(pw, refs);
            }
            pending = Some((w, encoded?));
        }
        if let Some((pw, chunks)) = pending {
            placed(pw, self.place_all(&chunks)?);
        }
        Ok(())
    }

    /// Places consecutive chunks with one write: their positions follow each other (each
    /// aligned), so they go out as one buffer with the padding in between.
    fn place_all(&self, chunks: &[Encoded]) -> Result<Vec<ChunkRef>> {
        let total: u64 =
            chunks.iter().map(|e| format::align_up(e.stored.bytes().len() as u64).unwrap_or(u64::MAX)).sum();
        let start = self.reserve(total)?;
        let mut buf = self.window_buf.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        buf.clear();
        buf.reserve(usize::try_from(total).unwrap_or(0));
        let mut refs = Vec::with_capacity(chunks.len());
        for e in chunks {
            let stored = e.stored.bytes();
            refs.push(ChunkRef::new(start + buf.len() as u64, stored.len() as u64, e.raw_len, e.checksum, e.encoding));
            buf.extend_from_slice(stored);
            let padded = buf.len().next_multiple_of(format::CHUNK_ALIGN as usize);
            buf.resize(padded, 0);
            self.count(e.raw_len, stored.len() as u64);
        }
        self.sink.write_at(start, &buf)?;
        Ok(refs)
    }

    fn place(&self, e: &Encoded) -> Result<ChunkRef> {
        self.place_bytes(e.raw_len, e.encoding, e.stored.bytes(), e.checksum)
    }

    fn place_bytes(&self, raw_len: u64, encoding: format::Encoding, stored: &[u8], checksum: u64) -> Result<ChunkRef> {
        let len = stored.len() as u64;
        let offset = self.reserve(len)?;
        self.sink.write_at(offset, stored)?;
        self.count(raw_len, len);
        Ok(ChunkRef::new(offset, len, raw_len, checksum, encoding))
    }

    /// Writes a byte vector's chunk from the vector itself: the bytes, then the padding
    /// and header after them. `checksum` is [`Direct::checksum`]; without it, it is
    /// computed while the bytes are written.
    fn place_direct(&self, d: &Direct<'_>, checksum: Option<u64>) -> Result<ChunkRef> {
        let len = d.len();
        let offset = self.reserve(len)?;
        let write = || -> Result<()> {
            self.sink.write_at(offset, d.data)?;
            self.sink.write_at(offset + d.data.len() as u64, d.tail())?;
            Ok(())
        };
        let checksum = match checksum {
            Some(c) => {
                write()?;
                c
            }
            None => {
                let (written, c) = rayon::join(write, || d.checksum());
                written?;
                c
            }
        };
        self.count(len, len);
        Ok(ChunkRef::new(offset, len, len, checksum, format::Encoding::None))
    }

    /// Adds one written chunk to the save's totals.
    fn count(&self, raw_len: u64, stored_len: u64) {
        self.chunks.fetch_add(1, Ordering::Relaxed);
        self.raw_bytes.fetch_add(raw_len, Ordering::Relaxed);
        self.stored_bytes.fetch_add(stored_len, Ordering::Relaxed);
    }

    /// Reserves `len` bytes at the next 16-byte-aligned position.
    fn reserve(&self, len: u64) -> Result<u64> {
        let overflow = || Error::Serialize(String::from("file offsets overflow 64 bits"));
        let mut start = 0;
        self.next
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                start = format::align_up(cur)?;
                start.checked_add(len)
            })
            .map_err(|_| overflow())?;
        Ok(start)
    }

    /// The aligned end of everything written so far: where the footer goes.
    pub(crate) fn end(&self) -> Result<u64> {
        format::align_up(self.next.load(Ordering::Acquire))
            .ok_or_else(|| Error::Serialize(String::from("file offsets overflow 64 bits")))
    }

    pub(crate) fn stats(&self, file_len: u64, elapsed: std::time::Duration) -> SaveStats {
        SaveStats {
            chunks: self.chunks.load(Ordering::Relaxed),
            raw_bytes: self.raw_bytes.load(Ordering::Relaxed),
            stored_bytes: self.stored_bytes.load(Ordering::Relaxed),
            file_len,
            elapsed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::MemorySink;

    /// A byte vector's direct chunk is, byte for byte, what rkyv serializes it to, for
    /// every padding the header can need; shorter, compressed or oversized vectors have
    /// no direct form (the oversized one is zeroed memory the kernel maps on first
    /// touch, and nothing touches it).
    #[test]
    fn a_direct_chunk_is_the_serialized_chunk() -> Result<()> {
        let sink = MemorySink::new();
        let ctx = SaveCtx::new(&sink, Codec::None, 0);
        for len in [DIRECT_MIN, DIRECT_MIN + 1, DIRECT_MIN + 2, DIRECT_MIN + 3, DIRECT_MIN + 4, 1 << 20, 3_000_001] {
            let v: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            let serialized = ctx.serialize_leaf(&v)?;
            let direct =
                Direct::of(v.__raw_bytes(), Codec::None).ok_or(Error::Serialize(format!("no direct form at {len}")))?;
            let bytes: Vec<u8> = direct.data.iter().chain(direct.tail()).copied().collect();
            assert_eq!(bytes.as_slice(), serialized.as_slice(), "length {len}");
            assert_eq!(direct.len(), serialized.len() as u64);
            assert_eq!(direct.checksum(), format::checksum(&serialized), "length {len}");
        }
        let big = vec![0u8; DIRECT_MIN];
        assert!(Direct::of(big.__raw_bytes(), Codec::Zstd(3)).is_none());
        let small = vec![0u8; DIRECT_MIN - 1];
        assert!(Direct::of(small.__raw_bytes(), Codec::None).is_none());
        assert!(vec![0u16; DIRECT_MIN].__raw_bytes().is_none());
        let oversized = vec![0u8; 1 << 31];
        assert!(Direct::of(oversized.__raw_bytes(), Codec::None).is_none());
        Ok(())
    }
}
