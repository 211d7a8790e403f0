//! [`Persist`] for types of other crates, each behind the engine's cargo feature of the
//! crate's name. Each is stored as rkyv archives it and described by a type of the same
//! layout, so files read across them: `uuid::Uuid` as `[u8; 16]`, `smallvec::SmallVec`
//! as `Vec<T>`, `bytes::Bytes` as `Vec<u8>`, `hashbrown`'s maps and sets as std's, and
//! `indexmap`'s as opaque maps of their own. `arrayvec::ArrayVec` goes through the
//! derive (see `with_stored`), whose loading refuses more elements than it holds.

#[cfg(feature = "uuid")]
mod uuid_impl {
    use crate::hash::{StableHash, StableHasher};
    use crate::persist::Persist;
    use crate::schema::SchemaBuilder;

    // rkyv archives a `Uuid` as itself: its 16 bytes, as a `[u8; 16]` is archived.
    const _: () = assert!(size_of::<rkyv::Archived<uuid::Uuid>>() == 16);
    const _: () = assert!(align_of::<rkyv::Archived<uuid::Uuid>>() == 1);

    impl Persist for uuid::Uuid {
        fn __describe(_: &mut SchemaBuilder) -> String {
            String::from("[u8; 16]")
        }
    }

    impl StableHash for uuid::Uuid {
        fn stable_hash(&self, h: &mut StableHasher) {
            self.as_bytes().stable_hash(h);
        }
    }
}

#[cfg(feature = "smallvec")]
mod smallvec_impl {
    use crate::load::Prefetch;
    use crate::persist::{Persist, elements, is_leaf};
    use crate::schema::SchemaBuilder;
    use crate::write::leaves::Pending;
    use smallvec::{Array, SmallVec};

    // rkyv archives a `SmallVec<A>` as an `ArchivedVec` of its items.
    impl<A> Persist for SmallVec<A>
    where
        A: Array<Item: Persist> + Send + Sync + 'static,
    {
        fn __describe(s: &mut SchemaBuilder) -> String {
            format!("Vec<{}>", s.of::<A::Item>())
        }
        fn __is_leaf() -> bool {
            is_leaf::<A::Item>()
        }
        fn __is_flat() -> bool {
            false
        }
        fn __out_of_line(&self) -> usize {
            elements(self.iter(), self.len())
        }
        fn __count(&self) -> Option<u64> {
            Some(self.len() as u64)
        }
        fn __archived_count(archived: &Self::Archived) -> Option<u64> {
            Some(archived.len() as u64)
        }
        fn __prepare<'a>(&'a self, out: &mut Vec<Pending<'a>>) {
            if !is_leaf::<A::Item>() {
                self.iter().for_each(|v| v.__prepare(out));
            }
        }
        fn __promises<'a>(archived: &'a Self::Archived, out: &mut Vec<Prefetch<'a>>) {
            if !is_leaf::<A::Item>() {
                archived.iter().for_each(|v| A::Item::__promises(v, out));
            }
        }
    }
}

#[cfg(feature = "bytes")]
mod bytes_impl {
    use crate::hash::{StableHash, StableHasher};
    use crate::persist::Persist;
    use crate::schema::SchemaBuilder;

    // rkyv archives `Bytes` as an `ArchivedVec<u8>`.
    impl Persist for bytes::Bytes {
        fn __describe(_: &mut SchemaBuilder) -> String {
            String::from("Vec<u8>")
        }
        fn __is_flat() -> bool {
            false
        }
        fn __out_of_line(&self) -> usize {
            self.len()
        }
        fn __count(&self) -> Option<u64> {
            Some(self.len() as u64)
        }
        fn __archived_count(archived: &Self::Archived) -> Option<u64> {
            Some(archived.len() as u64)
        }
    }

    impl StableHash for bytes::Bytes {
        fn stable_hash(&self, h: &mut StableHasher) {
            self[..].stable_hash(h);
        }
    }
}

#[cfg(feature = "arrayvec")]
mod arrayvec_impl {
    use crate::persist::{Persist, elements};
    use crate::with_stored::{Sequence, StoredAs};
    use arrayvec::ArrayVec;
    use rkyv::rancor::Fallible;
    use rkyv::ser::{Allocator, Writer};
    use rkyv::vec::{ArchivedVec, VecResolver};

    impl<T: Persist, const N: usize> StoredAs for ArrayVec<T, N> {
        type Stored = Vec<T>;
        fn __stored_out_of_line(&self) -> usize {
            elements(self.iter(), self.len())
        }
    }

    impl<T, const N: usize> Sequence for ArrayVec<T, N> {
        type Item = T;
        fn len(&self) -> usize {
            ArrayVec::len(self)
        }
        fn serialize_elements<S>(&self, serializer: &mut S) -> Result<VecResolver, S::Error>
        where
            T: rkyv::Serialize<S>,
            S: Fallible + Allocator + Writer + ?Sized,
        {
            ArchivedVec::serialize_from_slice(self.as_slice(), serializer)
        }
        fn from_elements(items: Vec<T>) -> Result<Self, String> {
            let stored = items.len();
            let mut out = ArrayVec::new();
            for item in items {
                out.try_push(item)
                    .map_err(|_| format!("a stored vector of {stored} elements does not fit an ArrayVec of {N}"))?;
            }
            Ok(out)
        }
    }
}

#[cfg(feature = "indexmap")]
mod indexmap_impl {
    use crate::hash::StableHash;
    use crate::load::Prefetch;
    use crate::persist::{Persist, elements, is_leaf};
    use crate::schema::SchemaBuilder;
    use crate::write::leaves::Pending;
    use indexmap::{IndexMap, IndexSet};
    use std::hash::{BuildHasher, Hash};

    // rkyv archives them as `ArchivedIndexMap`/`ArchivedIndexSet`, in insertion order
    // (a save is deterministic for a given order): opaque maps of their own in schemas.
    impl<K, V, H> Persist for IndexMap<K, V, H>
    where
        K: Persist + StableHash + Hash + Eq,
        V: Persist,
        H: BuildHasher + Default + Send + Sync + 'static,
    {
        fn __describe(s: &mut SchemaBuilder) -> String {
            let name = format!("IndexMap<{}, {}>", s.of::<K>(), s.of::<V>());
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
            elements(self.keys(), self.len()).saturating_add(elements(self.values(), self.len())).saturating_mul(2)
        }
        fn __prepare<'a>(&'a self, out: &mut Vec<Pending<'a>>) {
            if !Self::__is_leaf() {
                for (k, v) in self {
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
    }

    impl<K, H> Persist for IndexSet<K, H>
    where
        K: Persist + StableHash + Hash + Eq,
        H: BuildHasher + Default + Send + Sync + 'static,
    {
        fn __describe(s: &mut SchemaBuilder) -> String {
            let name = format!("IndexSet<{}>", s.of::<K>());
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
            elements(self.iter(), self.len()).saturating_mul(2)
        }
        fn __prepare<'a>(&'a self, out: &mut Vec<Pending<'a>>) {
            if !is_leaf::<K>() {
                self.iter().for_each(|k| k.__prepare(out));
            }
        }
        fn __promises<'a>(archived: &'a Self::Archived, out: &mut Vec<Prefetch<'a>>) {
            if !is_leaf::<K>() {
                archived.iter().for_each(|k| K::__promises(k, out));
            }
        }
    }
}

#[cfg(feature = "hashbrown")]
mod hashbrown_impl {
    use crate::hash::StableHash;
    use crate::load::Prefetch;
    use crate::map::MapLike;
    use crate::persist::{Persist, elements, is_leaf, map_estimate};
    use crate::schema::SchemaBuilder;
    use crate::write::deterministic::{Deterministic, stable_entries, stable_sorted};
    use crate::write::leaves::Pending;
    use hashbrown::{HashMap, HashSet};
    use rancor::{Fallible, Source};
    use rkyv::Place;
    use rkyv::with::{ArchiveWith, DeserializeWith, SerializeWith};
    use std::hash::{BuildHasher, Hash};

    // The same archived forms and schema text as std's maps and sets, in the same
    // stable order.
    crate::persist::hash_collections!(HashMap, HashSet);
    crate::write::deterministic::deterministic!(HashMap, HashSet);

    crate::map::hash_map_like!(HashMap, HashSet);
}
