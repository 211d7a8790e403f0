//! Bulk reads: the chunks of a load or a verification, read with as few reads as their
//! positions allow (adjacent chunks together), in windows of a few MiB whose read
//! buffers are reused, verified and decompressed in parallel.

use super::chunk::{Block, Buffers, Chunk};
use super::{Holds, Store};
use crate::error::{Error, Result};
use crate::format::{ChunkRef, Encoding};
use rkyv::util::AlignedVec;
use std::sync::Arc;

/// Adjacent chunks of a bulk read are read together when the gap between them is at
/// most this (alignment padding, or a small chunk not asked for).
const BULK_GAP: u64 = 64 << 10;

/// The most bytes one read of a bulk read covers (a larger chunk is one read of its
/// own).
const BULK_RUN: u64 = 1 << 20;

/// Stored bytes of chunks a bulk operation (a load, a verification) reads and decodes
/// together: what it holds beside its result, in buffers reused from one window to the
/// next.
const BULK_WINDOW: u64 = 4 << 20;

/// The window of a bulk operation over a source held in memory, whose chunks are read in
/// place (no read buffers to hold): fewer windows, fewer times the threads meet; and over
/// a remote source: its runs are requests sent at once.
const BULK_WINDOW_LARGE: u64 = 16 << 20;

/// Work below this many bytes (chunks to verify, decode or deserialize) is done on the
/// calling thread: waking the thread pool costs more than it saves.
pub(crate) const PARALLEL_MIN: u64 = 256 << 10;

/// `f` over `items`, in parallel when `parallel` says so, in order either way.
pub(crate) fn map_items<T: Sync, R: Send>(items: &[T], parallel: bool, f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    if parallel { crate::threads::par(|| items.par_iter().map(f).collect()) } else { items.iter().map(f).collect() }
}

impl Store {
    /// The verified chunks of `refs`, in order, read in bulk: chunks already cached are
    /// taken from the cache; the others are read with as few reads as their positions
    /// allow (adjacent chunks together, at most [`BULK_RUN`] bytes a read, into buffers
    /// from `buffers`), verified and decompressed in parallel, and not kept. The caller
    /// bounds the memory by the size of `refs`.
    pub(crate) fn chunks(&self, refs: &[ChunkRef], holds: Holds, buffers: &Arc<Buffers>) -> Result<Vec<Arc<Chunk>>> {
        let mut out: Vec<Option<Arc<Chunk>>> = refs.iter().map(|r| self.cache.get(r)).collect();
        let missing: Vec<usize> = (0..refs.len()).filter(|&i| out.get(i).is_some_and(Option::is_none)).collect();
        let bytes: u64 = missing.iter().filter_map(|&i| refs.get(i)).map(|r| r.stored_len().max(r.raw_len())).sum();
        let parallel = missing.len() > 1 && bytes >= PARALLEL_MIN;
        if missing.is_empty() || self.source.bytes().is_some() {
            // Nothing to read, or nothing to read but checksums: chunk by chunk.
            let read: Vec<(usize, Result<Chunk>)> = map_items(&missing, parallel, |&i| {
                (i, refs.get(i).ok_or(Error::Detached).and_then(|r| self.read(r, holds)))
            });
            for (i, chunk) in read {
                if let Some(slot) = out.get_mut(i) {
                    *slot = Some(Arc::new(chunk?));
                }
            }
        } else {
            let mut wanted: Vec<(usize, std::ops::Range<usize>)> = Vec::with_capacity(missing.len());
            for &i in &missing {
                let r = refs.get(i).ok_or(Error::Detached)?;
                wanted.push((i, self.check(r)?.1));
            }
            wanted.sort_by_key(|(_, range)| range.start);
            let runs = runs(&wanted);
            let mut bufs: Vec<AlignedVec<16>> = runs.iter().map(|run| buffers.take(run.len())).collect();
            {
                let mut ranges: Vec<(u64, &mut [u8])> =
                    runs.iter().zip(bufs.iter_mut()).map(|(run, buf)| (run.start as u64, buf.as_mut_slice())).collect();
                if let Err(e) = self.source.read_ranges(&mut ranges) {
                    let first = wanted.first().and_then(|(i, _)| refs.get(*i)).copied().unwrap_or(self.footer.root);
                    return Err(self.read_error(e, &first));
                }
            }
            let owner = (holds == Holds::Chunks).then_some(&self.me);
            let blocks: Vec<(std::ops::Range<usize>, Arc<Block>)> =
                runs.into_iter().zip(bufs).map(|(run, buf)| (run, Block::new(buf, owner, Some(buffers)))).collect();
            let read: Vec<(usize, Result<Chunk>)> = map_items(&wanted, parallel, |(i, range)| {
                let r = refs.get(*i).copied().ok_or(Error::Detached);
                (*i, r.and_then(|r| self.cut_from_blocks(&blocks, range, &r, holds)))
            });
            for (i, chunk) in read {
                if let Some(slot) = out.get_mut(i) {
                    *slot = Some(Arc::new(chunk?));
                }
            }
        }
        out.into_iter().map(|c| c.ok_or(Error::Detached)).collect()
    }

    /// Stored bytes a bulk operation reads and decodes at a time: [`BULK_WINDOW`], or
    /// [`BULK_WINDOW_LARGE`] for a source held in memory (no read buffers to hold) or a
    /// remote one (more requests in flight at once).
    pub(crate) fn bulk_window(&self) -> u64 {
        if self.source.bytes().is_some() || self.source.remote() { BULK_WINDOW_LARGE } else { BULK_WINDOW }
    }

    /// Reads `refs` in windows of [`bulk_window`](Self::bulk_window) stored bytes and
    /// hands each window's chunks to `decode` with the index of its first chunk, in
    /// order: at most one window is held, and the read buffers of one window are reused
    /// by the next.
    pub(crate) fn windowed(
        &self,
        refs: &[ChunkRef],
        holds: Holds,
        mut decode: impl FnMut(usize, Vec<Arc<Chunk>>) -> Result<()>,
    ) -> Result<()> {
        let buffers = Arc::default();
        let mut first = 0;
        for refs in windows(refs, self.bulk_window()) {
            decode(first, self.chunks(refs, holds, &buffers)?)?;
            first += refs.len();
        }
        Ok(())
    }

    /// A chunk of a bulk read: cut from the block that holds it, verified, decompressed.
    fn cut_from_blocks(
        &self,
        blocks: &[(std::ops::Range<usize>, Arc<Block>)],
        range: &std::ops::Range<usize>,
        r: &ChunkRef,
        holds: Holds,
    ) -> Result<Chunk> {
        let at = blocks.partition_point(|(run, _)| run.start <= range.start).checked_sub(1);
        let stored = at
            .and_then(|b| blocks.get(b))
            .and_then(|(run, block)| {
                let from = range.start.checked_sub(run.start)?;
                Chunk::in_block(block, from..from.checked_add(range.len())?, *r)
            })
            .ok_or(Error::Detached)?;
        self.verify(stored.bytes(), r)?;
        let chunk = match r.encoding() {
            Some(Encoding::Zstd) => Chunk::heap(self.decompress(r, stored.bytes())?, *r),
            _ => stored,
        };
        if holds == Holds::Chunks {
            chunk.register(&self.me);
        }
        Ok(chunk)
    }
}

/// Consecutive runs of `refs` of at most `bytes` stored bytes each (at least one chunk
/// each): the windows in which bulk loads read and decode chunks.
pub(crate) fn windows(refs: &[ChunkRef], bytes: u64) -> impl Iterator<Item = &[ChunkRef]> {
    let mut rest = refs;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut total = 0u64;
        let cut = rest
            .iter()
            .position(|r| {
                total = total.saturating_add(r.stored_len());
                total > bytes
            })
            .map_or(rest.len(), |i| i.max(1));
        let (head, tail) = rest.split_at(cut);
        rest = tail;
        Some(head)
    })
}

/// The runs a bulk read reads: the byte ranges of `wanted` (sorted by start) merged
/// where they overlap or lie within [`BULK_GAP`] of each other, each at most
/// [`BULK_RUN`] long unless one chunk is longer.
fn runs(wanted: &[(usize, std::ops::Range<usize>)]) -> Vec<std::ops::Range<usize>> {
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    for (_, range) in wanted {
        match out.last_mut() {
            Some(run)
                if range.start <= run.end.saturating_add(BULK_GAP as usize)
                    && range.end.max(run.end) - run.start <= BULK_RUN as usize =>
            {
                run.end = run.end.max(range.end);
            }
            _ => out.push(range.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{BULK_GAP, BULK_RUN, runs};

    #[test]
    fn bulk_runs_merge_neighbours_and_stay_bounded() {
        let gap = BULK_GAP as usize;
        let run = BULK_RUN as usize;
        let wanted = |ranges: &[(usize, usize)]| -> Vec<(usize, std::ops::Range<usize>)> {
            ranges.iter().enumerate().map(|(i, &(s, e))| (i, s..e)).collect()
        };
        assert_eq!(runs(&wanted(&[(16, 32), (48, 64)])), vec![16..64]);
        assert_eq!(runs(&wanted(&[(16, 32), (32 + gap + 1, 40 + gap + 1)])), vec![16..32, 33 + gap..41 + gap]);
        // Overlapping (hostile) ranges merge.
        assert_eq!(runs(&wanted(&[(16, 100), (32, 64)])), vec![16..100]);
        // A run stops growing at the bound; a chunk longer than it stands alone.
        let big = runs(&wanted(&[(0, run - 16), (run - 16, run + 16), (run + 16, 3 * run)]));
        assert_eq!(big, vec![0..run - 16, run - 16..run + 16, run + 16..3 * run]);
        assert!(runs(&[]).is_empty());
    }
}
