//! The file header: what a file starts with.
//!
//! ## Format
//! 16 bytes at offset 0:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `89 53 54 52 41 54 41 0A` (`\x89STRATA\n`) |
//! | 8 | 4 | format version, u32 little-endian |
//! | 12 | 4 | flags, u32 little-endian, zero in version 1 |
//!
//! The header is written first and not read by `open`: the footer repeats the version
//! and has a magic of its own. It lets tools such as `file(1)` recognise a strata file
//! from its start; `open` reads it only to tell another kind of file from a truncated
//! strata file, and [`crate::Archive::verify`] checks it.

use crate::{Error, Result};

/// The magic bytes at offset 0. The high first byte catches 7-bit transfers, the
/// newline catches newline conversion (as in PNG).
pub const MAGIC: [u8; 8] = *b"\x89STRATA\n";

/// Length of the header in bytes; the first chunk starts here.
pub const HEADER_LEN: u64 = 16;

/// Encodes the header for `version`.
#[must_use]
pub fn encode(version: u32) -> [u8; HEADER_LEN as usize] {
    let mut out = [0u8; HEADER_LEN as usize];
    let (magic, rest) = out.split_at_mut(8);
    magic.copy_from_slice(&MAGIC);
    let (ver, _flags) = rest.split_at_mut(4);
    ver.copy_from_slice(&version.to_le_bytes());
    out
}

/// Checks that `bytes` start with a strata header with zero flags; returns its version.
///
/// # Errors
/// [`Error::NotStrata`] when the magic is absent, [`Error::Truncated`] when the bytes
/// are shorter than a header.
pub fn decode(bytes: &[u8]) -> Result<u32> {
    let Some(head) = bytes.get(..HEADER_LEN as usize) else {
        return Err(Error::Truncated { what: "header", needed: HEADER_LEN, available: bytes.len() as u64 });
    };
    let (magic, rest) = head.split_at(8);
    if magic != MAGIC {
        return Err(Error::NotStrata { what: "the header magic `\\x89STRATA\\n` at offset 0" });
    }
    let mut ver = [0u8; 4];
    ver.copy_from_slice(rest.get(..4).unwrap_or(&[0; 4]));
    let mut flags = [0u8; 4];
    flags.copy_from_slice(rest.get(4..8).unwrap_or(&[0; 4]));
    if flags != [0; 4] {
        return Err(Error::UnknownFlags { what: "header", flags: u32::from_le_bytes(flags) });
    }
    Ok(u32::from_le_bytes(ver))
}
