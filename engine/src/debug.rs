//! Helpers for the `Debug` impls the derive writes for archived types. Not part of the
//! public API.
//!
//! A field whose archived type implements `Debug` is printed with it; any other field
//! (possible with `#[strata(rkyv)]`) prints as `..`. The choice is made at the field's
//! concrete type by method resolution (autoref dispatch): `(&&Field(x)).strata_fmt(f)`
//! finds [`ViaDebug`] on `&Field<T>` first when `T: Debug`, and falls back to
//! [`ViaOpaque`] on `Field<T>` otherwise.

use std::fmt;

/// A field being printed.
pub struct Field<'a, T: ?Sized>(pub &'a T);

/// Prints a field with its `Debug` impl.
pub trait ViaDebug {
    /// Formats the field.
    ///
    /// # Errors
    /// The formatter's errors.
    fn strata_fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<T: fmt::Debug + ?Sized> ViaDebug for &Field<'_, T> {
    fn strata_fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

/// Prints a field without a `Debug` impl as `..`.
pub trait ViaOpaque {
    /// Formats the field.
    ///
    /// # Errors
    /// The formatter's errors.
    fn strata_fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<T: ?Sized> ViaOpaque for Field<'_, T> {
    fn strata_fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("..")
    }
}

/// A `Debug` value made of a closure.
pub struct Shown<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result>(pub F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Debug for Shown<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}
