//! A chunk's verified bytes ([`Chunk`]), shared by the cache and by every [`View`] that
//! borrows them: an evicted chunk stays valid for whoever still holds a view into it.

use super::registry::Registration;
use super::source::Source;
use crate::format::ChunkRef;
use rkyv::util::AlignedVec;
use std::any::TypeId;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// A buffer that several chunks share: the bytes of one read that covered several
/// adjacent chunks (a bulk read), or the tail of the file read at open.
#[derive(Debug)]
pub(crate) struct Block {
    registration: Option<Registration>,
    bytes: AlignedVec<16>,
    /// Where the buffer goes back when the block is dropped, if it still exists.
    home: Option<Weak<Buffers>>,
}

impl Block {
    /// A block over `bytes`, registered as held by `owner` when its chunks may hold
    /// lazy fields (views inside them find their archive by address), and given back to
    /// `home` when dropped.
    pub(crate) fn new(
        bytes: AlignedVec<16>,
        owner: Option<&Weak<super::Store>>,
        home: Option<&Arc<Buffers>>,
    ) -> Arc<Self> {
        let registration = owner.and_then(|o| Registration::new(&bytes, o));
        Arc::new(Self { registration, bytes, home: home.map(Arc::downgrade) })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // Unregistered before the bytes are freed or given to another block.
        self.registration = None;
        if let Some(home) = self.home.as_ref().and_then(Weak::upgrade) {
            home.give_back(std::mem::take(&mut self.bytes));
        }
    }
}

/// Buffers for the reads of one bulk operation (a load), reused from one window of
/// chunks to the next: the pages of a fresh buffer are faulted in on first touch, which
/// costs about as much as copying into them. Freed with the operation.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    free: Mutex<Vec<AlignedVec<16>>>,
}

/// The most buffers a [`Buffers`] keeps: two windows' worth of reads.
const BUFFERS_KEPT: usize = 8;

impl Buffers {
    /// A buffer of `len` bytes to be overwritten by a read: a free one of at least that
    /// length is reused as it is (its old bytes are read over), else a new one.
    pub(crate) fn take(&self, len: usize) -> AlignedVec<16> {
        let reused = {
            let mut free = self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            free.iter().position(|b| b.len() >= len).map(|i| free.swap_remove(i))
        };
        match reused {
            Some(mut buf) => {
                buf.resize(len, 0); // shorter: only truncates
                buf
            }
            None => {
                let mut buf = AlignedVec::with_capacity(len);
                buf.resize(len, 0);
                buf
            }
        }
    }

    fn give_back(&self, buf: AlignedVec<16>) {
        let mut free = self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if free.len() < BUFFERS_KEPT && !buf.is_empty() {
            free.push(buf);
        }
    }
}

/// What keeps a chunk's bytes alive.
#[derive(Debug)]
enum Backing {
    /// A buffer of its own: read with one positioned read, or decompressed.
    Heap(AlignedVec<16>),
    /// Part of a shared block.
    Block(#[expect(dead_code, reason = "held only to keep the block alive")] Arc<Block>),
    /// In place, in a source that holds all its bytes in memory.
    Source(#[expect(dead_code, reason = "held only to keep the source's memory alive")] Arc<dyn Source>),
}

/// The verified (and decompressed) archived bytes of one chunk, and what the store
/// remembers about them.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// Declared first: unregistered before the bytes can be freed.
    registration: OnceLock<Option<Registration>>,
    /// Points into `backing`, which this chunk keeps alive and never mutates.
    bytes: NonNull<[u8]>,
    backing: Backing,
    /// The reference the chunk was read through.
    at: ChunkRef,
    /// The first archived type the bytes were validated as, and any others.
    validated_first: OnceLock<TypeId>,
    validated_more: Mutex<Vec<TypeId>>,
    /// Single elements of this chunk (a shard) validated one by one so far.
    element_reads: AtomicU32,
}

// SAFETY: `bytes` points into memory owned by `backing` (a heap buffer, a shared
// block, or a source's memory), all of which are `Send + Sync` and never mutated while
// the chunk lives; the rest of the fields are `Send + Sync`.
unsafe impl Send for Chunk {}
// SAFETY: as for `Send`: shared access only ever reads the bytes.
unsafe impl Sync for Chunk {}

impl Chunk {
    fn with(backing: Backing, bytes: &[u8], at: ChunkRef) -> Self {
        Self {
            registration: OnceLock::new(),
            bytes: NonNull::from(bytes),
            backing,
            at,
            validated_first: OnceLock::new(),
            validated_more: Mutex::new(Vec::new()),
            element_reads: AtomicU32::new(0),
        }
    }

    /// A chunk owning its buffer.
    pub(crate) fn heap(buf: AlignedVec<16>, at: ChunkRef) -> Self {
        // The heap storage of an `AlignedVec` does not move when the vector does.
        let bytes = NonNull::from(buf.as_slice());
        Self { bytes, ..Self::with(Backing::Heap(buf), &[], at) }
    }

    /// The chunk at `range` of a shared block, or `None` when the range is outside it.
    pub(crate) fn in_block(block: &Arc<Block>, range: std::ops::Range<usize>, at: ChunkRef) -> Option<Self> {
        let bytes = NonNull::from(block.bytes().get(range)?);
        Some(Self { bytes, ..Self::with(Backing::Block(Arc::clone(block)), &[], at) })
    }

    /// The chunk at `range` of a source's own memory, or `None` when the source holds
    /// no memory or the range is outside it.
    pub(crate) fn in_source(source: &Arc<dyn Source>, range: std::ops::Range<usize>, at: ChunkRef) -> Option<Self> {
        let bytes = NonNull::from(source.bytes()?.get(range)?);
        Some(Self { bytes, ..Self::with(Backing::Source(Arc::clone(source)), &[], at) })
    }

    /// The archived bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `bytes` was made from a slice of the memory `backing` owns or keeps
        // alive (see the constructors); that memory is never mutated or freed while
        // `self` lives, and the returned borrow cannot outlive `self`.
        unsafe { self.bytes.as_ref() }
    }

    /// The reference this chunk was read through.
    pub(crate) fn at(&self) -> &ChunkRef {
        &self.at
    }

    /// Bytes this chunk holds on the heap of its own (what the cache counts).
    pub(crate) fn heap_len(&self) -> usize {
        match &self.backing {
            Backing::Heap(b) => b.len(),
            Backing::Block(_) | Backing::Source(_) => 0,
        }
    }

    /// Registers the bytes as held by `owner`, once, unless they are already covered
    /// (a block or a source's memory registers itself as a whole).
    pub(crate) fn register(&self, owner: &Weak<super::Store>) {
        if matches!(self.backing, Backing::Heap(_)) {
            self.registration.get_or_init(|| Registration::new(self.bytes(), owner));
        }
    }

    /// Registers the bytes (a buffer of its own) as held by `owner`, with `note`.
    pub(crate) fn register_with(&self, owner: &Weak<super::Store>, note: Option<super::registry::Note>) {
        if matches!(self.backing, Backing::Heap(_)) {
            self.registration.get_or_init(|| Registration::with_note(self.bytes(), owner, note));
        }
    }

    /// Whether the bytes passed validation as the archived type `ty`.
    pub(crate) fn validated(&self, ty: TypeId) -> bool {
        match self.validated_first.get() {
            Some(&t) if t == ty => true,
            None => false,
            Some(_) => self.validated_more.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&ty),
        }
    }

    /// Records that the bytes passed validation as `ty`.
    pub(crate) fn set_validated(&self, ty: TypeId) {
        if self.validated_first.set(ty).is_err() && self.validated_first.get() != Some(&ty) {
            let mut more = self.validated_more.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !more.contains(&ty) {
                more.push(ty);
            }
        }
    }

    /// Counts one more single-element read; returns the count.
    pub(crate) fn count_element_read(&self) -> u32 {
        self.element_reads.fetch_add(1, Ordering::Relaxed).saturating_add(1)
    }
}

/// A borrowed view into an archive's bytes: derefs to the archived value `A`.
///
/// A view keeps the chunk it reads alive, so it stays valid after the archive's cache
/// evicts that chunk (and after the archive is dropped). It costs one reference count;
/// cloning it does not copy the bytes. [`View::map`] narrows it to a part of the value.
///
/// ```
/// use strata::{Archive, Persist, View};
///
/// #[derive(Persist)]
/// struct Doc {
///     #[strata(lazy)]
///     body: Vec<String>,
/// }
///
/// let archive = Archive::from_bytes(strata::to_bytes(&Doc { body: vec!["a".into(), "b".into()] })?)?;
/// let body = archive.root::<Doc>()?.body.view()?;      // one chunk, validated once
/// let second = View::map(body, |lines| lines[1].as_str()); // the same chunk, narrowed
/// drop(archive);
/// assert_eq!(&*second, "b");
/// # Ok::<(), strata::Error>(())
/// ```
pub struct View<A: ?Sized> {
    chunk: Arc<Chunk>,
    /// Points into `chunk`'s bytes.
    value: NonNull<A>,
}

// SAFETY: a view gives only shared access to `A`, inside memory its `Arc<Chunk>` keeps
// alive (`Chunk` is `Send + Sync`); sending or sharing it is sharing `&A`.
unsafe impl<A: ?Sized + Sync> Send for View<A> {}
// SAFETY: as for `Send`.
unsafe impl<A: ?Sized + Sync> Sync for View<A> {}

impl<A: ?Sized> View<A> {
    /// A view of the value `f` finds in the chunk's bytes. `f` can only return a
    /// reference derived from the bytes it is given (or a `'static` one).
    pub(crate) fn new<E>(chunk: Arc<Chunk>, f: impl for<'x> FnOnce(&'x [u8]) -> Result<&'x A, E>) -> Result<Self, E> {
        let value = NonNull::from(f(chunk.bytes())?);
        Ok(Self { chunk, value })
    }

    /// A view of a part of this view's value (a field, an element), keeping the same
    /// chunk alive.
    pub fn map<B: ?Sized>(this: Self, f: impl for<'x> FnOnce(&'x A) -> &'x B) -> View<B> {
        let value = NonNull::from(f(&*this));
        View { chunk: this.chunk, value }
    }

    /// [`map`](Self::map) with a function that may fail.
    ///
    /// # Errors
    /// `f`'s error.
    pub fn try_map<B: ?Sized, E>(this: Self, f: impl for<'x> FnOnce(&'x A) -> Result<&'x B, E>) -> Result<View<B>, E> {
        let value = NonNull::from(f(&*this)?);
        Ok(View { chunk: this.chunk, value })
    }

    pub(crate) fn chunk(&self) -> &Arc<Chunk> {
        &self.chunk
    }
}

impl<A: ?Sized> std::ops::Deref for View<A> {
    type Target = A;

    fn deref(&self) -> &A {
        // SAFETY: `value` was made (by `new`, `map` or `try_map`) from a reference
        // derived from `chunk`'s bytes or from `'static` data; `chunk` is kept alive by
        // this view and its bytes are never mutated, and the borrow returned cannot
        // outlive the view.
        unsafe { self.value.as_ref() }
    }
}

impl<A: ?Sized> Clone for View<A> {
    fn clone(&self) -> Self {
        Self { chunk: Arc::clone(&self.chunk), value: self.value }
    }
}

impl<A: ?Sized> AsRef<A> for View<A> {
    fn as_ref(&self) -> &A {
        self
    }
}

impl<A: ?Sized> std::borrow::Borrow<A> for View<A> {
    fn borrow(&self) -> &A {
        self
    }
}

impl<A: ?Sized + std::fmt::Debug> std::fmt::Debug for View<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<A: ?Sized + std::fmt::Display> std::fmt::Display for View<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<A: ?Sized + PartialEq<B>, B: ?Sized> PartialEq<B> for View<A> {
    fn eq(&self, other: &B) -> bool {
        (**self).eq(other)
    }
}
