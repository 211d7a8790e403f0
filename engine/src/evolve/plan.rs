//! The plan for reading values that one schema (a file's) wrote as another schema's
//! types (the reader's): one node per pair of types met, each saying how to turn the
//! file's archived bytes into the reader's. Built ([`super::build`]) once per file
//! schema and reader type in a process, checked fully before any value is read: every
//! incompatibility is an [`Error::Incompatible`] naming the field path and both types.

use crate::error::{Error, Result};
use crate::format::ChunkRef;
use crate::schema::Relocator;
use crate::store::chunk::Chunk;
use rkyv::util::AlignedVec;
use std::sync::Arc;

/// A node's index in its plan.
pub(crate) type NodeId = u32;

/// A primitive's archived form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prim {
    U8,
    U16,
    U32,
    U64,
    U128,
    I8,
    I16,
    I32,
    I64,
    I128,
    F32,
    F64,
    Bool,
    Char,
    Unit,
}

impl Prim {
    pub(super) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "u8" => Prim::U8,
            "u16" => Prim::U16,
            "u32" => Prim::U32,
            "u64" | "usize" => Prim::U64,
            "u128" => Prim::U128,
            "i8" => Prim::I8,
            "i16" => Prim::I16,
            "i32" => Prim::I32,
            "i64" | "isize" => Prim::I64,
            "i128" => Prim::I128,
            "f32" => Prim::F32,
            "f64" => Prim::F64,
            "bool" => Prim::Bool,
            "char" => Prim::Char,
            "()" => Prim::Unit,
            _ => return None,
        })
    }

    /// Archived size in bytes.
    pub(crate) fn width(self) -> u64 {
        match self {
            Prim::Unit => 0,
            Prim::U8 | Prim::I8 | Prim::Bool => 1,
            Prim::U16 | Prim::I16 => 2,
            Prim::U32 | Prim::I32 | Prim::F32 | Prim::Char => 4,
            Prim::U64 | Prim::I64 | Prim::F64 => 8,
            Prim::U128 | Prim::I128 => 16,
        }
    }

    fn unsigned(self) -> bool {
        matches!(self, Prim::U8 | Prim::U16 | Prim::U32 | Prim::U64 | Prim::U128)
    }

    fn signed(self) -> bool {
        matches!(self, Prim::I8 | Prim::I16 | Prim::I32 | Prim::I64 | Prim::I128)
    }

    /// The file's primitive `raw` (of type `self`) as a `to`, which it widens to.
    ///
    /// # Errors
    /// An invalid `bool` or `char`.
    pub(crate) fn widen(self, to: Prim, raw: u128) -> Result<u128, String> {
        Ok(match self {
            Prim::Bool if raw > 1 => return Err(format!("invalid bool {raw}")),
            Prim::Char if char::from_u32(raw as u32).is_none() => return Err(String::from("invalid char")),
            Prim::I8 => raw as u8 as i8 as i128 as u128,
            Prim::I16 => raw as u16 as i16 as i128 as u128,
            Prim::I32 => raw as u32 as i32 as i128 as u128,
            Prim::I64 => raw as u64 as i64 as i128 as u128,
            Prim::F32 if to == Prim::F64 => u128::from(f64::from(f32::from_bits(raw as u32)).to_bits()),
            _ => raw,
        })
    }

    /// Whether every value of `self` is a value of `to`: the same type, a wider
    /// integer of the same signedness, a wider signed integer for an unsigned one, or
    /// `f64` for `f32`.
    pub(super) fn widens_to(self, to: Prim) -> bool {
        self == to
            || (self.unsigned() && to.unsigned() && self.width() < to.width())
            || (self.signed() && to.signed() && self.width() < to.width())
            || (self.unsigned() && to.signed() && self.width() < to.width())
            || (self == Prim::F32 && to == Prim::F64)
    }
}

/// How one field of the reader's value is made.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    /// Its offset in the reader's archived value.
    pub(crate) to: u64,
    pub(crate) src: Src,
    /// What the field adds to a path inside its parent (`.price`, `::Moved.to`,
    /// nothing for a map entry's value): errors and tags name where a value was met.
    pub(crate) seg: Box<str>,
}

/// Where a reader field's value comes from.
#[derive(Debug, Clone)]
pub(crate) enum Src {
    /// The file's field at `from`, inline in both.
    Inline { from: u64, node: NodeId },
    /// The file's lazy field at `from` (a chunk reference), lazy in both: the chunk is
    /// read through `node` when the reader follows it.
    Lazy { from: u64, node: NodeId },
    /// The file's sharded vector or map at `from` (a table header), the same in both:
    /// shards (a `Vec` through `node`) or map entries (a `(key, value)` through
    /// `node`) are read through it.
    Table { from: u64, node: NodeId },
    /// The file's inline field at `from`, lazy in the reader: a chunk made from the
    /// inline value when the reader follows it.
    ToLazy { from: u64, node: NodeId },
    /// The file's lazy field at `from`, inline in the reader: its chunk is read and its
    /// value placed inline.
    FromLazy { from: u64, node: NodeId },
    /// An added field: its default value (`defaults[id]`, in the reader's layout)
    /// placed inline through `node` (the reader's type read as itself).
    Default { id: usize, node: NodeId },
    /// An added lazy field: a chunk holding its default value `defaults[id]`.
    LazyDefault { id: usize },
    /// An added sharded vector or map: empty.
    Empty,
}

/// How one variant of the file's enum is read.
#[derive(Debug, Clone)]
pub(crate) enum Arm {
    /// As the reader's variant `tag`, its fields made by `slots`.
    To { tag: u8, slots: Vec<Slot> },
    /// Not at all: the reader has no such variant (and no `#[strata(other)]`).
    Unknown { variant: String },
}

/// How a file value becomes a reader value.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// Not built yet (only while the plan is being built).
    Pending,
    /// A primitive, widened when the reader's is wider.
    Prim { from: Prim, to: Prim },
    /// A string.
    String,
    /// A vector of elements read through the node.
    Vec(NodeId),
    /// An `Option` of values read through the node.
    Option(NodeId),
    /// A value of the file read as `Some` of the reader's `Option`.
    Some(NodeId),
    /// A `Box`.
    Box(NodeId),
    /// A value of the file read as the reader's `Box`.
    ToBox(NodeId),
    /// A file's `Box` read as the value it holds.
    Unbox(NodeId),
    /// An array of `n` elements.
    Array(NodeId, u64),
    /// A chunk reference inside a type (`Vec<lazy T>`), lazy in both: the chunk is read
    /// through the node when the reader follows it.
    Lazy(NodeId),
    /// A value inline in the file, a chunk reference in the reader (`Vec<T>` read as
    /// `Vec<lazy T>`): a chunk made from the inline value (through the node) when the
    /// reader follows it.
    ToLazy(NodeId),
    /// A struct, tuple or map entry: the reader's fields, in offset order.
    Struct(Vec<Slot>),
    /// An enum: one arm per variant of the file's, by the file's tag.
    Enum(Vec<Arm>),
    /// A value whose archived form strata does not know (rkyv's own inline maps,
    /// `#[strata(rkyv)]` fields): the same on both sides, moved by the reader type's
    /// relocator when it has one.
    Opaque(Option<Relocator>),
}

/// One pair of types: the file's and the reader's.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) op: Op,
    /// The reader's archived size and alignment.
    pub(crate) size: u64,
    pub(crate) align: u64,
    /// The file's archived size and alignment.
    pub(crate) file_size: u64,
    pub(crate) file_align: u64,
    /// The file's bytes are the reader's, here and in every chunk below: read as they
    /// are, zero-copy.
    pub(crate) same: bool,
    /// [`same`](Self::same), and the value has nothing out of line and no chunk
    /// references: its inline bytes are copied as they are.
    pub(crate) flat: bool,
    /// Where the pair was first met (`Shop.items[].price`), and the file's type there.
    pub(crate) path: String,
    pub(crate) file_ty: String,
    /// The file's type tag xored with the reader's ([`crate::format::type_tag`]): what
    /// turns a typed reference to a value of this node into the reader's.
    pub(crate) retag: u64,
}

/// How a lazy field inside a transcoded chunk is read: what its reference names.
#[derive(Debug, Clone)]
pub(crate) enum Tag {
    /// The file chunk the reference names, read through the node; `place` is the
    /// field's path (`Shop.items`).
    Chunk { node: NodeId, place: Arc<str> },
    /// The file's inline value at `pos` of the file chunk `src`, read as a chunk of its
    /// own through the node (a field that became lazy).
    Inline { src: ChunkRef, pos: u64, node: NodeId, place: Arc<str> },
    /// An added lazy field's default value (`Plan::defaults[id]`).
    Default(usize),
}

/// A transcoded value: its bytes, and the lazy fields inside that need a tag, by
/// position.
pub(crate) struct Made {
    pub(crate) bytes: AlignedVec<16>,
    pub(crate) tags: Vec<(u64, Tag)>,
}

/// The plan for reading one file schema as one reader type.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) nodes: Vec<Node>,
    pub(crate) root: NodeId,
    /// Default values of added fields, as the reader archives them (root at the end).
    pub(crate) defaults: Vec<Arc<Chunk>>,
    /// The most levels a transcoding descends through (see
    /// [`inline_nesting`](Self::inline_nesting)): `None` when values can nest without
    /// bound (recursive types).
    pub(crate) nesting: Option<u32>,
    /// Whether each node's values can be made by shifting (see [`super::shift`]).
    pub(crate) shift: Vec<bool>,
}

impl Plan {
    /// The node `id`.
    pub(crate) fn node(&self, id: NodeId) -> Result<&Node> {
        self.nodes.get(id as usize).ok_or_else(|| Error::Message(format!("internal: no plan node {id}")))
    }

    /// Whether values of `id` can be made by shifting (see [`super::shift`]).
    pub(crate) fn shifts(&self, id: NodeId) -> bool {
        self.shift.get(id as usize).copied().unwrap_or(false)
    }

    /// The nodes whose values are made by transcoding a chunk (the root, lazy fields,
    /// shards, map entries, inline values read as chunks) may hold opaque values there
    /// only when the reader type can move them (a relocator): strata cannot move bytes
    /// whose layout it does not know.
    pub(super) fn check_moves(&self, movable: &[bool]) -> Result<()> {
        let mut roots = vec![self.root];
        for n in &self.nodes {
            let mut slots = |s: &[Slot]| {
                for slot in s {
                    match slot.src {
                        Src::Lazy { node, .. } | Src::Table { node, .. } | Src::ToLazy { node, .. } => roots.push(node),
                        _ => {}
                    }
                }
            };
            match &n.op {
                Op::Lazy(c) | Op::ToLazy(c) => roots.push(*c),
                Op::Struct(s) => slots(s),
                Op::Enum(arms) => arms.iter().for_each(|a| {
                    if let Arm::To { slots: s, .. } = a {
                        slots(s);
                    }
                }),
                _ => {}
            }
        }
        for root in roots {
            let node = self.node(root)?;
            if node.same {
                continue;
            }
            let mut seen = vec![false; self.nodes.len()];
            let mut stack = vec![root];
            while let Some(id) = stack.pop() {
                let Some(flag) = seen.get_mut(id as usize) else { continue };
                if std::mem::replace(flag, true) {
                    continue;
                }
                let n = self.node(id)?;
                if n.flat {
                    continue;
                }
                match &n.op {
                    Op::Opaque(_) if movable.get(id as usize).copied().unwrap_or(false) => {}
                    Op::Opaque(_) => {
                        return Err(Error::Incompatible {
                            path: n.path.clone(),
                            file: n.file_ty.clone(),
                            reader: n.file_ty.clone(),
                            why: format!(
                                "it is stored in rkyv's own layout and cannot be moved (a `#[strata(rkyv)]` field, or a map or set holding chunks of its own) inside a value whose layout changed (`{}`); store it `#[strata(lazy)]` or keep the types around it unchanged",
                                node.path
                            ),
                        });
                    }
                    Op::Vec(c)
                    | Op::Option(c)
                    | Op::Some(c)
                    | Op::Box(c)
                    | Op::ToBox(c)
                    | Op::Unbox(c)
                    | Op::Array(c, _) => {
                        stack.push(*c);
                    }
                    Op::Struct(s) => stack.extend(s.iter().filter_map(inline_child)),
                    Op::Enum(arms) => {
                        for a in arms {
                            if let Arm::To { slots, .. } = a {
                                stack.extend(slots.iter().filter_map(inline_child));
                            }
                        }
                    }
                    // Another chunk: a root of its own.
                    Op::Pending | Op::Prim { .. } | Op::String | Op::Lazy(_) | Op::ToLazy(_) => {}
                }
            }
        }
        Ok(())
    }
}

impl Plan {
    /// The longest chain of nodes a transcoding descends through from any node
    /// (the children of [`Op`]s and the inline slots of structs and enums, as the
    /// transcoder follows them), or `None` when the chains loop (recursive types).
    pub(super) fn inline_nesting(&self) -> Option<u32> {
        // Depth-first, children before parents; `on_path` finds loops.
        let n = self.nodes.len();
        let mut longest: Vec<Option<u32>> = vec![None; n];
        let mut on_path = vec![false; n];
        for start in 0..n {
            let mut stack: Vec<(usize, bool)> = vec![(start, false)];
            while let Some((id, done)) = stack.pop() {
                let children = self.nodes.get(id).map(|node| children(&node.op)).unwrap_or_default();
                if done {
                    let below =
                        children.iter().filter_map(|&c| longest.get(c as usize).copied().flatten()).max().unwrap_or(0);
                    *longest.get_mut(id)? = Some(below + 1);
                    *on_path.get_mut(id)? = false;
                    continue;
                }
                if longest.get(id).copied().flatten().is_some() {
                    continue;
                }
                if std::mem::replace(on_path.get_mut(id)?, true) {
                    return None;
                }
                stack.push((id, true));
                for c in children {
                    if on_path.get(c as usize).copied().unwrap_or(false) {
                        return None;
                    }
                    stack.push((c as usize, false));
                }
            }
        }
        longest.into_iter().flatten().max().or(Some(0))
    }
}

/// The nodes a transcoder descends to from a node of `op`, within one chunk.
fn children(op: &Op) -> Vec<NodeId> {
    match op {
        Op::Vec(c) | Op::Option(c) | Op::Some(c) | Op::Box(c) | Op::ToBox(c) | Op::Unbox(c) | Op::Array(c, _) => {
            vec![*c]
        }
        Op::Struct(s) => s.iter().filter_map(inline_child).collect(),
        Op::Enum(arms) => arms
            .iter()
            .flat_map(|a| match a {
                Arm::To { slots, .. } => slots.iter().filter_map(inline_child).collect(),
                Arm::Unknown { .. } => Vec::new(),
            })
            .collect(),
        Op::Pending | Op::Prim { .. } | Op::String | Op::Lazy(_) | Op::ToLazy(_) | Op::Opaque(_) => Vec::new(),
    }
}

/// The node a slot's value is made through within its parent's chunk.
fn inline_child(slot: &Slot) -> Option<NodeId> {
    match slot.src {
        Src::Inline { node, .. } | Src::FromLazy { node, .. } | Src::Default { node, .. } => Some(node),
        _ => None,
    }
}
