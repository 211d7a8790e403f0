//! Parallel save and load, without giving up deterministic files.
//!
//! **Save.** Before a chunk is serialized, the derive's `__prepare` walk lists the lazy
//! fields that belong to it (through its inline fields, not into other chunks). Those
//! whose types can hold no chunk of their own ("leaves", see [`is_leaf`]) are encoded
//! (serialized, compressed, checksummed) in parallel, a window of one per thread at a
//! time, then written in field order. Positions in the file therefore depend only on
//! the value, and extra memory is bounded by threads x chunk size. Lazy fields that may
//! hold chunks of their own are written in the ordinary depth-first walk, which prepares
//! their own leaves the same way.
//!
//! **Load.** Before a chunk is deserialized, the derive's `__promises` walk lists the
//! lazy fields (promises, sharded vectors, maps) inside its view. They are loaded in
//! parallel (each recursively the same way), and rkyv's sequential deserialization
//! picks the results up from a per-thread table instead of loading them again.

use crate::Persist;
use crate::codec::Codec;
use crate::error::Result;
use crate::map::{ArchivedEntry, BucketMap, MapLike};
use crate::promise::Promise;
use crate::sharded::ShardedVec;
use rayon::prelude::*;
use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::RwLock;

/// Serializes one lazy field's value on its own (no child chunks).
type SerializeLeaf<'a> = Box<dyn Fn(&crate::ser::SaveCtx<'_>) -> Result<rkyv::util::AlignedVec<16>> + Send + Sync + 'a>;

/// A lazy field met by a `__prepare` walk. Not part of the public API.
pub struct Pending<'a> {
    pub(crate) name: &'static str,
    pub(crate) key: (usize, TypeId),
    pub(crate) leaf: bool,
    pub(crate) codec: Option<Codec>,
    /// The value's archived bytes when they are its own (see `Persist::__raw_bytes`).
    pub(crate) raw: Option<&'a [u8]>,
    pub(crate) serialize: SerializeLeaf<'a>,
}

/// Lists `value`, stored lazily with `codec`, for the save's parallel phase.
#[doc(hidden)]
pub fn pending<'a, T: Persist>(value: &'a T, codec: Option<Codec>, name: &'static str) -> Pending<'a> {
    Pending {
        name,
        key: key_of(value),
        leaf: is_leaf::<T>(),
        codec,
        raw: value.__raw_bytes(),
        serialize: Box::new(move |ctx| ctx.serialize_leaf(value)),
    }
}

pub(crate) fn key_of<T: 'static>(value: &T) -> (usize, TypeId) {
    (std::ptr::from_ref(value) as usize, TypeId::of::<T>())
}

/// A lazy field (promise, sharded vector or map) met by a `__promises` walk. Not part
/// of the public API.
pub struct Prefetch<'a> {
    addr: usize,
    load: Box<dyn Fn() -> Result<Box<dyn Any + Send>> + Send + Sync + 'a>,
}

/// Lists `promise` for the load's parallel phase.
#[doc(hidden)]
pub fn prefetch<T: Persist>(promise: &Promise<T>) -> Prefetch<'_> {
    Prefetch {
        addr: std::ptr::from_ref(promise) as usize,
        load: Box::new(move || promise.load().map(|v| Box::new(v) as Box<dyn Any + Send>)),
    }
}

/// Lists a sharded vector for the load's parallel phase.
#[doc(hidden)]
pub fn prefetch_sharded<T: Persist>(vec: &ShardedVec<T>) -> Prefetch<'_> {
    Prefetch {
        addr: std::ptr::from_ref(vec) as usize,
        load: Box::new(move || vec.load().map(|v| Box::new(v) as Box<dyn Any + Send>)),
    }
}

/// Lists a hash-bucketed map, loaded as `M`, for the load's parallel phase.
#[doc(hidden)]
pub fn prefetch_map<M>(map: &BucketMap<M::K, M::V>) -> Prefetch<'_>
where
    M: MapLike + Send + 'static,
    M::K: Persist,
    M::V: Persist,
    ArchivedEntry<rkyv::Archived<M::K>, rkyv::Archived<M::V>>: for<'v> bytecheck::CheckBytes<crate::Validator<'v>>,
{
    Prefetch {
        addr: std::ptr::from_ref(map) as usize,
        load: Box::new(move || map.load_as::<M>().map(|v| Box::new(v) as Box<dyn Any + Send>)),
    }
}

/// How deeply chunk loads may nest (a lazy field inside a lazy field ...): past this,
/// a load fails instead of exhausting the stack. Recursive types nest as deep as their
/// data; 128 levels is far beyond ordinary trees.
pub const MAX_NESTING: u32 = 128;

thread_local! {
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// One more level of nested loading, released on drop.
pub(crate) struct Nest(u32);

impl Drop for Nest {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(self.0));
    }
}

/// Enters one more level of nested loading.
pub(crate) fn nest(at: crate::format::ChunkRef) -> Result<Nest> {
    let depth = DEPTH.with(std::cell::Cell::get);
    if depth >= MAX_NESTING {
        return Err(crate::Error::OutOfBounds {
            what: "nesting of lazy chunks",
            declared: u64::from(depth) + 1,
            limit: u64::from(MAX_NESTING),
            at: at.location(),
        });
    }
    DEPTH.with(|d| d.set(depth + 1));
    Ok(Nest(depth))
}

/// Runs `f` on this thread at the nesting depth of the caller that spawned it.
pub(crate) fn at_depth<R>(depth: u32, f: impl FnOnce() -> R) -> R {
    let saved = DEPTH.with(|d| d.replace(depth));
    let out = f();
    DEPTH.with(|d| d.set(saved));
    out
}

/// The current nesting depth.
pub(crate) fn depth() -> u32 {
    DEPTH.with(std::cell::Cell::get)
}

thread_local! {
    static LOADED: RefCell<Vec<HashMap<usize, Box<dyn Any + Send>>>> = const { RefCell::new(Vec::new()) };
}

/// The value of type `R` loaded in advance for the lazy field (promise, sharded vector
/// or map) at `field`, if any.
pub(crate) fn take_loaded<F, R: 'static>(field: &F) -> Option<R> {
    let addr = std::ptr::from_ref(field) as usize;
    let boxed = LOADED.with(|l| l.borrow_mut().last_mut().and_then(|m| m.remove(&addr)))?;
    boxed.downcast::<R>().ok().map(|b| *b)
}

/// Deserializes `view`, loading the lazy fields it holds in parallel first.
pub(crate) fn deserialize<T: Persist>(view: &rkyv::Archived<T>) -> Result<T> {
    let mut promises = Vec::new();
    T::__promises(view, &mut promises);
    if promises.len() < 2 {
        return plain_deserialize::<T>(view);
    }
    let depth = depth();
    let loaded: Vec<Result<Box<dyn Any + Send>>> =
        promises.par_iter().map(|p| at_depth(depth, || (p.load)())).collect();
    let mut table = HashMap::with_capacity(loaded.len());
    for (p, value) in promises.iter().zip(loaded) {
        table.insert(p.addr, value?);
    }
    LOADED.with(|l| l.borrow_mut().push(table));
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            LOADED.with(|l| l.borrow_mut().pop());
        }
    }
    let _pop = Pop;
    plain_deserialize::<T>(view)
}

fn plain_deserialize<T: Persist>(view: &rkyv::Archived<T>) -> Result<T> {
    let mut pool = rkyv::de::Pool::new();
    rkyv::api::deserialize_using::<T, _, crate::Error>(view, &mut pool)
}

/// Whether values of `T` can never hold a chunk of their own (no lazy field anywhere
/// inside). Computed once per type; recursive types answer `false` (conservative).
#[must_use]
pub fn is_leaf<T: Persist>() -> bool {
    type_flag::<T>(Flag::Leaf, T::__is_leaf)
}

/// Whether values of `T` archive to exactly `size_of::<Archived<T>>()` bytes (no strings,
/// vectors or boxes inside): shards of such elements are cut by arithmetic.
#[must_use]
pub fn is_flat<T: Persist>() -> bool {
    type_flag::<T>(Flag::Flat, T::__is_flat)
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Flag {
    Leaf,
    Flat,
}

/// A per-type boolean computed once. Cycles (recursive types) answer `false`, which is
/// the conservative answer for both flags.
fn type_flag<T: 'static>(flag: Flag, compute: fn() -> bool) -> bool {
    type Cache = HashMap<(TypeId, Flag), bool>;
    static CACHE: RwLock<Option<Cache>> = RwLock::new(None);
    thread_local! {
        static IN_PROGRESS: RefCell<Vec<(TypeId, Flag)>> = const { RefCell::new(Vec::new()) };
    }
    thread_local! {
        // A lock-free copy of the final answers this thread has seen: the flags are
        // asked once per element while saving, and the shared lock's cache line would
        // bounce between threads.
        static SEEN: RefCell<Vec<((TypeId, Flag), bool)>> = const { RefCell::new(Vec::new()) };
    }
    let key = (TypeId::of::<T>(), flag);
    if let Some(v) = SEEN.with(|s| s.borrow().iter().find(|(k, _)| *k == key).map(|&(_, v)| v)) {
        return v;
    }
    if let Some(&v) = CACHE.read().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().and_then(|m| m.get(&key))
    {
        SEEN.with(|s| s.borrow_mut().push((key, v)));
        return v;
    }
    if IN_PROGRESS.with(|p| p.borrow().contains(&key)) {
        return false;
    }
    IN_PROGRESS.with(|p| p.borrow_mut().push(key));
    let value = compute();
    let outermost = IN_PROGRESS.with(|p| {
        let mut p = p.borrow_mut();
        p.pop();
        p.is_empty()
    });
    // A `false` computed inside a cycle may be conservative for the outer types; only
    // `true` answers and outermost answers are final.
    if value || outermost {
        CACHE
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_or_insert_with(HashMap::new)
            .insert(key, value);
        SEEN.with(|s| s.borrow_mut().push((key, value)));
    }
    value
}
