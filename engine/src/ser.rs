//! The serializer strata drives rkyv with, and the chunk writer behind it.
//!
//! rkyv's `Serializer<W, A, S>` is used as is; strata's writer `ChunkBuf` fills the `W`
//! slot. Besides collecting one chunk's bytes, it carries the save's context, which is
//! how a lazy field, met deep inside a parent's serialization, writes its own chunk
//! first (children before parents) and hands back the reference the parent stores.

use crate::Persist;
use crate::codec::{self, Codec};
use crate::error::{Error, Result};
use crate::format::{self, ChunkRef};
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
    fn write_chunk<T: Persist>(&mut self, value: &T, codec: Option<Codec>) -> Result<ChunkRef>;
}

impl<A, S> ChunkWriter for Serializer<ChunkBuf<'_>, A, S> {
    fn write_chunk<T: Persist>(&mut self, value: &T, codec: Option<Codec>) -> Result<ChunkRef> {
        let Some(ctx) = self.writer.ctx else {
            return Err(Error::Serialize(format!(
                "internal: `{}` was treated as a leaf but holds a lazy field",
                std::any::type_name::<T>()
            )));
        };
        if let Some(done) = ctx.take_prepared(value) {
            return Ok(done);
        }
        ctx.write_value(value, codec)
    }
}

impl<T: ChunkWriter + ?Sized, E> ChunkWriter for Strategy<T, E> {
    fn write_chunk<V: Persist>(&mut self, value: &V, codec: Option<Codec>) -> Result<ChunkRef> {
        T::write_chunk(self, value, codec)
    }
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
    stored: Vec<u8>,
    checksum: u64,
}

/// The state of one save: where the next chunk goes, and running totals.
pub struct SaveCtx<'a> {
    sink: &'a dyn Sink,
    prepared: std::sync::Mutex<std::collections::HashMap<(usize, std::any::TypeId), ChunkRef>>,
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
            default_codec,
            next: AtomicU64::new(start),
            chunks: AtomicU64::new(0),
            raw_bytes: AtomicU64::new(0),
            stored_bytes: AtomicU64::new(0),
        }
    }

    /// Serializes `value` (its lazy fields first, as chunks of their own) and writes it
    /// as one chunk.
    pub(crate) fn write_value<T: Persist>(&self, value: &T, codec: Option<Codec>) -> Result<ChunkRef> {
        self.write_leaves_of(value)?;
        let raw = self.serialize(value, Some(self))?;
        self.write_raw(&raw, codec.unwrap_or(self.default_codec))
    }

    /// Encodes the leaf lazy fields of `value`'s chunk in parallel, windows of one per
    /// thread, and writes them in field order; their references wait in `prepared`.
    fn write_leaves_of<T: Persist>(&self, value: &T) -> Result<()> {
        let mut pending = Vec::new();
        value.__prepare(&mut pending);
        let leaves: Vec<_> = pending.into_iter().filter(|p| p.leaf).collect();
        if leaves.len() < 2 {
            return Ok(());
        }
        let window = rayon::current_num_threads().max(1);
        for group in leaves.chunks(window) {
            let encoded: Vec<Result<Encoded>> = group
                .par_iter()
                .map(|p| {
                    let raw = (p.serialize)(self)?;
                    Self::encode(&raw, p.codec.unwrap_or(self.default_codec))
                })
                .collect();
            for (p, e) in group.iter().zip(encoded) {
                let r = self.place(&e?)?;
                self.prepared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(p.key, r);
            }
        }
        Ok(())
    }

    /// The reference of `value`'s chunk if it was written ahead by the parallel phase.
    fn take_prepared<T: Persist>(&self, value: &T) -> Option<ChunkRef> {
        self.prepared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&crate::parallel::key_of(value))
    }

    /// Serializes a leaf value (one that writes no child chunk).
    pub(crate) fn serialize_leaf<T: Persist>(&self, value: &T) -> Result<AlignedVec<16>> {
        self.serialize(value, None)
    }

    /// Serializes `value` into a standalone rkyv buffer whose root ends the buffer.
    fn serialize<T: Persist>(&self, value: &T, ctx: Option<&SaveCtx<'_>>) -> Result<AlignedVec<16>> {
        rkyv::util::with_arena(|arena| {
            let mut ser = Serializer::new(ChunkBuf { bytes: AlignedVec::new(), ctx }, arena.acquire(), Share::new());
            value.__serialize_root(&mut ser)?;
            Ok(ser.into_writer().bytes)
        })
    }

    fn encode(raw: &[u8], codec: Codec) -> Result<Encoded> {
        let (encoding, packed) = codec::encode(raw, codec)?;
        let stored = packed.unwrap_or_else(|| raw.to_vec());
        let checksum = format::checksum(&stored);
        Ok(Encoded { raw_len: raw.len() as u64, encoding, stored, checksum })
    }

    /// Encodes, checksums and writes one chunk's bytes at the next aligned position.
    pub(crate) fn write_raw(&self, raw: &[u8], codec: Codec) -> Result<ChunkRef> {
        let (encoding, packed) = codec::encode(raw, codec)?;
        let stored = packed.as_deref().unwrap_or(raw);
        self.place_bytes(raw.len() as u64, encoding, stored, format::checksum(stored))
    }

    fn place(&self, e: &Encoded) -> Result<ChunkRef> {
        self.place_bytes(e.raw_len, e.encoding, &e.stored, e.checksum)
    }

    fn place_bytes(&self, raw_len: u64, encoding: format::Encoding, stored: &[u8], checksum: u64) -> Result<ChunkRef> {
        let len = stored.len() as u64;
        let offset = self.reserve(len)?;
        self.sink.write_at(offset, stored)?;
        self.chunks.fetch_add(1, Ordering::Relaxed);
        self.raw_bytes.fetch_add(raw_len, Ordering::Relaxed);
        self.stored_bytes.fetch_add(len, Ordering::Relaxed);
        Ok(ChunkRef::new(offset, len, raw_len, checksum, encoding))
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
