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
use crate::schema::{Moved, Relocator};
use crate::write::serializer::ChunkBuf;
use rkyv::Archive;
use rkyv::rancor::Strategy;
use rkyv::ser::sharing::Share;
use rkyv::ser::{Positional, Serializer, WriterExt};
use rkyv::util::AlignedVec;

/// A value of `T` and the resolver its serialization returned. Made only by
/// [`serialize`], so the resolver is always the one of serializing the value into the
/// output it is resolved into.
struct Parts<T: Archive> {
    value: T,
    resolver: T::Resolver,
}

/// The relocator of `T`.
pub(crate) fn relocator<T>() -> Relocator
where
    T: Persist,
    T::Resolver: Send + 'static,
{
    Relocator { serialize: serialize::<T>, resolve: resolve::<T> }
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
