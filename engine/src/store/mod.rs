//! The store layer: the one owner of an open archive's bytes.
//!
//! Everything above it asks for one of two things: a chunk's verified (and
//! decompressed) bytes, or a validated [`View`] of a chunk's archived value. The store
//! owns how those are obtained: the [`Source`] the bytes come from, the bounded cache
//! of verified chunks ([`cache`]), bulk reads that coalesce adjacent chunks, the
//! address registry through which a view finds its archive ([`registry`]), and every
//! `unsafe` block of the engine ([`chunk`], [`os`], [`fill`], [`relocate`]).
//!
//! A chunk read for one value (the root, an index node, a bucket, a shard for one
//! element, a promise's view) is kept in the cache; chunks read in bulk (loads,
//! iterations, verification) are not, unless they were there already. Views hold
//! their chunk, so eviction never invalidates a view: it only stops the cache from
//! counting that chunk.

pub(crate) mod bulk;
pub(crate) mod cache;
pub(crate) mod chunk;
pub(crate) mod derived;
pub(crate) mod fill;
pub(crate) mod os;
pub(crate) mod registry;
pub(crate) mod relocate;
#[cfg(feature = "object-store")]
pub(crate) mod remote;
pub mod sink;
pub mod source;

use crate::error::{Error, Location, Result};
use crate::format::archived::vec_span;
use crate::format::copies::TailCopy;
use crate::format::footer::FOOTER_BASE_LEN;
use crate::format::header::HEADER_LEN;
use crate::format::table::{ChunkTable, Node, TableEntry};
use crate::format::{self, ChunkRef, Encoding, Footer};
pub(crate) use bulk::{PARALLEL_MIN, map_items, windows};
use cache::ChunkCache;
pub(crate) use cache::Key;
pub use chunk::View;
use chunk::{Block, Chunk};
use registry::Registration;
use rkyv::Portable;
use rkyv::bytecheck::CheckBytes;
use rkyv::util::AlignedVec;
use source::Source;
use std::any::TypeId;
use std::sync::{Arc, OnceLock, Weak};

/// The validator strata runs over a chunk's bytes.
pub type Validator<'a> = rkyv::api::high::HighValidator<'a, crate::Error>;

/// The deserializer strata uses to turn archived values into owned ones.
pub type Loader = rkyv::api::high::HighDeserializer<crate::Error>;

/// Reads of single elements of a shard validated one by one before the whole shard is
/// validated (once) and later reads become lookups: a shard's first elements cost one
/// element's validation each, a shard read often costs none.
const ELEMENT_READS_BEFORE_WHOLE: u32 = 8;

/// How an open archive reads: its limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The largest decompressed chunk accepted.
    pub(crate) max_raw: u64,
    /// The deepest inline nesting a value may have (see [`crate::deep`]).
    pub(crate) max_depth: u32,
    /// The cache's byte limit.
    pub(crate) cache: u64,
    /// Threads of loads and verifications (`None`: rayon's global pool).
    pub(crate) threads: Option<std::num::NonZeroUsize>,
}

/// Whether a chunk read for one value is kept in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Kept: it is likely to be read again (a point read).
    Yes,
    /// Not kept: one of many chunks read in a row.
    No,
}

/// Whether a chunk's values may hold lazy fields whose views find their archive by
/// address: such chunks are registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holds {
    /// The values hold lazy fields (or may: the type is not known).
    Chunks,
    /// The values hold none (the type is a leaf).
    Nothing,
}

impl Holds {
    pub(crate) fn of(holds: bool) -> Self {
        if holds { Holds::Chunks } else { Holds::Nothing }
    }
}

/// Counters of an open archive's cache; see [`crate::Archive::cache_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Bytes the cache holds (chunks' heap bytes and bookkeeping).
    pub bytes: u64,
    /// Chunks the cache holds.
    pub chunks: usize,
    /// The cache's limit in bytes.
    pub limit: u64,
}

/// An open archive's bytes: its source, footer, pinned tail and root, and cache.
pub(crate) struct Store {
    /// The source's own memory, registered as a whole when it has some. Declared
    /// before the source, so that it is unregistered before the memory can go.
    _source_registration: Option<Registration>,
    source: Arc<dyn Source>,
    footer: Footer,
    /// The file's last bytes, read at open: the footer and what ends right before it.
    tail: Arc<Block>,
    tail_start: u64,
    /// The tail copies of top index nodes, read with the first index node.
    copies: OnceLock<Option<Copies>>,
    root: OnceLock<Arc<Chunk>>,
    cache: ChunkCache,
    /// Chunks made from file chunks (schema evolution), within half the cache limit;
    /// made on first use.
    made: OnceLock<ChunkCache<Key>>,
    limits: Limits,
    /// State layers above attach per type (schema evolution's plans).
    attached: derived::Attached,
    me: Weak<Store>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("source", &self.source).field("footer", &self.footer).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a source: reads its tail (one read of [`Source::tail_len`] bytes: the
    /// footer, and the root chunk and tail copies when they end within it), checks the
    /// footer, and verifies the root.
    pub(crate) fn open(source: Arc<dyn Source>, limits: impl FnOnce(u64) -> Limits) -> Result<Arc<Self>> {
        let len = source.size();
        if len < HEADER_LEN + FOOTER_BASE_LEN {
            return Err(Self::short(source.as_ref(), len));
        }
        let (footer, tail, tail_start) = match Self::read_tail(source.as_ref(), len) {
            Ok(read) => read,
            Err(error) => match Self::recover(source.as_ref(), len) {
                Some(Ok(read)) => read,
                _ => return Err(error),
            },
        };
        let expected = format::layout::fingerprint();
        if footer.layout_fingerprint != expected {
            return Err(Error::IncompatibleLayout { found: footer.layout_fingerprint, expected });
        }
        let limits = limits(footer.file_len);
        let store = Arc::new_cyclic(|me: &Weak<Store>| Store {
            _source_registration: source.bytes().and_then(|b| Registration::new(b, me)),
            source,
            footer,
            tail: Block::new(tail, Some(me), None),
            tail_start,
            copies: OnceLock::new(),
            root: OnceLock::new(),
            cache: ChunkCache::new(limits.cache),
            made: OnceLock::new(),
            limits,
            attached: derived::Attached::default(),
            me: me.clone(),
        });
        // The root is read on every access: verified now, once, and pinned.
        let root = Arc::new(store.read(&footer.root, Holds::Chunks)?);
        let _ = store.root.set(root);
        Ok(store)
    }

    /// Reads and decodes the tail of a file whose version ends at `end`: the footer
    /// there, with the bytes before it that the source's tail read brings.
    fn read_tail(source: &dyn Source, end: u64) -> Result<(Footer, AlignedVec<16>, u64)> {
        let want = source.tail_len().max(format::footer::FOOTER_LEN);
        let tail_start = end.saturating_sub(want).max(HEADER_LEN) / format::CHUNK_ALIGN * format::CHUNK_ALIGN;
        let mut tail = AlignedVec::<16>::new();
        tail.resize(usize::try_from(end - tail_start).unwrap_or(0), 0);
        source.read_at(tail_start, &mut tail)?;
        let footer = Footer::decode_tail(end, &tail, || {
            let mut head = vec![0u8; HEADER_LEN as usize];
            source.read_at(0, &mut head)?;
            Ok(head)
        })?;
        Ok((footer, tail, tail_start))
    }

    /// The last committed version of a file whose tail is not a valid footer: an
    /// incremental save appending (or killed while appending) past the version its
    /// header's commit record names. `None` when the file has no record, or the record
    /// names the whole file (then the tail's error stands: the file is damaged).
    fn recover(source: &dyn Source, len: u64) -> Option<Result<(Footer, AlignedVec<16>, u64)>> {
        let mut head = vec![0u8; format::header::RECORD_HEADER_LEN as usize];
        source.read_at(0, &mut head).ok()?;
        if format::header::decode(&head).ok()? < format::header::RECORD_VERSION {
            return None;
        }
        let committed = format::header::Record::decode(&head).current()?.length;
        let min = format::header::RECORD_HEADER_LEN + format::footer::FOOTER_LEN;
        (min..len).contains(&committed).then(|| Self::read_tail(source, committed))
    }

    /// The error for a source too short to hold a header and a footer: another kind of
    /// file when its first bytes are not strata's magic, else a truncated one.
    fn short(source: &dyn Source, len: u64) -> Error {
        let n = usize::try_from(len.min(8)).unwrap_or(0);
        let mut head = vec![0u8; n];
        if let Err(e) = source.read_at(0, &mut head) {
            return Error::Io(e);
        }
        if head.as_slice() != format::header::MAGIC.get(..n).unwrap_or_default() {
            return Error::NotStrata { what: "the header magic `\\x89STRATA\\n` at offset 0" };
        }
        Error::Truncated { what: "header and footer", needed: HEADER_LEN + FOOTER_BASE_LEN, available: len }
    }

    pub(crate) fn footer(&self) -> &Footer {
        &self.footer
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// The root chunk, verified at open.
    pub(crate) fn root(&self) -> Result<&Arc<Chunk>> {
        self.root.get().ok_or(Error::Detached)
    }

    pub(crate) fn cache_stats(&self) -> CacheStats {
        let (bytes, chunks) = self.made.get().map_or((0, 0), |m| (m.weight(), m.len()));
        CacheStats { bytes: self.cache.weight() + bytes, chunks: self.cache.len() + chunks, limit: self.limits.cache }
    }

    /// The file's first [`HEADER_LEN`] bytes.
    pub(crate) fn head(&self) -> Result<Vec<u8>> {
        let mut head = vec![0u8; HEADER_LEN as usize];
        self.source.read_at(0, &mut head)?;
        Ok(head)
    }

    /// A chunk's verified bytes: from the cache, or read (and kept when `keep` says so).
    pub(crate) fn chunk(&self, r: &ChunkRef, keep: Keep, holds: Holds) -> Result<Arc<Chunk>> {
        if let Some(chunk) = self.cache.get(r) {
            if holds == Holds::Chunks {
                chunk.register(&self.me);
            }
            return Ok(chunk);
        }
        let chunk = Arc::new(self.read(r, holds)?);
        if keep == Keep::Yes {
            self.cache.insert(*r, &chunk);
        }
        Ok(chunk)
    }

    /// A validated view of a chunk's root object as `A`. Validation runs once per
    /// chunk and type while the chunk is held (cached or viewed).
    pub(crate) fn view<A>(&self, r: &ChunkRef, keep: Keep, holds: Holds) -> Result<View<A>>
    where
        A: Portable + for<'a> CheckBytes<Validator<'a>> + 'static,
    {
        self.view_of(self.chunk(r, keep, holds)?)
    }

    /// A validated view of `chunk`'s root object as `A`.
    pub(crate) fn view_of<A>(&self, chunk: Arc<Chunk>) -> Result<View<A>>
    where
        A: Portable + for<'a> CheckBytes<Validator<'a>> + 'static,
    {
        let ty = TypeId::of::<A>();
        if chunk.validated(ty) {
            return View::new(chunk, |bytes| {
                // SAFETY: these exact bytes (the chunk's, immutable while it lives)
                // passed `rkyv::access::<A>` before: `validated` says so.
                Ok(unsafe { rkyv::access_unchecked::<A>(bytes) })
            });
        }
        let at = chunk.at().location();
        let max_depth = self.limits.max_depth;
        let view = View::new(chunk, |bytes| validate::<A>(bytes, None, at, max_depth))?;
        view.chunk().set_validated(ty);
        Ok(view)
    }

    /// The root chunk's root object as `A`, validated on the first call.
    pub(crate) fn root_as<A>(&self) -> Result<&A>
    where
        A: Portable + for<'a> CheckBytes<Validator<'a>> + 'static,
    {
        self.root_of::<A>(self.root()?)
    }

    /// `chunk`'s root object as `A`, validated on the first call while the chunk lives.
    pub(crate) fn root_of<'c, A>(&self, chunk: &'c Chunk) -> Result<&'c A>
    where
        A: Portable + for<'a> CheckBytes<Validator<'a>> + 'static,
    {
        let ty = TypeId::of::<A>();
        if chunk.validated(ty) {
            // SAFETY: the chunk's bytes (immutable while it lives) passed
            // `rkyv::access::<A>` before: `validated` says so.
            return Ok(unsafe { rkyv::access_unchecked::<A>(chunk.bytes()) });
        }
        let view = validate::<A>(chunk.bytes(), None, chunk.at().location(), self.limits.max_depth)?;
        chunk.set_validated(ty);
        Ok(view)
    }

    /// Element `k` of a chunk holding an rkyv `Vec<A>`, validating that element only
    /// (the chunk is still checksum-verified as a whole), or `None` past its end. A
    /// chunk read often is validated whole, once, and its elements are then lookups.
    pub(crate) fn element<A>(&self, r: &ChunkRef, k: u64, holds: Holds) -> Result<Option<View<A>>>
    where
        A: Portable + for<'a> CheckBytes<Validator<'a>> + 'static,
    {
        let chunk = self.chunk(r, Keep::Yes, holds)?;
        let whole = TypeId::of::<rkyv::vec::ArchivedVec<A>>();
        if chunk.validated(whole) || chunk.count_element_read() > ELEMENT_READS_BEFORE_WHOLE {
            let vec = self.view_of::<rkyv::vec::ArchivedVec<A>>(chunk)?;
            let k = usize::try_from(k).unwrap_or(usize::MAX);
            return Ok(View::try_map(vec, |v| v.get(k).ok_or(())).ok());
        }
        let at = r.location();
        let bad = |d: &str| Error::InvalidData { at, ty: "vector chunk", detail: d.to_owned() };
        let (start, len) = vec_span(chunk.bytes(), size_of::<A>()).map_err(bad)?;
        let Some(pos) = usize::try_from(k).ok().filter(|&k| k < len).map(|k| start + k * size_of::<A>()) else {
            return Ok(None);
        };
        let max_depth = self.limits.max_depth;
        View::new(chunk, |bytes| validate::<A>(bytes, Some(pos), at, max_depth)).map(Some)
    }

    /// Reads a chunk: bounds and shape checked, bytes read (from the tail read at open,
    /// in place from the source's memory, or with one read), checksum verified, and
    /// decompressed.
    /// The identity of the file the archive reads ([`Source::file_id`]).
    pub(crate) fn file_id(&self) -> Option<(u64, u64)> {
        self.source.file_id()
    }

    /// A validated view of `bytes` (an archived value made outside any chunk: a handle
    /// to a vector left in the file), registered as this store's memory so that the
    /// value's lazy fields and tables are read from this archive.
    pub(crate) fn detached<A>(&self, bytes: AlignedVec<16>) -> Result<View<A>>
    where
        A: Portable + for<'a> CheckBytes<Validator<'a>> + 'static,
    {
        let chunk = Chunk::heap(bytes, ChunkRef::none());
        chunk.register(&self.me);
        self.view_of(Arc::new(chunk))
    }

    /// Part of a chunk's stored bytes, as they are in the source (not verified: the
    /// caller checksums them): `buf.len()` bytes from `skip` bytes into the chunk.
    pub(crate) fn read_stored(&self, r: &ChunkRef, skip: u64, buf: &mut [u8]) -> Result<()> {
        let (_, range) = self.check(r)?;
        if skip.saturating_add(buf.len() as u64) > range.len() as u64 {
            return Err(Error::OutOfBounds {
                what: "read inside a chunk",
                declared: skip.saturating_add(buf.len() as u64),
                limit: range.len() as u64,
                at: r.location(),
            });
        }
        self.source.read_at(r.offset() + skip, buf).map_err(|e| self.read_error(e, r))
    }

    fn read(&self, r: &ChunkRef, holds: Holds) -> Result<Chunk> {
        let (encoding, range) = self.check(r)?;
        // A tail copy that does not match the reference (a damaged copy) is passed over
        // for the chunk itself; `verify` reports the copy.
        let copy = self.in_copies(r).filter(|c| format::checksum(c.bytes()) == r.checksum());
        let stored = match copy {
            Some(chunk) => chunk,
            None => {
                let stored = if let Some(chunk) = self.in_tail(&range, r) {
                    chunk
                } else if let Some(chunk) = self.in_source(&range, r) {
                    chunk
                } else {
                    let mut buf = AlignedVec::<16>::with_capacity(range.len());
                    buf.resize(range.len(), 0);
                    self.source.read_at(r.offset(), &mut buf).map_err(|e| self.read_error(e, r))?;
                    Chunk::heap(buf, *r)
                };
                self.verify(stored.bytes(), r)?;
                stored
            }
        };
        let chunk = match encoding {
            Encoding::None => stored,
            Encoding::Zstd => Chunk::heap(self.decompress(r, stored.bytes())?, *r),
        };
        if holds == Holds::Chunks {
            chunk.register(&self.me);
        }
        Ok(chunk)
    }

    /// A chunk's verified, decompressed bytes in a plain vector of their own (for values
    /// that are their bytes, such as a `Vec<u8>`): read straight into it, never kept.
    pub(crate) fn read_owned(&self, r: &ChunkRef) -> Result<Vec<u8>> {
        if let Some(chunk) = self.cache.get(r) {
            return Ok(chunk.bytes().to_vec());
        }
        let (encoding, range) = self.check(r)?;
        let stored = |buf: &mut [u8]| -> Result<()> {
            let tail_from = range.start.checked_sub(usize::try_from(self.tail_start).unwrap_or(usize::MAX));
            let in_memory = tail_from
                .and_then(|from| self.tail.bytes().get(from..from.checked_add(range.len())?))
                .or_else(|| self.source.bytes().and_then(|b| b.get(range.clone())));
            match in_memory {
                Some(bytes) => buf.copy_from_slice(bytes),
                None => self.source.read_at(r.offset(), buf).map_err(|e| self.read_error(e, r))?,
            }
            self.verify(buf, r)
        };
        match encoding {
            Encoding::None => {
                let mut buf = vec![0u8; range.len()];
                stored(&mut buf)?;
                Ok(buf)
            }
            Encoding::Zstd => {
                let mut packed = vec![0u8; range.len()];
                stored(&mut packed)?;
                let raw_len = self.raw_len(r)?;
                let mut buf = vec![0u8; raw_len];
                crate::codec::decode_zstd_into(&packed, &mut buf, r.location())?;
                Ok(buf)
            }
        }
    }

    /// Checks a reference's shape and that it lies between the header and the footer;
    /// returns its encoding and its byte range.
    fn check(&self, r: &ChunkRef) -> Result<(Encoding, std::ops::Range<usize>)> {
        let encoding = r.check_shape()?;
        let area_end = self.footer.file_len.saturating_sub(self.footer.encoded_len());
        let out_of_bounds = || Error::OutOfBounds {
            what: "chunk",
            declared: r.offset().saturating_add(r.stored_len()),
            limit: area_end,
            at: r.location(),
        };
        let end = r.offset().checked_add(r.stored_len()).ok_or_else(out_of_bounds)?;
        if r.offset() < format::header::len_of(self.footer.version) || end > area_end {
            return Err(out_of_bounds());
        }
        let start = usize::try_from(r.offset()).map_err(|_| out_of_bounds())?;
        let end = usize::try_from(end).map_err(|_| out_of_bounds())?;
        Ok((encoding, start..end))
    }

    /// The chunk at `range` when the tail read at open holds it.
    fn in_tail(&self, range: &std::ops::Range<usize>, r: &ChunkRef) -> Option<Chunk> {
        let from = range.start.checked_sub(usize::try_from(self.tail_start).ok()?)?;
        Chunk::in_block(&self.tail, from..from.checked_add(range.len())?, *r)
    }

    /// The tail copy of the chunk `r` refers to, when the copies are read and hold it.
    fn in_copies(&self, r: &ChunkRef) -> Option<Chunk> {
        let copies = self.copies.get()?.as_ref()?;
        let copy = format::copies::find(&copies.list, r)?;
        let start = copies.base.checked_add(copy.at)?;
        Chunk::in_block(&copies.block, start..start.checked_add(usize::try_from(copy.len).ok()?)?, *r)
    }

    /// Reads the tail copies (once): verified and their directory checked. They are
    /// used when the tail read at open holds them, or when the source is remote (one
    /// more request now saves one per lookup); otherwise reading a table's root node
    /// costs no more than reading them. Sources that hold their bytes in memory read
    /// through them too, so that a damaged file gives the same answers however it is
    /// read.
    fn load_copies(&self) -> Result<()> {
        if self.copies.get().is_some() {
            return Ok(());
        }
        let copies = match self.footer.copies {
            None => None,
            Some(r) => self.read_copies(&r)?,
        };
        let _ = self.copies.set(copies);
        Ok(())
    }

    fn read_copies(&self, r: &ChunkRef) -> Result<Option<Copies>> {
        let (_, range) = self.check(r)?;
        if r.encoding() != Some(Encoding::None) {
            return Err(Error::InvalidData { at: r.location(), ty: "tail copies", detail: String::from("compressed") });
        }
        let from = range.start.checked_sub(usize::try_from(self.tail_start).unwrap_or(usize::MAX));
        let in_tail = from.filter(|f| f.checked_add(range.len()).is_some_and(|end| end <= self.tail.bytes().len()));
        let (block, base) = match in_tail {
            Some(from) => (Arc::clone(&self.tail), from),
            // A remote source fetches them with one request, unless the reference
            // claims more than any writer writes (a hostile file): the tables' own
            // nodes serve then.
            None if self.source.remote() && r.stored_len() <= format::copies::MAX_LEN => {
                let mut buf = AlignedVec::<16>::with_capacity(range.len());
                buf.resize(range.len(), 0);
                self.source.read_at(r.offset(), &mut buf).map_err(|e| self.read_error(e, r))?;
                (Block::new(buf, None, None), 0)
            }
            None => return Ok(None),
        };
        let bytes = block.bytes().get(base..base + range.len()).unwrap_or_default();
        self.verify(bytes, r)?;
        let list = format::copies::decode(bytes).map_err(|d| Error::InvalidData {
            at: r.location(),
            ty: "tail copies",
            detail: d.to_owned(),
        })?;
        Ok(Some(Copies { block, base, list }))
    }

    /// The chunk at `range` in place in the source's memory, when it has some and the
    /// chunk is aligned there.
    fn in_source(&self, range: &std::ops::Range<usize>, r: &ChunkRef) -> Option<Chunk> {
        let base = self.source.bytes()?;
        let aligned = base.as_ptr().wrapping_add(range.start).align_offset(format::CHUNK_ALIGN as usize) == 0;
        if !aligned {
            return None;
        }
        Chunk::in_source(&self.source, range.clone(), *r)
    }

    /// The error for a read that failed: a file cut short or changed says so.
    fn read_error(&self, e: std::io::Error, r: &ChunkRef) -> Error {
        match self.source.changed() {
            Some(detail) => Error::Changed { at: r.location(), detail },
            None if e.kind() == std::io::ErrorKind::UnexpectedEof => Error::OutOfBounds {
                what: "chunk (the source is shorter than when it was opened)",
                declared: r.offset().saturating_add(r.stored_len()),
                limit: self.footer.file_len,
                at: r.location(),
            },
            None => Error::Io(e),
        }
    }

    /// Checks `stored` against the reference's checksum.
    fn verify(&self, stored: &[u8], r: &ChunkRef) -> Result<()> {
        let found = format::checksum(stored);
        if found == r.checksum() {
            return Ok(());
        }
        Err(match self.source.changed() {
            Some(detail) => Error::Changed { at: r.location(), detail },
            None => Error::ChecksumMismatch { at: r.location(), expected: r.checksum(), found },
        })
    }

    fn decompress(&self, r: &ChunkRef, stored: &[u8]) -> Result<AlignedVec<16>> {
        crate::codec::decode_zstd(stored, self.raw_len(r)?, r.location())
    }

    /// A compressed chunk's declared raw length, checked against the limit before
    /// anything is allocated for it.
    fn raw_len(&self, r: &ChunkRef) -> Result<usize> {
        let too_big = || Error::OutOfBounds {
            what: "decompressed chunk length",
            declared: r.raw_len(),
            limit: self.limits.max_raw,
            at: r.location(),
        };
        if r.raw_len() > self.limits.max_raw {
            return Err(too_big());
        }
        usize::try_from(r.raw_len()).map_err(|_| too_big())
    }

    /// Asks the source to start reading `start..end` (a bulk load is coming).
    pub(crate) fn will_need(&self, start: u64, end: u64) {
        self.source.will_need(start, end);
    }

    /// An index node of a chunk table: verified (once per held chunk), its vector
    /// header checked, its entries read in place (every bit pattern of an entry is a
    /// value; each chunk reference is checked when it is followed).
    fn node(&self, r: &ChunkRef) -> Result<(Arc<Chunk>, usize, usize)> {
        self.load_copies()?;
        let chunk = self.chunk(r, Keep::Yes, Holds::Nothing)?;
        let (start, len) = Node::span(chunk.bytes()).map_err(|d| Error::InvalidData {
            at: r.location(),
            ty: "index node",
            detail: d.to_owned(),
        })?;
        Ok((chunk, start, len))
    }

    /// The leaf entry `s` of a chunk table, checked against the table's shape at every
    /// level.
    pub(crate) fn table_leaf(&self, t: &ChunkTable, s: u64) -> Result<TableEntry> {
        t.leaf(s, |r| self.node(r).map(|(c, start, len)| NodeRead(c, start, len)))
    }

    /// The leaf whose range holds `key` (a vector's element index): its index and entry.
    pub(crate) fn table_find(&self, t: &ChunkTable, key: u64) -> Result<(u64, TableEntry)> {
        t.find(key, |r| self.node(r).map(|(c, start, len)| NodeRead(c, start, len)))
    }

    /// Every leaf entry of a chunk table, in order.
    pub(crate) fn table_leaves(&self, t: &ChunkTable) -> Result<Vec<TableEntry>> {
        let buffers = Arc::default();
        t.leaves(|refs| {
            if let [r] = refs {
                return Ok(vec![self.node(r).map(|(c, start, len)| NodeRead(c, start, len))?]);
            }
            // A level's nodes in bulk: adjacent nodes with one read, a remote source's
            // requests sent together.
            let mut nodes = Vec::with_capacity(refs.len());
            for window in windows(refs, self.bulk_window()) {
                for (r, chunk) in window.iter().zip(self.chunks(window, Holds::Nothing, &buffers)?) {
                    let (start, len) = Node::span(chunk.bytes()).map_err(|d| Error::InvalidData {
                        at: r.location(),
                        ty: "index node",
                        detail: d.to_owned(),
                    })?;
                    nodes.push(NodeRead(chunk, start, len));
                }
            }
            Ok(nodes)
        })
    }
}

/// The tail copies: the block holding them, where their chunk starts in it, and its
/// directory.
struct Copies {
    block: Arc<Block>,
    base: usize,
    list: Vec<TailCopy>,
}

/// An index node read by the store: its chunk, and where its entries are.
struct NodeRead(Arc<Chunk>, usize, usize);

impl format::table::NodeBytes for NodeRead {
    fn node(&self) -> Node<'_> {
        Node::new(self.0.bytes(), self.1, self.2)
    }
}

/// Validates `bytes` as an `A` whose root is at `pos` (or ends the bytes), with the
/// inline nesting limit `max_depth`. An error raised inside (a nested load, a nesting
/// limit) keeps its own description; others are reported at `at`.
pub(crate) fn validate<A>(bytes: &[u8], pos: Option<usize>, at: Location, max_depth: u32) -> Result<&A>
where
    A: Portable + for<'a> CheckBytes<Validator<'a>>,
{
    let checked = crate::deep::with_limit(max_depth, || match pos {
        Some(pos) => rkyv::api::high::access_pos::<A, Error>(bytes, pos),
        None => rkyv::access::<A, Error>(bytes),
    });
    checked.map_err(|e| match e {
        e @ (Error::ChecksumMismatch { .. } | Error::InvalidData { .. } | Error::Changed { .. }) => e,
        Error::TooDeep { what, depth, limit, .. } => Error::TooDeep { what, depth, limit, at: Some(at) },
        other => Error::InvalidData { at, ty: std::any::type_name::<A>(), detail: other.to_string() },
    })
}
