//! The bytes of one map bucket.
//!
//! ## Format
//! A bucket is a chunk (raw or zstd) whose raw bytes are, little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `count`: entries in the bucket |
//! | 4 | 4 | reserved, zero |
//! | 8 | 8 x count | key hashes ([`crate::hash`]), ascending |
//! | 8 + 8 x count | 4 x count | `end` of each entry, relative to the data start, non-decreasing |
//! | pad to 16 | | zero |
//! | data start | | the entries |
//!
//! Entry `j` occupies `[align16(end[j-1]), end[j])` of the data (with `end[-1] = 0`): an
//! independent rkyv archive of the entry `{ key, value }` whose root ends at `end[j]`.
//! A lookup finds its hash in the hash array in place (binary search), then validates
//! and compares only the entries with that hash; the bucket as a whole is never
//! validated.

/// Length of the fixed part before the hash array.
pub const HEADER: usize = 8;

/// A bucket's raw bytes, parsed and bounds-checked without validating any entry.
pub struct Bucket<'a> {
    count: usize,
    /// Where the entries' data starts in the bucket's bytes.
    data_start: usize,
    hashes: &'a [u8],
    ends: &'a [u8],
    data: &'a [u8],
}

/// Why a bucket's bytes are malformed.
pub type Malformed = &'static str;

impl<'a> Bucket<'a> {
    /// Parses the header and checks that the arrays and the last entry fit.
    ///
    /// # Errors
    /// A description of the first inconsistency found.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Malformed> {
        let head = bytes.get(..HEADER).ok_or("bucket shorter than its header")?;
        let mut c = [0u8; 4];
        c.copy_from_slice(head.get(..4).ok_or("bucket header")?);
        let count = u32::from_le_bytes(c) as usize;
        if head.get(4..8) != Some(&[0u8; 4][..]) {
            return Err("bucket reserved bytes are not zero");
        }
        let hashes_end = count.checked_mul(8).and_then(|n| n.checked_add(HEADER)).ok_or("bucket count overflows")?;
        let ends_end = count.checked_mul(4).and_then(|n| n.checked_add(hashes_end)).ok_or("bucket count overflows")?;
        let data_start = ends_end.checked_next_multiple_of(16).ok_or("bucket count overflows")?;
        if data_start > bytes.len() {
            return Err("bucket arrays extend past the bucket");
        }
        let hashes = bytes.get(HEADER..hashes_end).ok_or("bucket hash array")?;
        let ends = bytes.get(hashes_end..ends_end).ok_or("bucket end array")?;
        let data = bytes.get(data_start..).ok_or("bucket data")?;
        Ok(Self { count, data_start, hashes, ends, data })
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

    /// The hash of entry `j`.
    #[must_use]
    pub fn hash(&self, j: usize) -> Option<u64> {
        let b = self.hashes.get(j.checked_mul(8)?..j.checked_mul(8)?.checked_add(8)?)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        Some(u64::from_le_bytes(w))
    }

    fn end(&self, j: usize) -> Option<usize> {
        let b = self.ends.get(j.checked_mul(4)?..j.checked_mul(4)?.checked_add(4)?)?;
        let mut w = [0u8; 4];
        w.copy_from_slice(b);
        Some(u32::from_le_bytes(w) as usize)
    }

    /// The index range of the entries whose hash is `hash` (binary search over the
    /// hash array, read in place).
    #[must_use]
    pub fn find(&self, hash: u64) -> std::ops::Range<usize> {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.hash(mid).unwrap_or(u64::MAX) < hash {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let start = lo;
        let mut end = start;
        while end < self.count && self.hash(end) == Some(hash) {
            end += 1;
        }
        start..end
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
            Some(p) => {
                self.end(p).ok_or("entry index")?.checked_next_multiple_of(16).ok_or("entry offset overflows")?
            }
        };
        if start > end {
            return Err("bucket entry ends before it starts");
        }
        Ok((start, end))
    }
}

/// Length of a bucket's header (count, hashes, ends, padding) for `count` entries: where
/// the entries' data starts.
#[must_use]
pub fn header_len(count: usize) -> Option<usize> {
    count.checked_mul(12)?.checked_add(HEADER)?.checked_next_multiple_of(16)
}

/// Writes the header of a bucket into `out` (which is `header_len(hashes.len())` bytes):
/// the count, the hashes (ascending) and the entries' ends.
///
/// # Errors
/// When `out` has the wrong length or the counts do not fit.
pub fn write_header(out: &mut [u8], hashes: &[u64], ends: &[u32]) -> Result<(), Malformed> {
    if hashes.len() != ends.len() || Some(out.len()) != header_len(hashes.len()) {
        return Err("bucket header of the wrong size");
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
    put(&[0; 4]);
    for h in hashes {
        put(&h.to_le_bytes());
    }
    for e in ends {
        put(&e.to_le_bytes());
    }
    Ok(())
}
