//! Inline hash maps and sets written in a fixed order, so that equal values give
//! identical bytes whatever their insertion history, hasher seed or host.
//!
//! The order is the keys' [stable hash](crate::hash) (the same encoding on every
//! platform), ties broken by the keys' archived bytes. rkyv builds its own hash table
//! from the entries in that order; the archived form is rkyv's.

use crate::Persist;
use crate::hash::{StableHash, stable_hash};
use rancor::{Fallible, Source};
use rkyv::Place;
use rkyv::with::{ArchiveWith, DeserializeWith, SerializeWith};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

/// Serializes a `HashMap` or `HashSet` with its entries in the stable order. Not part of
/// the public API.
#[derive(Debug)]
pub struct Deterministic;

/// `items` sorted by the stable hash of their keys; items whose keys hash alike are
/// ordered by the keys' archived bytes (a map or set holds no two equal keys).
pub(crate) fn stable_sorted<X, K: Persist + StableHash>(
    items: impl Iterator<Item = X>,
    key: impl Fn(&X) -> &K,
) -> Vec<X> {
    let mut keyed: Vec<(u64, X)> = items.map(|x| (stable_hash(key(&x)), x)).collect();
    keyed.sort_by_key(|(h, _)| *h);
    if keyed.windows(2).any(|w| matches!(w, [a, b] if a.0 == b.0)) {
        let bytes = |x: &X| super::serializer::archived_bytes(key(x)).map(|b| b.to_vec()).unwrap_or_default();
        keyed.sort_by_cached_key(|(h, x)| (*h, bytes(x)));
    }
    keyed.into_iter().map(|(_, x)| x).collect()
}

/// A map's entries in the stable order.
/// A map's entries in the stable order.
pub(crate) fn stable_entries<'a, K: Persist + StableHash + 'a, V: 'a>(
    entries: impl Iterator<Item = (&'a K, &'a V)>,
) -> Vec<(&'a K, &'a V)> {
    stable_sorted(entries, |(k, _)| *k)
}

/// The `Deterministic` impls for one crate's hash map and set types.
macro_rules! deterministic {
    ($map:ident, $set:ident) => {
        impl<K, V, H> ArchiveWith<$map<K, V, H>> for Deterministic
        where
            K: rkyv::Archive + Hash + Eq,
            K::Archived: Hash + Eq,
            V: rkyv::Archive,
        {
            type Archived = <$map<K, V, H> as rkyv::Archive>::Archived;
            type Resolver = <$map<K, V, H> as rkyv::Archive>::Resolver;

            fn resolve_with(field: &$map<K, V, H>, resolver: Self::Resolver, out: Place<Self::Archived>) {
                rkyv::Archive::resolve(field, resolver, out);
            }
        }

        impl<K, V, H, S> SerializeWith<$map<K, V, H>, S> for Deterministic
        where
            K: Persist + StableHash + rkyv::Serialize<S> + Hash + Eq,
            K::Archived: Hash + Eq,
            V: rkyv::Serialize<S>,
            S: Fallible + rkyv::ser::Writer + rkyv::ser::Allocator + ?Sized,
            S::Error: Source,
        {
            fn serialize_with(field: &$map<K, V, H>, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
                let entries = stable_entries(field.iter());
                rkyv::collections::swiss_table::ArchivedHashMap::<K::Archived, V::Archived>::serialize_from_iter::<
                    _,
                    _,
                    _,
                    K,
                    V,
                    _,
                >(entries.iter().copied(), (7, 8), serializer)
            }
        }

        impl<K, V, H, D> DeserializeWith<<$map<K, V, H> as rkyv::Archive>::Archived, $map<K, V, H>, D> for Deterministic
        where
            K: rkyv::Archive + Hash + Eq,
            K::Archived: rkyv::Deserialize<K, D> + Hash + Eq,
            V: rkyv::Archive,
            V::Archived: rkyv::Deserialize<V, D>,
            H: Default + BuildHasher,
            D: Fallible + ?Sized,
        {
            fn deserialize_with(
                field: &<$map<K, V, H> as rkyv::Archive>::Archived,
                deserializer: &mut D,
            ) -> Result<$map<K, V, H>, D::Error> {
                rkyv::Deserialize::deserialize(field, deserializer)
            }
        }

        impl<K, H> ArchiveWith<$set<K, H>> for Deterministic
        where
            K: rkyv::Archive + Hash + Eq,
            K::Archived: Hash + Eq,
        {
            type Archived = <$set<K, H> as rkyv::Archive>::Archived;
            type Resolver = <$set<K, H> as rkyv::Archive>::Resolver;

            fn resolve_with(field: &$set<K, H>, resolver: Self::Resolver, out: Place<Self::Archived>) {
                rkyv::Archive::resolve(field, resolver, out);
            }
        }

        impl<K, H, S> SerializeWith<$set<K, H>, S> for Deterministic
        where
            K: Persist + StableHash + rkyv::Serialize<S> + Hash + Eq,
            K::Archived: Hash + Eq,
            S: Fallible + rkyv::ser::Writer + rkyv::ser::Allocator + ?Sized,
            S::Error: Source,
        {
            fn serialize_with(field: &$set<K, H>, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
                let keys = stable_sorted(field.iter(), |k| *k);
                rkyv::collections::swiss_table::ArchivedHashSet::<K::Archived>::serialize_from_iter::<_, K, _>(
                    keys.iter().copied(),
                    (7, 8),
                    serializer,
                )
            }
        }

        impl<K, H, D> DeserializeWith<<$set<K, H> as rkyv::Archive>::Archived, $set<K, H>, D> for Deterministic
        where
            K: rkyv::Archive + Hash + Eq,
            K::Archived: rkyv::Deserialize<K, D> + Hash + Eq,
            H: Default + BuildHasher,
            D: Fallible + ?Sized,
        {
            fn deserialize_with(
                field: &<$set<K, H> as rkyv::Archive>::Archived,
                deserializer: &mut D,
            ) -> Result<$set<K, H>, D::Error> {
                rkyv::Deserialize::deserialize(field, deserializer)
            }
        }
    };
}
#[cfg(feature = "hashbrown")]
pub(crate) use deterministic;

deterministic!(HashMap, HashSet);
