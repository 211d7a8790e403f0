//! The [`Persist`] trait and its implementations for standard types.

use crate::parallel::{Pending, Prefetch, is_flat, is_leaf};
use crate::schema::SchemaBuilder;
use crate::ser::Saver;
use rkyv::bytecheck::CheckBytes;
use rkyv::{Archive, Deserialize, Portable, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

/// The validator strata runs over a chunk's bytes.
pub type Validator<'a> = rkyv::api::high::HighValidator<'a, crate::Error>;

/// The deserializer strata uses to turn archived values into owned ones.
pub type Loader = rkyv::api::high::HighDeserializer<crate::Error>;

/// A type that strata can store.
///
/// Derive it with `#[derive(Persist)]` on your structs and enums; it is implemented
/// for integers (except `usize`/`isize`, whose width differs between platforms: a
/// derived field of that type is stored as 64 bits), floats, `bool`, `char`, `()`,
/// `String`, `Vec`, `Option`, `Box`, arrays, tuples, `HashMap`, `BTreeMap`, `HashSet`
/// and `BTreeSet` of storable types.
///
/// The archived form of a `Persist` type (`Archived<T>`, named `ArchivedT` for derived
/// types) is what [`crate::Archive::root`] and [`crate::Promise::view`] hand out: a
/// zero-copy view whose inline fields are read in place and whose lazy fields are
/// [`crate::Promise`]s.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored by strata",
    label = "this type does not implement `strata::Persist`",
    note = "derive `strata::Persist` for it, or mark the field `#[strata(rkyv)]` to store it with its own rkyv implementation",
    note = "`usize` and `isize` are only accepted directly as a field's type (stored as 64 bits): use `u64`/`i64` inside containers"
)]
pub trait Persist:
    Archive<Archived: Portable + for<'a> CheckBytes<Validator<'a>> + Deserialize<Self, Loader> + Send + Sync + 'static>
    + for<'a> Serialize<Saver<'a>>
    + Sized
    + Send
    + Sync
    + 'static
{
    /// Describes the type for the schema and returns its type expression.
    #[doc(hidden)]
    fn __describe(s: &mut SchemaBuilder) -> String;

    /// Whether values of this type hold no chunk of their own; see
    /// [`crate::parallel::is_leaf`], which caches this answer.
    #[doc(hidden)]
    fn __is_leaf() -> bool {
        true
    }

    /// Whether the archived form has no out-of-line data; see
    /// [`crate::parallel::is_flat`], which caches this answer.
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

    /// Serializes `self` as the root of a chunk; returns the root's position.
    /// Overridden where the plain rkyv serialization is not deterministic.
    #[doc(hidden)]
    fn __serialize_root(&self, s: &mut crate::ser::SaveSerializer<'_>) -> Result<usize, crate::Error> {
        rkyv::api::serialize_using::<_, crate::Error>(self, s)
    }
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
fn elements<'a, T: Persist + 'a>(items: impl Iterator<Item = &'a T>, count: usize) -> usize {
    let inline = count.saturating_mul(size_of::<T::Archived>());
    if is_flat::<T>() { inline } else { items.fold(inline, |acc, v| acc.saturating_add(v.__out_of_line())) }
}

impl<T: Persist> Persist for Vec<T> {
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
        elements(self.iter(), self.len())
    }
    fn __raw_bytes(&self) -> Option<&[u8]> {
        T::__slice_bytes(self)
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
        format!(
            "BTreeMap<{}, {}>[{}/{}]",
            s.of::<K>(),
            s.of::<V>(),
            size_of::<Self::Archived>(),
            align_of::<Self::Archived>()
        )
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
        format!("BTreeSet<{}>[{}/{}]", s.of::<K>(), size_of::<Self::Archived>(), align_of::<Self::Archived>())
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

impl<K, V, H> Persist for HashMap<K, V, H>
where
    K: Persist + Hash + Eq,
    K::Archived: Hash + Eq,
    V: Persist,
    H: BuildHasher + Default + Send + Sync + 'static,
{
    fn __describe(s: &mut SchemaBuilder) -> String {
        format!(
            "HashMap<{}, {}>[{}/{}]",
            s.of::<K>(),
            s.of::<V>(),
            size_of::<Self::Archived>(),
            align_of::<Self::Archived>()
        )
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
            for (k, v) in crate::with::stable_entries(self) {
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

    fn __serialize_root(&self, s: &mut crate::ser::SaveSerializer<'_>) -> Result<usize, crate::Error> {
        let sorted = rkyv::with::With::<Self, crate::with::Deterministic>::cast(self);
        rkyv::api::serialize_using::<_, crate::Error>(sorted, s)
    }
}

impl<K, H> Persist for HashSet<K, H>
where
    K: Persist + Hash + Eq,
    K::Archived: Hash + Eq,
    H: BuildHasher + Default + Send + Sync + 'static,
{
    fn __describe(s: &mut SchemaBuilder) -> String {
        format!("HashSet<{}>[{}/{}]", s.of::<K>(), size_of::<Self::Archived>(), align_of::<Self::Archived>())
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
            let mut keys: Vec<&K> = self.iter().collect();
            keys.sort_by_cached_key(|k| crate::with::stable_order(*k));
            keys.into_iter().for_each(|k| k.__prepare(out));
        }
    }
    fn __promises<'a>(archived: &'a Self::Archived, out: &mut Vec<Prefetch<'a>>) {
        if !is_leaf::<K>() {
            archived.iter().for_each(|k| K::__promises(k, out));
        }
    }

    fn __serialize_root(&self, s: &mut crate::ser::SaveSerializer<'_>) -> Result<usize, crate::Error> {
        let sorted = rkyv::with::With::<Self, crate::with::Deterministic>::cast(self);
        rkyv::api::serialize_using::<_, crate::Error>(sorted, s)
    }
}

/// Archived hash and B-tree maps spend about twice their entries' bytes.
fn map_estimate(entries: usize) -> usize {
    entries.saturating_mul(2)
}
