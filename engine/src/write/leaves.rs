//! The parallel phase of a save: a chunk's leaf lazy fields encoded together.
//!
//! Before a chunk is serialized, the derive's `__prepare` walk lists the lazy fields
//! that belong to it (through its inline fields, not into other chunks). Those whose
//! types can hold no chunk of their own ("leaves", see [`crate::persist::is_leaf`]) are
//! encoded (serialized, compressed, checksummed) in parallel, a window of one per
//! thread at a time, then written in field order. Positions in the file therefore
//! depend only on the value, and extra memory is bounded by threads x chunk size. Lazy
//! fields that may hold chunks of their own are written in the ordinary depth-first
//! walk, which prepares their own leaves the same way.
//!
//! A large byte vector (an asset, a blob) is written straight from the vector (see
//! [`Direct`]).

use super::{Encoded, SaveCtx};
use crate::Persist;
use crate::codec::Codec;
use crate::error::Result;
use crate::format::archived::vec_header;
use crate::format::meta::ChunkKind;
use crate::format::{self, ChunkRef};
use rayon::prelude::*;
use rkyv::util::AlignedVec;
use std::any::TypeId;

/// Serializes one lazy field's value on its own (no child chunks).
type SerializeLeaf<'a> = Box<dyn Fn(&SaveCtx<'_>) -> Result<AlignedVec<16>> + Send + Sync + 'a>;

/// A lazy field met by a `__prepare` walk. Not part of the public API.
pub struct Pending<'a> {
    name: &'static str,
    key: (usize, TypeId),
    leaf: bool,
    codec: Option<Codec>,
    /// The value's archived bytes when they are its own (see `Persist::__raw_bytes`).
    raw: Option<&'a [u8]>,
    serialize: SerializeLeaf<'a>,
}

/// Lists `value`, stored lazily with `codec`, for the save's parallel phase.
#[doc(hidden)]
pub fn pending<'a, T: Persist + Sync>(value: &'a T, codec: Option<Codec>, name: &'static str) -> Pending<'a> {
    Pending {
        name,
        key: key_of(value),
        leaf: crate::persist::is_leaf::<T>(),
        codec,
        raw: value.__raw_bytes(),
        serialize: Box::new(move |ctx| ctx.serialize_leaf(value)),
    }
}

/// What identifies a lazy field's value during one save: its address and type.
fn key_of<T: 'static>(value: &T) -> (usize, TypeId) {
    (std::ptr::from_ref(value) as usize, TypeId::of::<T>())
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
/// (4), and the archived vector's header (see [`crate::format::archived`]); a unit
/// test compares both ways byte for byte. Writing it from the vector saves copying the
/// bytes (and faulting in a fresh buffer for them) on the save's critical path.
pub(crate) struct Direct<'v> {
    data: &'v [u8],
    tail: [u8; 11],
    tail_len: usize,
}

impl<'v> Direct<'v> {
    /// The direct form of `raw` under `codec`, when it has one: uncompressed, at least
    /// [`DIRECT_MIN`] bytes, and within reach of a 32-bit offset (a longer vector takes
    /// the ordinary path, which reports the limit).
    pub(crate) fn of(raw: Option<&'v [u8]>, codec: Codec) -> Option<Self> {
        let data = raw.filter(|d| codec == Codec::None && d.len() >= DIRECT_MIN)?;
        let header_at = data.len().next_multiple_of(4);
        let header = vec_header(header_at, data.len())?;
        let pad = header_at - data.len();
        let mut tail = [0u8; 11];
        tail.get_mut(pad..pad + header.len())?.copy_from_slice(&header);
        Some(Self { data, tail, tail_len: pad + header.len() })
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

impl SaveCtx<'_> {
    /// Encodes the leaf lazy fields of `value`'s chunk in parallel, windows of one per
    /// thread, and writes them in field order; their references wait in `prepared`.
    pub(crate) fn write_leaves_of<T: Persist>(&self, value: &T, parent: u32) -> Result<()> {
        let mut pending = Vec::new();
        value.__prepare(&mut pending);
        let leaves: Vec<_> = pending.into_iter().filter(|p| p.leaf).collect();
        if leaves.len() < 2 {
            return Ok(());
        }
        let window = crate::threads::count();
        for group in leaves.chunks(window) {
            let ids: Vec<u32> = group.iter().map(|p| self.alloc(parent, ChunkKind::Lazy, 0, p.name)).collect();
            // A byte vector is only checksummed here; it is written from itself below.
            let encoded: Vec<Result<Leaf<'_>>> = crate::threads::par(|| {
                group
                    .par_iter()
                    .map(|p| {
                        let codec = self.codec(p.codec);
                        if let Some(direct) = Direct::of(p.raw, codec) {
                            let checksum = direct.checksum();
                            return Ok(Leaf::Direct(direct, checksum));
                        }
                        Ok(Leaf::Encoded(Self::encode((p.serialize)(self)?, codec)?))
                    })
                    .collect()
            });
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

    /// The reference of `value`'s chunk if it was written ahead by the parallel phase.
    pub(crate) fn take_prepared<T: Persist>(&self, value: &T) -> Option<ChunkRef> {
        self.prepared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&key_of(value))
    }

    /// Writes a byte vector's chunk from the vector itself: the bytes, then the padding
    /// and header after them. `checksum` is [`Direct::checksum`]; without it, it is
    /// computed while the bytes are written.
    pub(crate) fn place_direct(&self, d: &Direct<'_>, checksum: Option<u64>) -> Result<ChunkRef> {
        let len = d.len();
        let checksum = match checksum {
            None if self.appends() => Some(d.checksum()),
            known => known,
        };
        if let Some(c) = checksum
            && let Some(r) = self.reused(len, format::Encoding::None, &[d.data, d.tail()], c)?
        {
            return Ok(r);
        }
        let offset = self.reserve(len)?;
        let write = || -> Result<()> {
            self.write_at(offset, d.data)?;
            self.write_at(offset + d.data.len() as u64, d.tail())
        };
        let checksum = match checksum {
            Some(c) => {
                write()?;
                c
            }
            None => {
                let (written, c) = crate::threads::par(|| rayon::join(write, || d.checksum()));
                written?;
                c
            }
        };
        self.count(len, len);
        Ok(ChunkRef::new(offset, len, len, checksum, format::Encoding::None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::store::sink::MemorySink;

    /// A byte vector's direct chunk is, byte for byte, what rkyv serializes it to, for
    /// every padding the header can need; shorter, compressed or oversized vectors have
    /// no direct form (the oversized one is zeroed memory the kernel maps on first
    /// touch, and nothing touches it).
    #[test]
    fn a_direct_chunk_is_the_serialized_chunk() -> Result<()> {
        let sink = MemorySink::new();
        let ctx = SaveCtx::new(&sink, Codec::None, crate::deep::DEFAULT_MAX_DEPTH, 0);
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
