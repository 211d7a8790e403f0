//! The writer: a save's state, and where each chunk goes.
//!
//! A save serializes children before parents, depth-first, so that every chunk's
//! position depends only on the value. The pieces:
//! - [`serializer`]: the rkyv serializer and the [`ChunkWriter`] capability through
//!   which a lazy field, met inside its parent's serialization, writes its own chunk;
//! - [`leaves`]: the parallel phase that encodes a chunk's leaf lazy fields (those
//!   holding no chunk of their own) in parallel, then writes them in field order;
//! - [`collections`]: sharded vectors, bucketed maps and their chunk tables;
//! - [`deterministic`]: inline hash maps in a fixed order;
//! - this module: the save's context, the chunk directory, and placement: chunks are
//!   encoded (serialized, compressed, checksummed), then written at the next aligned
//!   position, windows of them with one write.

mod buckets;
pub(crate) mod collections;
pub(crate) mod deterministic;
pub(crate) mod leaves;
pub(crate) mod reuse;
pub(crate) mod serializer;
mod spill;

use crate::Persist;
use crate::codec::{self, Codec};
use crate::error::{Error, Result};
use crate::format::meta::{ChunkKind, DirEntry, NO_PARENT, PAGE_ENTRIES, PagedMeta};
use crate::format::{self, ChunkRef};
use crate::store::sink::Sink;
use rkyv::util::AlignedVec;
pub use serializer::{ChunkWriter, SaveSerializer, Saver};
use std::sync::atomic::{AtomicU64, Ordering};

/// Default target size of a shard, in serialized bytes.
pub const DEFAULT_SHARD_BYTES: u64 = 32 * 1024;

/// Target size of a shard whose field keeps the default size ([`DEFAULT_SHARD_BYTES`];
/// a field's `shard_bytes = 32768` is the same) when its shards are compressed. Reading
/// one element decompresses its whole shard: an 8 KiB shard takes about a third of the
/// time of a 32 KiB one, and zstd stores the smaller shards in about 2% more bytes.
pub const DEFAULT_COMPRESSED_SHARD_BYTES: u64 = 8 * 1024;

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
    /// Whether the save appended a version to the file it replaces (an
    /// [incremental](crate::SaveOptions::incremental) save); `false` when it wrote a
    /// whole file.
    pub appended: bool,
    /// Chunks an incremental save found in the file's previous version and referred to
    /// instead of writing them again (not counted in `chunks`).
    pub reused_chunks: u64,
    /// Stored bytes of those chunks.
    pub reused_bytes: u64,
}

/// The references a save hands the footer.
pub(crate) struct Written {
    pub(crate) root: ChunkRef,
    pub(crate) meta: ChunkRef,
    pub(crate) copies: Option<ChunkRef>,
}

impl Written {
    /// The footer of this build's version for a file whose footer starts at `at`, of
    /// root type fingerprint `type_fingerprint`.
    pub(crate) fn footer(&self, at: u64, type_fingerprint: u64) -> format::Footer {
        format::Footer {
            root: self.root,
            meta: self.meta,
            copies: self.copies,
            type_fingerprint,
            layout_fingerprint: format::layout::fingerprint(),
            file_len: at + format::footer::FOOTER_LEN,
            version: format::VERSION,
        }
    }
}

/// Directory pages gathered into one write.
const PAGES_PER_WRITE: usize = 64;

/// The table root nodes offered for the tail copies, by priority (fewest directory
/// steps from the root, then directory number): the best ones within the budget.
#[derive(Default)]
struct Tops {
    chosen: std::collections::BTreeMap<(u32, u32), (ChunkRef, Vec<u8>)>,
    bytes: u64,
}

impl Tops {
    /// Adds a node, then drops the lowest-priority nodes until the rest fit the
    /// budget: the nodes kept are the longest run by priority that fits, whatever the
    /// order of the offers.
    fn offer(&mut self, key: (u32, u32), node: ChunkRef, bytes: &[u8]) {
        let cost = |b: &[u8]| format::align_up(b.len() as u64).unwrap_or(u64::MAX);
        self.bytes = self.bytes.saturating_add(cost(bytes));
        self.chosen.insert(key, (node, bytes.to_vec()));
        while self.bytes > format::copies::BUDGET {
            let Some((_, (_, dropped))) = self.chosen.pop_last() else { break };
            self.bytes = self.bytes.saturating_sub(cost(&dropped));
        }
    }
}

/// One chunk, encoded and checksummed, not yet placed.
pub(crate) struct Encoded {
    raw_len: u64,
    encoding: format::Encoding,
    stored: Stored,
    checksum: u64,
}

/// A chunk's stored bytes: the serialized buffer itself, or other bytes (its
/// compressed form, an index node).
enum Stored {
    Aligned(AlignedVec<16>),
    Plain(Vec<u8>),
}

impl Stored {
    fn bytes(&self) -> &[u8] {
        match self {
            Stored::Aligned(b) => b,
            Stored::Plain(b) => b,
        }
    }
}

impl Encoded {
    /// An uncompressed chunk of `bytes`.
    pub(crate) fn plain(bytes: Vec<u8>) -> Self {
        let len = bytes.len() as u64;
        let checksum = format::checksum(&bytes);
        Self { raw_len: len, encoding: format::Encoding::None, stored: Stored::Plain(bytes), checksum }
    }

    /// The bytes as they will be stored.
    pub(crate) fn stored_bytes(&self) -> &[u8] {
        self.stored.bytes()
    }
}

/// The state of one save: where the next chunk goes, and running totals.
pub struct SaveCtx<'a> {
    sink: &'a dyn Sink,
    prepared: std::sync::Mutex<std::collections::HashMap<(usize, std::any::TypeId), ChunkRef>>,
    /// The chunks of shared `Arc` fields written so far, by allocation address and type.
    shared: std::sync::Mutex<std::collections::HashMap<(usize, std::any::TypeId), ChunkRef>>,
    directory: std::sync::Mutex<Vec<DirEntry>>,
    /// Root nodes of chunk tables, copied into the tail ([`format::copies`]).
    tops: std::sync::Mutex<Tops>,
    /// The buffer a window of chunks is gathered in before its one write, kept for the
    /// whole save: allocating megabytes per window cost page faults on every window.
    window_buf: std::sync::Mutex<Vec<u8>>,
    default_codec: Codec,
    max_depth: u32,
    /// The previous version's chunks, when the save appends a new version to a file.
    reuse: Option<reuse::Reuse<'a>>,
    /// This save's number in the process (a streamed vector's handle names its save).
    id: u64,
    /// The root's directory entry, allocated before anything else.
    root: std::sync::OnceLock<u32>,
    next: AtomicU64,
    chunks: AtomicU64,
    raw_bytes: AtomicU64,
    stored_bytes: AtomicU64,
}

impl<'a> SaveCtx<'a> {
    pub(crate) fn new(sink: &'a dyn Sink, default_codec: Codec, max_depth: u32, start: u64) -> Self {
        Self {
            sink,
            prepared: std::sync::Mutex::default(),
            shared: std::sync::Mutex::default(),
            directory: std::sync::Mutex::default(),
            tops: std::sync::Mutex::default(),
            window_buf: std::sync::Mutex::default(),
            default_codec,
            max_depth,
            reuse: None,
            id: {
                static SAVES: AtomicU64 = AtomicU64::new(0);
                SAVES.fetch_add(1, Ordering::Relaxed)
            },
            root: std::sync::OnceLock::new(),
            next: AtomicU64::new(start),
            chunks: AtomicU64::new(0),
            raw_bytes: AtomicU64::new(0),
            stored_bytes: AtomicU64::new(0),
        }
    }

    /// This save appends to a file whose previous version holds the chunks `reuse` lists:
    /// chunks equal to one of them are referred to there, not written again.
    pub(crate) fn with_reuse(mut self, reuse: reuse::Reuse<'a>) -> Self {
        self.reuse = Some(reuse);
        self
    }

    /// An old chunk equal to the one about to be placed (`stored`: its bytes, in
    /// pieces), when the save appends.
    pub(crate) fn reused(
        &self,
        raw_len: u64,
        encoding: format::Encoding,
        stored: &[&[u8]],
        checksum: u64,
    ) -> Result<Option<ChunkRef>> {
        match &self.reuse {
            Some(reuse) => reuse.take(stored, raw_len, encoding, checksum),
            None => Ok(None),
        }
    }

    /// Takes the previous version's chunk `r`, unchanged, for the new version, when this
    /// save appends to the file `file` identifies (a handle to a value read from it).
    pub(crate) fn keep_old(&self, file: Option<(u64, u64)>, r: &ChunkRef) -> bool {
        self.reuse.as_ref().is_some_and(|reuse| reuse.keep(file, r))
    }

    /// Whether this save appends to a previous version (and may reuse its chunks).
    pub(crate) fn appends(&self) -> bool {
        self.reuse.is_some()
    }

    /// The inline nesting limit of this save.
    pub(crate) fn max_depth(&self) -> u32 {
        self.max_depth
    }

    /// The compression of chunks whose field does not choose its own.
    pub(crate) fn codec(&self, field: Option<Codec>) -> Codec {
        field.unwrap_or(self.default_codec)
    }

    /// The target size of a vector's shards: `shard_bytes`, but
    /// [`DEFAULT_COMPRESSED_SHARD_BYTES`] for the default size when the shards are
    /// compressed (the default cannot be told from a field's `shard_bytes` of the same
    /// value).
    pub(crate) fn shard_bytes(&self, shard_bytes: u64, field: Option<Codec>) -> u64 {
        if shard_bytes == DEFAULT_SHARD_BYTES && self.codec(field) != Codec::None {
            DEFAULT_COMPRESSED_SHARD_BYTES
        } else {
            shard_bytes
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
    pub(crate) fn set(&self, id: u32, chunk: ChunkRef) -> ChunkRef {
        if let Some(e) = self.directory.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(id as usize) {
            e.chunk = chunk;
        }
        chunk
    }

    /// The root's directory entry (the first, whatever is written before the root).
    pub(crate) fn root_entry(&self) -> u32 {
        *self.root.get_or_init(|| self.alloc(NO_PARENT, ChunkKind::Root, 0, ""))
    }

    /// This save's number in the process.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Sets the index (a vector's element count) of directory entry `id`.
    pub(crate) fn set_index(&self, id: u32, index: u64) {
        if let Some(e) = self.directory.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(id as usize) {
            e.index = index;
        }
    }

    /// The chunk of the shared allocation `key` if this save wrote it already.
    pub(crate) fn shared_ref(&self, key: (usize, std::any::TypeId)) -> Option<ChunkRef> {
        self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key).copied()
    }

    /// Records the chunk of the shared allocation `key`.
    pub(crate) fn record_shared(&self, key: (usize, std::any::TypeId), r: ChunkRef) {
        self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, r);
    }

    /// Writes the root value: entry 0. Returns the references of the root, the meta
    /// chunk and the tail copies (when a table has been written).
    pub(crate) fn write_root<T: Persist>(&self, value: &T, schema: &str) -> Result<Written> {
        let id = self.root_entry();
        self.write_leaves_of(value, id)?;
        let root = self.serialize(value, Some(self), id)?;
        self.finish(&root, schema)
    }

    /// Ends the file before its footer, once every chunk but the root is written: the
    /// directory's pages, the meta chunk, the tail copies and the root chunk (`root`'s
    /// bytes), so that the root ends right before the footer and one read at the end of
    /// the file brings the footer, the root and the copies.
    pub(crate) fn finish(&self, root: &[u8], schema: &str) -> Result<Written> {
        let id = self.root_entry();
        let tops = std::mem::take(&mut *self.tops.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let mut copies: Vec<(ChunkRef, &[u8])> = tops.chosen.values().map(|(r, b)| (*r, b.as_slice())).collect();
        let copies = (!copies.is_empty()).then(|| {
            let bytes = format::copies::encode(&mut copies);
            self.alloc(id, ChunkKind::TailCopies, copies.len() as u64, "");
            bytes
        });
        let meta = self.write_meta(schema)?;
        let copies = copies.map(|bytes| self.write_fresh(&bytes)).transpose()?;
        let root = self.write_fresh(root)?;
        Ok(Written { root, meta, copies })
    }

    /// Offers the root node of the table of directory entry `owner` for the tail
    /// copies. Those of the tables nearest the root are kept, within
    /// [`format::copies::BUDGET`]: whatever order tables are written in, the same ones.
    pub(crate) fn offer_top(&self, owner: u32, node: ChunkRef, bytes: &[u8]) {
        let hops = {
            let dir = self.directory.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut hops = 0u32;
            let mut at = owner;
            while let Some(e) = dir.get(at as usize) {
                at = e.parent;
                hops += 1;
                if at == NO_PARENT || hops as usize > dir.len() {
                    break;
                }
            }
            hops
        };
        let mut tops = self.tops.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tops.offer((hops, owner), node, bytes);
    }

    /// Writes the directory's pages (each reused when the previous version holds it),
    /// then the meta chunk: the schema and the pages' references. The root's and the
    /// tail copies' entries keep the all-zero reference: the footer holds theirs.
    fn write_meta(&self, schema: &str) -> Result<ChunkRef> {
        let chunks = std::mem::take(&mut *self.directory.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let entries = chunks.len() as u64;
        let mut pages = Vec::with_capacity(chunks.len().div_ceil(PAGE_ENTRIES));
        for group in chunks.chunks(PAGE_ENTRIES * PAGES_PER_WRITE) {
            let encoded = group
                .chunks(PAGE_ENTRIES)
                .map(|page| {
                    let raw = self.serialize_root(&page.to_vec(), None, NO_PARENT, 0)?;
                    Self::encode(raw, Codec::None)
                })
                .collect::<Result<Vec<_>>>()?;
            pages.extend(self.place_all(&encoded)?);
        }
        drop(chunks);
        let raw = self.serialize_root(&PagedMeta { schema: schema.to_owned(), entries, pages }, None, NO_PARENT, 0)?;
        self.write_fresh(&raw)
    }

    /// Runs `f`, which writes a chunk inside the chunk being written (a lazy or shared
    /// field's, a sharded vector's, a map's), one level deeper: past
    /// [`crate::MAX_LAZY_NESTING`] levels (what a reader refuses) an [`Error::TooDeep`],
    /// and within it on a stack that grows as needed.
    pub(crate) fn nested<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        thread_local! {
            static NESTING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        }
        let depth = NESTING.get();
        if depth >= crate::MAX_LAZY_NESTING {
            return Err(Error::TooDeep {
                what: "lazy chunks inside lazy chunks",
                depth: u64::from(depth) + 1,
                limit: u64::from(crate::MAX_LAZY_NESTING),
                at: None,
            });
        }
        NESTING.set(depth + 1);
        let out = crate::deep::grow(f);
        NESTING.set(depth);
        out
    }

    /// Serializes `value` (its lazy fields first, as chunks of their own) and writes it
    /// as one chunk: directory entry `id`.
    pub(crate) fn write_value<T: Persist>(&self, value: &T, codec: Option<Codec>, id: u32) -> Result<ChunkRef> {
        let codec = self.codec(codec);
        if let Some(direct) = leaves::Direct::of(value.__raw_bytes(), codec) {
            return Ok(self.set(id, self.place_direct(&direct, None)?));
        }
        self.write_leaves_of(value, id)?;
        let raw = self.serialize(value, Some(self), id)?;
        let r = self.write_raw(&raw, codec)?;
        Ok(self.set(id, r))
    }

    pub(crate) fn encode(raw: AlignedVec<16>, codec: Codec) -> Result<Encoded> {
        let raw_len = raw.len() as u64;
        let (encoding, packed) = codec::encode(&raw, codec)?;
        let stored = match packed {
            Some(p) => Stored::Plain(p),
            None => Stored::Aligned(raw),
        };
        let checksum = format::checksum(stored.bytes());
        Ok(Encoded { raw_len, encoding, stored, checksum })
    }

    /// Encodes, checksums and writes one chunk's bytes at the next aligned position (or
    /// refers to an equal chunk of the previous version, when the save appends).
    pub(crate) fn write_raw(&self, raw: &[u8], codec: Codec) -> Result<ChunkRef> {
        let (encoding, packed) = codec::encode(raw, codec)?;
        let stored = packed.as_deref().unwrap_or(raw);
        self.place_bytes(raw.len() as u64, encoding, stored, format::checksum(stored))
    }

    /// Writes one raw chunk at the next aligned position, never reused: the meta chunk,
    /// the tail copies and the root, which end the file.
    fn write_fresh(&self, raw: &[u8]) -> Result<ChunkRef> {
        let len = raw.len() as u64;
        let offset = self.reserve(len)?;
        self.sink.write_at(offset, raw)?;
        self.count(len, len);
        Ok(ChunkRef::new(offset, len, len, format::checksum(raw), format::Encoding::None))
    }

    /// Encodes windows of chunks (`encode`, in parallel inside) while the window before
    /// is written (`place_all`), then hands each window's references to `placed`, in
    /// order: positions follow the windows' order, whatever the threads do. Without the
    /// overlap one core idles through every write. One window more is held in memory.
    pub(crate) fn write_windows<W: Send + Sync>(
        &self,
        windows: impl Iterator<Item = W>,
        encode: impl Fn(&W) -> Result<Vec<Encoded>> + Sync,
        mut placed: impl FnMut(W, Vec<ChunkRef>),
    ) -> Result<()> {
        let mut pending: Option<(W, Vec<Encoded>)> = None;
        for w in windows {
            let (written, encoded) = crate::threads::par(|| {
                rayon::join(
                    || pending.take().map(|(pw, chunks)| self.place_all(&chunks).map(|refs| (pw, refs))).transpose(),
                    || encode(&w),
                )
            });
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
    /// Chunks equal to one of the previous version's (when the save appends) are
    /// referred to there instead.
    pub(crate) fn place_all(&self, chunks: &[Encoded]) -> Result<Vec<ChunkRef>> {
        let reused = chunks
            .iter()
            .map(|e| self.reused(e.raw_len, e.encoding, &[e.stored.bytes()], e.checksum))
            .collect::<Result<Vec<_>>>()?;
        let total: u64 = chunks
            .iter()
            .zip(&reused)
            .filter(|(_, r)| r.is_none())
            .map(|(e, _)| format::align_up(e.stored.bytes().len() as u64).unwrap_or(u64::MAX))
            .sum();
        let start = self.reserve(total)?;
        let mut buf = self.window_buf.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        buf.clear();
        buf.reserve(usize::try_from(total).unwrap_or(0));
        let mut refs = Vec::with_capacity(chunks.len());
        for (e, reused) in chunks.iter().zip(reused) {
            if let Some(r) = reused {
                refs.push(r);
                continue;
            }
            let stored = e.stored.bytes();
            refs.push(ChunkRef::new(start + buf.len() as u64, stored.len() as u64, e.raw_len, e.checksum, e.encoding));
            buf.extend_from_slice(stored);
            let padded = buf.len().next_multiple_of(format::CHUNK_ALIGN as usize);
            buf.resize(padded, 0);
            self.count(e.raw_len, stored.len() as u64);
        }
        if !buf.is_empty() {
            self.sink.write_at(start, &buf)?;
        }
        Ok(refs)
    }

    pub(crate) fn place(&self, e: &Encoded) -> Result<ChunkRef> {
        self.place_bytes(e.raw_len, e.encoding, e.stored.bytes(), e.checksum)
    }

    fn place_bytes(&self, raw_len: u64, encoding: format::Encoding, stored: &[u8], checksum: u64) -> Result<ChunkRef> {
        if let Some(r) = self.reused(raw_len, encoding, &[stored], checksum)? {
            return Ok(r);
        }
        let len = stored.len() as u64;
        let offset = self.reserve(len)?;
        self.sink.write_at(offset, stored)?;
        self.count(raw_len, len);
        Ok(ChunkRef::new(offset, len, raw_len, checksum, encoding))
    }

    /// Writes `bytes` at `offset` (reserved before).
    pub(crate) fn write_at(&self, offset: u64, bytes: &[u8]) -> Result<()> {
        Ok(self.sink.write_at(offset, bytes)?)
    }

    /// Adds one written chunk to the save's totals.
    pub(crate) fn count(&self, raw_len: u64, stored_len: u64) {
        self.chunks.fetch_add(1, Ordering::Relaxed);
        self.raw_bytes.fetch_add(raw_len, Ordering::Relaxed);
        self.stored_bytes.fetch_add(stored_len, Ordering::Relaxed);
    }

    /// Reserves `len` bytes at the next 16-byte-aligned position.
    pub(crate) fn reserve(&self, len: u64) -> Result<u64> {
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
            appended: self.reuse.is_some(),
            reused_chunks: self.reuse.as_ref().map_or(0, |r| r.taken().0),
            reused_bytes: self.reuse.as_ref().map_or(0, |r| r.taken().1),
        }
    }
}
