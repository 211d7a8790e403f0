//! Building a [`Plan`]: the walk over a file schema and a reader schema that pairs
//! their types, applies the rules of `docs/EVOLUTION.md`, and makes one node per pair.

use super::plan::{Arm, Node, NodeId, Op, Plan, Prim, Slot, Src};
use crate::error::{Error, Result};
use crate::format::type_tag;
use crate::schema::Relocator;
use crate::schema::{Def, Defaults, Field, Schema, Storage, Ty, Variant, render, round_up};
use crate::store::chunk::Chunk;
use std::collections::HashMap;
use std::sync::Arc;

impl Plan {
    /// Builds the plan for reading values of the file's `file` schema as the reader's
    /// `reader` schema, whose added fields read as `defaults`.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`]-like [`Error::Incompatible`] for the first incompatible
    /// pair found, naming its path; [`Error::Schema`] when a schema names a type it
    /// does not define.
    pub(crate) fn build(
        file: &Schema,
        reader: &Schema,
        defaults: &Defaults,
        relocators: &HashMap<String, Relocator>,
    ) -> Result<Self> {
        make(file, reader, defaults, relocators, false)
    }

    /// Checks that a file of schema `file` can be read by types of schema `reader`
    /// without those types at hand: the defaults `reader` marks are taken as given, and
    /// its inline maps and sets whose types hold no chunk as movable.
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub(crate) fn check(file: &Schema, reader: &Schema) -> Result<()> {
        make(file, reader, &Defaults::default(), &HashMap::new(), true).map(drop)
    }
}

/// Builds a plan (see [`Plan::build`] and [`Plan::check`]).
pub(super) fn make(
    file: &Schema,
    reader: &Schema,
    defaults: &Defaults,
    relocators: &HashMap<String, Relocator>,
    check_only: bool,
) -> Result<Plan> {
    let mut b = Builder {
        file,
        reader,
        defaults,
        relocators,
        memo: HashMap::new(),
        nodes: Vec::new(),
        defaults_made: Vec::new(),
        keys: Vec::new(),
        entry: false,
        check_only,
        depth: 0,
    };
    let path = root_path(&reader.root);
    let root = b.node(Side::File, &file.root, &reader.root, &path)?;
    b.settle();
    b.check_keys()?;
    let movable: Vec<bool> = b
        .nodes
        .iter()
        .map(|n| match &n.op {
            Op::Opaque(r) => r.is_some() || (check_only && movable(reader, &n.file_ty)),
            _ => true,
        })
        .collect();
    let mut plan = Plan { nodes: b.nodes, root, defaults: b.defaults_made, nesting: None, shift: Vec::new() };
    plan.nesting = plan.inline_nesting();
    plan.shift = super::shift::shiftable(&plan);
    plan.check_moves(&movable)?;
    Ok(plan)
}

/// Whether an opaque value named `name` (`HashMap<String, Item>`) of the reader's
/// schema is an inline map or set whose types hold no chunk: what its Rust type would
/// register a relocator for.
fn movable(reader: &Schema, name: &str) -> bool {
    if !["HashMap<", "BTreeMap<", "HashSet<", "BTreeSet<"].iter().any(|p| name.starts_with(p)) {
        return false;
    }
    let words = |text: &str| -> Vec<String> {
        text.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).map(str::to_owned).collect()
    };
    // The named types it mentions, and the ones they mention, hold no chunk.
    let mut stack = words(name);
    let mut seen = std::collections::HashSet::new();
    while let Some(word) = stack.pop() {
        if !seen.insert(word.clone()) {
            continue;
        }
        for (_, def) in reader.types.iter().filter(|(n, _)| n.split('<').next() == Some(word.as_str())) {
            let fields: Vec<&Field> = match def {
                Def::Struct { fields, .. } => fields.iter().collect(),
                Def::Enum { variants, .. } => variants.iter().flat_map(|v| &v.fields).collect(),
            };
            for f in fields {
                if f.storage != Storage::Inline {
                    return false;
                }
                stack.extend(words(&render(&f.ty)));
            }
        }
    }
    true
}

/// The path of the root: its type's name.
fn root_path(ty: &Ty) -> String {
    match ty {
        Ty::Named(name, _) => base(name).to_owned(),
        other => render(other),
    }
}

/// A named type's name without its arguments (`Pair` for `Pair<u32, String>`).
fn base(name: &str) -> &str {
    name.split('<').next().unwrap_or(name)
}

/// Which schema a node's source values are laid out by: the file's, or the reader's
/// own (default values, read as themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    File,
    Reader,
}

struct Builder<'s> {
    file: &'s Schema,
    reader: &'s Schema,
    defaults: &'s Defaults,
    relocators: &'s HashMap<String, Relocator>,
    /// Nodes by (side, map entry, file type, reader type).
    memo: HashMap<(Side, bool, Ty, Ty), NodeId>,
    nodes: Vec<Node>,
    defaults_made: Vec<Arc<Chunk>>,
    /// Map key nodes, which must read as they are (buckets are hashed by the key).
    keys: Vec<(NodeId, String, String, String)>,
    /// The next tuple node is a map's entry.
    entry: bool,
    /// Only checking: defaults are not made.
    check_only: bool,
    /// Nodes being built around the current one.
    depth: u32,
}

/// The most nested pairs of types a plan follows (each a level of the builder's and the
/// transcoder's recursion; recursive types close through the nodes already made): a
/// file whose schema chains more distinct types than this is refused.
const MAX_PLAN_DEPTH: u32 = 128;

impl Builder<'_> {
    fn source(&self, side: Side) -> &Schema {
        match side {
            Side::File => self.file,
            Side::Reader => self.reader,
        }
    }

    fn incompatible(&self, path: &str, f: &Ty, r: &Ty, why: impl Into<String>) -> Error {
        Error::Incompatible { path: path.to_owned(), file: render(f), reader: render(r), why: why.into() }
    }

    fn node(&mut self, side: Side, f: &Ty, r: &Ty, path: &str) -> Result<NodeId> {
        let key = (side, self.entry, f.clone(), r.clone());
        if let Some(&id) = self.memo.get(&key) {
            return Ok(id);
        }
        if self.depth >= MAX_PLAN_DEPTH {
            return Err(Error::Schema(format!(
                "types nested deeper than {MAX_PLAN_DEPTH} levels at `{path}`: more than a plan follows"
            )));
        }
        let (file_size, file_align) = self.source(side).layout(f)?;
        let (size, align) = self.reader.layout(r)?;
        let id = NodeId::try_from(self.nodes.len()).map_err(|_| Error::Schema(String::from("too many types")))?;
        self.nodes.push(Node {
            op: Op::Pending,
            size,
            align,
            file_size,
            file_align,
            same: true,
            flat: false,
            path: path.to_owned(),
            file_ty: render(f),
            retag: type_tag(&render(f)) ^ type_tag(&render(r)),
        });
        self.memo.insert(key, id);
        self.depth += 1;
        let op = self.op(side, f, r, path);
        self.depth -= 1;
        let op = op?;
        if let Some(node) = self.nodes.get_mut(id as usize) {
            node.op = op;
        }
        Ok(id)
    }

    fn op(&mut self, side: Side, f: &Ty, r: &Ty, path: &str) -> Result<Op> {
        Ok(match (f, r) {
            (Ty::Prim(a), Ty::Prim(b)) => {
                let (Some(from), Some(to)) = (Prim::parse(a), Prim::parse(b)) else {
                    return Err(Error::Schema(format!("unknown primitive `{a}` or `{b}`")));
                };
                if !from.widens_to(to) {
                    return Err(self.incompatible(
                        path,
                        f,
                        r,
                        "only widening conversions are read (u8 to u16, i32 to i64, u32 to i64, f32 to f64, ...)",
                    ));
                }
                Op::Prim { from, to }
            }
            (Ty::String, Ty::String) => Op::String,
            // A `Box<str>` has a `Vec<u8>`'s layout; the made chunk is validated as the
            // reader's type, UTF-8 included.
            (Ty::Str, Ty::Str) => {
                let byte = Ty::Prim(String::from("u8"));
                Op::Vec(self.node(side, &byte, &byte, &format!("{path}[]"))?)
            }
            (Ty::Vec(a), Ty::Vec(b)) => Op::Vec(self.node(side, a, b, &format!("{path}[]"))?),
            (Ty::Lazy(a), Ty::Lazy(b)) => Op::Lazy(self.node(side, a, b, path)?),
            (a, Ty::Lazy(b)) => Op::ToLazy(self.node(side, a, b, path)?),
            (Ty::Option(a), Ty::Option(b)) => Op::Option(self.node(side, a, b, path)?),
            (a, Ty::Option(b)) => Op::Some(self.node(side, a, b, path)?),
            (Ty::Boxed(a), Ty::Boxed(b)) => Op::Box(self.node(side, a, b, path)?),
            (a, Ty::Boxed(b)) => Op::ToBox(self.node(side, a, b, path)?),
            (Ty::Boxed(a), b) => Op::Unbox(self.node(side, a, b, path)?),
            (Ty::Array(a, n), Ty::Array(b, m)) => {
                if n != m {
                    return Err(self.incompatible(path, f, r, "arrays of different lengths"));
                }
                Op::Array(self.node(side, a, b, &format!("{path}[]"))?, *n)
            }
            (Ty::Tuple(a), Ty::Tuple(b)) => {
                if a.len() != b.len() {
                    return Err(self.incompatible(path, f, r, "tuples of different lengths"));
                }
                let from = tuple_offsets(self.source(side), a)?;
                let to = tuple_offsets(self.reader, b)?;
                let entry = std::mem::take(&mut self.entry);
                let mut slots = Vec::with_capacity(b.len());
                for (i, ((fa, fo), (rb, ro))) in a.iter().zip(from).zip(b.iter().zip(to)).enumerate() {
                    let seg = match (entry, i) {
                        (true, 0) => String::from(".key"),
                        (true, _) => String::new(),
                        (false, _) => format!(".{i}"),
                    };
                    let node = self.node(side, fa, rb, &format!("{path}{seg}"))?;
                    slots.push(Slot { to: ro, src: Src::Inline { from: fo, node }, seg: seg.into() });
                }
                Op::Struct(slots)
            }
            (Ty::Opaque { .. }, Ty::Opaque { .. }) => {
                if f != r {
                    return Err(self.incompatible(
                        path,
                        f,
                        r,
                        "a value stored in rkyv's own layout must keep its type",
                    ));
                }
                let Ty::Opaque { name, .. } = r else {
                    return Err(self.incompatible(path, f, r, "the types differ"));
                };
                Op::Opaque(self.relocators.get(name).copied())
            }
            (Ty::Named(fname, _), Ty::Named(rname, _)) => {
                let fdef = self
                    .source(side)
                    .types
                    .get(fname)
                    .ok_or_else(|| Error::Schema(format!("no definition of `{fname}`")))?;
                let rdef =
                    self.reader.types.get(rname).ok_or_else(|| Error::Schema(format!("no definition of `{rname}`")))?;
                let raliases = match rdef {
                    Def::Struct { aliases, .. } | Def::Enum { aliases, .. } => aliases,
                };
                if base(fname) != base(rname) && !raliases.iter().any(|a| a == base(fname)) {
                    return Err(self.incompatible(
                        path,
                        f,
                        r,
                        format!(
                            "different types (`#[strata(alias = \"{}\")]` on `{}` accepts the old name)",
                            base(fname),
                            base(rname)
                        ),
                    ));
                }
                let (fdef, rdef) = (fdef.clone(), rdef.clone());
                match (&fdef, &rdef) {
                    (Def::Struct { fields: ff, .. }, Def::Struct { fields: rf, .. }) => {
                        Op::Struct(self.slots(side, rname, None, ff, rf, path)?)
                    }
                    (Def::Enum { variants: fv, .. }, Def::Enum { variants: rv, .. }) => {
                        Op::Enum(self.arms(side, rname, fv, rv, path)?)
                    }
                    _ => return Err(self.incompatible(path, f, r, "a struct and an enum")),
                }
            }
            _ => return Err(self.incompatible(path, f, r, "the types differ")),
        })
    }

    /// The reader's fields `rf` made from the file's `ff`, in the reader's offset order.
    fn slots(
        &mut self,
        side: Side,
        rname: &str,
        variant: Option<&str>,
        ff: &[Field],
        rf: &[Field],
        path: &str,
    ) -> Result<Vec<Slot>> {
        let mut slots = Vec::with_capacity(rf.len());
        for r in rf {
            let seg = match variant {
                Some(v) => format!("::{v}.{}", r.name),
                None => format!(".{}", r.name),
            };
            let fpath = format!("{path}{seg}");
            let found = std::iter::once(&r.name).chain(&r.aliases).find_map(|n| ff.iter().find(|f| f.name == *n));
            let src = match found {
                Some(f) => self.transition(side, f, r, &fpath)?,
                None => self.added(rname, variant, r, &fpath)?,
            };
            slots.push(Slot { to: r.offset, src, seg: seg.into() });
        }
        slots.sort_by_key(|s| s.to);
        Ok(slots)
    }

    /// How a field present on both sides is read, by how each side stores it.
    fn transition(&mut self, side: Side, f: &Field, r: &Field, path: &str) -> Result<Src> {
        let from = f.offset;
        Ok(match (f.storage, r.storage) {
            (Storage::Inline, Storage::Inline) => Src::Inline { from, node: self.node(side, &f.ty, &r.ty, path)? },
            (Storage::Lazy, Storage::Lazy) => Src::Lazy { from, node: self.node(side, &f.ty, &r.ty, path)? },
            (Storage::Inline, Storage::Lazy) => Src::ToLazy { from, node: self.node(side, &f.ty, &r.ty, path)? },
            (Storage::Lazy, Storage::Inline) => Src::FromLazy { from, node: self.node(side, &f.ty, &r.ty, path)? },
            (Storage::Shard, Storage::Shard) => {
                let (Ty::Vec(_), Ty::Vec(_)) = (&f.ty, &r.ty) else {
                    return Err(self.incompatible(path, &f.ty, &r.ty, "a sharded field that is not a Vec"));
                };
                Src::Table { from, node: self.node(side, &f.ty, &r.ty, path)? }
            }
            (Storage::Map, Storage::Map) => {
                let (fk, fv, fset) = map_types(&f.ty)
                    .ok_or_else(|| self.incompatible(path, &f.ty, &r.ty, "a map field that is not a map"))?;
                let (rk, rv, rset) = map_types(&r.ty)
                    .ok_or_else(|| self.incompatible(path, &f.ty, &r.ty, "a map field that is not a map"))?;
                if fset != rset {
                    return Err(self.incompatible(path, &f.ty, &r.ty, "a map and a set"));
                }
                // The entry's parts are named as a map's (`.key`, the value at `[]`).
                self.entry = true;
                let node = self.node(
                    side,
                    &Ty::Tuple(vec![fk.clone(), fv]),
                    &Ty::Tuple(vec![rk.clone(), rv]),
                    &format!("{path}[]"),
                );
                self.entry = false;
                let node = node?;
                let key = self.node(side, &fk, &rk, &format!("{path}.key"))?;
                self.keys.push((key, path.to_owned(), render(&f.ty), render(&r.ty)));
                Src::Table { from, node }
            }
            (a, b) => {
                return Err(self.incompatible(
                    path,
                    &f.ty,
                    &r.ty,
                    format!(
                        "stored {} in the file and {} here: only inline and lazy fields turn into each other",
                        storage_name(a),
                        storage_name(b)
                    ),
                ));
            }
        })
    }

    /// How a field the file lacks is read: as its default, when it has one.
    fn added(&mut self, rname: &str, variant: Option<&str>, r: &Field, path: &str) -> Result<Src> {
        if !r.default {
            return Err(Error::Incompatible {
                path: path.to_owned(),
                file: String::from("(no such field)"),
                reader: render(&r.ty),
                why: String::from(
                    "the file lacks this field and it has no default: mark it `#[strata(default)]` or `#[strata(default = \"path\")]`",
                ),
            });
        }
        if matches!(r.storage, Storage::Shard | Storage::Map) || self.check_only {
            return Ok(Src::Empty);
        }
        let label = match variant {
            Some(v) => format!("{v}.{}", r.name),
            None => r.name.clone(),
        };
        let make = self.defaults.get(rname, &label).ok_or_else(|| Error::Incompatible {
            path: path.to_owned(),
            file: String::from("(no such field)"),
            reader: render(&r.ty),
            why: String::from("the reading type's schema marks a default the type does not register"),
        })?;
        let bytes = make().map_err(|e| Error::Incompatible {
            path: path.to_owned(),
            file: String::from("(no such field)"),
            reader: render(&r.ty),
            why: format!("its default value cannot be archived: {e}"),
        })?;
        let id = self.defaults_made.len();
        let len = bytes.len() as u64;
        self.defaults_made.push(Arc::new(Chunk::heap(
            bytes,
            crate::format::ChunkRef::new(0, len, len, 0, crate::format::Encoding::None),
        )));
        Ok(match r.storage {
            Storage::Lazy => Src::LazyDefault { id },
            _ => Src::Default { id, node: self.node(Side::Reader, &r.ty, &r.ty, path)? },
        })
    }

    /// The file's variants `fv` read as the reader's `rv`.
    fn arms(&mut self, side: Side, rname: &str, fv: &[Variant], rv: &[Variant], path: &str) -> Result<Vec<Arm>> {
        let other = rv.iter().position(|v| v.other);
        let mut arms = Vec::with_capacity(fv.len());
        for v in fv {
            let found = rv
                .iter()
                .position(|r| r.name == v.name)
                .or_else(|| rv.iter().position(|r| r.aliases.contains(&v.name)));
            arms.push(match (found, other) {
                (Some(j), _) => {
                    let r = rv.get(j).ok_or_else(|| Error::Schema(String::from("variant")))?;
                    let tag = u8::try_from(j).map_err(|_| Error::Schema(String::from("more than 256 variants")))?;
                    Arm::To { tag, slots: self.slots(side, rname, Some(&r.name), &v.fields, &r.fields, path)? }
                }
                (None, Some(o)) => Arm::To {
                    tag: u8::try_from(o).map_err(|_| Error::Schema(String::from("more than 256 variants")))?,
                    slots: Vec::new(),
                },
                (None, None) => Arm::Unknown { variant: v.name.clone() },
            });
        }
        Ok(arms)
    }

    /// Decides which nodes read as they are (`same`: the greatest fixpoint, so that
    /// recursive types that did not change are zero-copy) and which are flat.
    fn settle(&mut self) {
        loop {
            let mut changed = false;
            for i in 0..self.nodes.len() {
                let same = self.nodes.get(i).is_some_and(|n| n.same) && self.locally_same(i);
                if let Some(n) = self.nodes.get_mut(i)
                    && n.same != same
                {
                    n.same = same;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        // Flat: the least fixpoint (a cycle always passes through a Box or a Vec).
        loop {
            let mut changed = false;
            for i in 0..self.nodes.len() {
                let flat = self.nodes.get(i).is_some_and(|n| n.same) && self.locally_flat(i);
                if let Some(n) = self.nodes.get_mut(i)
                    && flat
                    && !n.flat
                {
                    n.flat = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn same(&self, id: NodeId) -> bool {
        self.nodes.get(id as usize).is_some_and(|n| n.same)
    }

    /// Whether a typed reference to a value of `id` names the type the reader reads, so
    /// that it can be read as it is.
    fn retags_nothing(&self, id: NodeId) -> bool {
        self.nodes.get(id as usize).is_some_and(|n| n.retag == 0)
    }

    fn flat(&self, id: NodeId) -> bool {
        self.nodes.get(id as usize).is_some_and(|n| n.flat)
    }

    fn locally_same(&self, i: usize) -> bool {
        let Some(n) = self.nodes.get(i) else { return false };
        if n.size != n.file_size || n.align != n.file_align {
            return false;
        }
        let slots_same = |slots: &[Slot]| {
            slots.iter().all(|s| match s.src {
                Src::Inline { from, node } | Src::Table { from, node } => from == s.to && self.same(node),
                Src::Lazy { from, node } => from == s.to && self.same(node) && self.retags_nothing(node),
                _ => false,
            })
        };
        match &n.op {
            Op::Pending => false,
            Op::Prim { from, to } => from == to,
            Op::String | Op::Opaque(_) => true,
            Op::Vec(c) | Op::Option(c) | Op::Box(c) | Op::Array(c, _) => self.same(*c),
            // A typed reference read as it is must name the type the reader reads.
            Op::Lazy(c) => self.same(*c) && self.retags_nothing(*c),
            Op::Some(_) | Op::ToBox(_) | Op::Unbox(_) | Op::ToLazy(_) => false,
            Op::Struct(slots) => slots_same(slots),
            Op::Enum(arms) => arms.iter().enumerate().all(|(j, a)| match a {
                Arm::To { tag, slots } => usize::from(*tag) == j && slots_same(slots),
                Arm::Unknown { .. } => false,
            }),
        }
    }

    fn locally_flat(&self, i: usize) -> bool {
        let Some(n) = self.nodes.get(i) else { return false };
        let slots_flat =
            |slots: &[Slot]| slots.iter().all(|s| matches!(s.src, Src::Inline { node, .. } if self.flat(node)));
        match &n.op {
            Op::Prim { .. } => true,
            Op::Option(c) | Op::Array(c, _) => self.flat(*c),
            Op::Struct(slots) => slots_flat(slots),
            Op::Enum(arms) => arms.iter().all(|a| matches!(a, Arm::To { slots, .. } if slots_flat(slots))),
            _ => false,
        }
    }

    /// Map keys must read as they are: buckets are placed by the key's hash.
    fn check_keys(&self) -> Result<()> {
        for (key, path, file, reader) in &self.keys {
            if !self.same(*key) {
                return Err(Error::Incompatible {
                    path: path.clone(),
                    file: file.clone(),
                    reader: reader.clone(),
                    why: String::from(
                        "a `#[strata(map)]` field's key type must not change: its buckets are hashed by the key",
                    ),
                });
            }
        }
        Ok(())
    }
}

/// The offsets of a tuple's elements.
fn tuple_offsets(schema: &Schema, tys: &[Ty]) -> Result<Vec<u64>> {
    let mut at = 0;
    let mut out = Vec::with_capacity(tys.len());
    for t in tys {
        let (s, a) = schema.layout(t)?;
        at = round_up(at, a);
        out.push(at);
        at += s;
    }
    Ok(out)
}

/// A map or set type's key and value types (`()` for sets), and whether it is a set.
fn map_types(ty: &Ty) -> Option<(Ty, Ty, bool)> {
    match ty {
        Ty::Named(n, args) if n.starts_with("HashSet<") || n.starts_with("BTreeSet<") => {
            Some((args.first()?.clone(), Ty::Prim(String::from("()")), true))
        }
        Ty::Named(n, args) if (n.starts_with("HashMap<") || n.starts_with("BTreeMap<")) && args.len() == 2 => {
            Some((args.first()?.clone(), args.get(1)?.clone(), false))
        }
        _ => None,
    }
}

fn storage_name(s: Storage) -> &'static str {
    match s {
        Storage::Inline => "inline",
        Storage::Lazy => "lazy",
        Storage::Shard => "sharded",
        Storage::Map => "as a map",
    }
}
