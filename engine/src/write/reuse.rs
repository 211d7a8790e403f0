//! The chunks of the version an incremental save appends to, which the new version
//! refers to instead of writing them again.
//!
//! A chunk is reused when the old version has one with the same checksum, stored and
//! raw lengths and encoding, *and the same bytes*: the candidate's bytes are read back
//! and compared before it is taken, so a checksum collision or a lying directory never
//! puts other bytes under a new reference. Each old chunk is taken at most once per
//! save: two equal new chunks (two `Arc`s of equal content) stay two chunks, as a
//! whole save writes them, and the chunks of one version never overlap.

use crate::error::Result;
use crate::format::{ChunkRef, Encoding};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The bytes of an old chunk read at a time for the comparison.
const COMPARE_PIECE: usize = 1 << 20;

/// What a chunk is matched by before its bytes are compared.
type Key = (u64, u64, u64, u8);

fn key(checksum: u64, stored_len: u64, raw_len: u64, encoding: Encoding) -> Key {
    (checksum, stored_len, raw_len, encoding.to_byte())
}

/// The old version's chunks, by content, not yet taken.
pub(crate) struct Reuse<'f> {
    file: &'f std::fs::File,
    /// The file's identity, for handles to values read from it.
    id: Option<(u64, u64)>,
    /// Candidates by key: offsets, the lowest taken first.
    index: Mutex<HashMap<Key, Vec<u64>>>,
    /// The buffer old bytes are read into for the comparison.
    buf: Mutex<Vec<u8>>,
    chunks: AtomicU64,
    bytes: AtomicU64,
}

impl<'f> Reuse<'f> {
    /// The chunks `old` lists (the old version's directory, less the chunks that must be
    /// new: its root and tail copies), read back from `file` when matched.
    pub(crate) fn new(file: &'f std::fs::File, old: impl IntoIterator<Item = ChunkRef>) -> Self {
        let mut index: HashMap<Key, Vec<u64>> = HashMap::new();
        for r in old {
            if let Some(encoding) = Encoding::from_byte(r.codec_byte()) {
                index.entry(key(r.checksum(), r.stored_len(), r.raw_len(), encoding)).or_default().push(r.offset());
            }
        }
        for offsets in index.values_mut() {
            offsets.sort_unstable_by(|a, b| b.cmp(a));
            offsets.dedup();
        }
        Self {
            file,
            id: crate::store::source::file_id(file),
            index: Mutex::new(index),
            buf: Mutex::default(),
            chunks: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// An old chunk holding exactly the bytes of `stored` (pieces one after the other; of `raw_len` bytes once decoded, in
    /// `encoding`, with `checksum`), taken for the new version; `None` when there is
    /// none left.
    ///
    /// # Errors
    /// I/O errors reading the old bytes.
    pub(crate) fn take(
        &self,
        stored: &[&[u8]],
        raw_len: u64,
        encoding: Encoding,
        checksum: u64,
    ) -> Result<Option<ChunkRef>> {
        let len = stored.iter().map(|p| p.len() as u64).sum();
        let mut index = self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(offsets) = index.get_mut(&key(checksum, len, raw_len, encoding)) else {
            return Ok(None);
        };
        let mut buf = self.buf.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for k in (0..offsets.len()).rev() {
            let Some(&offset) = offsets.get(k) else { continue };
            if self.holds(offset, stored, &mut buf)? {
                offsets.remove(k);
                self.chunks.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(len, Ordering::Relaxed);
                return Ok(Some(ChunkRef::new(offset, len, raw_len, checksum, encoding)));
            }
        }
        Ok(None)
    }

    /// Whether the old file holds the bytes of `stored` at `offset`, compared a MiB at
    /// a time.
    fn holds(&self, offset: u64, stored: &[&[u8]], buf: &mut Vec<u8>) -> Result<bool> {
        let mut at = offset;
        for piece in stored.iter().flat_map(|p| p.chunks(COMPARE_PIECE)) {
            buf.resize(piece.len(), 0);
            crate::store::os::read_exact_at(self.file, at, buf)?;
            if buf.as_slice() != piece {
                return Ok(false);
            }
            at = at.saturating_add(piece.len() as u64);
        }
        Ok(true)
    }

    /// Takes the old chunk `r` for the new version as it is (a handle to a value read
    /// from this file, whose chunk is known unchanged): `false` when the file is not
    /// the one `file_id` names or `r` is not one of the old version's chunks not yet
    /// taken.
    pub(crate) fn keep(&self, file_id: Option<(u64, u64)>, r: &ChunkRef) -> bool {
        if file_id.is_none() || file_id != self.id {
            return false;
        }
        let Some(encoding) = Encoding::from_byte(r.codec_byte()) else { return false };
        let mut index = self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(offsets) = index.get_mut(&key(r.checksum(), r.stored_len(), r.raw_len(), encoding)) else {
            return false;
        };
        let Some(k) = offsets.iter().position(|&o| o == r.offset()) else { return false };
        offsets.remove(k);
        self.chunks.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(r.stored_len(), Ordering::Relaxed);
        true
    }

    /// Chunks and stored bytes taken so far.
    pub(crate) fn taken(&self) -> (u64, u64) {
        (self.chunks.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }
}
