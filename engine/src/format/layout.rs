//! The layout fingerprint: which archived layout the writer's build used.
//!
//! rkyv's layout features (byte order, alignment, pointer width) are global to a build,
//! and rkyv promises compatibility only within a minor version. The fingerprint packs
//! them into a `u64` that the footer records and `open` compares:
//!
//! | bits | meaning |
//! |---|---|
//! | 0..8 | first byte of `Archived<u32>` holding `1` (1 = little-endian, 0 = big-endian) |
//! | 8..16 | `size_of::<ArchivedUsize>()` (4 with 32-bit relative pointers) |
//! | 16..24 | `align_of::<Archived<u64>>()` (8 when aligned, 1 when unaligned) |
//! | 24..32 | rkyv minor version (8) |
//! | 32..40 | `size_of::<ArchivedString>()` (8) |
//! | 40..64 | zero |

use rkyv::Archived;

/// rkyv's minor version whose layout this build writes.
pub const RKYV_MINOR: u8 = 8;

/// The layout fingerprint of this build (computed once).
#[must_use]
pub fn fingerprint() -> u64 {
    static FP: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *FP.get_or_init(compute)
}

fn compute() -> u64 {
    // Serialize `1u32` and look at its first byte: the byte order rkyv really uses.
    let first_byte =
        rkyv::to_bytes::<rancor::Error>(&1u32).ok().and_then(|b| b.first().copied()).map_or(0xff, u64::from);
    let usize_len = size_of::<rkyv::primitive::ArchivedUsize>() as u64;
    let align_u64 = align_of::<Archived<u64>>() as u64;
    let string_len = size_of::<rkyv::string::ArchivedString>() as u64;
    first_byte | (usize_len << 8) | (align_u64 << 16) | (u64::from(RKYV_MINOR) << 24) | (string_len << 32)
}
