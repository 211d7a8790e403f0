//! [`Promise<T>`]: the archived form of a lazy field.

use crate::error::{Error, Result};
use crate::evolve::Origin;
use crate::format::{ChunkRef, Encoding, TYPED_VERSION};
use crate::load::Prefetch;
use crate::store::{Holds, Keep, Store, View};
use crate::{Persist, persist};
use rkyv::Archived;
use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;

/// A field stored in its own chunk, loaded only when asked.
///
/// This is what a `#[strata(lazy)]` field of type `T` looks like in a view: 40 bytes
/// holding the chunk's offset, lengths, encoding and checksum. Reading the promise
/// itself costs no I/O; [`load`](Self::load) and [`view`](Self::view) read, verify and
/// validate that one chunk.
///
/// ```
/// use strata::{Archive, Persist};
///
/// #[derive(Persist, Debug, PartialEq)]
/// struct Doc {
///     title: String,
///     #[strata(lazy)]
///     body: Vec<String>,
/// }
///
/// let doc = Doc { title: "t".into(), body: vec!["a".into(), "b".into()] };
/// let archive = Archive::from_bytes(strata::to_bytes(&doc)?)?;
/// let view = archive.root::<Doc>()?;
/// assert_eq!(view.title, "t");                       // inline: read in place
/// assert!(view.body.stored_len() > 0);               // known without I/O
/// assert_eq!(view.body.view()?.len(), 2);             // zero-copy
/// assert_eq!(view.body.load()?, doc.body);            // owned
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(rkyv::Portable, bytecheck::CheckBytes)]
#[rkyv(crate = rkyv)]
#[bytecheck(crate = bytecheck)]
#[repr(C)]
pub struct Promise<T> {
    chunk: ChunkRef,
    _type: PhantomData<fn() -> T>,
}

// SAFETY: `Promise<T>` is `repr(C)` over a `ChunkRef` (no padding: four u64 fields,
// one u8 and seven count bytes) and a zero-sized `PhantomData`.
unsafe impl<T> rkyv::traits::NoUndef for Promise<T> {}

impl<T> Promise<T> {
    /// The promise of a value whose typed reference is `typed` (see [`typed`]).
    pub(crate) fn new(typed: ChunkRef) -> Self {
        Self { chunk: typed, _type: PhantomData }
    }
}

/// The reference a value holds to the chunk `chunk` of a `T`: typed with `T`'s tag (see
/// [`crate::format::chunk_ref`]). What the serializers of lazy values give as their
/// resolvers.
pub(crate) fn typed<T: Persist>(chunk: ChunkRef) -> ChunkRef {
    chunk.tagged(tag_of::<T>())
}

impl<T: Persist> Promise<T> {
    /// The reference to the chunk, as the store reads it: the stored reference with
    /// `T`'s tag undone when the file's references are typed.
    pub(crate) fn target(&self, store: &Store) -> ChunkRef {
        if store.footer().version >= TYPED_VERSION { self.chunk.tagged(tag_of::<T>()) } else { self.chunk }
    }
}

/// The type tag of `T` ([`crate::format::type_tag`] of its type expression as the
/// schema's readers render it), looked up once per thread and type.
pub(crate) fn tag_of<T: Persist>() -> u64 {
    thread_local! {
        static TAGS: RefCell<HashMap<TypeId, u64, BuildHasherDefault<TypeIdHasher>>> =
            RefCell::new(HashMap::default());
    }
    let id = TypeId::of::<T>();
    if let Some(tag) = TAGS.with_borrow(|tags| tags.get(&id).copied()) {
        return tag;
    }
    let tag = crate::schema::schema_of::<T>().tag;
    TAGS.with_borrow_mut(|tags| tags.insert(id, tag));
    tag
}

/// Hashes a `TypeId` by the bits it hashes itself with: a `TypeId` is already a hash.
#[derive(Default)]
struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }

    fn write_u128(&mut self, n: u128) {
        self.0 ^= n as u64 ^ (n >> 64) as u64;
    }
}

impl<T> Promise<T> {
    /// The reference to the chunk that holds the value, as the file stores it: from
    /// format version 5 on, its checksum is typed (xored with the type tag of `T`, see
    /// [`crate::format::chunk_ref`]).
    #[must_use]
    pub fn chunk(&self) -> &ChunkRef {
        &self.chunk
    }

    /// Bytes the value occupies in the file (compressed size when compressed).
    #[must_use]
    pub fn stored_len(&self) -> u64 {
        self.chunk.stored_len()
    }

    /// Bytes of the archived value once decompressed.
    #[must_use]
    pub fn raw_len(&self) -> u64 {
        self.chunk.raw_len()
    }

    /// Whether the chunk is compressed (and so must be decompressed to be read).
    #[must_use]
    pub fn is_compressed(&self) -> bool {
        self.chunk.encoding() != Some(Encoding::None)
    }
}

impl<T: Persist> Promise<T> {
    /// Reads, verifies, validates and deserializes the value: one chunk.
    ///
    /// The value's own lazy fields are loaded too (it is an owned `T`); use
    /// [`view`](Self::view) to keep them lazy.
    ///
    /// # Errors
    /// [`Error::ChecksumMismatch`](crate::Error::ChecksumMismatch), [`Error::InvalidData`](crate::Error::InvalidData), [`Error::Decompression`](crate::Error::Decompression),
    /// [`Error::OutOfBounds`](crate::Error::OutOfBounds) when the chunk is damaged; [`Error::Detached`](crate::Error::Detached) when this
    /// promise is not inside an open [`crate::Archive`].
    pub fn load(&self) -> Result<T> {
        let value = match crate::evolve::origin(self)? {
            Origin::Native(store) => {
                crate::threads::run(store.limits().threads, || crate::load::chunk::<T>(&store, &self.target(&store)))
            }
            Origin::Evolved(store, evolved) => crate::threads::run(store.limits().threads, || {
                let _nest = crate::load::nest(self.chunk)?;
                let chunk = evolved.chunk(&store, &self.target(&store), Keep::No)?;
                crate::load::from_chunk::<T>(&store, chunk)
            }),
        }?;
        match self.proven(value.__count()) {
            Ok(()) => Ok(value),
            Err(e) => {
                crate::deep::discard(value);
                Err(e)
            }
        }
    }

    /// A zero-copy view of the value, in the chunk's verified bytes, which the view
    /// holds. The chunk is verified and validated once while the archive holds it.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn view(&self) -> Result<View<Archived<T>>> {
        let view = match crate::evolve::origin(self)? {
            Origin::Native(store) => {
                store.view::<Archived<T>>(&self.target(&store), Keep::Yes, Holds::of(!persist::is_leaf::<T>()))
            }
            Origin::Evolved(store, evolved) => {
                store.view_of::<Archived<T>>(evolved.chunk(&store, &self.target(&store), Keep::Yes)?)
            }
        }?;
        self.proven(T::__archived_count(&view))?;
        Ok(view)
    }

    /// Checks the element count the reference records (if any) against the value's.
    fn proven(&self, actual: Option<u64>) -> Result<()> {
        match (self.chunk.count(), actual) {
            (Some(declared), Some(actual)) if declared != actual => Err(Error::InvalidData {
                at: self.chunk.location(),
                ty: "lazy vector",
                detail: format!("{actual} elements where its reference records {declared}"),
            }),
            _ => Ok(()),
        }
    }
}

impl<T: Persist> Promise<T> {
    /// The element count of a lazy sequence: recorded in the reference (no I/O), or
    /// read from the chunk.
    fn elements(&self) -> Result<usize> {
        let bad = |detail: &str| Error::InvalidData {
            at: self.chunk.location(),
            ty: "lazy vector",
            detail: detail.to_owned(),
        };
        let n = match self.chunk.count() {
            Some(n) => n,
            None => T::__archived_count(&*self.view()?).ok_or_else(|| bad("not a sequence"))?,
        };
        usize::try_from(n).map_err(|_| bad("element count too large for this platform"))
    }
}

macro_rules! lazy_len {
    ($($ty:ty),*) => {$(
        impl<T: Persist> Promise<$ty> {
            /// The number of elements, without reading the chunk when the file records
            /// it (files of format version 2 and later); from older files the chunk is
            /// read (and kept while the archive holds it). The count is the file's declaration
            /// until the chunk is read: [`view`](Self::view) and [`load`](Self::load)
            /// check it.
            ///
            /// ```
            /// # #[derive(strata::Persist)] struct Doc { #[strata(lazy)] body: Vec<String> }
            /// let doc = Doc { body: vec!["a".into(), "b".into()] };
            /// let archive = strata::Archive::from_bytes(strata::to_bytes(&doc)?)?;
            /// let body = &archive.root::<Doc>()?.body;
            /// let before = archive.cache_stats().chunks;
            /// assert_eq!(body.len()?, 2);
            /// assert_eq!(archive.cache_stats().chunks, before); // nothing was read
            /// # Ok::<(), strata::Error>(())
            /// ```
            ///
            /// # Errors
            /// From a file without the count, as [`view`](Self::view); a count beyond
            /// this platform's `usize`.
            pub fn len(&self) -> Result<usize> {
                self.elements()
            }

            /// Whether the sequence is empty; see [`len`](Self::len).
            ///
            /// # Errors
            /// As [`len`](Self::len).
            pub fn is_empty(&self) -> Result<bool> {
                Ok(self.elements()? == 0)
            }
        }
    )*};
}

lazy_len!(Vec<T>, std::collections::VecDeque<T>, Box<[T]>, std::sync::Arc<[T]>);

/// Lists `promise` for a load's parallel phase. Not part of the public API.
#[doc(hidden)]
pub fn prefetch<T: Persist + Send>(promise: &Promise<T>) -> Prefetch<'_> {
    Prefetch::new(promise, promise.raw_len(), Promise::load)
}

impl<T> std::fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Promise").field(&self.chunk).finish()
    }
}
