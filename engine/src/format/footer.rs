//! The footer: the only structure `open` reads before the root chunk.
//!
//! ## Format
//! 176 bytes at the very end of the file (128 in versions 1 and 2, which lack the first
//! 48), little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 40 | tail-copies chunk reference ([`super::copies`]; all zero when there is none) |
//! | 40 | 8 | reserved, zero |
//! | 48 | 40 | root chunk reference ([`ChunkRef`]) |
//! | 88 | 40 | meta chunk reference (schema and chunk directory, [`super::meta`]) |
//! | 128 | 8 | type fingerprint of the root type |
//! | 136 | 8 | layout fingerprint ([`super::layout`]) |
//! | 144 | 8 | total file length, footer included |
//! | 152 | 4 | format version |
//! | 156 | 4 | flags, zero |
//! | 160 | 8 | xxh3-64 of bytes 0..160 of the footer |
//! | 168 | 8 | magic `STRATA\xF0\x9F` |
//!
//! The last 128 bytes have the same layout in every version, so a reader finds the
//! version there before it knows the footer's length. The recorded file length catches
//! both truncation and appended garbage before any offset is trusted; the checksum
//! catches a damaged footer.

use super::chunk_ref::{CHUNK_REF_LEN, ChunkRef};
use crate::{Error, Result};

/// This version's footer length in bytes.
pub const FOOTER_LEN: u64 = 176;

/// The footer's last part, the same in every version (the whole footer of versions 1
/// and 2): a reader reads the version from it.
pub const FOOTER_BASE_LEN: u64 = 128;

/// The magic bytes that end every file.
pub const MAGIC: [u8; 8] = *b"STRATA\xF0\x9F";

/// The first version whose footer starts with the tail-copies reference.
const COPIES_VERSION: u32 = 3;

/// The decoded footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// Reference to the root chunk.
    pub root: ChunkRef,
    /// Reference to the meta chunk: the schema and the chunk directory.
    pub meta: ChunkRef,
    /// Reference to the tail-copies chunk ([`super::copies`]), if the file has one.
    pub copies: Option<ChunkRef>,
    /// Fingerprint of the root type (see [`crate::schema`]).
    pub type_fingerprint: u64,
    /// Layout fingerprint of the writer's build.
    pub layout_fingerprint: u64,
    /// Total file length.
    pub file_len: u64,
    /// Format version.
    pub version: u32,
}

/// The footer length of files of `version`.
#[must_use]
pub fn len_of(version: u32) -> u64 {
    if version >= COPIES_VERSION { FOOTER_LEN } else { FOOTER_BASE_LEN }
}

impl Footer {
    /// This footer's length in the file.
    #[must_use]
    pub fn encoded_len(&self) -> u64 {
        len_of(self.version)
    }

    /// Encodes the footer in this version's layout ([`FOOTER_LEN`] bytes).
    #[must_use]
    pub fn encode(&self) -> [u8; FOOTER_LEN as usize] {
        let mut out = [0u8; FOOTER_LEN as usize];
        let mut w = Cursor { buf: &mut out, pos: 0 };
        w.put(&self.copies.unwrap_or_else(ChunkRef::none).to_bytes());
        w.put(&0u64.to_le_bytes());
        w.put(&self.root.to_bytes());
        w.put(&self.meta.to_bytes());
        w.put(&self.type_fingerprint.to_le_bytes());
        w.put(&self.layout_fingerprint.to_le_bytes());
        w.put(&self.file_len.to_le_bytes());
        w.put(&self.version.to_le_bytes());
        w.put(&0u32.to_le_bytes());
        let checked = FOOTER_LEN as usize - 16;
        let sum = super::checksum(w.buf.get(..checked).unwrap_or(&[]));
        w.put(&sum.to_le_bytes());
        w.put(&MAGIC);
        out
    }

    /// Reads and checks the footer at the end of `file`: magic, checksum, recorded
    /// length and version. Chunk references are not followed, and the header is read
    /// only to tell another kind of file from a truncated one (see
    /// [`decode_tail`](Self::decode_tail)).
    ///
    /// # Errors
    /// [`Error::Truncated`], [`Error::NotStrata`], [`Error::FooterChecksum`],
    /// [`Error::UnsupportedVersion`].
    pub fn decode(file: &[u8]) -> Result<Self> {
        let len = file.len() as u64;
        let tail = file.get(usize::try_from(len.saturating_sub(FOOTER_LEN)).unwrap_or(0)..).unwrap_or(&[]);
        Self::decode_tail(len, tail, || Ok(file.get(..super::header::HEADER_LEN as usize).unwrap_or(&[]).to_vec()))
    }

    /// [`decode`](Self::decode) from the file's length and its last bytes (`tail`, at
    /// least [`FOOTER_BASE_LEN`] of them; [`FOOTER_LEN`] for a footer of this version):
    /// all that `open` reads before the root. The footer repeats everything the header
    /// says (the version, and a magic of its own), so the header is not read then
    /// ([`Archive::verify`](crate::Archive::verify) checks it): `head`, which reads the
    /// file's first [`HEADER_LEN`](super::header::HEADER_LEN) bytes, is called only when
    /// the footer magic is missing, to tell another kind of file ([`Error::NotStrata`])
    /// from a truncated strata file.
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    pub fn decode_tail(len: u64, tail: &[u8], head: impl FnOnce() -> Result<Vec<u8>>) -> Result<Self> {
        let base_len = FOOTER_BASE_LEN as usize;
        let min = super::header::HEADER_LEN + FOOTER_BASE_LEN;
        if len < min || tail.len() < base_len || tail.len() as u64 > len {
            return Err(Error::Truncated { what: "header and footer", needed: min, available: len });
        }
        let bytes = tail.get(tail.len() - base_len..).unwrap_or(&[]);
        let mut r = Reader { buf: bytes, pos: 0 };
        let root = r.chunk_ref();
        let meta = r.chunk_ref();
        let type_fingerprint = r.u64();
        let layout_fingerprint = r.u64();
        let file_len = r.u64();
        let version = r.u32();
        let flags = r.u32();
        let sum = r.u64();
        let magic = r.take::<8>();
        if magic != MAGIC {
            // Distinguish a truncated strata file from some other file.
            super::header::decode(&head()?)?;
            return Err(Error::Truncated {
                what: "footer (the file does not end with the footer magic)",
                needed: len.saturating_add(1),
                available: len,
            });
        }
        if !(super::MIN_VERSION..=super::VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion { found: version, supported: super::VERSION });
        }
        let footer_len = len_of(version);
        let start = len.saturating_sub(footer_len);
        let Some(footer) =
            tail.get(tail.len().saturating_sub(footer_len as usize)..).filter(|f| f.len() as u64 == footer_len)
        else {
            return Err(Error::Truncated { what: "footer", needed: footer_len, available: tail.len() as u64 });
        };
        if len < super::header::HEADER_LEN + footer_len {
            return Err(Error::Truncated {
                what: "header and footer",
                needed: super::header::HEADER_LEN + footer_len,
                available: len,
            });
        }
        if super::checksum(footer.get(..footer.len() - 16).unwrap_or(&[])) != sum {
            return Err(Error::FooterChecksum { offset: start });
        }
        if flags != 0 {
            return Err(Error::UnknownFlags { what: "footer", flags });
        }
        let copies = if version >= COPIES_VERSION {
            let mut c = Reader { buf: footer, pos: 0 };
            let copies = c.chunk_ref();
            let reserved = c.u64();
            if reserved != 0 {
                let flags = u32::try_from(reserved).unwrap_or(u32::MAX);
                return Err(Error::UnknownFlags { what: "footer (reserved bytes 40..48)", flags });
            }
            Some(copies).filter(|r| *r != ChunkRef::none())
        } else {
            None
        };
        if file_len != len {
            return Err(Error::Truncated {
                what: "file (length recorded in the footer)",
                needed: file_len,
                available: len,
            });
        }
        Ok(Self { root, meta, copies, type_fingerprint, layout_fingerprint, file_len, version })
    }
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.pos += bytes.len();
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.buf.get(self.pos..self.pos + N) {
            out.copy_from_slice(src);
        }
        self.pos += N;
        out
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn chunk_ref(&mut self) -> ChunkRef {
        ChunkRef::from_bytes(&self.take::<CHUNK_REF_LEN>())
    }
}
