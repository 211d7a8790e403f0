//! The [`Persist`] trait and its implementations for standard types.

use crate::hash::StableHash;
use crate::load::Prefetch;
use crate::schema::SchemaBuilder;
use crate::write::Saver;
use crate::write::leaves::Pending;
use rkyv::bytecheck::CheckBytes;
use rkyv::{Archive, Deserialize, Portable, Serialize};
use std::any::TypeId;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};
use std::sync::RwLock;

pub use crate::store::{Loader, Validator};

/// A type that strata can store.
///
/// Derive it with `#[derive(Persist)]` on your structs and enums; it is implemented
/// for integers (except `usize`/`isize`, whose width differs between platforms: a
/// derived field of that type is stored as 64 bits), floats, `bool`, `char`, `()`,
/// `String`, `Box<str>`, `Arc<str>`, `Rc<str>`, `Vec`, `VecDeque`, `Box<[T]>`,
/// `Arc<[T]>`, `Rc<[T]>`, `Option`, `Box`, `Arc`, `Rc`, arrays, tuples, `HashMap`,
/// `BTreeMap`, `HashSet`, `BTreeSet`, `Duration`, `Range`, `RangeInclusive`, the
/// `NonZero` integers, `PhantomData`, the network addresses, and, behind features of their crates' names, `uuid::Uuid`,
/// `smallvec::SmallVec`, `bytes::Bytes`, `indexmap`'s and `hashbrown`'s maps and sets.
/// The derive also stores fields of types it converts (`SystemTime`, `PathBuf`,
/// `OsString`, `Wrapping`, `Reverse`, `BinaryHeap`, `LinkedList`, `Cow`,
/// `arrayvec::ArrayVec`) and, with `#[strata(via = "U")]`, of any type that converts to
/// and from a `Persist` type `U`.
///
/// `Persist` does not require `Send + Sync`: a type holding an `Rc` is saved and loaded
/// on the calling thread. The parts a save and a load handle in parallel require
/// thread-safe types: the elements of sharded vectors, the keys and values of bucketed
/// maps, lazy values and the contents of `Arc`s.
///
/// The archived form of a `Persist` type (`Archived<T>`, named `ArchivedT` for derived
/// types) is what [`crate::Archive::root`] and [`crate::Promise::view`] hand out: a
/// zero-copy view whose inline fields are read in place and whose lazy fields are
/// [`crate::Promise`]s.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored by strata",
    label = "this type does not implement `strata::Persist`",
    note = "derive `strata::Persist` for it; for a type of another crate, mark the field `#[strata(via = \"U\")]` to store it as a `Persist` type `U` it converts to and from (`T: Clone + Into<U>`, `U: Into<T>`), or `#[strata(rkyv)]` to store it with its own rkyv implementation",
    note = "`usize` and `isize` are only accepted directly as a field's type (stored as 64 bits): use `u64`/`i64` inside containers"
)]
pub trait Persist:
    Archive<Archived: Portable + for<'a> CheckBytes<Validator<'a>> + Deserialize<Self, Loader> + Send + Sync + 'static>
    + for<'a> Serialize<Saver<'a>>
    + Sized
    + 'static
{
    /// Describes the type for the schema and returns its type expression.
    #[doc(hidden)]
    fn __describe(s: &mut SchemaBuilder) -> String;

    /// Whether values of this type hold no chunk of their own; see [`is_leaf`], which
    /// caches this answer.
    #[doc(hidden)]
    fn __is_leaf() -> bool {
        true
    }

    /// Whether the archived form has no out-of-line data; see [`is_flat`], which caches
    /// this answer.
    #[doc(hidden)]
    fn __is_flat() -> bool {
        true
    }

    /// An estimate of the out-of-line bytes (strings, vectors, boxes) `self` archives
    /// to, beyond `size_of::<Archived<Self>>()`; used to cut shards and size buckets.
    #[doc(hidden)]
    fn __out_of_line(&self) -> usize {
        0
    }

    /// The element count a lazy field of this type records in its reference (so that
    /// `len` needs no read): `Some` for a `Vec`.
    #[doc(hidden)]
    fn __count(&self) -> Option<u64> {
        None
    }

    /// [`Persist::__count`] of an archived value.
    #[doc(hidden)]
    fn __archived_count(_archived: &Self::Archived) -> Option<u64> {
        None
    }

    /// Lists the lazy fields that belong to `self`'s chunk.
    #[doc(hidden)]
    fn __prepare<'a>(&'a self, _out: &mut Vec<Pending<'a>>) {}

    /// Lists the lazy fields (promises, sharded vectors, maps) inside an archived
    /// value's chunk.
    #[doc(hidden)]
    fn __promises<'a>(_archived: &'a Self::Archived, _out: &mut Vec<Prefetch<'a>>) {}

    /// The bytes `self` archives to ahead of its root, when they are exactly its own
    /// bytes in memory (a `Vec<u8>`): a save writes a large one to the file straight
    /// from `self`, without serializing it into a buffer first.
    #[doc(hidden)]
    fn __raw_bytes(&self) -> Option<&[u8]> {
        None
    }

    /// [`Persist::__raw_bytes`] for a run of values of this type: `Some` for `u8` only.
    #[doc(hidden)]
    fn __slice_bytes(_items: &[Self]) -> Option<&[u8]> {
        None
    }

    /// Whether a chunk holding a `Self` is loaded by reading its bytes straight into the
    /// value ([`Persist::__from_archived_bytes`]): `true` for `Vec<u8>`.
    #[doc(hidden)]
    fn __loads_raw() -> bool {
        false
    }

    /// The value whose archived bytes (a whole, verified chunk) are `bytes`, built from
    /// the buffer itself: `Some` for a `Vec<u8>` whose bytes start the chunk, as every
    /// writer lays them out.
    #[doc(hidden)]
    fn __from_archived_bytes(_bytes: Vec<u8>) -> Option<Self> {
        None
    }

    /// [`Persist::__from_archived_bytes`] for a vector of this type: `u8` only.
    #[doc(hidden)]
    fn __vec_from_archived_bytes(_bytes: Vec<u8>) -> Option<Vec<Self>> {
        None
    }

    /// Serializes `self` as the root of a chunk; returns the root's position.
    /// Overridden where the plain rkyv serialization is not deterministic.
    #[doc(hidden)]
    fn __serialize_root(&self, s: &mut crate::write::SaveSerializer<'_>) -> Result<usize, crate::Error> {
        rkyv::api::serialize_using::<_, crate::Error>(self, s)
    }
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

macro_rules! leaf {
    ($($t:ty => $name:literal),* $(,)?) => {$(
        impl Persist for $t {
            fn __describe(_: &mut SchemaBuilder) -> String {
                String::from($name)
            }
        }
    )*};
}

impl Persist for u8 {
    fn __describe(_: &mut SchemaBuilder) -> String {
        String::from("u8")
    }
    fn __slice_bytes(items: &[u8]) -> Option<&[u8]> {
        Some(items)
    }
    fn __vec_from_archived_bytes(mut bytes: Vec<u8>) -> Option<Vec<u8>> {
        // The elements, then padding and the vector's header (`format::archived`).
        let (start, len) = crate::format::archived::vec_span(&bytes, 1).ok()?;
        if start != 0 {
            return None;
        }
        bytes.truncate(len);
        Some(bytes)
    }
}

leaf! {
    u16 => "u16", u32 => "u32", u64 => "u64", u128 => "u128",
    i8 => "i8", i16 => "i16", i32 => "i32", i64 => "i64", i128 => "i128",
    f32 => "f32", f64 => "f64", bool => "bool", char => "char", () => "()",
}

impl Persist for String {
    fn __describe(_: &mut SchemaBuilder) -> String {
        String::from("String")
    }
    fn __is_flat() -> bool {
        false
    }
    fn __out_of_line(&self) -> usize {
        // rkyv stores strings of up to 8 bytes inline.
        if self.len() > 8 { self.len() } else { 0 }
    }
}

/// Out-of-line bytes of a run of archived `T`s.
pub(crate) fn elements<'a, T: Persist + 'a>(items: impl Iterator<Item = &'a T>, count: usize) -> usize {
    let inline = count.saturating_mul(size_of::<T::Archived>());
    if is_flat::<T>() { inline } else { items.fold(inline, |acc, v| acc.saturating_add(v.__out_of_line())) }
}

/// `Persist` for a sequence that rkyv archives in a `Vec<T>`'s layout.
macro_rules! sequence {
    ($ty:ty $(, { $($extra:tt)* })?) => {
        impl<T: Persist> Persist for $ty {
            fn __describe(s: &mut SchemaBuilder) -> String {
                format!("Vec<{}>", s.of::<T>())
            }
            fn __is_leaf() -> bool {
                is_leaf::<T>()
            }
            fn __is_flat() -> bool {
                false
            }
            fn __out_of_line(&self) -> usize {
                $crate::persist::elements(self.iter(), self.len())
            }
            fn __count(&self) -> Option<u64> {
                Some(self.len() as u64)
            }
            fn __archived_count(archived: &Self::Archived) -> Option<u64> {
                Some(archived.len() as u64)
            }
            fn __prepare<'a>(&'a self, out: &mut Vec<Pending<'a>>) {
                if !is_leaf::<T>() {
                    self.iter().for_each(|v| v.__prepare(out));
                }
            }
            fn __promises<'a>(archived: &'a Self::Archived, out: &mut Vec<Prefetch<'a>>) {
                if !is_leaf::<T>() {
                    archived.iter().for_each(|v| T::__promises(v, out));
                }
            }
            $($($extra)*)?
        }
    };
}
pub(crate) use sequence;

sequence!(Vec<T>, {
    fn __raw_bytes(&self) -> Option<&[u8]> {
        T::__slice_bytes(self)
    }
    fn __loads_raw() -> bool {
        T::__slice_bytes(&[]).is_some()
    }
    fn __from_archived_bytes(bytes: Vec<u8>) -> Option<Self> {
        T::__vec_from_archived_bytes(bytes)
    }
});

impl<T: Persist> Persist for Option<T> {
    fn __describe(s: &mut SchemaBuilder) -> String {
        format!("Option<{}>", s.of::<T>())
    }
    fn __is_leaf() -> bool {
        is_leaf::<T>()
    }
    fn __is_flat() -> bool {
        is_flat::<T>()
    }
    fn __out_of_line(&self) -> usize {
        self.as_ref().map_or(0, Persist::__out_of_line)
    }
    fn __prepare<'a>(&'a self, out: &mut Vec<Pending<'a>>) {
        if let Some(v) = self {
            v.__prepare(out);
        }
    }
    fn __promises<'a>(archived: &'a Self::Archived, out: &mut Vec<Prefetch<'a>>) {
        archived.iter().for_each(|v| T::__promises(v, out));
    }
}

impl<T: Persist> Persist for Box<T> {
    fn __describe(s: &mut SchemaBuilder) -> String {
        format!("Box<{}>", s.of::<T>())
    }
    fn __is_leaf() -> bool {
        is_leaf::<T>()
    }
    fn __is_flat() -> bool {
        false
    }
    fn __out_of_line(&self) -> usize {
        elements(std::iter::once(&**self), 1)
    }
    fn __prepare<'a>(&'a self, out: &mut Vec<Pending<'a>>) {
        T::__prepare(self, out);
    }
    fn __promises<'a>(archived: &'a Self::Archived, out: &mut Vec<Prefetch<'a>>) {
        T::__promises(archived.get(), out);
    }
}

impl<T: Persist, const N: usize> Persist for [T; N] {
    fn __describe(s: &mut SchemaBuilder) -> String {
        format!("[{}; {N}]", s.of::<T>())
    }
    fn __is_leaf() -> bool {
        is_leaf::<T>()
    }
    fn __is_flat() -> bool {
        is_flat::<T>()
    }
    fn __out_of_line(&self) -> usize {
        elements(self.iter(), N).saturating_sub(N * size_of::<T::Archived>())
    }
    fn __prepare<'a>(&'a self, out: &mut Vec<Pending<'a>>) {
        if !is_leaf::<T>() {
            self.iter().for_each(|v| v.__prepare(out));
        }
    }
    fn __promises<'a>(archived: &'a Self::Archived, out: &mut Vec<Prefetch<'a>>) {
        if !is_leaf::<T>() {
            archived.iter().for_each(|v| T::__promises(v, out));
        }
    }
}

macro_rules! tuple {
    ($($name:ident $i:tt),+) => {
        impl<$($name: Persist),+> Persist for ($($name,)+) {
            fn __describe(s: &mut SchemaBuilder) -> String {
                let parts: Vec<String> = vec![$(s.of::<$name>()),+];
                format!("({},)", parts.join(", "))
            }
            fn __is_leaf() -> bool {
                true $(&& is_leaf::<$name>())+
            }
            fn __is_flat() -> bool {
                true $(&& is_flat::<$name>())+
            }
            fn __out_of_line(&self) -> usize {
                0 $(+ self.$i.__out_of_line())+
            }
            fn __prepare<'a>(&'a self, out: &mut Vec<Pending<'a>>) {
                $(self.$i.__prepare(out);)+
            }
            fn __promises<'a>(archived: &'a Self::Archived, out: &mut Vec<Prefetch<'a>>) {
                $($name::__promises(&archived.$i, out);)+
            }
        }
    };
}
tuple!(A 0);
tuple!(A 0, B 1);
tuple!(A 0, B 1, C 2);
tuple!(A 0, B 1, C 2, D 3);
tuple!(A 0, B 1, C 2, D 3, E 4);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5);

impl<K: Persist + Ord, V: Persist> Persist for BTreeMap<K, V>
where
    K::Archived: Ord,
{
    fn __describe(s: &mut SchemaBuilder) -> String {
        let name = format!("BTreeMap<{}, {}>", s.of::<K>(), s.of::<V>());
        s.relocatable::<Self>(name.clone(), crate::store::relocate::relocator::<Self>);
        format!("{name}[{}/{}]", size_of::<Self::Archived>(), align_of::<Self::Archived>())
    }
    fn __is_leaf() -> bool {
        is_leaf::<K>() && is_leaf::<V>()
    }
    fn __is_flat() -> bool {
        false
    }
    fn __out_of_line(&self) -> usize {
        map_estimate(elements(self.keys(), self.len()).saturating_add(elements(self.values(), self.len())))
    }
    fn __prepare<'a>(&'a self, out: &mut Vec<Pending<'a>>) {
        if !Self::__is_leaf() {
            self.iter().for_each(|(k, v)| {
                k.__prepare(out);
                v.__prepare(out);
            });
        }
    }
    // No `__promises`: rkyv's B-tree only lends its entries inside a callback, so lazy
    // values inside a B-tree are loaded one by one during deserialization.
}

impl<K: Persist + Ord> Persist for BTreeSet<K>
where
    K::Archived: Ord,
{
    fn __describe(s: &mut SchemaBuilder) -> String {
        let name = format!("BTreeSet<{}>", s.of::<K>());
        s.relocatable::<Self>(name.clone(), crate::store::relocate::relocator::<Self>);
        format!("{name}[{}/{}]", size_of::<Self::Archived>(), align_of::<Self::Archived>())
    }
    fn __is_leaf() -> bool {
        is_leaf::<K>()
    }
    fn __is_flat() -> bool {
        false
    }
    fn __out_of_line(&self) -> usize {
        map_estimate(elements(self.iter(), self.len()))
    }
    fn __prepare<'a>(&'a self, out: &mut Vec<Pending<'a>>) {
        if !is_leaf::<K>() {
            self.iter().for_each(|k| k.__prepare(out));
        }
    }
    // No `__promises`: rkyv's B-tree only lends its entries inside a callback, so lazy
    // values inside a B-tree are loaded one by one during deserialization.
}

/// `Persist` for one crate's hash map and set types (std's here, hashbrown's behind its
/// feature): both archive to rkyv's hash table, described alike, so either reads the
/// other's files.
macro_rules! hash_collections {
    ($map:ident, $set:ident) => {
        impl<K, V, H> Persist for $map<K, V, H>
        where
            K: Persist + StableHash + Hash + Eq,
            K::Archived: Hash + Eq,
            V: Persist,
            H: BuildHasher + Default + Send + Sync + 'static,
        {
            fn __describe(s: &mut SchemaBuilder) -> String {
                let name = format!("HashMap<{}, {}>", s.of::<K>(), s.of::<V>());
                s.relocatable::<Self>(name.clone(), crate::store::relocate::relocator::<Self>);
                format!("{name}[{}/{}]", size_of::<Self::Archived>(), align_of::<Self::Archived>())
            }
            fn __is_leaf() -> bool {
                is_leaf::<K>() && is_leaf::<V>()
            }
            fn __is_flat() -> bool {
                false
            }
            fn __out_of_line(&self) -> usize {
                map_estimate(elements(self.keys(), self.len()).saturating_add(elements(self.values(), self.len())))
            }
            fn __prepare<'a>(&'a self, out: &mut Vec<Pending<'a>>) {
                if !Self::__is_leaf() {
                    // The order in which chunks are written must not depend on the hasher.
                    for (k, v) in crate::write::deterministic::stable_entries(self.iter()) {
                        k.__prepare(out);
                        v.__prepare(out);
                    }
                }
            }
            fn __promises<'a>(archived: &'a Self::Archived, out: &mut Vec<Prefetch<'a>>) {
                if !Self::__is_leaf() {
                    for (k, v) in archived.iter() {
                        K::__promises(k, out);
                        V::__promises(v, out);
                    }
                }
            }

            fn __serialize_root(&self, s: &mut crate::write::SaveSerializer<'_>) -> Result<usize, crate::Error> {
                let sorted = rkyv::with::With::<Self, crate::write::deterministic::Deterministic>::cast(self);
                rkyv::api::serialize_using::<_, crate::Error>(sorted, s)
            }
        }

        impl<K, H> Persist for $set<K, H>
        where
            K: Persist + StableHash + Hash + Eq,
            K::Archived: Hash + Eq,
            H: BuildHasher + Default + Send + Sync + 'static,
        {
            fn __describe(s: &mut SchemaBuilder) -> String {
                let name = format!("HashSet<{}>", s.of::<K>());
                s.relocatable::<Self>(name.clone(), crate::store::relocate::relocator::<Self>);
                format!("{name}[{}/{}]", size_of::<Self::Archived>(), align_of::<Self::Archived>())
            }
            fn __is_leaf() -> bool {
                is_leaf::<K>()
            }
            fn __is_flat() -> bool {
                false
            }
            fn __out_of_line(&self) -> usize {
                map_estimate(elements(self.iter(), self.len()))
            }
            fn __prepare<'a>(&'a self, out: &mut Vec<Pending<'a>>) {
                if !is_leaf::<K>() {
                    let keys = crate::write::deterministic::stable_sorted(self.iter(), |k| *k);
                    keys.into_iter().for_each(|k| k.__prepare(out));
                }
            }
            fn __promises<'a>(archived: &'a Self::Archived, out: &mut Vec<Prefetch<'a>>) {
                if !is_leaf::<K>() {
                    archived.iter().for_each(|k| K::__promises(k, out));
                }
            }

            fn __serialize_root(&self, s: &mut crate::write::SaveSerializer<'_>) -> Result<usize, crate::Error> {
                let sorted = rkyv::with::With::<Self, crate::write::deterministic::Deterministic>::cast(self);
                rkyv::api::serialize_using::<_, crate::Error>(sorted, s)
            }
        }
    };
}
#[cfg(feature = "hashbrown")]
pub(crate) use hash_collections;

hash_collections!(HashMap, HashSet);

/// Archived hash and B-tree maps spend about twice their entries' bytes.
pub(crate) fn map_estimate(entries: usize) -> usize {
    entries.saturating_mul(2)
}
