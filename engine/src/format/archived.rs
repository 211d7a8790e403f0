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

/// Bounds-checked reads of archived values by position in a chunk's bytes: how the
/// schema-driven readers (the decoder of [`crate::Value`]s and the transcoder of
/// schema evolution) read rkyv's layouts. Every read checks its range; a failed read
/// says what lies outside the chunk.
#[derive(Debug, Clone, Copy)]
pub struct Bytes<'a> {
    bytes: &'a [u8],
}

/// Why a read of archived bytes failed.
pub type Misread = String;

impl<'a> Bytes<'a> {
    /// Reads over `bytes`.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// The bytes' length.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Whether there are no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The `len` bytes at `pos`.
    ///
    /// # Errors
    /// When they lie outside the bytes.
    pub fn slice(&self, pos: u64, len: u64) -> Result<&'a [u8], Misread> {
        usize::try_from(pos)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(p, l)| self.bytes.get(p..p.checked_add(l)?))
            .ok_or_else(|| format!("{len} bytes at {pos} lie outside the chunk ({} bytes)", self.bytes.len()))
    }

    /// The little-endian integer of `len` (at most 16) bytes at `pos`.
    ///
    /// # Errors
    /// When they lie outside the bytes.
    pub fn le(&self, pos: u64, len: u64) -> Result<u128, Misread> {
        Ok(self.slice(pos, len.min(16))?.iter().rev().fold(0u128, |acc, &x| (acc << 8) | u128::from(x)))
    }

    /// The byte at `pos`.
    ///
    /// # Errors
    /// When it lies outside the bytes.
    pub fn byte(&self, pos: u64) -> Result<u8, Misread> {
        Ok(self.slice(pos, 1)?.first().copied().unwrap_or(0))
    }

    /// The little-endian `u32` at `pos`.
    ///
    /// # Errors
    /// When it lies outside the bytes.
    pub fn u32(&self, pos: u64) -> Result<u32, Misread> {
        Ok(self.le(pos, 4)? as u32)
    }

    /// The target of the `i32` relative pointer at `pos` (an offset from `pos`).
    ///
    /// # Errors
    /// When the pointer lies outside the bytes or points before them.
    pub fn rel(&self, pos: u64) -> Result<u64, Misread> {
        let off = self.u32(pos)? as i32;
        pos.checked_add_signed(i64::from(off))
            .ok_or_else(|| format!("relative pointer at {pos} points before the chunk"))
    }

    /// The bytes of the archived `String` at `pos` (8 bytes: up to 8 bytes inline,
    /// ended by `0xFF`, or a length and an offset to bytes out of line; see
    /// `docs/FORMAT.md`), and whether they are out of line. Not checked as UTF-8.
    ///
    /// # Errors
    /// When the string or its bytes lie outside the chunk.
    pub fn string(&self, pos: u64) -> Result<(&'a [u8], bool), Misread> {
        let (start, len, out_of_line) = self.string_span(pos)?;
        Ok((self.slice(start, len)?, out_of_line))
    }

    /// Where the bytes of the archived `String` at `pos` lie: their start and length,
    /// and whether they are out of line (else they start at `pos`).
    ///
    /// # Errors
    /// When the string or its bytes lie outside the chunk.
    pub fn string_span(&self, pos: u64) -> Result<(u64, u64, bool), Misread> {
        let head = self.slice(pos, 8)?;
        let first = head.first().copied().unwrap_or(0);
        if first & 0xC0 != 0x80 {
            let len = head.iter().position(|&b| b == 0xFF).unwrap_or(8);
            return Ok((pos, len as u64, false));
        }
        let v = u64::from(self.u32(pos)?);
        let len = (v & 0x3F) | ((v & !0xFF) >> 2);
        if len <= 8 {
            return Err(format!("an out-of-line string of {len} bytes at {pos} (at most 8 are inline)"));
        }
        let off = self.u32(pos + 4)? as i32;
        let start =
            pos.checked_add_signed(i64::from(off)).ok_or_else(|| format!("string at {pos} points before the chunk"))?;
        self.slice(start, len)?;
        Ok((start, len, true))
    }

    /// The elements of the archived `Vec` at `pos` whose elements are `size` bytes
    /// each: their start and count, checked to lie within the bytes.
    ///
    /// # Errors
    /// When the header or the elements lie outside the bytes.
    pub fn vec(&self, pos: u64, size: u64) -> Result<(u64, u64), Misread> {
        let start = self.rel(pos)?;
        let len = u64::from(self.u32(pos + 4)?);
        let end = len.checked_mul(size).and_then(|n| n.checked_add(start));
        match end {
            Some(end) if end <= self.len() => Ok((start, len)),
            _ => Err(format!("the {len} elements of the vector at {pos} lie outside the chunk")),
        }
    }
}

/// The archived `String` header of `len` bytes: inline (`bytes`, padded with `0xFF`)
/// when `len <= 8`, else the length and the offset `offset` from the header to the
/// bytes.
#[must_use]
pub fn string_header(bytes: &[u8], offset: i64) -> Option<[u8; 8]> {
    let mut out = [0xFFu8; 8];
    if bytes.len() <= 8 {
        out.get_mut(..bytes.len())?.copy_from_slice(bytes);
        return Some(out);
    }
    let l = u32::try_from(bytes.len()).ok().filter(|&l| l < 1 << 30)?;
    let l = (l & 0x3F) | 0x80 | ((l & !0x3F) << 2);
    out.get_mut(..4)?.copy_from_slice(&l.to_le_bytes());
    out.get_mut(4..)?.copy_from_slice(&i32::try_from(offset).ok()?.to_le_bytes());
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

    /// The hand-written string headers equal rkyv's own, inline and out of line, and
    /// read back.
    #[test]
    fn string_headers_are_rkyvs() -> Result<(), String> {
        for s in ["", "a", "12345678", "123456789", &"x".repeat(64), &"y".repeat(100_000)] {
            let archived = rkyv::to_bytes::<rkyv::rancor::Error>(&s.to_owned()).map_err(|e| e.to_string())?;
            let pos = archived.len() as u64 - 8;
            let b = Bytes::new(&archived);
            let (bytes, out_of_line) = b.string(pos)?;
            assert_eq!(bytes, s.as_bytes());
            assert_eq!(out_of_line, s.len() > 8);
            let offset = if out_of_line { i64::from(b.u32(pos + 4)? as i32) } else { 0 };
            let header = string_header(s.as_bytes(), offset).ok_or("header")?;
            assert_eq!(header.as_slice(), archived.get(archived.len() - 8..).ok_or("tail")?, "{s:?}");
        }
        Ok(())
    }
}
