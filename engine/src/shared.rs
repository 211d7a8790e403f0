//! `Arc<T>` fields shared across the whole archive.
//!
//! A field of type `Arc<T>` (sized `T`) is stored as a lazy field is (`lazy T` in the
//! schema, a [`Promise<T>`] in the view), and so are the elements of `Vec<Arc<T>>` and
//! `Option<Arc<T>>` fields (`Vec<lazy T>`), except that every reference to one
//! allocation refers to one chunk: the save writes the value at its first reference
//! and records the chunk by the allocation's address; later references reuse the
//! reference. A type holding such a field holds a chunk of its own, so it is written by
//! the save's ordered, depth-first walk: the first reference, and so the file, depend
//! only on the value. Loading gives one `Arc` per chunk for as long as any holder keeps
//! it (an identity map per open archive and type, by chunk reference), so
//! `Arc::ptr_eq` holds after a load wherever it held before the save.

use crate::Persist;
use crate::error::Result;
use crate::format::ChunkRef;
use crate::promise::Promise;
use crate::with::FieldName;
use crate::write::ChunkWriter;
use rancor::{Fallible, Source};
use rkyv::Place;
use rkyv::with::{ArchiveWith, DeserializeWith, SerializeWith};
use std::any::TypeId;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// Stores an `Arc<T>` field in a chunk of its own, one per allocation in the whole
/// archive. Not part of the public API.
#[derive(Debug)]
pub struct Shared<N>(PhantomData<N>);

impl<T, N> ArchiveWith<Arc<T>> for Shared<N> {
    type Archived = Promise<T>;
    type Resolver = ChunkRef;

    fn resolve_with(_: &Arc<T>, resolver: ChunkRef, out: Place<Promise<T>>) {
        out.write(Promise::new(resolver));
    }
}

impl<T, S, N: FieldName> SerializeWith<Arc<T>, S> for Shared<N>
where
    T: Persist,
    S: Fallible + ChunkWriter + ?Sized,
    S::Error: Source,
{
    fn serialize_with(field: &Arc<T>, serializer: &mut S) -> std::result::Result<ChunkRef, S::Error> {
        serializer.write_shared(field, N::NAME).map_err(S::Error::new)
    }
}

impl<T, D, N> DeserializeWith<Promise<T>, Arc<T>, D> for Shared<N>
where
    T: Persist,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &Promise<T>, _: &mut D) -> std::result::Result<Arc<T>, D::Error> {
        field.load_shared().map_err(D::Error::new)
    }
}

/// The values of one type loaded from shared chunks of one open archive, by chunk
/// reference (all of it: a damaged reference to the same place is not the same chunk),
/// while something holds them.
pub(crate) struct Identity<T> {
    loaded: Mutex<HashMap<ChunkRef, Weak<T>>>,
}

impl<T> Default for Identity<T> {
    fn default() -> Self {
        Self { loaded: Mutex::new(HashMap::new()) }
    }
}

impl<T: Persist> Identity<T> {
    fn live(&self, at: &ChunkRef) -> Option<Arc<T>> {
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner).get(at).and_then(Weak::upgrade)
    }

    /// `value`, or the one another load registered for `at` meanwhile.
    fn register(&self, at: ChunkRef, value: Arc<T>) -> Arc<T> {
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = loaded.get(&at).and_then(Weak::upgrade) {
            drop(loaded);
            if let Some(v) = Arc::into_inner(value) {
                crate::deep::discard(v);
            }
            return existing;
        }
        // Entries whose values are gone are dropped as the map grows.
        if loaded.len() >= 64 && loaded.len().is_power_of_two() {
            loaded.retain(|_, w| w.strong_count() > 0);
        }
        loaded.insert(at, Arc::downgrade(&value));
        value
    }
}

impl<T: Persist> Promise<T> {
    /// Loads the value as an `Arc` shared with every other load of the same chunk from
    /// this archive while any of them is held: what an `Arc<T>` field's view gives
    /// (a field of type `Arc<T>` is stored once per allocation, see the crate's
    /// documentation), and what [`load`](Self::load) of the value around it puts there.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_shared(&self) -> Result<Arc<T>> {
        let store = match crate::evolve::origin(self)? {
            crate::evolve::Origin::Native(store) | crate::evolve::Origin::Evolved(store, _) => store,
        };
        let ids = store.attached(TypeId::of::<Identity<T>>(), || Ok(Identity::<T>::default()))?;
        let at = *self.chunk();
        if let Some(v) = ids.live(&at) {
            return Ok(v);
        }
        let value = Arc::new(self.load()?);
        Ok(ids.register(at, value))
    }
}
