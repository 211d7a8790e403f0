//! Streaming every entry of a bucketed map, bucket by bucket.

use super::decode::evolved_entry;
use super::{ArchivedEntry, BucketMap, Entry, bad_bucket, entry_in, holds};
use crate::Persist;
use crate::error::{Error, Result};
use crate::evolve::Evolved;
use crate::format::bucket::Bucket;
use crate::store::chunk::Chunk;
use crate::store::{Holds, Keep, Store, View};
use rkyv::Archived;
use std::sync::Arc;

/// A streaming iterator over a bucketed map; holds one bucket at a time.
pub struct Iter<'a, K: Persist + Send + Sync, V: Persist + Send + Sync> {
    map: &'a BucketMap<K, V>,
    bucket: u64,
    /// The bucket being read, its entry count, and the next entry.
    current: Option<(Arc<Chunk>, usize, usize)>,
    /// The archive, and the plan entries are read through (found on first use).
    origin: Option<(Arc<Store>, Option<Evolved>)>,
    /// Entries not yet handed out, of those the map declares.
    left: u64,
}

impl<'a, K: Persist + Send + Sync, V: Persist + Send + Sync> Iter<'a, K, V> {
    /// Every entry of `map`, from its first bucket.
    pub(super) fn new(map: &'a BucketMap<K, V>) -> Self {
        Iter { map, bucket: 0, current: None, origin: None, left: map.header.len() }
    }
}

impl<K: Persist + Send + Sync, V: Persist + Send + Sync> Iter<'_, K, V>
where
    Archived<K>: 'static,
    ArchivedEntry<Archived<K>, Archived<V>>: for<'b> bytecheck::CheckBytes<crate::Validator<'b>>,
{
    fn origin(&mut self) -> Result<&(Arc<Store>, Option<Evolved>)> {
        if self.origin.is_none() {
            self.origin = Some(self.map.origin()?);
        }
        self.origin.as_ref().ok_or(Error::Detached)
    }

    fn next_bucket(&mut self) -> Result<Option<(Arc<Chunk>, usize)>> {
        if self.bucket >= self.map.table().entries() {
            return Ok(None);
        }
        let b = self.bucket;
        self.bucket += 1;
        let table = *self.map.table();
        let (store, evolved) = self.origin()?;
        let r = *store.table_leaf(&table, b)?.chunk();
        let holds = if evolved.is_some() { Holds::Nothing } else { holds::<K, V>() };
        let chunk = store.chunk(&r, Keep::No, holds)?;
        let count = Bucket::parse(chunk.bytes()).map_err(|d| bad_bucket(&r, d))?.len();
        Ok(Some((chunk, count)))
    }

    /// Entry `at` of the bucket `chunk`.
    fn entry(&mut self, chunk: Arc<Chunk>, at: usize) -> Result<Entry<K, V>> {
        let (store, evolved) = self.origin()?;
        let max_depth = store.limits().max_depth;
        let r = *chunk.at();
        match evolved {
            None => View::new(chunk, |bytes| entry_in(bytes, at, &r, max_depth)).map(Entry::new),
            Some(evolved) => {
                let made = evolved_entry(store, evolved, chunk, at)?;
                store.view_of::<ArchivedEntry<Archived<K>, Archived<V>>>(made).map(Entry::new)
            }
        }
    }
}

impl<K: Persist + Send + Sync, V: Persist + Send + Sync> Iterator for Iter<'_, K, V>
where
    Archived<K>: 'static,
    ArchivedEntry<Archived<K>, Archived<V>>: for<'b> bytecheck::CheckBytes<crate::Validator<'b>>,
{
    type Item = Result<Entry<K, V>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((chunk, count, j)) = &mut self.current
                && *j < *count
            {
                let at = *j;
                *j += 1;
                let chunk = Arc::clone(chunk);
                self.left = self.left.saturating_sub(1);
                return Some(self.entry(chunk, at).inspect_err(|_| self.bucket = u64::MAX));
            }
            self.current = None;
            match self.next_bucket() {
                Ok(Some((chunk, count))) => self.current = Some((chunk, count, 0)),
                Ok(None) => return None,
                Err(e) => {
                    self.bucket = u64::MAX;
                    return Some(Err(e));
                }
            }
        }
    }

    /// The entries the map declares and the iterator has not handed out: the upper
    /// bound, and the lower bound up to what one chunk may hold (a file that declares
    /// more entries than it holds does not make a `collect` reserve room for them).
    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.bucket == u64::MAX {
            return (0, Some(0));
        }
        let left = usize::try_from(self.left).unwrap_or(usize::MAX);
        let most = self.map.origin().map_or(0, |(store, _)| store.limits().max_raw);
        let room = most / (size_of::<ArchivedEntry<Archived<K>, Archived<V>>>().max(1) as u64);
        (left.min(usize::try_from(room).unwrap_or(usize::MAX)), Some(left))
    }
}
