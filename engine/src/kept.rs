//! A sharded vector left in the archive it was loaded from: a [`Sharded<T>`] field
//! after a load holds this handle, not the elements. Elements are read on demand; the
//! shards a program changes are loaded and kept as owned elements ("dirty"); new
//! elements pushed are kept apart. An incremental save to the file the vector was read
//! from refers to every clean shard where it is, without reading or serializing it, and
//! writes only the dirty shards, the pushed elements, the table and the root.
//!
//! [`Sharded<T>`]: crate::Sharded

use crate::Persist;
use crate::error::{Error, Result};
use crate::format::table::TableEntry;
use crate::sharded::ShardedVec;
use crate::store::{Store, View};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The state of a [`Sharded<T>`](crate::Sharded) left in its archive.
pub(crate) struct Kept<T> {
    /// The vector, read from this store (a copy of its header, registered with it).
    vec: View<ShardedVec<T>>,
    store: Arc<Store>,
    /// Shards changed since the load, by number: all their elements.
    dirty: BTreeMap<u64, Vec<T>>,
    /// Elements pushed after the stored ones.
    tail: Vec<T>,
}

/// A [`Kept`] vector as a save reads it.
pub(crate) struct Parts<'a, T> {
    /// The archive it was read from.
    pub(crate) store: &'a Arc<Store>,
    /// The stored shards: first element and chunk, by shard number.
    pub(crate) leaves: Vec<TableEntry>,
    /// The changed shards' elements, by shard number.
    pub(crate) dirty: &'a BTreeMap<u64, Vec<T>>,
    /// Elements pushed after the stored ones.
    pub(crate) tail: &'a [T],
}

impl<T: Clone> Clone for Kept<T> {
    fn clone(&self) -> Self {
        Self {
            vec: self.vec.clone(),
            store: Arc::clone(&self.store),
            dirty: self.dirty.clone(),
            tail: self.tail.clone(),
        }
    }
}

impl<T> Kept<T> {
    fn stored_len(&self) -> u64 {
        self.vec.len() as u64
    }

    /// The number of elements.
    pub(crate) fn len(&self) -> u64 {
        self.stored_len() + self.tail.len() as u64
    }
}

impl<T: Persist + Send + Sync> Kept<T> {
    /// A handle to `vec`, read from `store` as the file stores it (not through a plan).
    pub(crate) fn new(vec: &ShardedVec<T>, store: Arc<Store>) -> Result<Self> {
        let mut bytes = rkyv::util::AlignedVec::<16>::new();
        bytes.extend_from_slice(&vec.header().to_bytes());
        let vec = store.detached::<ShardedVec<T>>(bytes)?;
        Ok(Self { vec, store, dirty: BTreeMap::new(), tail: Vec::new() })
    }

    /// The shard holding stored element `i`: its number and first element's index.
    fn shard_of(&self, i: u64) -> Result<(u64, u64)> {
        let (s, entry) = self.store.table_find(self.vec.table(), i)?;
        Ok((s, entry.first()))
    }

    /// Element `i`, or `None` past the end.
    pub(crate) fn get(&self, i: u64) -> Result<Option<T>>
    where
        T: Clone,
    {
        if i >= self.stored_len() {
            return Ok(usize::try_from(i - self.stored_len()).ok().and_then(|k| self.tail.get(k)).cloned());
        }
        let (s, first) = self.shard_of(i)?;
        if let Some(shard) = self.dirty.get(&s) {
            return Ok(usize::try_from(i - first).ok().and_then(|k| shard.get(k)).cloned());
        }
        self.vec.get(usize::try_from(i).unwrap_or(usize::MAX))?.map(|e| e.load()).transpose()
    }

    /// Element `i`, to change: its shard is loaded and becomes dirty.
    pub(crate) fn get_mut(&mut self, i: u64) -> Result<Option<&mut T>> {
        if i >= self.stored_len() {
            return Ok(usize::try_from(i - self.stored_len()).ok().and_then(|k| self.tail.get_mut(k)));
        }
        let (s, first) = self.shard_of(i)?;
        if !self.dirty.contains_key(&s) {
            let elements = self.load_shard(s)?;
            self.dirty.insert(s, elements);
        }
        Ok(self.dirty.get_mut(&s).and_then(|shard| shard.get_mut(usize::try_from(i - first).ok()?)))
    }

    /// Adds an element after the last.
    pub(crate) fn push(&mut self, value: T) {
        self.tail.push(value);
    }

    /// The elements of stored shard `s`, owned.
    fn load_shard(&self, s: u64) -> Result<Vec<T>> {
        let (_, slice) = self.vec.shard(usize::try_from(s).unwrap_or(usize::MAX))?;
        let mut out = Vec::with_capacity(slice.len());
        for k in 0..slice.len() {
            let elem = View::try_map(slice.clone(), |s| s.get(k).ok_or(()))
                .map_err(|()| Error::Message(String::from("internal: a shard element out of range")))?;
            out.push(crate::load::deserialize_here::<T>(&elem)?);
        }
        Ok(out)
    }

    /// Every element, owned: clean shards read in bulk, dirty ones and the tail cloned.
    pub(crate) fn to_vec(&self) -> Result<Vec<T>>
    where
        T: Clone,
    {
        let mut all = self.vec.load()?;
        for (s, shard) in &self.dirty {
            let first = self.store.table_leaf(self.vec.table(), *s)?.first();
            let at = usize::try_from(first).unwrap_or(usize::MAX);
            let slot = all
                .get_mut(at..at.saturating_add(shard.len()))
                .ok_or_else(|| Error::Message(String::from("internal: a changed shard out of the vector's range")))?;
            slot.clone_from_slice(shard);
        }
        all.extend(self.tail.iter().cloned());
        Ok(all)
    }

    /// Every element, owned, consuming the handle.
    pub(crate) fn into_vec(self) -> Result<Vec<T>>
    where
        T: Clone,
    {
        self.to_vec()
    }

    /// What a save needs: the store, the stored shards, the dirty shards and the tail.
    pub(crate) fn parts(&self) -> Result<Parts<'_, T>> {
        Ok(Parts {
            store: &self.store,
            leaves: self.store.table_leaves(self.vec.table())?,
            dirty: &self.dirty,
            tail: &self.tail,
        })
    }

    /// The elements of clean shard `s`, owned (for a save to another file).
    pub(crate) fn clean_shard(&self, s: u64) -> Result<Vec<T>> {
        self.load_shard(s)
    }
}

impl<T> std::fmt::Debug for Kept<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("len", &self.len())
            .field("dirty_shards", &self.dirty.len())
            .field("pushed", &self.tail.len())
            .finish_non_exhaustive()
    }
}
