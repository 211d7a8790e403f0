//! rkyv's archived container layouts, read and written by hand where strata works on
//! raw bytes (index nodes, shards read one element at a time, byte vectors written
//! straight from memory). The layout fingerprint ([`super::layout`]) pins them.
//!
//! ## Format
//! An archived `Vec<T>` is 8 bytes, alignment 4: an `i32` offset from the header's own
//! position to the first element, then the `u32` element count. The elements lie
//! contiguously, `size_of::<Archived<T>>()` bytes apart.

/// Length of an archived vector's header.
pub const VEC_HEADER: usize = 8;

/// Where the elements of the archived `Vec` whose header ends `bytes` lie: their start
/// and count, checked to lie between the buffer's start and the header, `size` bytes
/// each.
///
/// # Errors
/// A description of what does not fit.
pub fn vec_span(bytes: &[u8], size: usize) -> Result<(usize, usize), &'static str> {
    let root = bytes.len().checked_sub(VEC_HEADER).ok_or("shorter than a vector header")?;
    vec_span_at(bytes, root, size)
}

/// [`vec_span`] for a header at `root`, with the elements before it.
///
/// # Errors
/// A description of what does not fit.
pub fn vec_span_at(bytes: &[u8], root: usize, size: usize) -> Result<(usize, usize), &'static str> {
    let word = |at: usize| -> Result<[u8; 4], &'static str> {
        let mut w = [0u8; 4];
        w.copy_from_slice(bytes.get(at..at.checked_add(4).ok_or("vector header")?).ok_or("vector header")?);
        Ok(w)
    };
    let offset = i32::from_le_bytes(word(root)?);
    let len = usize::try_from(u32::from_le_bytes(word(root + 4)?)).map_err(|_| "vector length")?;
    let start = root.checked_add_signed(isize::try_from(offset).map_err(|_| "vector offset")?);
    match start {
        Some(start) if len.checked_mul(size).and_then(|n| n.checked_add(start)).is_some_and(|end| end <= root) => {
            Ok((start, len))
        }
        _ => Err("elements outside the chunk"),
    }
}

/// The header of an archived vector of `len` elements that start `back` bytes before
/// the header, or `None` when either does not fit 32 bits.
#[must_use]
pub fn vec_header(back: usize, len: usize) -> Option<[u8; VEC_HEADER]> {
    let offset = i32::try_from(back).ok()?.checked_neg()?;
    let len = u32::try_from(len).ok()?;
    let mut out = [0u8; VEC_HEADER];
    out.get_mut(..4)?.copy_from_slice(&offset.to_le_bytes());
    out.get_mut(4..)?.copy_from_slice(&len.to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_header_reads_back_and_damage_is_caught() -> Result<(), &'static str> {
        let mut bytes = vec![0u8; 24];
        bytes.extend_from_slice(&vec_header(24, 3).ok_or("header")?);
        assert_eq!(vec_span(&bytes, 8), Ok((0, 3)));
        assert!(vec_span(&bytes, 9).is_err());
        assert!(vec_span(bytes.get(..7).ok_or("short")?, 1).is_err());
        let mut bytes = vec![0u8; 8];
        bytes.extend_from_slice(&[0xFF; VEC_HEADER]);
        assert!(vec_span(&bytes, 1).is_err());
        assert!(vec_header(usize::MAX, 1).is_none());
        Ok(())
    }
}
