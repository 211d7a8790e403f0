//! A bucketed map left in the archive it was loaded from: a [`Mapped<K, V>`] field
//! after a load holds this handle, not the entries. Lookups read one bucket; the
//! buckets a program changes (inserts, removals) are loaded and kept as owned entries
//! ("dirty"). An incremental save to the file the map was read from refers to every
//! clean bucket where it is, without reading or serializing it, and writes only the
//! dirty buckets, the table and the root. The bucket count stays the one the map was
//! saved with.
//!
//! [`Mapped<K, V>`]: crate::Mapped

use crate::Persist;
use crate::error::{Error, Result};
use crate::format::table::TableEntry;
use crate::hash::{StableHash, stable_hash};
use crate::kept_buckets::KeptBuckets;
use crate::map::{ArchivedEntry, BucketMap, bucket_of};
use crate::store::{Store, View};
use rkyv::Archived;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The state of a [`Mapped<K, V>`](crate::Mapped) left in its archive.
pub(crate) struct KeptMap<K, V> {
    /// The map, read from this store (a copy of its header, registered with it).
    map: View<BucketMap<K, V>>,
    store: Arc<Store>,
    /// Buckets changed since the load, by number: all their entries.
    dirty: BTreeMap<u64, Vec<(K, V)>>,
    /// Entries in all.
    len: u64,
}

impl<K, V> KeptMap<K, V> {
    /// The number of entries.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The number of buckets (zero for a map saved empty).
    pub(crate) fn buckets(&self) -> u64 {
        self.map.table().entries()
    }
}

impl<K: Clone, V: Clone> Clone for KeptMap<K, V> {
    fn clone(&self) -> Self {
        Self { map: self.map.clone(), store: Arc::clone(&self.store), dirty: self.dirty.clone(), len: self.len }
    }
}

impl<K, V> std::fmt::Debug for KeptMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptMap")
            .field("len", &self.len)
            .field("dirty_buckets", &self.dirty.len())
            .finish_non_exhaustive()
    }
}

impl<K: Persist + Send + Sync + StableHash + Eq, V: Persist + Send + Sync> KeptMap<K, V>
where
    Archived<K>: 'static,
    ArchivedEntry<Archived<K>, Archived<V>>: for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
{
    /// A handle to `map`, read from `store` as the file stores it (not through a plan).
    pub(crate) fn new(map: &BucketMap<K, V>, store: Arc<Store>) -> Result<Self> {
        let mut bytes = rkyv::util::AlignedVec::<16>::new();
        bytes.extend_from_slice(&map.header().to_bytes());
        let map = store.detached::<BucketMap<K, V>>(bytes)?;
        let len = map.len() as u64;
        Ok(Self { map, store, dirty: BTreeMap::new(), len })
    }

    fn bucket(&self, key: &K) -> u64 {
        bucket_of(stable_hash(key), self.buckets())
    }

    /// The entries of bucket `b`, loaded and kept for changes.
    fn dirty_bucket(&mut self, b: u64) -> Result<&mut Vec<(K, V)>> {
        if !self.dirty.contains_key(&b) {
            let entries = self.map.load_bucket(b)?;
            self.dirty.insert(b, entries);
        }
        self.dirty.get_mut(&b).ok_or_else(|| Error::Message(String::from("internal: a changed bucket is missing")))
    }

    /// The value of `key` (reads its bucket when it is not changed).
    pub(crate) fn get(&self, key: &K) -> Result<Option<V>>
    where
        V: Clone,
    {
        if self.buckets() == 0 {
            return Ok(None);
        }
        let b = self.bucket(key);
        let find = |entries: &[(K, V)]| entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        match self.dirty.get(&b) {
            Some(entries) => Ok(find(entries)),
            None => Ok(find(&self.map.load_bucket(b)?)),
        }
    }

    /// Inserts an entry; the value it replaces. `Err` when the map has no bucket (saved
    /// empty): the caller makes it owned.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Result<Option<V>> {
        if self.buckets() == 0 {
            return Err(Error::Message(String::from("internal: a map without buckets")));
        }
        let b = self.bucket(&key);
        let entries = self.dirty_bucket(b)?;
        if let Some(slot) = entries.iter_mut().find(|(k, _)| *k == key) {
            return Ok(Some(std::mem::replace(&mut slot.1, value)));
        }
        entries.push((key, value));
        self.len += 1;
        Ok(None)
    }

    /// Removes the entry of `key`; its value.
    pub(crate) fn remove(&mut self, key: &K) -> Result<Option<V>> {
        if self.buckets() == 0 {
            return Ok(None);
        }
        let b = self.bucket(key);
        let entries = self.dirty_bucket(b)?;
        let Some(at) = entries.iter().position(|(k, _)| k == key) else { return Ok(None) };
        let removed = entries.swap_remove(at).1;
        self.len -= 1;
        Ok(Some(removed))
    }

    /// Every entry, owned: clean buckets read in bulk, dirty ones cloned.
    pub(crate) fn to_map(&self) -> Result<std::collections::HashMap<K, V>>
    where
        K: Clone + std::hash::Hash,
        V: Clone,
    {
        let mut all = self.map.load()?;
        if !self.dirty.is_empty() {
            all.retain(|k, _| !self.dirty.contains_key(&self.bucket(k)));
            for entries in self.dirty.values() {
                all.extend(entries.iter().cloned());
            }
        }
        Ok(all)
    }
}

impl<K: Persist + Send + Sync, V: Persist + Send + Sync> KeptBuckets<K, V> for KeptMap<K, V>
where
    Archived<K>: 'static,
    ArchivedEntry<Archived<K>, Archived<V>>: for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
{
    fn entries(&self) -> u64 {
        self.len
    }

    fn file_id(&self) -> Option<(u64, u64)> {
        self.store.file_id()
    }

    fn stored(&self) -> Result<Vec<TableEntry>> {
        self.store.table_leaves(self.map.table())
    }

    fn dirty(&self) -> &BTreeMap<u64, Vec<(K, V)>> {
        &self.dirty
    }

    fn clean_bucket(&self, b: u64) -> Result<Vec<(K, V)>> {
        self.map.load_bucket(b)
    }
}
