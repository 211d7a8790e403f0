//! [`Persist`] for standard types beyond the basics of `persist.rs`: durations, ranges,
//! non-zero integers, `VecDeque`, `Box<[T]>`, `Box<str>`, `Arc<T>`, `Arc<[T]>`,
//! `Arc<str>`, their `Rc` forms, `PhantomData` and the network addresses. Each is
//! stored as rkyv archives it and described in schemas by the shape of that archived
//! form: as the expression of a type with the very same layout
//! (`VecDeque<T>`, `Box<[T]>` and `Arc<[T]>` as `Vec<T>`, `NonZeroU32` as `u32`, `Arc<T>`
//! and `Rc<T>` as `Box<T>`), or as a named struct or enum (`std_Duration`, `std_Range<T>`,
//! `std_IpAddr`, ...) whose fields and offsets are rkyv's. Evolution, `strata dump` and
//! every tool then read them with no knowledge of the type, and a file written with one
//! of two same-layout types reads with the other.
//!
//! An `Arc<T>` or `Rc<T>` nested in another type (an inline map's values, a tuple) is
//! stored once per chunk however many times the chunk refers to it, and comes back
//! shared (`Arc::ptr_eq`) within that chunk. A field of type `Arc<T>`, `Vec<Arc<T>>`
//! (sharded or not), `Option<Arc<T>>` or a bucketed map of `Arc<T>` values, or their
//! `Rc` forms where they apply, is shared across the whole archive instead (see
//! `shared`).

use crate::load::Prefetch;
use crate::persist::{Persist, is_flat, is_leaf, sequence};
use crate::schema::{SchemaBuilder, variant_offsets};
use crate::write::leaves::Pending;
use rkyv::Archived;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::{Range, RangeInclusive};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// A struct definition in schema text: `struct size 16 align 8 { secs @0: u64, .. }`.
fn struct_def<A>(fields: &[(&str, usize, String)]) -> String {
    let parts: Vec<String> = fields.iter().map(|(name, at, ty)| format!("{name} @{at}: {ty}")).collect();
    format!("struct size {} align {} {{ {} }}", size_of::<A>(), align_of::<A>(), parts.join(", "))
}

/// An enum of one-field tuple variants in schema text, with rkyv's `repr(u8)` layout.
fn enum_def<A>(variants: &[(&str, (usize, usize), String)]) -> String {
    let parts: Vec<String> = variants
        .iter()
        .map(|(name, size_align, ty)| {
            let at = variant_offsets(&[*size_align]).first().copied().unwrap_or(0);
            format!("{name}(@{at}: {ty})")
        })
        .collect();
    format!("enum size {} align {} {{ {} }}", size_of::<A>(), align_of::<A>(), parts.join(", "))
}

fn layout_of<A>() -> (usize, usize) {
    (size_of::<A>(), align_of::<A>())
}

impl Persist for Duration {
    fn __describe(s: &mut SchemaBuilder) -> String {
        // rkyv's `ArchivedDuration`: `repr(C)` whole seconds, then nanoseconds.
        const _: () = assert!(size_of::<Archived<Duration>>() == 16 && align_of::<Archived<Duration>>() == 8);
        s.named(String::from("std_Duration"), |_, _| {
            struct_def::<Archived<Duration>>(&[("secs", 0, String::from("u64")), ("nanos", 8, String::from("u32"))])
        })
    }
}

macro_rules! range {
    ($ty:ident, $archived:ident, $name:literal) => {
        impl<T: Persist> Persist for $ty<T> {
            fn __describe(s: &mut SchemaBuilder) -> String {
                let inner = s.of::<T>();
                s.named(format!("{}<{inner}>", $name), |_, _| {
                    struct_def::<rkyv::ops::$archived<Archived<T>>>(&[
                        ("start", std::mem::offset_of!(rkyv::ops::$archived<Archived<T>>, start), inner.clone()),
                        ("end", std::mem::offset_of!(rkyv::ops::$archived<Archived<T>>, end), inner.clone()),
                    ])
                })
            }
            fn __is_leaf() -> bool {
                is_leaf::<T>()
            }
            fn __is_flat() -> bool {
                is_flat::<T>()
            }
            fn __out_of_line(&self) -> usize {
                self.start().__out_of_line().saturating_add(self.end().__out_of_line())
            }
            fn __prepare<'a>(&'a self, out: &mut Vec<Pending<'a>>) {
                self.start().__prepare(out);
                self.end().__prepare(out);
            }
            fn __promises<'a>(archived: &'a Self::Archived, out: &mut Vec<Prefetch<'a>>) {
                T::__promises(&archived.start, out);
                T::__promises(&archived.end, out);
            }
        }
    };
}

/// `start()`/`end()` for both range types.
trait Bounds<T> {
    fn start(&self) -> &T;
    fn end(&self) -> &T;
}
impl<T> Bounds<T> for Range<T> {
    fn start(&self) -> &T {
        &self.start
    }
    fn end(&self) -> &T {
        &self.end
    }
}
impl<T> Bounds<T> for RangeInclusive<T> {
    fn start(&self) -> &T {
        RangeInclusive::start(self)
    }
    fn end(&self) -> &T {
        RangeInclusive::end(self)
    }
}

range!(Range, ArchivedRange, "std_Range");
range!(RangeInclusive, ArchivedRangeInclusive, "std_RangeInclusive");

macro_rules! non_zero {
    ($($t:ty => $name:literal),* $(,)?) => {$(
        impl Persist for $t {
            fn __describe(_: &mut SchemaBuilder) -> String {
                // The integer's own layout; a zero is refused when the value is validated.
                const _: () = assert!(size_of::<Archived<$t>>() == size_of::<$t>());
                String::from($name)
            }
        }
    )*};
}

non_zero! {
    std::num::NonZeroU8 => "u8", std::num::NonZeroU16 => "u16", std::num::NonZeroU32 => "u32",
    std::num::NonZeroU64 => "u64", std::num::NonZeroU128 => "u128",
    std::num::NonZeroI8 => "i8", std::num::NonZeroI16 => "i16", std::num::NonZeroI32 => "i32",
    std::num::NonZeroI64 => "i64", std::num::NonZeroI128 => "i128",
}

// rkyv archives a `VecDeque<T>` as an `ArchivedVec`; its `ArchivedBox<[T]>` and
// `ArchivedRc<[T]>` are a relative pointer and a 32-bit length, as an `ArchivedVec<T>`
// is, over the same elements: all have a `Vec<T>`'s layout. An `Arc<[T]>` is stored
// once per chunk, as an `Arc<T>` is.
sequence!(VecDeque<T>);
sequence!(Box<[T]>);
sequence!(Arc<[T]>);
sequence!(Rc<[T]>);
const _: () = assert!(size_of::<Archived<Box<[u64]>>>() == size_of::<Archived<Vec<u64>>>());
const _: () = assert!(size_of::<Archived<Arc<[u64]>>>() == size_of::<Archived<Vec<u64>>>());

// rkyv's `ArchivedRc<T>` is a relative pointer to the value, as an `ArchivedBox<T>` is:
// a `Box<T>`'s layout.
const _: () = assert!(size_of::<Archived<Arc<u64>>>() == size_of::<Archived<Box<u64>>>());
const _: () = assert!(size_of::<Archived<Rc<u64>>>() == size_of::<Archived<Box<u64>>>());

macro_rules! shared_pointer {
    ($($ptr:ident),*) => {$(
        impl<T: Persist> Persist for $ptr<T> {
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
                crate::persist::elements(std::iter::once(&**self), 1)
            }
            // No `__prepare`: a shared value is serialized once, at its first reference,
            // and its lazy fields are written then; listing them ahead would list them
            // once per reference.
            fn __promises<'a>(archived: &'a Self::Archived, out: &mut Vec<Prefetch<'a>>) {
                T::__promises(archived.get(), out);
            }
        }
    )*};
}
shared_pointer!(Arc, Rc);

// rkyv's `ArchivedBox<str>` and `ArchivedRc<str>` are a relative pointer and a 32-bit
// length: described as `Box<str>` (schema `Ty::Str`). An `Arc<str>` is stored once per
// chunk, as an `Arc<T>` is.
const _: () = assert!(size_of::<Archived<Box<str>>>() == 8 && align_of::<Archived<Box<str>>>() == 4);
const _: () = assert!(size_of::<Archived<Arc<str>>>() == 8 && align_of::<Archived<Arc<str>>>() == 4);
const _: () = assert!(size_of::<Archived<Rc<str>>>() == 8 && align_of::<Archived<Rc<str>>>() == 4);

macro_rules! boxed_str {
    ($($ty:ty),*) => {$(
        impl Persist for $ty {
            fn __describe(_: &mut SchemaBuilder) -> String {
                String::from("Box<str>")
            }
            fn __is_flat() -> bool {
                false
            }
            fn __out_of_line(&self) -> usize {
                self.len()
            }
        }
    )*};
}
boxed_str!(Box<str>, Arc<str>, Rc<str>);

impl<T: Send + Sync + 'static> Persist for PhantomData<T> {
    fn __describe(_: &mut SchemaBuilder) -> String {
        String::from("()")
    }
}

impl Persist for Ipv4Addr {
    fn __describe(s: &mut SchemaBuilder) -> String {
        // rkyv's `ArchivedIpv4Addr`: the four octets, `repr(transparent)`.
        const _: () = assert!(size_of::<Archived<Ipv4Addr>>() == 4);
        s.named(String::from("std_Ipv4Addr"), |_, _| {
            struct_def::<Archived<Ipv4Addr>>(&[("octets", 0, String::from("[u8; 4]"))])
        })
    }
}

impl Persist for Ipv6Addr {
    fn __describe(s: &mut SchemaBuilder) -> String {
        const _: () = assert!(size_of::<Archived<Ipv6Addr>>() == 16);
        s.named(String::from("std_Ipv6Addr"), |_, _| {
            struct_def::<Archived<Ipv6Addr>>(&[("octets", 0, String::from("[u8; 16]"))])
        })
    }
}

impl Persist for IpAddr {
    fn __describe(s: &mut SchemaBuilder) -> String {
        let (v4, v6) = (s.of::<Ipv4Addr>(), s.of::<Ipv6Addr>());
        s.named(String::from("std_IpAddr"), |_, _| {
            enum_def::<Archived<IpAddr>>(&[
                ("V4", layout_of::<Archived<Ipv4Addr>>(), v4.clone()),
                ("V6", layout_of::<Archived<Ipv6Addr>>(), v6.clone()),
            ])
        })
    }
}

impl Persist for SocketAddrV4 {
    fn __describe(s: &mut SchemaBuilder) -> String {
        // rkyv's `ArchivedSocketAddrV4`: `repr(C)` address, then port.
        const _: () = assert!(size_of::<Archived<SocketAddrV4>>() == 6);
        let ip = s.of::<Ipv4Addr>();
        s.named(String::from("std_SocketAddrV4"), |_, _| {
            struct_def::<Archived<SocketAddrV4>>(&[("ip", 0, ip.clone()), ("port", 4, String::from("u16"))])
        })
    }
}

impl Persist for SocketAddrV6 {
    fn __describe(s: &mut SchemaBuilder) -> String {
        // rkyv's `ArchivedSocketAddrV6`: `repr(C)` address, port, flow info, scope id.
        const _: () = assert!(size_of::<Archived<SocketAddrV6>>() == 28);
        let ip = s.of::<Ipv6Addr>();
        s.named(String::from("std_SocketAddrV6"), |_, _| {
            struct_def::<Archived<SocketAddrV6>>(&[
                ("ip", 0, ip.clone()),
                ("port", 16, String::from("u16")),
                ("flowinfo", 20, String::from("u32")),
                ("scope_id", 24, String::from("u32")),
            ])
        })
    }
}

impl Persist for SocketAddr {
    fn __describe(s: &mut SchemaBuilder) -> String {
        let (v4, v6) = (s.of::<SocketAddrV4>(), s.of::<SocketAddrV6>());
        s.named(String::from("std_SocketAddr"), |_, _| {
            enum_def::<Archived<SocketAddr>>(&[
                ("V4", layout_of::<Archived<SocketAddrV4>>(), v4.clone()),
                ("V6", layout_of::<Archived<SocketAddrV6>>(), v6.clone()),
            ])
        })
    }
}
