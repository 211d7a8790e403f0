//! Making a chunk in the reader's layout from a file chunk: the entry points, which
//! shift a value when its plan allows it ([`super::shift`]) and transcode it otherwise
//! ([`super::transcode`]).

use super::plan::{Made, NodeId, Plan};
use super::transcode::{Transcoder, bad};
use crate::error::Result;
use crate::store::Store;
use crate::store::chunk::Chunk;
use rkyv::util::AlignedVec;
use std::sync::Arc;

/// Where the file's value lies in its chunk.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Root {
    /// The chunk's root object (its last `file_size` bytes).
    End,
    /// At this position.
    At(u64),
}

/// Transcodes the value of `source` at `root` through `node` of `plan`.
///
/// # Errors
/// When the file's bytes do not hold what the file's schema says (an
/// [`Error::InvalidData`] at the chunk), a variant the reader lacks
/// ([`Error::UnknownVariant`]), a chunk a field that became inline needs is damaged,
/// the value nests deeper than the store allows, or the output would pass the store's
/// largest chunk.
/// `place` is the path of the value transcoded, in parts (`["Shop.items", "[]"]`).
pub(crate) fn transcode(
    plan: &Plan,
    store: &Store,
    source: Arc<Chunk>,
    node: NodeId,
    root: Root,
    place: &[&str],
) -> Result<Made> {
    transcode_into(plan, store, source, node, root, place, AlignedVec::new())
}

/// [`transcode`] into `out`, emptied first (a buffer reused).
///
/// # Errors
/// As [`transcode`].
pub(crate) fn transcode_into(
    plan: &Plan,
    store: &Store,
    source: Arc<Chunk>,
    node: NodeId,
    root: Root,
    place: &[&str],
    mut out: AlignedVec<16>,
) -> Result<Made> {
    out.clear();
    let n = plan.node(node)?;
    let at = source.at().location();
    let len = source.bytes().len() as u64;
    let pos = match root {
        Root::End => len.checked_sub(n.file_size).ok_or_else(|| bad(at, "chunk smaller than its root value"))?,
        Root::At(pos) => pos,
    };
    // A whole chunk's value needs about the chunk's bytes; one element or entry about
    // its own (the buffer grows when it needs more).
    let capacity = match root {
        Root::End => len.saturating_add(64),
        Root::At(_) => n.size.saturating_mul(2).saturating_add(256).min(len.saturating_add(64)),
    };
    if let Root::End = root
        && super::shift::whole(plan, &source, node, pos, store.limits().max_raw, &mut out)?
    {
        return Ok(Made { bytes: out, tags: Vec::new() });
    }
    let mut t = Transcoder::new(plan, store, source, place, capacity);
    out.reserve(usize::try_from(capacity).unwrap_or(0));
    t.set_out(out);
    t.run(node, pos)?;
    Ok(t.into_made())
}

/// Transcodes the values of `node` in `source` one after the other, each given by the
/// start of its bytes and the position of its root object (which ends them), handing
/// each one's bytes to `each`; the buffers are reused. For values
/// that hold no chunk reference (their bytes are not made chunks of the archive).
///
/// # Errors
/// As [`transcode`], and `each`'s.
pub(crate) fn transcode_each(
    plan: &Plan,
    store: &Store,
    source: Arc<Chunk>,
    node: NodeId,
    spans: impl IntoIterator<Item = Result<(u64, u64)>>,
    place: &[&str],
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let n = plan.node(node)?;
    let capacity = n.size.saturating_mul(2).saturating_add(256);
    if plan.shifts(node) {
        return super::shift::each(plan, &source, node, spans, capacity, each);
    }
    let mut t = Transcoder::new(plan, store, source, place, capacity);
    for span in spans {
        let pos = span.map(|(_, pos)| pos);
        t.reset();
        t.run(node, pos?)?;
        each(t.out())?;
    }
    Ok(())
}
