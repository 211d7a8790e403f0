//! What a type registers, while its schema is described, for moving its values from a
//! file chunk into a transcoded one (see `store::relocate`, which makes it).

use crate::error::{Error, Location, Result};
use rkyv::util::AlignedVec;
use std::any::Any;

/// A value moved halfway: deserialized, its out-of-line parts written.
pub(crate) struct Moved(pub(crate) Box<dyn Any>);

/// How to move values of one type stored in rkyv's own layout (an inline map or set)
/// into a transcoded chunk; made by `store::relocate` for each such type while its
/// schema is described.
#[derive(Clone, Copy)]
pub struct Relocator {
    pub(crate) serialize: fn(&[u8], usize, Location, u32, &mut AlignedVec<16>) -> Result<Moved>,
    pub(crate) resolve: fn(Moved, &mut AlignedVec<16>) -> Result<()>,
}

impl std::fmt::Debug for Relocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Relocator")
    }
}

impl Relocator {
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
