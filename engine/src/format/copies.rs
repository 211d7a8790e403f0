//! Tail copies: copies of the top index nodes, written right before the root.
//!
//! A lookup in a sharded vector or a bucketed map walks its chunk table from the root
//! node down; each node is a dependent read (a disk seek on a cold file, a round trip on
//! object storage). The writer copies the root node of every table, up to
//! [`BUDGET`] bytes in all, into one chunk placed between the meta chunk and the root,
//! so the read at open that brings the footer and the root brings them too: a lookup
//! then reads only the levels below the root node and the shard or bucket.
//!
//! The copied chunks stay where they are (their parents refer to them by offset, and
//! were written before the tail existed); a reader that finds a chunk's offset here
//! reads the copy instead, and checks it against the parent's reference like any read.
//!
//! ## Format
//! A raw chunk (version 3 and later; referenced by the footer):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `count` of copies (u32) |
//! | 4 | 4 | reserved, zero |
//! | 8 | 16 x count | each copy's original chunk: offset (u64), stored length (u64); offsets strictly ascending |
//! | | | zero padding to a multiple of 16 |
//! | | | the copies in the same order, each at a multiple of 16 from the chunk's start, zero padding between them |

use super::{ChunkRef, align_up};

/// The most bytes of copies a writer puts in the tail.
pub const BUDGET: u64 = 192 << 10;

/// The longest tail-copies chunk a reader fetches on its own (the budget, the
/// directory and the padding, with room to spare); a longer one is not read.
pub const MAX_LEN: u64 = 1 << 20;

/// Where one copy lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailCopy {
    /// The original chunk's offset in the file.
    pub offset: u64,
    /// The original chunk's stored length.
    pub len: u64,
    /// Where the copy starts, from the start of the tail-copies chunk.
    pub at: usize,
}

/// Encodes the tail-copies chunk of `chunks` (each an original reference and its
/// stored bytes), sorted by offset.
#[must_use]
pub fn encode(chunks: &mut [(ChunkRef, &[u8])]) -> Vec<u8> {
    chunks.sort_by_key(|(r, _)| r.offset());
    let mut out = Vec::new();
    out.extend_from_slice(&u32::try_from(chunks.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for (r, bytes) in chunks.iter() {
        out.extend_from_slice(&r.offset().to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    }
    for (_, bytes) in chunks.iter() {
        out.resize(out.len().next_multiple_of(16), 0);
        out.extend_from_slice(bytes);
    }
    out
}

/// Decodes a tail-copies chunk's directory, checking that every copy lies inside it
/// and that offsets ascend.
///
/// # Errors
/// A description of the first problem.
pub fn decode(bytes: &[u8]) -> Result<Vec<TailCopy>, &'static str> {
    let word = |at: usize, n: usize| bytes.get(at..at + n).ok_or("shorter than its directory");
    let count = u32::from_le_bytes(word(0, 4)?.try_into().map_err(|_| "short count")?) as usize;
    if word(4, 4)? != [0u8; 4] {
        return Err("reserved bytes are not zero");
    }
    let dir_end = count.checked_mul(16).and_then(|n| n.checked_add(8)).ok_or("count overflows")?;
    if dir_end > bytes.len() {
        return Err("shorter than its directory");
    }
    let mut copies = Vec::with_capacity(count);
    let mut at = dir_end;
    let mut last: Option<u64> = None;
    for j in 0..count {
        let e = word(8 + 16 * j, 16)?;
        let (o, l) = e.split_at(8);
        let offset = u64::from_le_bytes(o.try_into().map_err(|_| "short entry")?);
        let len = u64::from_le_bytes(l.try_into().map_err(|_| "short entry")?);
        if last.is_some_and(|p| p >= offset) {
            return Err("offsets do not ascend");
        }
        last = Some(offset);
        at = usize::try_from(align_up(at as u64).ok_or("overflow")?).map_err(|_| "overflow")?;
        let end = usize::try_from(len).ok().and_then(|l| at.checked_add(l)).ok_or("a copy overflows")?;
        if end > bytes.len() {
            return Err("a copy runs past the chunk's end");
        }
        copies.push(TailCopy { offset, len, at });
        at = end;
    }
    Ok(copies)
}

/// The copy of the chunk `r` refers to, if there is one of its length.
#[must_use]
pub fn find(copies: &[TailCopy], r: &ChunkRef) -> Option<TailCopy> {
    let j = copies.binary_search_by_key(&r.offset(), |c| c.offset).ok()?;
    copies.get(j).copied().filter(|c| c.len == r.stored_len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Encoding;

    #[test]
    fn copies_decode_to_where_they_were_encoded() -> Result<(), &'static str> {
        let a = vec![1u8; 40];
        let b = vec![2u8; 7];
        let ra = ChunkRef::new(4096, 40, 40, 0, Encoding::None);
        let rb = ChunkRef::new(64, 7, 7, 0, Encoding::None);
        let bytes = encode(&mut [(ra, &a), (rb, &b)]);
        let copies = decode(&bytes)?;
        assert_eq!(copies.len(), 2);
        for (r, want) in [(ra, &a), (rb, &b)] {
            let c = find(&copies, &r).ok_or("missing")?;
            assert_eq!(c.at % 16, 0);
            assert_eq!(bytes.get(c.at..c.at + want.len()), Some(want.as_slice()));
        }
        assert_eq!(find(&copies, &ChunkRef::new(64, 8, 8, 0, Encoding::None)), None);
        Ok(())
    }

    #[test]
    fn a_damaged_directory_is_refused() {
        let a = vec![1u8; 40];
        let ra = ChunkRef::new(4096, 40, 40, 0, Encoding::None);
        let good = encode(&mut [(ra, &a)]);
        for cut in 0..good.len() {
            assert!(decode(good.get(..cut).unwrap_or_default()).is_err(), "{cut}");
        }
        let mut huge = good.clone();
        if let Some(b) = huge.get_mut(16..24) {
            b.copy_from_slice(&u64::MAX.to_le_bytes());
        }
        assert!(decode(&huge).is_err());
        let mut many = good;
        if let Some(b) = many.get_mut(0..4) {
            b.copy_from_slice(&u32::MAX.to_le_bytes());
        }
        assert!(decode(&many).is_err());
    }
}
