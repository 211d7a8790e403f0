//! Moving a value stored in rkyv's own layout (an inline hash or B-tree map or set)
//! from a file chunk into a transcoded chunk.
//!
//! strata does not know such a value's archived layout, so the transcoder cannot copy
//! it field by field; the reading type does. A [`Relocator`], registered by the type
//! while its schema is described, moves it in rkyv's two steps, which the transcoder
//! interleaves with its own: [`Relocator::serialize`] validates and deserializes the
//! file's value and writes its out-of-line parts at the end of the output, and
//! [`Relocator::resolve`] writes its inline part where the parent's inline bytes reach
//! it. Only types that hold no chunk of their own are relocatable (their
//! serialization writes no chunk). The output is validated as the reader's type like
//! any chunk.

use super::validate;
use crate::Persist;
use crate::error::{Error, Location, Result};
use crate::format::meta::NO_PARENT;
use crate::write::serializer::ChunkBuf;
use rkyv::Archive;
use rkyv::rancor::Strategy;
use rkyv::ser::sharing::Share;
use rkyv::ser::{Positional, Serializer, WriterExt};
use rkyv::util::AlignedVec;
use std::any::Any;

/// A value moved halfway: deserialized, its out-of-line parts written.
pub(crate) struct Moved(Box<dyn Any + Send>);

/// How to move values of one type; see the module documentation.
#[derive(Clone, Copy)]
pub struct Relocator {
    serialize: fn(&[u8], usize, Location, u32, &mut AlignedVec<16>) -> Result<Moved>,
    resolve: fn(Moved, &mut AlignedVec<16>) -> Result<()>,
}

impl std::fmt::Debug for Relocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Relocator")
    }
}

/// A value of `T` and the resolver its serialization returned. Made only by
/// [`serialize`], so the resolver is always the one of serializing the value into the
/// output it is resolved into.
struct Parts<T: Archive> {
    value: T,
    resolver: T::Resolver,
}

impl Relocator {
    /// The relocator of `T`.
    pub(crate) fn of<T>() -> Self
    where
        T: Persist,
        T::Resolver: Send + 'static,
    {
        Self { serialize: serialize::<T>, resolve: resolve::<T> }
    }

    /// Validates the archived `T` at `pos` of `bytes` (a chunk at `at`), deserializes
    /// it, and writes its out-of-line parts at the end of `out`.
    ///
    /// # Errors
    /// When the bytes do not hold a valid value, or serializing it fails.
    pub(crate) fn serialize(
        &self,
        bytes: &[u8],
        pos: u64,
        at: Location,
        max_depth: u32,
        out: &mut AlignedVec<16>,
    ) -> Result<Moved> {
        let pos = usize::try_from(pos).map_err(|_| Error::InvalidData {
            at,
            ty: "relocated value",
            detail: format!("position {pos} out of range"),
        })?;
        (self.serialize)(bytes, pos, at, max_depth, out)
    }

    /// Writes the inline part of a value [`serialize`](Self::serialize) moved into
    /// `out`, at its end (which must be aligned for it).
    ///
    /// # Errors
    /// When `out` is not aligned for the value, or `moved` is another type's.
    pub(crate) fn resolve(&self, moved: Moved, out: &mut AlignedVec<16>) -> Result<()> {
        (self.resolve)(moved, out)
    }
}

fn serialize<T>(bytes: &[u8], pos: usize, at: Location, max_depth: u32, out: &mut AlignedVec<16>) -> Result<Moved>
where
    T: Persist,
    T::Resolver: Send + 'static,
{
    let archived = validate::<T::Archived>(bytes, Some(pos), at, max_depth)?;
    let value = crate::load::deserialize::<T>(archived)?;
    let taken = std::mem::take(out);
    let (buf, resolver) = rkyv::util::with_arena(|arena| {
        let mut ser = Serializer::new(ChunkBuf::new(taken, None, NO_PARENT), arena.acquire(), Share::new());
        let resolver = rkyv::Serialize::serialize(&value, Strategy::<_, Error>::wrap(&mut ser));
        (ser.into_writer().bytes, resolver)
    });
    *out = buf;
    Ok(Moved(Box::new(Parts { value, resolver: resolver? })))
}

fn resolve<T>(moved: Moved, out: &mut AlignedVec<16>) -> Result<()>
where
    T: Persist,
    T::Resolver: Send + 'static,
{
    let parts = moved
        .0
        .downcast::<Parts<T>>()
        .map_err(|_| Error::Message(String::from("internal: a relocated value resolved as another type")))?;
    let Parts { value, resolver } = *parts;
    let align = align_of::<T::Archived>();
    if !Positional::pos(out).is_multiple_of(align) {
        return Err(Error::Message(String::from("internal: a relocated value placed unaligned")));
    }
    // SAFETY: `resolver` is the result of serializing `value` (a `Parts` is made only
    // by `serialize`, which does so into the output the transcoder resolves into), and
    // the end of `out` is aligned for `T::Archived` (checked above).
    unsafe { WriterExt::<Error>::resolve_aligned(out, &value, resolver) }?;
    // The value may nest deep: dropped on a stack made for it.
    crate::deep::discard(value);
    Ok(())
}
