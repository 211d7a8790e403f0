//! The bounded cache of verified chunks an open archive keeps.
//!
//! Chunks are weighed by the heap bytes they own (a copy read from a file, a
//! decompressed buffer); chunks read in place from a source's memory weigh only their
//! bookkeeping. Past the limit, chunks that no view holds are evicted (quick_cache's
//! S3-FIFO policy, which resists one-off scans such as an iteration); a chunk that a
//! view still holds is pinned and stays valid for it. A chunk larger than a cache
//! shard's share of the limit is not kept: it is read again on its next use.

use super::chunk::Chunk;
use crate::format::ChunkRef;
use std::sync::Arc;

/// What an entry costs beyond its bytes: the key, the `Chunk` and the cache's slot.
const ENTRY_OVERHEAD: u64 = 256;

/// The most shards the cache is split into (each with its own lock and its share of
/// the limit).
const MAX_SHARDS: u64 = 16;

/// The least share of the limit a shard gets, so that a chunk of a few MiB fits.
const MIN_SHARD_BYTES: u64 = 4 << 20;

/// What a chunk made from a file chunk is (by schema evolution): the file chunk, and
/// which reading (`view`) of which value (`pos`) in it. File chunks are cached by
/// their reference alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) r: ChunkRef,
    pub(crate) view: u64,
    pub(crate) pos: u64,
}

/// One word: chunks of a file lie at distinct offsets, and the few keys made from one
/// chunk differ by their reading and position (equality still compares everything).
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.r.offset() ^ self.view.rotate_left(21) ^ self.pos.rotate_left(42));
    }
}

#[derive(Clone)]
struct Weigh;

impl<K> quick_cache::Weighter<K, Arc<Chunk>> for Weigh {
    fn weight(&self, _: &K, chunk: &Arc<Chunk>) -> u64 {
        chunk.heap_len() as u64 + ENTRY_OVERHEAD
    }
}

#[derive(Clone, Default)]
struct Pin;

impl<K> quick_cache::Lifecycle<K, Arc<Chunk>> for Pin {
    type RequestState = ();

    fn is_pinned(&self, _: &K, chunk: &Arc<Chunk>) -> bool {
        // Held by a view (or by a reader that has just fetched it).
        Arc::strong_count(chunk) > 1
    }
}

/// Verified chunks by reference (or chunks made from them, by [`Key`]), within a byte
/// limit.
pub(crate) struct ChunkCache<K = ChunkRef> {
    cache: quick_cache::sync::Cache<K, Arc<Chunk>, Weigh, quick_cache::DefaultHashBuilder, Pin>,
}

impl<K: Eq + std::hash::Hash + Clone> ChunkCache<K> {
    /// A cache holding at most about `limit` bytes.
    pub(crate) fn new(limit: u64) -> Self {
        let shards = (limit / MIN_SHARD_BYTES).clamp(1, MAX_SHARDS);
        let shards = usize::try_from(shards).unwrap_or(1);
        // The tables grow as chunks come: a large first estimate costs every open an
        // allocation it may never use.
        let items = usize::try_from(limit / (256 << 10)).unwrap_or(usize::MAX).clamp(64, 4096);
        let mut builder = quick_cache::OptionsBuilder::new();
        builder.shards(shards).estimated_items_capacity(items).weight_capacity(limit.max(ENTRY_OVERHEAD));
        let cache = match builder.build() {
            Ok(options) => {
                quick_cache::sync::Cache::with_options(options, Weigh, quick_cache::DefaultHashBuilder::default(), Pin)
            }
            // The options above are always in range; should they not be, a plain cache
            // of the same weight is still bounded.
            Err(_) => quick_cache::sync::Cache::with(
                items,
                limit.max(ENTRY_OVERHEAD),
                Weigh,
                quick_cache::DefaultHashBuilder::default(),
                Pin,
            ),
        };
        Self { cache }
    }

    pub(crate) fn get(&self, key: &K) -> Option<Arc<Chunk>> {
        self.cache.get(key)
    }

    pub(crate) fn insert(&self, key: K, chunk: &Arc<Chunk>) {
        self.cache.insert(key, Arc::clone(chunk));
    }

    /// Bytes the cache holds now (its entries' weights).
    pub(crate) fn weight(&self) -> u64 {
        self.cache.weight()
    }

    /// Chunks the cache holds now.
    pub(crate) fn len(&self) -> usize {
        self.cache.len()
    }
}
