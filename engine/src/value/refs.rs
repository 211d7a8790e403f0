//! Where the chunk references inside an archived value lie, found from the schema's
//! layouts without the Rust types: what a copy of a file that moves its chunks
//! ([`crate::compact`]) must rewrite.

use crate::error::{Error, Location, Result};
use crate::format::archived::Bytes;
use crate::schema::{Def, Field, Schema, Storage, Ty, round_up};
use std::cell::RefCell;
use std::collections::HashMap;

/// A chunk reference inside a value, and what the chunk it names holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Site {
    /// A 40-byte chunk reference to a value of this type (a lazy field, a shared `Arc`).
    Lazy(Ty),
    /// A 64-byte sharded-vector header (its first 40 bytes reference the table's root
    /// node) whose shards hold elements of this type.
    Shard(Ty),
    /// A 64-byte bucketed-map header with these key and value types.
    Map(Ty, Ty),
}

/// The most levels a value is walked through: as the schema-driven decoder.
const MAX_LEVELS: u32 = 4096;

/// Finds the chunk references inside values of one schema's types.
pub(crate) struct Sites<'s> {
    schema: &'s Schema,
    /// Whether each named type may hold a reference (`None`: being worked out).
    holds: RefCell<HashMap<String, Option<bool>>>,
}

impl<'s> Sites<'s> {
    pub(crate) fn new(schema: &'s Schema) -> Self {
        Self { schema, holds: RefCell::default() }
    }

    /// Whether a value of `ty` (stored inline) may hold a chunk reference.
    ///
    /// # Errors
    /// A reference to a type the schema does not define.
    pub(crate) fn holds(&self, ty: &Ty) -> Result<bool> {
        Ok(match ty {
            Ty::Prim(_) | Ty::String | Ty::Str => false,
            Ty::Lazy(_) => true,
            Ty::Vec(t) | Ty::Option(t) | Ty::Boxed(t) | Ty::Array(t, _) => self.holds(t)?,
            Ty::Tuple(ts) => {
                for t in ts {
                    if self.holds(t)? {
                        return Ok(true);
                    }
                }
                false
            }
            // rkyv's own inline maps and `#[strata(rkyv)]` types: the name is all the
            // schema gives. One that mentions a type holding references may hold them.
            Ty::Opaque { name, .. } => {
                let names: Vec<String> =
                    self.schema.types.keys().filter(|n| name.contains(n.as_str())).cloned().collect();
                for n in names {
                    if self.holds(&Ty::Named(n, Vec::new()))? {
                        return Ok(true);
                    }
                }
                false
            }
            Ty::Named(name, _) => {
                if let Some(known) = self.holds.borrow().get(name) {
                    // A type that contains itself: the cycle adds nothing.
                    return Ok(known.unwrap_or(false));
                }
                self.holds.borrow_mut().insert(name.clone(), None);
                let fields: Vec<&Field> = match self.schema.types.get(name) {
                    Some(Def::Struct { fields, .. }) => fields.iter().collect(),
                    Some(Def::Enum { variants, .. }) => variants.iter().flat_map(|v| &v.fields).collect(),
                    None => return Err(Error::Schema(format!("no definition of `{name}`"))),
                };
                let mut holds = false;
                for f in fields {
                    if f.storage != Storage::Inline || self.holds(&f.ty)? {
                        holds = true;
                        break;
                    }
                }
                self.holds.borrow_mut().insert(name.clone(), Some(holds));
                holds
            }
        })
    }

    /// Adds to `out` the references inside the value of type `ty`, stored as `storage`,
    /// at `pos` of `bytes` (a chunk's raw bytes, at `at` in the file): each reference's
    /// position and what it names.
    ///
    /// # Errors
    /// When the bytes do not hold what the layouts say ([`Error::InvalidData`]), the
    /// value nests past 4,096 levels, or a reference may lie inside a value whose
    /// layout the schema does not give (an opaque type holding lazy fields).
    pub(crate) fn find(
        &self,
        bytes: &[u8],
        at: Location,
        pos: u64,
        ty: &Ty,
        storage: Storage,
        out: &mut Vec<(u64, Site)>,
    ) -> Result<()> {
        self.find_depth(Bytes::new(bytes), at, pos, ty, storage, out, 0)
    }

    #[expect(clippy::too_many_arguments, reason = "one recursive walk; the arguments are its state")]
    fn find_depth(
        &self,
        b: Bytes<'_>,
        at: Location,
        pos: u64,
        ty: &Ty,
        storage: Storage,
        out: &mut Vec<(u64, Site)>,
        depth: u32,
    ) -> Result<()> {
        let bad = |detail: String| Error::InvalidData { at, ty: "value", detail };
        if depth > MAX_LEVELS {
            return Err(Error::TooDeep {
                what: "a value walked without its type",
                depth: u64::from(depth),
                limit: u64::from(MAX_LEVELS),
                at: Some(at),
            });
        }
        let elem_of = |t: &Ty| match t {
            Ty::Vec(e) => Ok((**e).clone()),
            other => Err(bad(format!("a sharded field of type {} is not a Vec", crate::schema::render(other)))),
        };
        match storage {
            Storage::Lazy => {
                b.slice(pos, 40).map_err(bad)?;
                out.push((pos, Site::Lazy(ty.clone())));
                return Ok(());
            }
            Storage::Shard => {
                b.slice(pos, 64).map_err(bad)?;
                out.push((pos, Site::Shard(elem_of(ty)?)));
                return Ok(());
            }
            Storage::Map => {
                b.slice(pos, 64).map_err(bad)?;
                let (k, v) =
                    map_types(ty).ok_or_else(|| bad(format!("a map of type {}", crate::schema::render(ty))))?;
                out.push((pos, Site::Map(k, v)));
                return Ok(());
            }
            Storage::Inline => {}
        }
        if !self.holds(ty)? {
            return Ok(());
        }
        // Values that hold a 40-byte reference are not zero-sized; a schema that says so
        // would make a vector's declared length, unbounded by its bytes, a loop count.
        let sized = |size: u64| {
            if size == 0 { Err(bad(String::from("zero-sized values that hold references"))) } else { Ok(size) }
        };
        let inner = |pos: u64, ty: &Ty, storage: Storage, out: &mut Vec<(u64, Site)>| {
            crate::deep::grow(|| self.find_depth(b, at, pos, ty, storage, out, depth + 1))
        };
        match ty {
            Ty::Lazy(t) => inner(pos, t, Storage::Lazy, out)?,
            Ty::Vec(elem) => {
                let size = sized(self.schema.layout(elem)?.0)?;
                let (start, len) = b.vec(pos, size).map_err(bad)?;
                for i in 0..len {
                    inner(start + i * size, elem, Storage::Inline, out)?;
                }
            }
            Ty::Option(t) => {
                let (_, align) = self.schema.layout(t)?;
                match b.byte(pos).map_err(bad)? {
                    0 => {}
                    1 => inner(pos + round_up(1, align), t, Storage::Inline, out)?,
                    tag => return Err(bad(format!("invalid Option tag {tag} at {pos}"))),
                }
            }
            Ty::Boxed(t) => inner(b.rel(pos).map_err(bad)?, t, Storage::Inline, out)?,
            Ty::Array(t, n) => {
                let size = sized(self.schema.layout(t)?.0)?;
                b.slice(pos, size.saturating_mul(*n)).map_err(bad)?;
                for i in 0..*n {
                    inner(pos + i * size, t, Storage::Inline, out)?;
                }
            }
            Ty::Tuple(ts) => {
                let mut off = 0;
                for t in ts {
                    let (size, align) = self.schema.layout(t)?;
                    off = round_up(off, align);
                    inner(pos + off, t, Storage::Inline, out)?;
                    off += size;
                }
            }
            Ty::Named(name, _) => {
                let fields = match self.schema.types.get(name) {
                    Some(Def::Struct { fields, .. }) => fields,
                    Some(Def::Enum { variants, .. }) => {
                        let tag = b.byte(pos).map_err(bad)?;
                        &variants
                            .get(usize::from(tag))
                            .ok_or_else(|| bad(format!("invalid variant {tag} of `{name}` at {pos}")))?
                            .fields
                    }
                    None => return Err(Error::Schema(format!("no definition of `{name}`"))),
                };
                for f in fields {
                    inner(pos + f.offset, &f.ty, f.storage, out)?;
                }
            }
            Ty::Opaque { name, .. } => {
                return Err(bad(format!(
                    "`{name}` may hold lazy fields, whose references the schema cannot locate inside it"
                )));
            }
            Ty::Prim(_) | Ty::String | Ty::Str => {}
        }
        Ok(())
    }
}

/// The key and value types of a bucketed map's type (a set's values are `()`).
pub(crate) fn map_types(ty: &Ty) -> Option<(Ty, Ty)> {
    match ty {
        Ty::Named(n, args) if n.starts_with("HashSet<") || n.starts_with("BTreeSet<") => {
            Some((args.first()?.clone(), Ty::Prim(String::from("()"))))
        }
        Ty::Named(_, args) if args.len() == 2 => Some((args.first()?.clone(), args.get(1)?.clone())),
        _ => None,
    }
}
