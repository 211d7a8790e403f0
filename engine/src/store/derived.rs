//! Bytes the store makes rather than reads: chunks transcoded from file chunks (schema
//! evolution), kept in a cache of their own (half the archive's cache limit), and per-type
//! state that layers above the store attach to an open archive.

use super::Store;
use super::cache::{ChunkCache, Key};
use super::chunk::Chunk;
use super::registry::Note;
use crate::error::Result;
use crate::format::ChunkRef;
use rkyv::util::AlignedVec;
use std::any::{Any, TypeId};
use std::sync::{Arc, OnceLock};

/// State attached to an open archive, one per key type: an append-only list, so that
/// a reference into it lives as long as the store.
#[derive(Default)]
pub(crate) struct Attached {
    head: OnceLock<Box<Link>>,
}

struct Link {
    ty: TypeId,
    value: Box<dyn Any + Send + Sync>,
    next: OnceLock<Box<Link>>,
}

impl Attached {
    /// The value attached for `ty`, made by `make` on first use. Two threads asking at
    /// once may both make one; the first in the list is the one everybody gets.
    pub(crate) fn get_or_try<A: Any + Send + Sync>(&self, ty: TypeId, make: impl FnOnce() -> Result<A>) -> Result<&A> {
        if let Some(value) = self.find::<A>(ty) {
            return Ok(value);
        }
        let mut link = Some(Box::new(Link { ty, value: Box::new(make()?), next: OnceLock::new() }));
        let mut slot = &self.head;
        loop {
            match slot.get() {
                Some(existing) => {
                    if existing.ty == ty
                        && let Some(value) = existing.value.downcast_ref::<A>()
                    {
                        return Ok(value);
                    }
                    slot = &existing.next;
                }
                // Once set, the slot holds a link: the next turn finds it.
                None => {
                    if let Some(l) = link.take()
                        && let Err(back) = slot.set(l)
                    {
                        link = Some(back);
                    }
                }
            }
        }
    }

    fn find<A: Any>(&self, ty: TypeId) -> Option<&A> {
        let mut slot = &self.head;
        while let Some(link) = slot.get() {
            if link.ty == ty {
                return link.value.downcast_ref::<A>();
            }
            slot = &link.next;
        }
        None
    }
}

impl Store {
    /// A chunk made earlier and still cached under `key`.
    pub(crate) fn made(&self, key: &Key) -> Option<Arc<Chunk>> {
        self.made.get()?.get(key)
    }

    /// A chunk of bytes the store's caller made (read through `at`, for error
    /// locations), registered with `note` so that lazy fields inside find this archive,
    /// and kept in the cache under `keep` when given.
    pub(crate) fn adopt(
        &self,
        bytes: AlignedVec<16>,
        at: ChunkRef,
        note: Option<Note>,
        keep: Option<Key>,
    ) -> Arc<Chunk> {
        let chunk = Arc::new(Chunk::heap(bytes, at));
        chunk.register_with(&self.me, note);
        if let Some(key) = keep {
            self.made.get_or_init(|| ChunkCache::new(self.limits.cache / 2)).insert(key, &chunk);
        }
        chunk
    }

    /// The state attached to this archive for `ty`, made by `make` on first use.
    pub(crate) fn attached<A: Any + Send + Sync>(&self, ty: TypeId, make: impl FnOnce() -> Result<A>) -> Result<&A> {
        self.attached.get_or_try(ty, make)
    }
}
