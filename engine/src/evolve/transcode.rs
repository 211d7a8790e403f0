//! Transcoding: a value the file archived in its layout, rewritten in the reader's
//! layout by a [`Plan`], into a buffer of its own (an rkyv archive whose root ends it).
//!
//! The output is written as rkyv writes: in two passes over the file's value, the
//! first writing what lies out of line (string bytes, vector elements, boxed values)
//! children before parents, the second writing the inline bytes, in the reader's field
//! order. What the first pass learns for the second (where out-of-line data went) goes
//! on a tape, read back in the same order. Everything read from the file is
//! bounds-checked; what is made is validated by rkyv as the reader's type before any
//! view of it is handed out. The entry points, which choose between this and
//! shifting, are in `make.rs`.

use super::plan::{Arm, Made, NodeId, Op, Plan, Prim, Slot, Src, Tag};
use crate::error::{Error, Location, Result};
use crate::format::archived::{Bytes, string_header};
use crate::format::chunk_ref::{CHECKSUM_AT, CHUNK_REF_LEN};
use crate::format::table::TableHeader;
use crate::format::{ChunkRef, Encoding, TYPED_VERSION};
use crate::schema::Moved;
use crate::schema::round_up;
use crate::store::chunk::Chunk;
use crate::store::{Holds, Keep, Store};
use rkyv::util::AlignedVec;
use std::sync::Arc;

/// The deepest plans whose transcoding runs without stack checks: each level takes a
/// few hundred bytes of stack, so such a value needs tens of KiB at most.
const UNCHECKED_NESTING: u32 = 32;

/// The most zero-sized elements a vector may declare: their count is not bounded by
/// the bytes they occupy.
pub(super) const MAX_ZERO_SIZED: u64 = 1 << 20;

pub(super) fn bad(at: Location, detail: impl Into<String>) -> Error {
    Error::InvalidData { at, ty: "evolved value", detail: detail.into() }
}

/// A position in one of the transcoder's sources.
#[derive(Debug, Clone, Copy)]
struct At {
    s: usize,
    pos: u64,
}

impl At {
    fn plus(self, off: u64) -> Self {
        Self { s: self.s, pos: self.pos.saturating_add(off) }
    }
}

pub(super) struct Transcoder<'a> {
    plan: &'a Plan,
    store: &'a Store,
    /// The chunks read from: the one transcoded, then chunks of fields that became
    /// inline and default values, as they are met.
    sources: Vec<Arc<Chunk>>,
    /// The source index of each default value, once used.
    defaults: Vec<Option<usize>>,
    out: AlignedVec<16>,
    tape: Vec<u64>,
    tags: Vec<(u64, Tag)>,
    limit: u64,
    depth: u32,
    max_depth: u32,
    /// The path of the value transcoded, and of the value being read within it.
    place: &'a [&'a str],
    trail: Vec<&'a str>,
    /// Values stored in rkyv's own layout, moved halfway (the tape holds their index).
    moved: Vec<Option<Moved>>,
}

impl<'a> Transcoder<'a> {
    pub(super) fn new(
        plan: &'a Plan,
        store: &'a Store,
        source: Arc<Chunk>,
        place: &'a [&'a str],
        capacity: u64,
    ) -> Self {
        let limits = store.limits();
        Transcoder {
            plan,
            store,
            sources: vec![source],
            defaults: vec![None; plan.defaults.len()],
            out: AlignedVec::with_capacity(usize::try_from(capacity).unwrap_or(0)),
            tape: Vec::new(),
            tags: Vec::new(),
            limit: limits.max_raw,
            depth: 0,
            max_depth: limits.max_depth,
            place,
            trail: Vec::new(),
            moved: Vec::new(),
        }
    }

    /// Makes the output `out` (emptied first).
    pub(super) fn set_out(&mut self, mut out: AlignedVec<16>) {
        out.clear();
        self.out = out;
    }

    /// The output so far.
    pub(super) fn out(&self) -> &[u8] {
        &self.out
    }

    /// The value made, and the lazy fields inside that need a tag.
    pub(super) fn into_made(self) -> Made {
        Made { bytes: self.out, tags: self.tags }
    }

    /// Empties the output and what was learnt of the last value, for the next one of
    /// the same source.
    pub(super) fn reset(&mut self) {
        self.out.clear();
        self.tape.clear();
        self.tags.clear();
        self.trail.clear();
        self.moved.clear();
        self.sources.truncate(1);
        self.defaults.iter_mut().for_each(|d| *d = None);
    }

    /// Writes the value of `node` at `pos` of the first source into the output.
    pub(super) fn run(&mut self, node: NodeId, pos: u64) -> Result<()> {
        let align = self.plan.node(node)?.align;
        let at = At { s: 0, pos };
        self.grown(|t| t.ser(node, at))?;
        self.pad(align)?;
        let mut cursor = 0;
        self.grown(|t| t.res(node, at, &mut cursor))
    }

    /// Runs `f` on a stack with room for one more level when the plan's values can nest
    /// deeper than [`UNCHECKED_NESTING`]; a plan of shallower values runs on the stack
    /// it is given (which saves the first stack check's cost in a process: on the main
    /// thread, reading the process's memory map).
    fn grown<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        if self.plan.nesting.is_some_and(|n| n <= UNCHECKED_NESTING) { f(self) } else { crate::deep::grow(|| f(self)) }
    }

    /// The path of the value being read (`Shop.items[].kind`).
    fn path(&self) -> String {
        let mut path = self.place.concat();
        for seg in &self.trail {
            path.push_str(seg);
        }
        path
    }

    fn source(&self, s: usize) -> Result<&Arc<Chunk>> {
        self.sources.get(s).ok_or_else(|| Error::Message(String::from("internal: no transcoding source")))
    }

    fn bytes(&self, s: usize) -> Result<(Bytes<'_>, Location)> {
        let chunk = self.source(s)?;
        Ok((Bytes::new(chunk.bytes()), chunk.at().location()))
    }

    fn read<R>(&self, at: At, f: impl FnOnce(Bytes<'_>) -> Result<R, String>) -> Result<R> {
        let (bytes, loc) = self.bytes(at.s)?;
        f(bytes).map_err(|d| bad(loc, d))
    }

    fn location(&self, s: usize) -> Location {
        self.source(s).map(|c| c.at().location()).unwrap_or_default()
    }

    /// Makes room for `n` more output bytes, within the limit.
    fn room(&mut self, n: u64, s: usize) -> Result<()> {
        let total = (self.out.len() as u64).saturating_add(n);
        if total > self.limit {
            return Err(Error::OutOfBounds {
                what: "value transcoded to the reading type's layout",
                declared: total,
                limit: self.limit,
                at: self.location(s),
            });
        }
        self.out.reserve(usize::try_from(n).unwrap_or(usize::MAX));
        Ok(())
    }

    /// Pads the output with zeros to a multiple of `align`.
    fn pad(&mut self, align: u64) -> Result<()> {
        let len = self.out.len() as u64;
        self.zeros(round_up(len, align) - len)
    }

    /// Pads the output with zeros up to position `to`.
    fn pad_to(&mut self, to: u64) -> Result<()> {
        let len = self.out.len() as u64;
        match to.checked_sub(len) {
            Some(n) => self.zeros(n),
            None => Err(Error::Message(format!("internal: transcoded output at {len} is past {to}"))),
        }
    }

    fn zeros(&mut self, n: u64) -> Result<()> {
        self.room(n, 0)?;
        let len = self.out.len() + usize::try_from(n).unwrap_or(0);
        self.out.resize(len, 0);
        Ok(())
    }

    /// Copies `len` source bytes at `at` to the output.
    fn copy(&mut self, at: At, len: u64) -> Result<()> {
        self.room(len, at.s)?;
        let (bytes, loc) = {
            let chunk = self.sources.get(at.s).ok_or_else(|| Error::Message(String::from("internal: no source")))?;
            (chunk.bytes(), chunk.at().location())
        };
        let slice = Bytes::new(bytes).slice(at.pos, len).map_err(|d| bad(loc, d))?;
        self.out.extend_from_slice(slice);
        Ok(())
    }

    /// Turns the typed reference just copied (to a value of `node`) from the file's
    /// type into the reader's, in files whose references are typed.
    fn retype(&mut self, node: NodeId) -> Result<()> {
        let retag = self.plan.node(node)?.retag;
        if retag == 0 || self.store.footer().version < TYPED_VERSION {
            return Ok(());
        }
        let at = self.out.len().checked_sub(CHUNK_REF_LEN - CHECKSUM_AT);
        let slot = at.and_then(|at| self.out.get_mut(at..at + 8));
        let slot = slot.ok_or_else(|| Error::Message(String::from("internal: no reference to retype")))?;
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(slot);
        slot.copy_from_slice(&(u64::from_le_bytes(checksum) ^ retag).to_le_bytes());
        Ok(())
    }

    fn take(&self, cursor: &mut usize) -> Result<u64> {
        let v = self
            .tape
            .get(*cursor)
            .copied()
            .ok_or_else(|| Error::Message(String::from("internal: transcoding tape")))?;
        *cursor += 1;
        Ok(v)
    }

    /// One more level of indirection (a box, a vector's elements): counted against the
    /// store's nesting limit, on a stack that grows.
    fn deeper<R>(&mut self, s: usize, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        if self.depth >= self.max_depth {
            return Err(Error::TooDeep {
                what: "a value transcoded to the reading type",
                depth: u64::from(self.depth) + 1,
                limit: u64::from(self.max_depth),
                at: Some(self.location(s)),
            });
        }
        self.depth += 1;
        let out = self.grown(f);
        self.depth -= 1;
        out
    }

    /// The first pass: writes what `node`'s value at `at` holds out of line, and
    /// records on the tape what the second pass needs.
    fn ser(&mut self, id: NodeId, at: At) -> Result<()> {
        let n = self.plan.node(id)?;
        if n.flat {
            return Ok(());
        }
        match &n.op {
            Op::Pending | Op::Prim { .. } | Op::Lazy(_) | Op::ToLazy(_) => {}
            Op::Opaque(r) => {
                let r = r.ok_or_else(|| Error::Message(format!("internal: `{}` cannot be moved", n.path)))?;
                let source = Arc::clone(self.source(at.s)?);
                let moved =
                    r.serialize(source.bytes(), at.pos, source.at().location(), self.max_depth, &mut self.out)?;
                self.room(0, at.s)?;
                self.tape.push(self.moved.len() as u64);
                self.moved.push(Some(moved));
            }
            Op::String => {
                // The bytes are copied as they are: the made chunk is validated as the
                // reader's type (UTF-8 included) before any of it is read.
                let (start, len) = self.read(at, |b| {
                    let (start, len, _) = b.string_span(at.pos)?;
                    Ok((start, len))
                })?;
                if len > 8 {
                    let target = self.out.len() as u64;
                    self.copy(At { s: at.s, pos: start }, len)?;
                    self.tape.push(target);
                }
            }
            Op::Vec(e) => {
                let e = *e;
                let en = self.plan.node(e)?;
                let (start, len) = self.read(at, |b| b.vec(at.pos, en.file_size))?;
                if en.file_size == 0 && len > MAX_ZERO_SIZED {
                    return Err(bad(
                        self.location(at.s),
                        format!("a vector of {len} zero-sized elements: more than {MAX_ZERO_SIZED} are refused"),
                    ));
                }
                self.room(len.saturating_mul(en.size).saturating_add(en.align), at.s)?;
                if en.flat {
                    self.pad(en.align)?;
                    let target = self.out.len() as u64;
                    self.copy(At { s: at.s, pos: start }, len * en.file_size)?;
                    self.tape.push(target);
                } else {
                    let mark = self.tape.len();
                    self.trail.push("[]");
                    self.deeper(at.s, |t| {
                        for i in 0..len {
                            t.ser(e, At { s: at.s, pos: start + i * en.file_size })?;
                        }
                        t.pad(en.align)?;
                        let target = t.out.len() as u64;
                        let mut cursor = mark;
                        for i in 0..len {
                            t.res(e, At { s: at.s, pos: start + i * en.file_size }, &mut cursor)?;
                        }
                        t.tape.truncate(mark);
                        t.tape.push(target);
                        Ok(())
                    })?;
                    self.trail.pop();
                }
            }
            Op::Option(c) => match self.read(at, |b| b.byte(at.pos))? {
                0 => {}
                1 => {
                    let c = *c;
                    let payload = round_up(1, self.plan.node(c)?.file_align);
                    self.ser(c, at.plus(payload))?;
                }
                tag => return Err(bad(self.location(at.s), format!("invalid Option tag {tag} at {}", at.pos))),
            },
            Op::Some(c) => self.ser(*c, at)?,
            Op::Box(c) | Op::ToBox(c) => {
                let c = *c;
                let inner = match n.op {
                    Op::Box(_) => At { s: at.s, pos: self.read(at, |b| b.rel(at.pos))? },
                    _ => at,
                };
                let cn = self.plan.node(c)?;
                let mark = self.tape.len();
                self.deeper(at.s, |t| {
                    t.ser(c, inner)?;
                    t.pad(cn.align)?;
                    let target = t.out.len() as u64;
                    let mut cursor = mark;
                    t.res(c, inner, &mut cursor)?;
                    t.tape.truncate(mark);
                    t.tape.push(target);
                    Ok(())
                })?;
            }
            Op::Unbox(c) => {
                let c = *c;
                let inner = At { s: at.s, pos: self.read(at, |b| b.rel(at.pos))? };
                self.deeper(at.s, |t| t.ser(c, inner))?;
            }
            Op::Array(c, k) => {
                let (c, k) = (*c, *k);
                let size = self.plan.node(c)?.file_size;
                self.trail.push("[]");
                for i in 0..k {
                    self.ser(c, at.plus(i * size))?;
                }
                self.trail.pop();
            }
            Op::Struct(slots) => {
                for slot in slots {
                    self.trail.push(&slot.seg);
                    self.ser_slot(slot, at)?;
                    self.trail.pop();
                }
            }
            Op::Enum(arms) => {
                let tag = self.read(at, |b| b.byte(at.pos))?;
                match arms.get(usize::from(tag)) {
                    Some(Arm::To { slots, .. }) => {
                        for slot in slots {
                            self.trail.push(&slot.seg);
                            self.ser_slot(slot, at)?;
                            self.trail.pop();
                        }
                    }
                    Some(Arm::Unknown { variant }) => {
                        return Err(Error::UnknownVariant {
                            path: self.path(),
                            ty: n.file_ty.clone(),
                            variant: variant.clone(),
                            at: self.location(at.s),
                        });
                    }
                    None => {
                        return Err(bad(
                            self.location(at.s),
                            format!("invalid variant {tag} of `{}` at {}", n.file_ty, at.pos),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn ser_slot(&mut self, slot: &Slot, at: At) -> Result<()> {
        match slot.src {
            Src::Inline { from, node } => self.ser(node, at.plus(from)),
            Src::FromLazy { from, node } => {
                let mut r = self.chunk_ref(at.plus(from))?;
                if self.store.footer().version >= TYPED_VERSION {
                    r = r.tagged(crate::format::type_tag(&self.plan.node(node)?.file_ty));
                }
                let chunk = self.store.chunk(&r, Keep::No, Holds::Nothing)?;
                let s = self.sources.len();
                self.sources.push(chunk);
                self.tape.push(s as u64);
                let pos = self.root_pos(s, node)?;
                self.deeper(s, |t| t.ser(node, At { s, pos }))
            }
            // A flat default is copied from its chunk by the second pass.
            Src::Default { node, .. } if self.plan.node(node)?.flat => Ok(()),
            Src::Default { id, node } => {
                let s = self.default_source(id)?;
                self.tape.push(s as u64);
                let pos = self.root_pos(s, node)?;
                self.ser(node, At { s, pos })
            }
            Src::Lazy { .. } | Src::Table { .. } | Src::ToLazy { .. } | Src::LazyDefault { .. } | Src::Empty => Ok(()),
        }
    }

    fn chunk_ref(&self, at: At) -> Result<ChunkRef> {
        self.read(at, |b| {
            let mut r = [0u8; 40];
            r.copy_from_slice(b.slice(at.pos, 40)?);
            Ok(ChunkRef::from_bytes(&r))
        })
    }

    /// Where the root object of source `s` lies, as the file lays out `node`'s value.
    fn root_pos(&self, s: usize, node: NodeId) -> Result<u64> {
        let size = self.plan.node(node)?.file_size;
        let (bytes, loc) = self.bytes(s)?;
        bytes.len().checked_sub(size).ok_or_else(|| bad(loc, "chunk smaller than its root value"))
    }

    fn default_source(&mut self, id: usize) -> Result<usize> {
        if let Some(Some(s)) = self.defaults.get(id) {
            return Ok(*s);
        }
        let chunk = self.plan.defaults.get(id).ok_or_else(|| Error::Message(String::from("internal: no default")))?;
        let s = self.sources.len();
        self.sources.push(Arc::clone(chunk));
        if let Some(slot) = self.defaults.get_mut(id) {
            *slot = Some(s);
        }
        Ok(s)
    }

    /// The second pass: writes `node`'s inline bytes (its reader size) at the end of
    /// the output, which is aligned for it.
    fn res(&mut self, id: NodeId, at: At, cursor: &mut usize) -> Result<()> {
        let n = self.plan.node(id)?;
        let start = self.out.len() as u64;
        if n.flat {
            return self.copy(at, n.size);
        }
        match &n.op {
            Op::Pending | Op::Opaque(None) => {
                return Err(Error::Message(format!("internal: `{}` cannot be transcoded", n.path)));
            }
            Op::Opaque(Some(r)) => {
                let i = usize::try_from(self.take(cursor)?).unwrap_or(usize::MAX);
                let moved = self
                    .moved
                    .get_mut(i)
                    .and_then(Option::take)
                    .ok_or_else(|| Error::Message(String::from("internal: a relocated value resolved twice")))?;
                r.resolve(moved, &mut self.out)?;
            }
            Op::Prim { from, to } => self.prim(*from, *to, at)?,
            Op::Lazy(c) => {
                let c = *c;
                self.copy(at, 40)?;
                self.retype(c)?;
                if !self.plan.node(c)?.same {
                    self.tags.push((start, Tag::Chunk { node: c, place: self.path().into() }));
                }
            }
            Op::ToLazy(c) => {
                let c = *c;
                let src = *self.source(at.s)?.at();
                let size = self.plan.node(c)?.file_size;
                // A reference of its own per inline value, as for `Src::ToLazy`.
                let mark = src.checksum().wrapping_add(at.pos + 1);
                let r = ChunkRef::new(src.offset(), size, size, mark, Encoding::None);
                self.room(40, at.s)?;
                self.out.extend_from_slice(&r.to_bytes());
                self.tags.push((start, Tag::Inline { src, pos: at.pos, node: c, place: self.path().into() }));
            }
            Op::String => {
                let (bytes, loc) = self.bytes(at.s)?;
                let (raw, _) = bytes.string(at.pos).map_err(|d| bad(loc, d))?;
                let header = if raw.len() <= 8 {
                    string_header(raw, 0)
                } else {
                    let target = self.take(cursor)?;
                    string_header(raw, target as i64 - start as i64)
                };
                let header = header.ok_or_else(|| bad(loc, "a string too long for its archived form"))?;
                self.room(8, at.s)?;
                self.out.extend_from_slice(&header);
            }
            Op::Vec(_) => {
                let target = self.take(cursor)?;
                let len = self.read(at, |b| b.u32(at.pos + 4))?;
                self.relptr(target, start, at.s)?;
                self.out.extend_from_slice(&len.to_le_bytes());
            }
            Op::Box(_) | Op::ToBox(_) => {
                let target = self.take(cursor)?;
                self.relptr(target, start, at.s)?;
            }
            Op::Unbox(c) => {
                let c = *c;
                let inner = At { s: at.s, pos: self.read(at, |b| b.rel(at.pos))? };
                self.deeper(at.s, |t| t.res(c, inner, cursor))?;
            }
            Op::Option(c) => match self.read(at, |b| b.byte(at.pos))? {
                1 => {
                    let c = *c;
                    let cn = self.plan.node(c)?;
                    self.out.push(1);
                    self.pad_to(start + round_up(1, cn.align))?;
                    self.res(c, at.plus(round_up(1, cn.file_align)), cursor)?;
                }
                _ => self.zeros(n.size)?,
            },
            Op::Some(c) => {
                let c = *c;
                let cn = self.plan.node(c)?;
                self.room(1, at.s)?;
                self.out.push(1);
                self.pad_to(start + round_up(1, cn.align))?;
                self.res(c, at, cursor)?;
            }
            Op::Array(c, k) => {
                let (c, k) = (*c, *k);
                let size = self.plan.node(c)?.file_size;
                self.trail.push("[]");
                for i in 0..k {
                    self.res(c, at.plus(i * size), cursor)?;
                }
                self.trail.pop();
            }
            Op::Struct(slots) => {
                for slot in slots {
                    self.pad_to(start + slot.to)?;
                    self.trail.push(&slot.seg);
                    self.res_slot(slot, at, cursor)?;
                    self.trail.pop();
                }
            }
            Op::Enum(arms) => {
                let tag = self.read(at, |b| b.byte(at.pos))?;
                let Some(Arm::To { tag: to, slots }) = arms.get(usize::from(tag)) else {
                    return Err(bad(self.location(at.s), format!("invalid variant {tag} at {}", at.pos)));
                };
                self.room(1, at.s)?;
                self.out.push(*to);
                for slot in slots {
                    self.pad_to(start + slot.to)?;
                    self.trail.push(&slot.seg);
                    self.res_slot(slot, at, cursor)?;
                    self.trail.pop();
                }
            }
        }
        self.pad_to(start + n.size)?;
        if self.out.len() as u64 != start + n.size {
            return Err(Error::Message(format!("internal: `{}` transcoded to the wrong size", n.path)));
        }
        Ok(())
    }

    fn res_slot(&mut self, slot: &Slot, at: At, cursor: &mut usize) -> Result<()> {
        let here = self.out.len() as u64;
        match slot.src {
            Src::Inline { from, node } => self.res(node, at.plus(from), cursor)?,
            Src::Lazy { from, node } | Src::Table { from, node } => {
                let lazy = matches!(slot.src, Src::Lazy { .. });
                self.copy(at.plus(from), if lazy { 40 } else { 64 })?;
                if lazy {
                    self.retype(node)?;
                }
                if !self.plan.node(node)?.same {
                    self.tags.push((here, Tag::Chunk { node, place: self.path().into() }));
                }
            }
            Src::ToLazy { from, node } => {
                let src = *self.source(at.s)?.at();
                let size = self.plan.node(node)?.file_size;
                // A reference of its own per inline value (the source's, its checksum
                // moved by the value's position): `Arc`/`Rc` identity maps key loads by
                // reference, and two values made from one chunk must not load as one.
                let mark = src.checksum().wrapping_add(at.pos + from + 1);
                let r = ChunkRef::new(src.offset(), size, size, mark, Encoding::None);
                self.room(40, at.s)?;
                self.out.extend_from_slice(&r.to_bytes());
                self.tags.push((here, Tag::Inline { src, pos: at.pos + from, node, place: self.path().into() }));
            }
            Src::FromLazy { node, .. } => {
                let s = usize::try_from(self.take(cursor)?).unwrap_or(usize::MAX);
                let pos = self.root_pos(s, node)?;
                self.deeper(s, |t| t.res(node, At { s, pos }, cursor))?;
            }
            Src::Default { node, id } if self.plan.node(node)?.flat => {
                let size = self.plan.node(node)?.size;
                let chunk =
                    self.plan.defaults.get(id).ok_or_else(|| Error::Message(String::from("internal: no default")))?;
                let bytes = chunk.bytes();
                let value = bytes
                    .len()
                    .checked_sub(usize::try_from(size).unwrap_or(usize::MAX))
                    .and_then(|start| bytes.get(start..))
                    .ok_or_else(|| Error::Message(String::from("internal: a default smaller than its type")))?;
                self.room(size, at.s)?;
                self.out.extend_from_slice(value);
            }
            Src::Default { node, .. } => {
                let s = usize::try_from(self.take(cursor)?).unwrap_or(usize::MAX);
                let pos = self.root_pos(s, node)?;
                self.res(node, At { s, pos }, cursor)?;
            }
            Src::LazyDefault { id } => {
                let len = self.plan.defaults.get(id).map_or(0, |c| c.bytes().len() as u64);
                // Offset 0 (the file header) is no chunk's; one reference per default.
                let r = ChunkRef::new(0, len, len, id as u64, Encoding::None);
                self.room(40, at.s)?;
                self.out.extend_from_slice(&r.to_bytes());
                self.tags.push((here, Tag::Default(id)));
            }
            Src::Empty => {
                self.room(64, at.s)?;
                self.out.extend_from_slice(&TableHeader::empty().to_bytes());
            }
        }
        Ok(())
    }

    /// Writes a relative pointer, at the output's end, to `target`.
    fn relptr(&mut self, target: u64, here: u64, s: usize) -> Result<()> {
        let off = i32::try_from(target as i64 - here as i64)
            .map_err(|_| bad(self.location(s), "a transcoded value too large for rkyv's 32-bit offsets"))?;
        self.room(8, s)?;
        self.out.extend_from_slice(&off.to_le_bytes());
        Ok(())
    }

    /// Writes the file's primitive at `at`, of type `from`, as a `to`.
    fn prim(&mut self, from: Prim, to: Prim, at: At) -> Result<()> {
        let raw = self.read(at, |b| b.le(at.pos, from.width()))?;
        let value = from.widen(to, raw).map_err(|d| bad(self.location(at.s), format!("{d} at {}", at.pos)))?;
        let bytes = value.to_le_bytes();
        let width = usize::try_from(to.width()).unwrap_or(0);
        self.room(to.width(), at.s)?;
        self.out.extend_from_slice(bytes.get(..width).unwrap_or_default());
        Ok(())
    }
}
