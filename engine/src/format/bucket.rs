//! The bytes of one map bucket.
//!
//! ## Format
//! A bucket is a chunk (raw or zstd) whose raw bytes are, little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `count`: entries in the bucket |
//! | 4 | 1 | `layout`: 0 wide, 1 compact |
//! | 5 | 1 | compact: log2 of the entries' alignment `A` (0 to 4); wide: zero |
//! | 6 | 2 | reserved, zero |
//! | 8 | `H` x count | key hashes ([`crate::hash`]): wide, `H` = 8, ascending; compact, `H` = 4, the low 32 bits of each, in entry order |
//! | 8 + `H` x count | 4 x count | `end` of each entry, relative to the data start, non-decreasing |
//! | pad to 16 | | zero |
//! | data start | | the entries |
//!
//! Entry `j` occupies `[alignA(end[j-1]), end[j])` of the data (with `end[-1] = 0`;
//! `A` = 16 in the wide layout): an independent rkyv archive of the entry
//! `{ key, value }` whose root ends at `end[j]`. Entries are ordered by their keys'
//! hashes in both layouts. A lookup finds its hash in place (wide: binary search;
//! compact: a scan of the 32-bit hashes), then validates and compares only the entries
//! that match; the bucket as a whole is never validated. Version 6 writes the compact
//! layout, versions 1 to 5 the wide one; readers take either in any version.

/// Length of the fixed part before the hash array.
pub const HEADER: usize = 8;

/// The largest entry alignment a compact bucket may declare.
pub const MAX_ENTRY_ALIGN: usize = 16;

/// A bucket's raw bytes, parsed and bounds-checked without validating any entry.
pub struct Bucket<'a> {
    count: usize,
    /// Whether hashes are 32-bit (compact layout) rather than 64-bit (wide).
    compact: bool,
    /// The alignment of each entry's start in the data.
    align: usize,
    /// Where the entries' data starts in the bucket's bytes.
    data_start: usize,
    hashes: &'a [u8],
    ends: &'a [u8],
    data: &'a [u8],
}

/// Why a bucket's bytes are malformed.
pub type Malformed = &'static str;

impl<'a> Bucket<'a> {
    /// Parses the header and checks that the arrays fit.
    ///
    /// # Errors
    /// A description of the first inconsistency found.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Malformed> {
        let head = bytes.get(..HEADER).ok_or("bucket shorter than its header")?;
        let mut c = [0u8; 4];
        c.copy_from_slice(head.get(..4).ok_or("bucket header")?);
        let count = u32::from_le_bytes(c) as usize;
        if head.get(6..8) != Some(&[0u8; 2][..]) {
            return Err("bucket reserved bytes are not zero");
        }
        let (compact, align) = match (head.get(4), head.get(5)) {
            (Some(0), Some(0)) => (false, 16),
            (Some(1), Some(&log)) if log <= 4 => (true, 1usize << log),
            (Some(0 | 1), _) => return Err("bucket entry alignment is not 1 to 16"),
            _ => return Err("bucket layout is neither wide nor compact"),
        };
        let width = if compact { 4 } else { 8 };
        let hashes_end =
            count.checked_mul(width).and_then(|n| n.checked_add(HEADER)).ok_or("bucket count overflows")?;
        let ends_end = count.checked_mul(4).and_then(|n| n.checked_add(hashes_end)).ok_or("bucket count overflows")?;
        let data_start = ends_end.checked_next_multiple_of(16).ok_or("bucket count overflows")?;
        if data_start > bytes.len() {
            return Err("bucket arrays extend past the bucket");
        }
        let hashes = bytes.get(HEADER..hashes_end).ok_or("bucket hash array")?;
        let ends = bytes.get(hashes_end..ends_end).ok_or("bucket end array")?;
        let data = bytes.get(data_start..).ok_or("bucket data")?;
        Ok(Self { count, compact, align, data_start, hashes, ends, data })
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Length of the entry data (everything after the arrays and their padding).
    #[must_use]
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Whether the bucket is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether the bucket has the compact layout (32-bit hashes).
    #[must_use]
    pub fn is_compact(&self) -> bool {
        self.compact
    }

    /// The alignment of each entry's start in the data.
    #[must_use]
    pub fn entry_align(&self) -> usize {
        self.align
    }

    /// The full hash of entry `j`, in a wide bucket; `None` in a compact one (which keeps
    /// 32 bits) or past the end.
    #[must_use]
    pub fn hash(&self, j: usize) -> Option<u64> {
        if self.compact {
            return None;
        }
        let b = self.hashes.get(j.checked_mul(8)?..j.checked_mul(8)?.checked_add(8)?)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        Some(u64::from_le_bytes(w))
    }

    /// The low 32 bits of entry `j`'s hash, in a compact bucket.
    fn short_hash(&self, j: usize) -> Option<u32> {
        let b = self.hashes.get(j.checked_mul(4)?..j.checked_mul(4)?.checked_add(4)?)?;
        let mut w = [0u8; 4];
        w.copy_from_slice(b);
        Some(u32::from_le_bytes(w))
    }

    /// Whether entry `j` may hold a key of hash `hash`: its stored hash (all of it, or
    /// its low 32 bits) equals the key's.
    #[must_use]
    pub fn matches(&self, j: usize, hash: u64) -> bool {
        if self.compact { self.short_hash(j) == Some(hash as u32) } else { self.hash(j) == Some(hash) }
    }

    fn end(&self, j: usize) -> Option<usize> {
        let b = self.ends.get(j.checked_mul(4)?..j.checked_mul(4)?.checked_add(4)?)?;
        let mut w = [0u8; 4];
        w.copy_from_slice(b);
        Some(u32::from_le_bytes(w) as usize)
    }

    /// The indices of the entries that may hold a key of hash `hash` ([`matches`]),
    /// read in place: a binary search of a wide bucket's hashes, a scan of a compact
    /// one's.
    ///
    /// [`matches`]: Self::matches
    pub fn find(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let range = if self.compact {
            0..self.count
        } else {
            let (mut lo, mut hi) = (0, self.count);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if self.hash(mid).unwrap_or(u64::MAX) < hash {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            let mut end = lo;
            while end < self.count && self.hash(end) == Some(hash) {
                end += 1;
            }
            lo..end
        };
        range.filter(move |&j| self.matches(j, hash))
    }

    /// The bytes of entry `j`, bounds-checked (not validated).
    ///
    /// # Errors
    /// When the end array is inconsistent.
    pub fn entry(&self, j: usize) -> Result<&'a [u8], Malformed> {
        let (start, end) = self.entry_bounds(j)?;
        self.data.get(start..end).ok_or("bucket entry extends past the bucket")
    }

    /// Where entry `j` lies in the bucket's bytes (the whole chunk's), bounds-checked.
    ///
    /// # Errors
    /// When the end array is inconsistent.
    pub fn entry_span(&self, j: usize) -> Result<std::ops::Range<usize>, Malformed> {
        let (start, end) = self.entry_bounds(j)?;
        if end > self.data.len() {
            return Err("bucket entry extends past the bucket");
        }
        Ok(self.data_start + start..self.data_start + end)
    }

    /// Entry `j`'s range in the data.
    fn entry_bounds(&self, j: usize) -> Result<(usize, usize), Malformed> {
        let end = self.end(j).ok_or("entry index beyond the bucket")?;
        let start = match j.checked_sub(1) {
            None => 0,
            Some(p) => self
                .end(p)
                .ok_or("entry index")?
                .checked_next_multiple_of(self.align)
                .ok_or("entry offset overflows")?,
        };
        if start > end {
            return Err("bucket entry ends before it starts");
        }
        Ok((start, end))
    }
}

/// Length of a compact bucket's header (count, layout, 32-bit hashes, ends, padding)
/// for `count` entries: where the entries' data starts.
#[must_use]
pub fn header_len(count: usize) -> Option<usize> {
    count.checked_mul(8)?.checked_add(HEADER)?.checked_next_multiple_of(16)
}

/// Writes the header of a compact bucket into `out` (which is
/// `header_len(hashes.len())` bytes): the count, the layout with the entries'
/// alignment `align` (a power of two up to [`MAX_ENTRY_ALIGN`]), the low 32 bits of the
/// hashes (in entry order) and the entries' ends.
///
/// # Errors
/// When `out` has the wrong length, the counts do not fit or `align` is not allowed.
pub fn write_header(out: &mut [u8], hashes: &[u64], ends: &[u32], align: usize) -> Result<(), Malformed> {
    if hashes.len() != ends.len() || Some(out.len()) != header_len(hashes.len()) {
        return Err("bucket header of the wrong size");
    }
    if !align.is_power_of_two() || align > MAX_ENTRY_ALIGN {
        return Err("bucket entry alignment is not 1 to 16");
    }
    let count = u32::try_from(hashes.len()).map_err(|_| "too many entries in one bucket")?;
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        if let Some(dst) = out.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        at += bytes.len();
    };
    put(&count.to_le_bytes());
    put(&[1, align.trailing_zeros() as u8, 0, 0]);
    for h in hashes {
        put(&(*h as u32).to_le_bytes());
    }
    for e in ends {
        put(&e.to_le_bytes());
    }
    Ok(())
}
