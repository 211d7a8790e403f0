//! The footer: the only structure `open` reads before the root chunk.
//!
//! ## Format
//! 128 bytes at the very end of the file, little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 40 | root chunk reference ([`ChunkRef`]) |
//! | 40 | 40 | meta chunk reference (schema and chunk directory, [`super::meta`]) |
//! | 80 | 8 | type fingerprint of the root type |
//! | 88 | 8 | layout fingerprint ([`super::layout`]) |
//! | 96 | 8 | total file length, footer included |
//! | 104 | 4 | format version |
//! | 108 | 4 | flags, zero in version 1 |
//! | 112 | 8 | xxh3-64 of bytes 0..112 of the footer |
//! | 120 | 8 | magic `STRATA\xF0\x9F` |
//!
//! The recorded file length catches both truncation and appended garbage before any
//! offset is trusted; the checksum catches a damaged footer.

use super::chunk_ref::{CHUNK_REF_LEN, ChunkRef};
use crate::{Error, Result};

/// Footer length in bytes.
pub const FOOTER_LEN: u64 = 128;

/// The magic bytes that end every file.
pub const MAGIC: [u8; 8] = *b"STRATA\xF0\x9F";

const CHECKED_LEN: usize = 112;

/// The decoded footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// Reference to the root chunk.
    pub root: ChunkRef,
    /// Reference to the meta chunk: the schema and the chunk directory.
    pub meta: ChunkRef,
    /// Fingerprint of the root type (see [`crate::schema`]).
    pub type_fingerprint: u64,
    /// Layout fingerprint of the writer's build.
    pub layout_fingerprint: u64,
    /// Total file length.
    pub file_len: u64,
    /// Format version.
    pub version: u32,
}

impl Footer {
    /// Encodes the footer.
    #[must_use]
    pub fn encode(&self) -> [u8; FOOTER_LEN as usize] {
        let mut out = [0u8; FOOTER_LEN as usize];
        let mut w = Cursor { buf: &mut out, pos: 0 };
        w.put(&self.root.to_bytes());
        w.put(&self.meta.to_bytes());
        w.put(&self.type_fingerprint.to_le_bytes());
        w.put(&self.layout_fingerprint.to_le_bytes());
        w.put(&self.file_len.to_le_bytes());
        w.put(&self.version.to_le_bytes());
        w.put(&0u32.to_le_bytes());
        let sum = super::checksum(w.buf.get(..CHECKED_LEN).unwrap_or(&[]));
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

    /// [`decode`](Self::decode) from the file's length and its last [`FOOTER_LEN`]
    /// bytes: all that `open` reads before the root. The footer repeats everything the
    /// header says (the version, and a magic of its own), so the header is not read
    /// then ([`Archive::verify`](crate::Archive::verify) checks it): `head`, which
    /// reads the file's first [`HEADER_LEN`](super::header::HEADER_LEN) bytes, is
    /// called only when the footer magic is missing, to tell another kind of file
    /// ([`Error::NotStrata`]) from a truncated strata file.
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    pub fn decode_tail(len: u64, bytes: &[u8], head: impl FnOnce() -> Result<Vec<u8>>) -> Result<Self> {
        if len < super::header::HEADER_LEN + FOOTER_LEN || bytes.len() as u64 != FOOTER_LEN {
            return Err(Error::Truncated {
                what: "header and footer",
                needed: super::header::HEADER_LEN + FOOTER_LEN,
                available: len,
            });
        }
        let start = len - FOOTER_LEN;
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
        if super::checksum(bytes.get(..CHECKED_LEN).unwrap_or(&[])) != sum {
            return Err(Error::FooterChecksum { offset: start });
        }
        if flags != 0 {
            return Err(Error::UnknownFlags { what: "footer", flags });
        }
        if !(super::MIN_VERSION..=super::VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion { found: version, supported: super::VERSION });
        }
        if file_len != len {
            return Err(Error::Truncated {
                what: "file (length recorded in the footer)",
                needed: file_len,
                available: len,
            });
        }
        Ok(Self { root, meta, type_fingerprint, layout_fingerprint, file_len, version })
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
