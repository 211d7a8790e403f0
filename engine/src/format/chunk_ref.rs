//! The reference to a chunk, as stored inside its parent.
//!
//! ## Format
//! 40 bytes, little-endian, alignment 8:
//!
//! | offset | size | field | meaning |
//! |---|---|---|---|
//! | 0 | 8 | `offset` | absolute file offset of the chunk, a multiple of 16 |
//! | 8 | 8 | `stored_len` | bytes stored in the file (after compression) |
//! | 16 | 8 | `raw_len` | bytes of the archived value (before compression); the value's root object ends exactly there |
//! | 24 | 8 | `checksum` | xxh3-64 of the stored bytes; in a lazy value's reference from version 5 on, xored with the value's [type tag](type_tag) |
//! | 32 | 1 | `codec` | 0 = none, 1 = zstd |
//! | 33 | 7 | `count` | version 2: a lazy vector's element count plus one, 56 bits; zero when not recorded (always in version 1) |
//!
//! ## Typed references (version 5)
//! A reference a value holds to a lazy value (a `#[strata(lazy)]` field, an `Arc`/`Rc`,
//! a shared element or map value: every archived `Promise<T>`) stores the chunk's
//! checksum xored with the [`type_tag`] of `T`'s type expression as the file's schema
//! writes it (less an inline map's `[size/align]` suffix). A reader undoes the xor with the tag of the type it reads the value as
//! before the chunk is checked, so a reference to a chunk written as another type fails
//! the checksum. References held by the footer and by index nodes, and the directory's,
//! are untyped.

use rkyv::rend::u64_le;

/// The first format version whose lazy-value references are typed (see the module docs).
pub const TYPED_VERSION: u32 = 5;

/// The type tag of the type expression `ty` (`Mesh`, `Vec<String>`): xor'd into a lazy
/// value's reference's checksum from [`TYPED_VERSION`] on.
#[must_use]
pub fn type_tag(ty: &str) -> u64 {
    super::checksum(ty.as_bytes())
}

/// How a chunk's bytes are encoded on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// Stored as is: readable in place from the memory map.
    None,
    /// zstd-compressed; decompressed into an aligned buffer on first access.
    Zstd,
}

impl Encoding {
    /// The codec's byte in a [`ChunkRef`].
    #[must_use]
    pub const fn to_byte(self) -> u8 {
        match self {
            Encoding::None => 0,
            Encoding::Zstd => 1,
        }
    }

    /// The codec for a byte, or `None` for an unknown one.
    #[must_use]
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Encoding::None),
            1 => Some(Encoding::Zstd),
            _ => None,
        }
    }
}

/// The on-disk reference to one chunk (40 bytes). See the module docs for the layout.
#[derive(rkyv::Portable, bytecheck::CheckBytes, Clone, Copy, PartialEq, Eq, Hash)]
#[rkyv(crate = rkyv)]
#[bytecheck(crate = bytecheck, verify)]
#[repr(C)]
pub struct ChunkRef {
    offset: u64_le,
    stored_len: u64_le,
    raw_len: u64_le,
    checksum: u64_le,
    codec: u8,
    /// A lazy vector's element count plus one, 56 bits little-endian (version 2); zero:
    /// not recorded.
    count: [u8; 7],
}

/// Size of a [`ChunkRef`] in bytes.
pub const CHUNK_REF_LEN: usize = 40;
const _: () = assert!(size_of::<ChunkRef>() == CHUNK_REF_LEN);

/// Where the checksum lies in a [`ChunkRef`]'s bytes.
pub const CHECKSUM_AT: usize = 24;

impl ChunkRef {
    /// A reference to a chunk.
    #[must_use]
    pub fn new(offset: u64, stored_len: u64, raw_len: u64, checksum: u64, encoding: Encoding) -> Self {
        Self {
            offset: u64_le::from_native(offset),
            stored_len: u64_le::from_native(stored_len),
            raw_len: u64_le::from_native(raw_len),
            checksum: u64_le::from_native(checksum),
            codec: encoding.to_byte(),
            count: [0; 7],
        }
    }

    /// The all-zero reference: no chunk (a footer without tail copies).
    #[must_use]
    pub fn none() -> Self {
        Self::from_bytes(&[0; CHUNK_REF_LEN])
    }

    /// The reference with `n` recorded as the element count of the lazy vector it
    /// holds; unchanged when `n` does not fit 56 bits.
    #[must_use]
    pub fn with_count(mut self, n: u64) -> Self {
        if let Some(stored) = n.checked_add(1).filter(|&s| s < 1 << 56) {
            let bytes = stored.to_le_bytes();
            self.count.copy_from_slice(bytes.get(..7).unwrap_or(&[0; 7]));
        }
        self
    }

    /// The reference with `tag` xored into its checksum: the typed reference a value
    /// holds for a chunk reference, and the chunk reference for a typed one (see the
    /// module docs).
    #[must_use]
    pub fn tagged(mut self, tag: u64) -> Self {
        self.checksum = u64_le::from_native(self.checksum() ^ tag);
        self
    }

    /// The element count recorded for the lazy vector this chunk holds (version 2
    /// writers record it), as the file declares it: the chunk proves it when read.
    #[must_use]
    pub fn count(&self) -> Option<u64> {
        let mut bytes = [0u8; 8];
        if let Some(dst) = bytes.get_mut(..7) {
            dst.copy_from_slice(&self.count);
        }
        u64::from_le_bytes(bytes).checked_sub(1)
    }

    /// Absolute offset of the chunk in the file.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.offset.to_native()
    }

    /// Bytes the chunk occupies in the file.
    #[must_use]
    pub fn stored_len(&self) -> u64 {
        self.stored_len.to_native()
    }

    /// Bytes of the chunk's archived value once decoded.
    #[must_use]
    pub fn raw_len(&self) -> u64 {
        self.raw_len.to_native()
    }

    /// xxh3-64 of the stored bytes.
    #[must_use]
    pub fn checksum(&self) -> u64 {
        self.checksum.to_native()
    }

    /// The codec, or `None` when the byte is unknown (only possible for references
    /// that were not validated, such as one read from a damaged footer).
    #[must_use]
    pub fn encoding(&self) -> Option<Encoding> {
        Encoding::from_byte(self.codec)
    }

    /// The raw codec byte.
    #[must_use]
    pub fn codec_byte(&self) -> u8 {
        self.codec
    }

    /// The location of this chunk, for error messages.
    #[must_use]
    pub fn location(&self) -> crate::error::Location {
        crate::error::Location { offset: self.offset(), len: self.stored_len() }
    }

    /// Encodes the reference as its 40 on-disk bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; CHUNK_REF_LEN] {
        let mut out = [0u8; CHUNK_REF_LEN];
        let fields = [self.offset(), self.stored_len(), self.raw_len(), self.checksum()];
        for (slot, v) in out.chunks_exact_mut(8).zip(fields) {
            slot.copy_from_slice(&v.to_le_bytes());
        }
        if let Some(b) = out.get_mut(32) {
            *b = self.codec;
        }
        if let Some(dst) = out.get_mut(33..40) {
            dst.copy_from_slice(&self.count);
        }
        out
    }

    /// Decodes a reference from its 40 on-disk bytes, without judging its contents.
    #[must_use]
    pub fn from_bytes(b: &[u8; CHUNK_REF_LEN]) -> Self {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            if let Some(src) = b.get(i * 8..i * 8 + 8) {
                w.copy_from_slice(src);
            }
            u64::from_le_bytes(w)
        };
        let mut count = [0u8; 7];
        if let Some(src) = b.get(33..40) {
            count.copy_from_slice(src);
        }
        Self {
            offset: u64_le::from_native(word(0)),
            stored_len: u64_le::from_native(word(1)),
            raw_len: u64_le::from_native(word(2)),
            checksum: u64_le::from_native(word(3)),
            codec: b.get(32).copied().unwrap_or(u8::MAX),
            count,
        }
    }

    /// Checks what can be checked without the file: a known codec, an aligned offset,
    /// and raw length equal to stored length when uncompressed.
    ///
    /// # Errors
    /// [`crate::Error::UnknownCodec`] or [`crate::Error::InvalidData`].
    pub fn check_shape(&self) -> crate::Result<Encoding> {
        let at = self.location();
        let Some(encoding) = self.encoding() else {
            return Err(crate::Error::UnknownCodec { at, codec: self.codec });
        };
        let bad = |detail: &str| crate::Error::InvalidData { at, ty: "ChunkRef", detail: detail.to_owned() };
        if !self.offset().is_multiple_of(super::CHUNK_ALIGN) {
            return Err(bad("chunk offset is not 16-byte aligned"));
        }
        if encoding == Encoding::None && self.raw_len() != self.stored_len() {
            return Err(bad("uncompressed chunk whose raw and stored lengths differ"));
        }
        Ok(encoding)
    }
}

impl std::fmt::Debug for ChunkRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkRef")
            .field("offset", &self.offset())
            .field("stored_len", &self.stored_len())
            .field("raw_len", &self.raw_len())
            .field("checksum", &format_args!("{:#018x}", self.checksum()))
            .field("encoding", &self.encoding())
            .finish()
    }
}

#[derive(Debug)]
struct BadChunkRef(&'static str);
impl std::fmt::Display for BadChunkRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for BadChunkRef {}

// SAFETY: `verify` only reads the already type-checked fields of `self`; it upholds
// `Verify`'s contract by returning an error for every value the rest of the crate must
// not see (unknown codec, misaligned offset, lengths an uncompressed chunk cannot have).
unsafe impl<C> bytecheck::Verify<C> for ChunkRef
where
    C: rancor::Fallible + ?Sized,
    C::Error: rancor::Source,
{
    fn verify(&self, _context: &mut C) -> Result<(), C::Error> {
        let problem = if Encoding::from_byte(self.codec).is_none() {
            Some("chunk reference with an unknown codec")
        } else if !self.offset().is_multiple_of(super::CHUNK_ALIGN) {
            Some("chunk reference with a misaligned offset")
        } else if self.codec == 0 && self.raw_len() != self.stored_len() {
            Some("uncompressed chunk reference whose lengths differ")
        } else {
            None
        };
        match problem {
            Some(p) => Err(<C::Error as rancor::Source>::new(BadChunkRef(p))),
            None => Ok(()),
        }
    }
}

impl rkyv::Archive for ChunkRef {
    type Archived = ChunkRef;
    type Resolver = ();

    fn resolve(&self, (): (), out: rkyv::Place<Self>) {
        out.write(*self);
    }
}

impl<S: rancor::Fallible + ?Sized> rkyv::Serialize<S> for ChunkRef {
    fn serialize(&self, _: &mut S) -> Result<(), S::Error> {
        Ok(())
    }
}

impl<D: rancor::Fallible + ?Sized> rkyv::Deserialize<ChunkRef, D> for ChunkRef {
    fn deserialize(&self, _: &mut D) -> Result<ChunkRef, D::Error> {
        Ok(*self)
    }
}

// SAFETY: `repr(C)` of four u64 fields, a u8 and seven count bytes: no padding.
unsafe impl rkyv::traits::NoUndef for ChunkRef {}
