//! The on-disk format, isolated from the API. `docs/FORMAT.md` describes the same bytes
//! in prose; the two change together.
//!
//! A file is: a [header] (16 bytes; 64 with the commit record of version 4), chunks at 16-byte-aligned offsets (children
//! before their parents, then the [meta] chunk, then the [copies] of the top index
//! nodes, then the root, which ends right before the footer), and a fixed-size
//! [footer] at the very end that references the root, meta and copies chunks. Each chunk is referenced by exactly one
//! [`ChunkRef`] held in its parent (the root's and the meta chunk's are held by the
//! footer).

pub mod archived;
pub mod bucket;
pub mod chunk_ref;
pub mod copies;
pub mod footer;
pub mod header;
pub mod layout;
pub mod meta;
pub mod table;

pub use chunk_ref::{ChunkRef, Encoding, TYPED_VERSION, type_tag};
pub use footer::Footer;

/// The format version this build writes (it reads every version from [`MIN_VERSION`]).
pub const VERSION: u32 = 6;

/// The oldest format version this build reads.
pub const MIN_VERSION: u32 = 1;

/// Alignment of every chunk's offset. 16 covers every archived primitive including
/// `u128`; an mmap base is page-aligned, so absolute alignment follows.
pub const CHUNK_ALIGN: u64 = 16;

/// Rounds `n` up to the next multiple of [`CHUNK_ALIGN`], or `None` on overflow.
#[must_use]
pub const fn align_up(n: u64) -> Option<u64> {
    match n.checked_add(CHUNK_ALIGN - 1) {
        Some(v) => Some(v & !(CHUNK_ALIGN - 1)),
        None => None,
    }
}

/// xxh3-64 of `bytes`: the checksum of chunks and of the footer.
#[must_use]
pub fn checksum(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}
