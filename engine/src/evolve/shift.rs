//! Transcoding by shifting: a value whose reader layout differs from the file's only in
//! its own inline bytes (fields added with flat defaults, removed, moved or widened,
//! around fields whose types did not change) keeps its out-of-line bytes as they are.
//! They are copied as one block; the inline bytes are rewritten in the reader's layout,
//! and each relative pointer in them is moved by the distance its value moved. The
//! general transcoder ([`super::transcode`]) walks every value instead.
//!
//! The fields that hold out-of-line bytes must keep their order (rkyv validates a
//! value's out-of-line bytes in the order its fields claim them). Every read is
//! bounds-checked, every pointer is checked to land inside the block it was copied
//! from, and the output is validated as the reader's type before use, as the general
//! transcoder's is.

use super::plan::{Arm, NodeId, Op, Plan, Src};
use super::transcode::MAX_ZERO_SIZED;
use super::transcode::bad;
use crate::error::{Error, Result};
use crate::format::archived::{Bytes, Misread, vec_header};
use crate::schema::round_up;
use crate::store::chunk::Chunk;
use rkyv::util::AlignedVec;

/// The deepest inline nesting a shifted value may have (structs in structs): deeper
/// values take the general transcoder.
const MAX_INLINE_DEPTH: u32 = 32;

/// Which nodes' values can be shifted (see the module docs), by node.
pub(crate) fn shiftable(plan: &Plan) -> Vec<bool> {
    (0..plan.nodes.len()).map(|i| u32::try_from(i).is_ok_and(|id| writable(plan, id, 0))).collect()
}

/// Whether `id`'s values can be written by [`Shift::write`].
fn writable(plan: &Plan, id: NodeId, depth: u32) -> bool {
    let Ok(n) = plan.node(id) else { return false };
    if depth > MAX_INLINE_DEPTH {
        return false;
    }
    if n.same {
        return locatable(plan, id, depth);
    }
    match &n.op {
        Op::Prim { .. } => true,
        Op::Struct(slots) => {
            // rkyv validates out-of-line bytes in the order the fields claim them: the
            // fields that may have some must keep the file's order.
            let mut last = None;
            slots.iter().all(|s| match s.src {
                Src::Inline { node, from } => {
                    let flat = plan.node(node).is_ok_and(|c| c.flat);
                    let ordered = flat || last.is_none_or(|l| from > l);
                    if !flat {
                        last = Some(from);
                    }
                    ordered && writable(plan, node, depth + 1)
                }
                Src::Default { node, .. } => plan.node(node).is_ok_and(|d| d.flat),
                _ => false,
            })
        }
        _ => false,
    }
}

/// Whether the relative pointers in the inline bytes of `id`'s values (a node whose
/// layout is the same in both schemas) can be found from the plan.
fn locatable(plan: &Plan, id: NodeId, depth: u32) -> bool {
    let Ok(n) = plan.node(id) else { return false };
    if n.flat {
        return true;
    }
    if depth > MAX_INLINE_DEPTH {
        return false;
    }
    let inline = |slots: &[super::plan::Slot]| {
        slots.iter().all(|s| match s.src {
            Src::Inline { node, .. } => locatable(plan, node, depth + 1),
            Src::Lazy { .. } | Src::Table { .. } => true,
            _ => false,
        })
    };
    match &n.op {
        Op::Prim { .. } | Op::String | Op::Vec(_) | Op::Box(_) | Op::Lazy(_) => true,
        Op::Option(c) | Op::Array(c, _) => locatable(plan, *c, depth + 1),
        Op::Struct(slots) => inline(slots),
        Op::Enum(arms) => arms.iter().all(|a| match a {
            Arm::To { slots, .. } => inline(slots),
            Arm::Unknown { .. } => false,
        }),
        Op::Pending | Op::Opaque(_) | Op::Some(_) | Op::ToBox(_) | Op::Unbox(_) | Op::ToLazy(_) => false,
    }
}

/// A whole chunk's value made by shifting into `out`, when its node, or its
/// elements' for a vector, can be: `pos` is where the value lies.
pub(super) fn whole(
    plan: &Plan,
    source: &Chunk,
    node: NodeId,
    pos: u64,
    limit: u64,
    out: &mut AlignedVec<16>,
) -> Result<bool> {
    let n = plan.node(node)?;
    let at = source.at().location();
    if plan.shifts(node) {
        let shift = Shift::start(plan, source.bytes(), 0, pos, out).map_err(|d| bad(at, d))?;
        Shift::pad(out, n.align);
        shift.write(node, pos, out).map_err(|d| bad(at, d))?;
        return Ok(true);
    }
    let Op::Vec(e) = n.op else { return Ok(false) };
    if !plan.shifts(e) {
        return Ok(false);
    }
    let en = plan.node(e)?;
    let bytes = Bytes::new(source.bytes());
    let (start, len) = bytes.vec(pos, en.file_size).map_err(|d| bad(at, d))?;
    if en.file_size == 0 && len > MAX_ZERO_SIZED {
        return Err(bad(at, format!("a vector of {len} zero-sized elements: more than {MAX_ZERO_SIZED} are refused")));
    }
    let total = start.saturating_add(len.saturating_mul(en.size)).saturating_add(64);
    if total > limit {
        return Err(Error::OutOfBounds {
            what: "value transcoded to the reading type's layout",
            declared: total,
            limit,
            at,
        });
    }
    out.reserve(usize::try_from(total).unwrap_or(0));
    let shift = Shift::start(plan, source.bytes(), 0, start, out).map_err(|d| bad(at, d))?;
    Shift::pad(out, en.align);
    let elements = out.len();
    for i in 0..len {
        shift.write(e, start + i * en.file_size, out).map_err(|d| bad(at, d))?;
    }
    Shift::pad(out, n.align);
    let header = vec_header(out.len() - elements, usize::try_from(len).unwrap_or(usize::MAX))
        .ok_or_else(|| bad(at, "a transcoded vector too large for rkyv's 32-bit offsets"))?;
    out.extend_from_slice(&header);
    Ok(true)
}

/// The values of `node` (each given by where its bytes start and where its root object
/// lies) made by shifting one after the other into one reused buffer, each handed to
/// `each`.
pub(super) fn each(
    plan: &Plan,
    source: &Chunk,
    node: NodeId,
    spans: impl IntoIterator<Item = Result<(u64, u64)>>,
    capacity: u64,
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let align = plan.node(node)?.align;
    let at = source.at().location();
    let mut out = AlignedVec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    for span in spans {
        let (lo, pos) = span?;
        let shift = Shift::start(plan, source.bytes(), lo, pos, &mut out).map_err(|d| bad(at, d))?;
        Shift::pad(&mut out, align);
        shift.write(node, pos, &mut out).map_err(|d| bad(at, d))?;
        each(&out)?;
    }
    Ok(())
}

/// One value (or a vector's elements) being shifted out of a file chunk's `bytes`.
pub(crate) struct Shift<'b> {
    plan: &'b Plan,
    bytes: Bytes<'b>,
    /// The out-of-line block of the file's value: `[lo, hi)` of `bytes`.
    lo: u64,
    hi: u64,
    /// Where the block starts in the output.
    base: u64,
}

impl<'b> Shift<'b> {
    /// Copies `bytes[lo..hi]`, the out-of-line block of the values to shift, to the
    /// output (emptied first), at an offset that keeps its alignment.
    pub(crate) fn start(
        plan: &'b Plan,
        bytes: &'b [u8],
        lo: u64,
        hi: u64,
        out: &mut AlignedVec<16>,
    ) -> Result<Self, Misread> {
        let bytes = Bytes::new(bytes);
        let block = bytes.slice(lo, hi.checked_sub(lo).ok_or("a value's block ends before it starts")?)?;
        out.clear();
        let base = lo % 16;
        out.resize(usize::try_from(base).unwrap_or(0), 0);
        out.extend_from_slice(block);
        Ok(Self { plan, bytes, lo, hi, base })
    }

    /// Pads the output with zeros to a multiple of `align`.
    pub(crate) fn pad(out: &mut AlignedVec<16>, align: u64) {
        let len = out.len() as u64;
        out.resize(usize::try_from(round_up(len, align)).unwrap_or(out.len()), 0);
    }

    /// Writes the value of `id` at file position `q` in the reader's layout at the end
    /// of the output (aligned for it by the caller).
    pub(crate) fn write(&self, id: NodeId, q: u64, out: &mut AlignedVec<16>) -> Result<(), Misread> {
        let n = self.plan.node(id).map_err(|e| e.to_string())?;
        let p = out.len() as u64;
        if n.same {
            out.extend_from_slice(self.bytes.slice(q, n.size)?);
            return if n.flat { Ok(()) } else { self.fix(id, q, p, out, 0) };
        }
        match &n.op {
            Op::Prim { from, to } => {
                let value = from.widen(*to, self.bytes.le(q, from.width())?)?;
                let width = usize::try_from(to.width()).unwrap_or(0);
                out.extend_from_slice(value.to_le_bytes().get(..width).unwrap_or_default());
            }
            Op::Struct(slots) => {
                for slot in slots {
                    let at = usize::try_from(p + slot.to).map_err(|e| e.to_string())?;
                    if at < out.len() {
                        return Err(String::from("internal: fields of a shifted value overlap"));
                    }
                    out.resize(at, 0);
                    match slot.src {
                        Src::Inline { from, node } => self.write(node, q + from, out)?,
                        Src::Default { id, node } => {
                            let size = self.plan.node(node).map_err(|e| e.to_string())?.size;
                            let chunk = self.plan.defaults.get(id).ok_or("internal: no default")?;
                            let bytes = Bytes::new(chunk.bytes());
                            out.extend_from_slice(bytes.slice(bytes.len().saturating_sub(size), size)?);
                        }
                        _ => return Err(String::from("internal: a field that cannot be shifted")),
                    }
                }
            }
            _ => return Err(String::from("internal: a value that cannot be shifted")),
        }
        let end = usize::try_from(p + n.size).map_err(|e| e.to_string())?;
        if out.len() > end {
            return Err(String::from("internal: a shifted value larger than its type"));
        }
        out.resize(end, 0);
        Ok(())
    }

    /// Moves the relative pointers in the inline bytes of a value of `id` (the same in
    /// both layouts), copied from file position `q` to output position `p`.
    fn fix(&self, id: NodeId, q: u64, p: u64, out: &mut AlignedVec<16>, depth: u32) -> Result<(), Misread> {
        let n = self.plan.node(id).map_err(|e| e.to_string())?;
        if n.flat {
            return Ok(());
        }
        if depth > MAX_INLINE_DEPTH {
            return Err(String::from("internal: a shifted value nests too deep"));
        }
        match &n.op {
            Op::String => {
                let (start, len, out_of_line) = self.bytes.string_span(q)?;
                if out_of_line {
                    self.point(q, p, 4, start, len, out)?;
                }
            }
            Op::Vec(c) => {
                let size = self.plan.node(*c).map_err(|e| e.to_string())?.file_size;
                let (start, len) = self.bytes.vec(q, size)?;
                self.point(q, p, 0, start, len.saturating_mul(size), out)?;
            }
            Op::Box(c) => {
                let size = self.plan.node(*c).map_err(|e| e.to_string())?.file_size;
                self.point(q, p, 0, self.bytes.rel(q)?, size, out)?;
            }
            Op::Option(c) => {
                if self.bytes.byte(q)? == 1 {
                    let off = round_up(1, self.plan.node(*c).map_err(|e| e.to_string())?.file_align);
                    self.fix(*c, q + off, p + off, out, depth + 1)?;
                }
            }
            Op::Array(c, k) => {
                let size = self.plan.node(*c).map_err(|e| e.to_string())?.file_size;
                for i in 0..*k {
                    self.fix(*c, q + i * size, p + i * size, out, depth + 1)?;
                }
            }
            Op::Struct(slots) => self.fix_slots(slots, q, p, out, depth)?,
            Op::Enum(arms) => match arms.get(usize::from(self.bytes.byte(q)?)) {
                Some(Arm::To { slots, .. }) => self.fix_slots(slots, q, p, out, depth)?,
                _ => return Err(format!("invalid variant at {q}")),
            },
            Op::Prim { .. } | Op::Lazy(_) => {}
            Op::Pending | Op::Opaque(_) | Op::Some(_) | Op::ToBox(_) | Op::Unbox(_) | Op::ToLazy(_) => {
                return Err(String::from("internal: a value whose pointers cannot be found"));
            }
        }
        Ok(())
    }

    fn fix_slots(
        &self,
        slots: &[super::plan::Slot],
        q: u64,
        p: u64,
        out: &mut AlignedVec<16>,
        depth: u32,
    ) -> Result<(), Misread> {
        for slot in slots {
            if let Src::Inline { from, node } = slot.src {
                self.fix(node, q + from, p + slot.to, out, depth + 1)?;
            }
        }
        Ok(())
    }

    /// Rewrites the `i32` offset at `p + at` of the output (an offset from `p`, as it
    /// was from `q` in the file) to point where the file's `len` bytes at `target` were
    /// copied, which must lie within the block.
    fn point(&self, q: u64, p: u64, at: u64, target: u64, len: u64, out: &mut AlignedVec<16>) -> Result<(), Misread> {
        let end = target.checked_add(len).ok_or("a pointer past the end")?;
        if target < self.lo || end > self.hi {
            return Err(format!("the value at {q} points outside its own bytes"));
        }
        let moved = (target - self.lo + self.base) as i64 - p as i64;
        let offset = i32::try_from(moved).map_err(|_| "a shifted value too large for 32-bit offsets")?;
        let slot = usize::try_from(p + at)
            .ok()
            .and_then(|s| out.get_mut(s..s.checked_add(4)?))
            .ok_or("internal: a pointer outside the shifted value")?;
        slot.copy_from_slice(&offset.to_le_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Defaults, Schema};
    use std::collections::HashMap;

    #[derive(rkyv::Archive, rkyv::Serialize)]
    #[rkyv(crate = rkyv)]
    struct Old {
        a: u32,
        s: String,
        v: Vec<u16>,
    }

    #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq)]
    #[rkyv(crate = rkyv)]
    struct New {
        a: u64,
        s: String,
        v: Vec<u16>,
    }

    const OLD: &str =
        "strata-schema 1\nroot Rec\ntype Rec = struct size 20 align 4 { a @0: u32, s @4: String, v @12: Vec<u16> }\n";
    const NEW: &str =
        "strata-schema 1\nroot Rec\ntype Rec = struct size 24 align 8 { a @0: u64, s @8: String, v @16: Vec<u16> }\n";
    /// `NEW` with the vector before the string: their out-of-line bytes change order.
    const SWAPPED: &str =
        "strata-schema 1\nroot Rec\ntype Rec = struct size 24 align 8 { v @0: Vec<u16>, a @8: u64, s @16: String }\n";

    fn plan_for(reader: &str) -> Result<Plan, String> {
        let (file, reader) =
            (Schema::parse(OLD).map_err(|e| e.to_string())?, Schema::parse(reader).map_err(|e| e.to_string())?);
        Plan::build(&file, &reader, &Defaults::default(), &HashMap::new()).map_err(|e| e.to_string())
    }

    fn plan() -> Result<Plan, String> {
        plan_for(NEW)
    }

    fn shifted(plan: &Plan, bytes: &[u8]) -> Result<New, String> {
        let root = bytes.len() as u64 - 20;
        let mut out = AlignedVec::new();
        let shift = Shift::start(plan, bytes, 0, root, &mut out)?;
        Shift::pad(&mut out, 8);
        shift.write(plan.root, root, &mut out)?;
        let view = rkyv::access::<ArchivedNew, rkyv::rancor::Error>(&out).map_err(|e| e.to_string())?;
        rkyv::deserialize::<New, rkyv::rancor::Error>(view).map_err(|e| e.to_string())
    }

    #[test]
    fn fields_widened_and_moved_keep_their_out_of_line_bytes() -> Result<(), String> {
        assert_eq!(size_of::<ArchivedOld>(), 20);
        assert_eq!(size_of::<ArchivedNew>(), 24);
        let plan = plan()?;
        assert!(plan.shifts(plan.root), "the record shifts");
        for s in ["", "short", "a string longer than eight bytes"] {
            let old = Old { a: 7, s: s.to_owned(), v: vec![1, 2, 3] };
            let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&old).map_err(|e| e.to_string())?;
            assert_eq!(shifted(&plan, &bytes)?, New { a: 7, s: s.to_owned(), v: vec![1, 2, 3] });
        }
        // Fields whose out-of-line bytes change order take the general transcoder.
        let swapped = plan_for(SWAPPED)?;
        assert!(!swapped.shifts(swapped.root));
        Ok(())
    }

    #[test]
    fn a_pointer_outside_the_values_bytes_is_an_error() -> Result<(), String> {
        let plan = plan()?;
        let old = Old { a: 7, s: "a string longer than eight bytes".to_owned(), v: vec![1, 2, 3] };
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&old).map_err(|e| e.to_string())?;
        let root = bytes.len() - 20;
        // The string's offset (4 bytes at 4 + 4 into the root) made to point at the
        // root itself, then past the end; the vector's (at 12) likewise.
        for (at, to) in [(8usize, 0i64), (8, 16), (12, 0), (12, 40)] {
            let mut bad = bytes.to_vec();
            let field = root + at;
            let rel = i32::try_from(to - if at == 8 { 4 } else { 12 }).map_err(|e| e.to_string())?;
            bad.get_mut(field..field + 4).ok_or("short")?.copy_from_slice(&rel.to_le_bytes());
            match shifted(&plan, &bad) {
                Err(e) => assert!(e.contains("outside"), "{at}: {e}"),
                Ok(v) => return Err(format!("{at}: read as {v:?}")),
            }
        }
        Ok(())
    }
}
