//! Fields stored as another type's archived form: the `with`-wrappers the derive puts on
//! standard types rkyv does not archive (`Wrapping<T>` and `Reverse<T>` as `T`,
//! `BinaryHeap<T>` and `LinkedList<T>` as `Vec<T>`; `Cow<'static, str>` and
//! `Cow<'static, [T]>` use rkyv's `AsOwned`, as `String` and `Vec<T>`), and [`Via`], for
//! a field marked `#[strata(via = "U")]`. Like `usize`, the standard ones are recognised
//! by name as a field's type, or inside an `Option` or a `Vec`. Not part of the public
//! API.
//!
//! The archived form is the stored type's own, so the schema describes the field as
//! that type: evolution, `strata dump` and views read it as one, and a file written with
//! a `Vec<T>` reads as a `BinaryHeap<T>`.

use crate::Persist;
use crate::persist::{elements, is_flat};
use rancor::Fallible;
use rkyv::rancor::Source;
use rkyv::ser::{Allocator, Writer};
use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::with::{ArchiveWith, DeserializeWith, SerializeWith};
use rkyv::{Archive, Deserialize, Place, Serialize};
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, LinkedList};
use std::num::Wrapping;

/// A type the derive stores as [`StoredAs::Stored`]'s archived form.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored by strata",
    note = "for `arrayvec::ArrayVec`, enable strata's `arrayvec` feature"
)]
pub trait StoredAs {
    /// The `Persist` type whose archived form (and schema) the field has.
    type Stored: Persist;
    /// [`Persist::__out_of_line`] of the value as stored.
    fn __stored_out_of_line(&self) -> usize;
}

impl<T: Persist> StoredAs for Wrapping<T> {
    type Stored = T;
    fn __stored_out_of_line(&self) -> usize {
        self.0.__out_of_line()
    }
}

impl<T: Persist> StoredAs for Reverse<T> {
    type Stored = T;
    fn __stored_out_of_line(&self) -> usize {
        self.0.__out_of_line()
    }
}

impl<T: Persist + Ord> StoredAs for BinaryHeap<T> {
    type Stored = Vec<T>;
    fn __stored_out_of_line(&self) -> usize {
        elements(self.iter(), self.len())
    }
}

impl<T: Persist> StoredAs for LinkedList<T> {
    type Stored = Vec<T>;
    fn __stored_out_of_line(&self) -> usize {
        elements(self.iter(), self.len())
    }
}

impl StoredAs for Cow<'static, str> {
    type Stored = String;
    fn __stored_out_of_line(&self) -> usize {
        // rkyv stores strings of up to 8 bytes inline.
        if self.len() > 8 { self.len() } else { 0 }
    }
}

impl<T: Persist + Clone> StoredAs for Cow<'static, [T]> {
    type Stored = Vec<T>;
    fn __stored_out_of_line(&self) -> usize {
        elements(self.iter(), self.len())
    }
}

impl<T: StoredAs> StoredAs for Option<T> {
    type Stored = Option<T::Stored>;
    fn __stored_out_of_line(&self) -> usize {
        self.as_ref().map_or(0, StoredAs::__stored_out_of_line)
    }
}

impl<T: StoredAs> StoredAs for Vec<T> {
    type Stored = Vec<T::Stored>;
    fn __stored_out_of_line(&self) -> usize {
        let inline = self.len().saturating_mul(size_of::<rkyv::Archived<T::Stored>>());
        self.iter().fold(inline, |acc, v| acc.saturating_add(v.__stored_out_of_line()))
    }
}

/// Stores a `Wrapping<T>` or a `Reverse<T>` as the `T` inside.
#[derive(Debug)]
pub struct AsInner;

macro_rules! as_inner {
    ($($ty:ident),*) => {$(
        impl<T: Archive> ArchiveWith<$ty<T>> for AsInner {
            type Archived = T::Archived;
            type Resolver = T::Resolver;

            fn resolve_with(field: &$ty<T>, resolver: T::Resolver, out: Place<T::Archived>) {
                field.0.resolve(resolver, out);
            }
        }

        impl<T: Serialize<S>, S: Fallible + ?Sized> SerializeWith<$ty<T>, S> for AsInner {
            fn serialize_with(field: &$ty<T>, serializer: &mut S) -> Result<T::Resolver, S::Error> {
                field.0.serialize(serializer)
            }
        }

        impl<T, D> DeserializeWith<T::Archived, $ty<T>, D> for AsInner
        where
            T: Archive,
            T::Archived: Deserialize<T, D>,
            D: Fallible + ?Sized,
        {
            fn deserialize_with(field: &T::Archived, deserializer: &mut D) -> Result<$ty<T>, D::Error> {
                field.deserialize(deserializer).map($ty)
            }
        }
    )*};
}
as_inner!(Wrapping, Reverse);

/// Stores a `BinaryHeap<T>` (in its internal order, which loading keeps), a
/// `LinkedList<T>` or an `arrayvec::ArrayVec<T, N>` as a `Vec<T>`.
#[derive(Debug)]
pub struct AsVec;

/// The collections [`AsVec`] stores.
pub trait Sequence: Sized {
    /// The element type.
    type Item;
    /// The number of elements.
    fn len(&self) -> usize;
    /// The elements, in the order they are stored.
    fn serialize_elements<S>(&self, serializer: &mut S) -> Result<VecResolver, S::Error>
    where
        Self::Item: Serialize<S>,
        S: Fallible + Allocator + Writer + ?Sized;
    /// The collection of `items`, in stored order; an error when the collection cannot
    /// hold them (an `ArrayVec` of smaller capacity).
    ///
    /// # Errors
    /// What the collection refused.
    fn from_elements(items: Vec<Self::Item>) -> Result<Self, String>;
}

impl<T: Ord> Sequence for BinaryHeap<T> {
    type Item = T;
    fn len(&self) -> usize {
        BinaryHeap::len(self)
    }
    fn serialize_elements<S>(&self, serializer: &mut S) -> Result<VecResolver, S::Error>
    where
        T: Serialize<S>,
        S: Fallible + Allocator + Writer + ?Sized,
    {
        ArchivedVec::serialize_from_slice(self.as_slice(), serializer)
    }
    fn from_elements(items: Vec<T>) -> Result<Self, String> {
        // Rebuilding a valid heap moves nothing: the internal order comes back as saved.
        Ok(BinaryHeap::from(items))
    }
}

impl<T> Sequence for LinkedList<T> {
    type Item = T;
    fn len(&self) -> usize {
        LinkedList::len(self)
    }
    fn serialize_elements<S>(&self, serializer: &mut S) -> Result<VecResolver, S::Error>
    where
        T: Serialize<S>,
        S: Fallible + Allocator + Writer + ?Sized,
    {
        ArchivedVec::serialize_from_iter::<T, _, _>(self.iter(), serializer)
    }
    fn from_elements(items: Vec<T>) -> Result<Self, String> {
        Ok(items.into_iter().collect())
    }
}

impl<C: Sequence<Item: Archive>> ArchiveWith<C> for AsVec {
    type Archived = ArchivedVec<rkyv::Archived<C::Item>>;
    type Resolver = VecResolver;

    fn resolve_with(field: &C, resolver: VecResolver, out: Place<Self::Archived>) {
        ArchivedVec::resolve_from_len(field.len(), resolver, out);
    }
}

impl<C, S> SerializeWith<C, S> for AsVec
where
    C: Sequence<Item: Serialize<S>>,
    S: Fallible + Allocator + Writer + ?Sized,
{
    fn serialize_with(field: &C, serializer: &mut S) -> Result<VecResolver, S::Error> {
        field.serialize_elements(serializer)
    }
}

impl<C, D> DeserializeWith<ArchivedVec<rkyv::Archived<C::Item>>, C, D> for AsVec
where
    C: Sequence<Item: Archive<Archived: Deserialize<C::Item, D>>>,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &ArchivedVec<rkyv::Archived<C::Item>>, deserializer: &mut D) -> Result<C, D::Error> {
        let items = field.iter().map(|v| v.deserialize(deserializer)).collect::<Result<Vec<C::Item>, _>>()?;
        C::from_elements(items).map_err(|e| D::Error::new(crate::Error::Message(e)))
    }
}

/// Stores a field of a type `T` that is not `Persist` as `U` (`#[strata(via = "U")]`):
/// saving converts a clone of the value into a `U` (`T: Clone + Into<U>`), loading
/// converts the `U` back (`U: Into<T>`).
#[derive(Debug)]
pub struct Via<U>(std::marker::PhantomData<U>);

/// The converted value and its resolver.
pub struct ViaResolver<U: Archive> {
    value: U,
    resolver: U::Resolver,
}

impl<T, U: Archive> ArchiveWith<T> for Via<U> {
    type Archived = U::Archived;
    type Resolver = ViaResolver<U>;

    fn resolve_with(_: &T, resolver: ViaResolver<U>, out: Place<U::Archived>) {
        resolver.value.resolve(resolver.resolver, out);
    }
}

impl<T, U, S> SerializeWith<T, S> for Via<U>
where
    T: Clone + Into<U>,
    U: Serialize<S>,
    S: Fallible + ?Sized,
{
    fn serialize_with(field: &T, serializer: &mut S) -> Result<ViaResolver<U>, S::Error> {
        let value: U = field.clone().into();
        let resolver = value.serialize(serializer)?;
        Ok(ViaResolver { value, resolver })
    }
}

impl<T, U, D> DeserializeWith<U::Archived, T, D> for Via<U>
where
    U: Archive + Into<T>,
    U::Archived: Deserialize<U, D>,
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &U::Archived, deserializer: &mut D) -> Result<T, D::Error> {
        field.deserialize(deserializer).map(Into::into)
    }
}

/// [`Persist::__out_of_line`] of a `via` field: the converted value's, computed only
/// when the stored type has out-of-line bytes at all.
#[must_use]
pub fn via_out_of_line<T: Clone + Into<U>, U: Persist>(value: &T) -> usize {
    if is_flat::<U>() { 0 } else { value.clone().into().__out_of_line() }
}
