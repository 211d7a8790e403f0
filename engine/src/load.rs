//! Loading owned values: one chunk deserialized, the lazy fields it holds loaded in
//! parallel first.
//!
//! Before a chunk is deserialized, the derive's `__promises` walk lists the lazy fields
//! (promises, sharded vectors, maps) inside its view. They are loaded in parallel (each
//! recursively the same way), and rkyv's sequential deserialization picks the results
//! up from a per-thread table instead of loading them again.
//!
//! Lazy chunks nest (a lazy field inside a lazy field ...) at most
//! [`MAX_LAZY_NESTING`] deep; inline nesting is limited by [`crate::deep`].

use crate::Persist;
use crate::error::{Error, Result};
use crate::format::ChunkRef;
use crate::store::{Holds, Keep, Store};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// How deeply chunk loads may nest (a lazy field inside a lazy field ...): past this,
/// a load fails with [`Error::TooDeep`] instead of exhausting the stack. Recursive
/// types nest as deep as their data; 128 levels is far beyond ordinary trees.
pub const MAX_LAZY_NESTING: u32 = 128;

thread_local! {
    static NESTING: Cell<u32> = const { Cell::new(0) };
}

/// One more level of nested loading, released on drop.
pub(crate) struct Nest(u32);

impl Drop for Nest {
    fn drop(&mut self) {
        NESTING.set(self.0);
    }
}

/// Enters one more level of nested loading.
pub(crate) fn nest(at: ChunkRef) -> Result<Nest> {
    let depth = NESTING.get();
    if depth >= MAX_LAZY_NESTING {
        return Err(Error::TooDeep {
            what: "lazy chunks inside lazy chunks",
            depth: u64::from(depth) + 1,
            limit: u64::from(MAX_LAZY_NESTING),
            at: Some(at.location()),
        });
    }
    NESTING.set(depth + 1);
    Ok(Nest(depth))
}

/// What a thread doing part of a load must know of the thread that started it: the
/// lazy nesting so far and the inline nesting limit.
#[derive(Clone, Copy)]
pub(crate) struct Context {
    nesting: u32,
    max_depth: u32,
}

impl Context {
    /// This thread's context.
    pub(crate) fn here() -> Self {
        Self { nesting: NESTING.get(), max_depth: crate::deep::limit() }
    }

    /// This context with another inline nesting limit (a store's).
    pub(crate) fn with_max_depth(self, max_depth: u32) -> Self {
        Self { max_depth, ..self }
    }

    /// Runs `f` (on any thread) in this context.
    pub(crate) fn run<R>(self, f: impl FnOnce() -> R) -> R {
        let saved = NESTING.replace(self.nesting);
        let out = crate::deep::with_limit(self.max_depth, f);
        NESTING.set(saved);
        out
    }
}

/// A lazy field (promise, sharded vector or map) met by a `__promises` walk: where it
/// is, and how to load it. Not part of the public API.
pub struct Prefetch<'a> {
    addr: usize,
    /// Bytes the load will decode, at least: a promise's chunk, a collection's count
    /// times its elements' archived size.
    weight: u64,
    load: Box<dyn Fn() -> Result<Box<dyn Any + Send>> + Send + Sync + 'a>,
}

impl<'a> Prefetch<'a> {
    /// The lazy field at `field`, about `weight` bytes, loaded by `load`.
    pub(crate) fn new<F, T: Send + 'static>(
        field: &'a F,
        weight: u64,
        load: impl Fn(&'a F) -> Result<T> + Send + Sync + 'a,
    ) -> Self
    where
        F: Sync,
    {
        Self {
            addr: std::ptr::from_ref(field) as usize,
            weight,
            load: Box::new(move || load(field).map(|v| Box::new(v) as Box<dyn Any + Send>)),
        }
    }
}

thread_local! {
    static LOADED: RefCell<Vec<HashMap<usize, Box<dyn Any + Send>>>> = const { RefCell::new(Vec::new()) };
}

/// The value of type `R` loaded in advance for the lazy field at `field`, if any.
pub(crate) fn take_loaded<F, R: 'static>(field: &F) -> Option<R> {
    let addr = std::ptr::from_ref(field) as usize;
    let boxed = LOADED.with(|l| l.borrow_mut().last_mut().and_then(|m| m.remove(&addr)))?;
    boxed.downcast::<R>().ok().map(|b| *b)
}

/// [`deserialize`] with the threads of the archive that holds `view`
/// ([`OpenOptions::threads`](crate::OpenOptions::threads)).
pub(crate) fn deserialize_here<T: Persist>(view: &rkyv::Archived<T>) -> Result<T> {
    let threads = crate::store::registry::origin_of(view).and_then(|(store, _)| store.limits().threads);
    crate::threads::run(threads, || deserialize::<T>(view))
}

/// Deserializes `view`, loading the lazy fields it holds in parallel first.
pub(crate) fn deserialize<T: Persist>(view: &rkyv::Archived<T>) -> Result<T> {
    let mut promises = Vec::new();
    T::__promises(view, &mut promises);
    if promises.len() < 2 {
        return plain::<T>(view);
    }
    let context = Context::here();
    let weight = promises.iter().fold(0u64, |w, p| w.saturating_add(p.weight));
    let loaded =
        crate::store::map_items(&promises, weight >= crate::store::PARALLEL_MIN, |p| context.run(|| (p.load)()));
    let mut table = HashMap::with_capacity(loaded.len());
    let mut failure = None;
    for (p, value) in promises.iter().zip(loaded) {
        match value {
            Ok(v) => {
                table.insert(p.addr, v);
            }
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    if let Some(e) = failure {
        // The fields that did load may nest deep: dropped on a stack made for it.
        crate::deep::discard(table);
        return Err(e);
    }
    LOADED.with(|l| l.borrow_mut().push(table));
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            // Fields not taken (the parent's deserialization failed before reaching
            // them) are dropped here.
            if let Some(rest) = LOADED.with(|l| l.borrow_mut().pop()) {
                crate::deep::discard(rest);
            }
        }
    }
    let _pop = Pop;
    plain::<T>(view)
}

/// Deserializes `view` with rkyv, lazy fields loaded as they are met.
pub(crate) fn plain<T: Persist>(view: &rkyv::Archived<T>) -> Result<T> {
    let loads = crate::rc_loads::Loads::enter();
    let mut pool = rkyv::de::Pool::new();
    let value = rkyv::api::deserialize_using::<T, _, Error>(view, &mut pool);
    loads.leave(value.is_ok());
    value
}

/// Loads the chunk `r` of `store` as an owned `T`: read (kept only if it was cached),
/// verified, validated, deserialized.
pub(crate) fn chunk<T: Persist>(store: &Store, r: &ChunkRef) -> Result<T> {
    let _nest = nest(*r)?;
    if T::__loads_raw()
        && let Some(value) = T::__from_archived_bytes(store.read_owned(r)?)
    {
        // A byte vector: read straight into the value, no copy to validate or
        // deserialize from (its bytes are all valid).
        return Ok(value);
    }
    let holds = Holds::of(!crate::persist::is_leaf::<T>());
    from_chunk::<T>(store, store.chunk(r, Keep::No, holds)?)
}

/// Loads `chunk` (verified bytes in `T`'s layout) of `store` as an owned `T`.
pub(crate) fn from_chunk<T: Persist>(store: &Store, chunk: std::sync::Arc<crate::store::chunk::Chunk>) -> Result<T> {
    let view = store.view_of::<rkyv::Archived<T>>(chunk)?;
    crate::deep::with_limit(store.limits().max_depth, || deserialize::<T>(&view))
}
