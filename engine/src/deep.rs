//! Deep values: a limit on inline nesting, and stack that grows with it.
//!
//! A recursive type (`struct Node { next: Option<Box<Node>> }`) nests as deep as its
//! data, and rkyv validates, serializes and deserializes it recursively: a list of a
//! million nodes needs more stack than a thread has, and a hostile file needs only
//! about 12 bytes per level to ask for it. The derive wraps every recursive field (it
//! knows them: they name their own type) in [`Deep`], whose archived form
//! [`Nested`] validates, and whose wrapper serializes and deserializes, one level at a
//! time through [`descend`]: each level counts against a limit (past it, an
//! [`Error::TooDeep`] naming the field), and runs on a fresh stack segment when the
//! current one runs low (`stacker`, as rustc does). Types that do not recurse pay
//! nothing.
//!
//! The limit in force on a thread is set by whoever starts the work: the store around
//! validation and loads ([`crate::OpenOptions::max_depth`]), a save around
//! serialization ([`crate::SaveOptions::max_depth`]).

use crate::error::Error;
use crate::field::FieldName;
use rancor::{Fallible, Source};
use rkyv::Place;
use rkyv::bytecheck::CheckBytes;
use rkyv::with::{ArchiveWith, DeserializeWith, SerializeWith};
use std::cell::Cell;
use std::marker::PhantomData;

/// The default limit on inline nesting, for reads and saves: far beyond real trees,
/// ASTs and linked structures, and a bounded amount of stack (tens of MiB) at worst.
pub const DEFAULT_MAX_DEPTH: u32 = 100_000;

/// Stack left below which a level runs on a fresh segment.
const RED_ZONE: usize = 128 << 10;

/// The size of each fresh stack segment.
const SEGMENT: usize = 4 << 20;

thread_local! {
    static LIMIT: Cell<u32> = const { Cell::new(DEFAULT_MAX_DEPTH) };
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f` with `limit` in force and the nesting count at zero (one value of one
/// chunk), restoring both after.
pub(crate) fn with_limit<R>(limit: u32, f: impl FnOnce() -> R) -> R {
    if LIMIT.get() == limit && DEPTH.get() == 0 {
        // Already so (a value validated inside a load that set the limit).
        return f();
    }
    struct Restore(u32, u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            LIMIT.set(self.0);
            DEPTH.set(self.1);
        }
    }
    let _restore = Restore(LIMIT.replace(limit), DEPTH.replace(0));
    f()
}

/// The limit in force on this thread.
pub(crate) fn limit() -> u32 {
    LIMIT.get()
}

/// One level of a recursive field: counted against the limit, and run on a fresh
/// stack segment when the current one runs low.
///
/// # Errors
/// [`Error::TooDeep`] past the limit; otherwise `f`'s.
pub fn descend<R, E: Source>(what: &'static str, f: impl FnOnce() -> Result<R, E>) -> Result<R, E> {
    struct Leave(u32);
    impl Drop for Leave {
        fn drop(&mut self) {
            DEPTH.set(self.0);
        }
    }
    let depth = DEPTH.get();
    let limit = LIMIT.get();
    if depth >= limit {
        return Err(E::new(Error::TooDeep { what, depth: u64::from(depth) + 1, limit: u64::from(limit), at: None }));
    }
    let _leave = Leave(depth);
    DEPTH.set(depth + 1);
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}

/// Runs `f` with enough stack for one more level of a walk over a value whose depth
/// was checked already (the derive's walks over recursive fields).
pub fn grow<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}

/// Stack a dropped value may need per level of nesting: a few frames of drop glue.
const DROP_STACK_PER_LEVEL: usize = 512;

/// Drops `value` on a stack sized for the deepest value the limit in force allows.
///
/// Rust drops a recursive value recursively (`Option<Box<Node>>` drops its `next`, which
/// drops its `next` ...), a few frames per level: a value near the nesting limit would
/// overflow a thread's stack when dropped. Values that strata builds and then abandons
/// (a load that fails after some of its parts loaded) are dropped here. The stack is
/// reserved, not touched: only the pages the drop uses cost memory.
pub(crate) fn discard<T>(value: T) {
    dropping(move || drop(value));
}

/// Runs `f`, which drops values that may nest as deep as the limit allows, on a stack
/// sized for them (see [`discard`]).
pub(crate) fn dropping<R>(f: impl FnOnce() -> R) -> R {
    let size = (limit() as usize).saturating_mul(DROP_STACK_PER_LEVEL).clamp(SEGMENT, 1 << 30);
    stacker::grow(size, f)
}

/// The `with`-wrapper the derive puts on a recursive field: `W` stores the field as
/// it would be stored otherwise (`rkyv::with::Identity`, or another wrapper), `N`
/// names it in errors. Not part of the public API.
#[derive(Debug)]
pub struct Deep<N, W = rkyv::with::Identity>(PhantomData<(N, W)>);

/// The archived form of a recursive field: the field's own archived form `A`, whose
/// validation runs one level at a time, counted and on a stack that grows; `N` names the
/// field. Derefs to `A`.
#[repr(transparent)]
pub struct Nested<A, N = crate::field::Unnamed> {
    inner: A,
    _name: PhantomData<N>,
}

// SAFETY: `repr(transparent)` over `A`, which is `Portable` (the `PhantomData` is
// zero-sized and has no bytes): `Nested<A, N>` has `A`'s layout and bytes.
unsafe impl<A: rkyv::Portable, N> rkyv::Portable for Nested<A, N> {}

// SAFETY: `repr(transparent)` over `A`: the bytes are `A`'s.
unsafe impl<A: rkyv::traits::NoUndef, N> rkyv::traits::NoUndef for Nested<A, N> {}

impl<A, N> std::ops::Deref for Nested<A, N> {
    type Target = A;

    fn deref(&self) -> &A {
        &self.inner
    }
}

impl<A: std::fmt::Debug, N> std::fmt::Debug for Nested<A, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        grow(|| self.inner.fmt(f))
    }
}

impl<A: PartialEq<B>, B, N> PartialEq<B> for Nested<A, N> {
    fn eq(&self, other: &B) -> bool {
        grow(|| self.inner == *other)
    }
}

// SAFETY: `Nested<A, N>` is `repr(transparent)` over `A`, so a pointer to it is a
// pointer to an `A` with the same validity requirements; `check_bytes` succeeds only
// when `A::check_bytes` does on that same pointer and context.
unsafe impl<A, N, C> CheckBytes<C> for Nested<A, N>
where
    A: CheckBytes<C>,
    N: FieldName,
    C: Fallible + ?Sized,
    C::Error: Source,
{
    unsafe fn check_bytes(value: *const Self, context: &mut C) -> Result<(), C::Error> {
        descend(N::NAME, || {
            // SAFETY: the caller guarantees `value` is aligned and points to enough
            // bytes for a `Nested<A>`, which is exactly an `A`.
            unsafe { A::check_bytes(value.cast::<A>(), context) }
        })
    }
}

impl<F, N, W: ArchiveWith<F>> ArchiveWith<F> for Deep<N, W> {
    type Archived = Nested<W::Archived, N>;
    type Resolver = W::Resolver;

    fn resolve_with(field: &F, resolver: Self::Resolver, out: Place<Self::Archived>) {
        rkyv::munge::munge!(let Nested { inner, _name: _ } = out);
        W::resolve_with(field, resolver, inner);
    }
}

impl<F, S, N, W> SerializeWith<F, S> for Deep<N, W>
where
    W: SerializeWith<F, S>,
    N: FieldName,
    S: Fallible + ?Sized,
    S::Error: Source,
{
    fn serialize_with(field: &F, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        descend(N::NAME, || W::serialize_with(field, serializer))
    }
}

impl<A, F, D, N, W> DeserializeWith<Nested<A, N>, F, D> for Deep<N, W>
where
    W: DeserializeWith<A, F, D>,
    N: FieldName,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &Nested<A, N>, deserializer: &mut D) -> Result<F, D::Error> {
        descend(N::NAME, || W::deserialize_with(&field.inner, deserializer))
    }
}
