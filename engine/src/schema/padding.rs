//! Padding in archived layouts: the zero bytes rkyv's `repr(C)` layout leaves between a
//! struct's fields and after its last, and the size its fields would take in another
//! order. Computed from a schema alone (`strata schema --layout`, and
//! [`Archive::space`](crate::Archive::space) per collection).
//!
//! rkyv lays a struct's fields out in declaration order, each at the next multiple of
//! its alignment; strata's derive keeps that order, which is the order of the Rust
//! declaration. Declaring fields by decreasing alignment leaves no padding between them
//! (every size is a multiple of its alignment). Schema evolution matches fields by name,
//! so files written before a reordering still read.

use super::parse::{Def, Schema, Storage, Ty, round_up};
use crate::error::{Error, Result};

/// How deeply [`Schema::padding`] follows inline types (as the schema's own layout walk).
const MAX_DEPTH: u32 = 64;

/// The padding of one struct of a schema; see [`Schema::struct_padding`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructPadding {
    /// Its archived size.
    pub size: u64,
    /// Zero bytes between its own fields and after the last, in its archived size.
    pub own: u64,
    /// Its padding at every level: its own, and that of the structs, tuples and options
    /// its fields hold inline (not what vectors, boxes or chunks point to).
    pub total: u64,
    /// Its size with its fields declared by decreasing alignment (equal alignments in
    /// declaration order).
    pub reordered_size: u64,
    /// The field names in that order.
    pub reordered: Vec<String>,
}

impl Schema {
    /// Zero bytes inside one archived value of `ty`: between fields and after the last,
    /// at every level of what it holds inline (structs, tuples, arrays, an `Option`'s
    /// tag and value). Bytes behind pointers (a `Vec`'s elements, a `Box`, a chunk) are
    /// not part of the value; enums and opaque types count as 0.
    ///
    /// # Errors
    /// [`Error::Schema`] for a named type with no definition, or nesting past 64 levels.
    pub fn padding(&self, ty: &Ty) -> Result<u64> {
        self.padding_depth(ty, 0)
    }

    fn padding_depth(&self, ty: &Ty, depth: u32) -> Result<u64> {
        if depth > MAX_DEPTH {
            return Err(Error::Schema(String::from("type nesting too deep")));
        }
        Ok(match ty {
            Ty::Prim(_) | Ty::String | Ty::Str | Ty::Lazy(_) | Ty::Vec(_) | Ty::Boxed(_) | Ty::Opaque { .. } => 0,
            Ty::Option(t) => {
                let (size, _) = self.layout(ty)?;
                let (inner, _) = self.layout(t)?;
                size.saturating_sub(inner.saturating_add(1)).saturating_add(self.padding_depth(t, depth + 1)?)
            }
            Ty::Array(t, n) => self.padding_depth(t, depth + 1)?.saturating_mul(*n),
            Ty::Tuple(ts) => {
                let (size, _) = self.layout(ty)?;
                let mut fixed = 0u64;
                let mut inner = 0u64;
                for t in ts {
                    fixed = fixed.saturating_add(self.layout(t)?.0);
                    inner = inner.saturating_add(self.padding_depth(t, depth + 1)?);
                }
                size.saturating_sub(fixed).saturating_add(inner)
            }
            Ty::Named(name, _) => match self.types.get(name) {
                Some(def @ Def::Struct { .. }) => self.struct_padding_depth(def, depth)?.map_or(0, |p| p.total),
                Some(Def::Enum { .. }) => 0,
                None => return Err(Error::Schema(format!("no definition of `{name}` in the schema"))),
            },
        })
    }

    /// The padding of a struct definition; `None` for an enum.
    ///
    /// # Errors
    /// [`Error::Schema`] for a named type with no definition, or nesting past 64 levels.
    pub fn struct_padding(&self, def: &Def) -> Result<Option<StructPadding>> {
        self.struct_padding_depth(def, 0)
    }

    fn struct_padding_depth(&self, def: &Def, depth: u32) -> Result<Option<StructPadding>> {
        let Def::Struct { size, align, fields, .. } = def else { return Ok(None) };
        let mut parts = Vec::with_capacity(fields.len());
        let mut inner = 0u64;
        for f in fields {
            let (s, a) = match f.storage {
                Storage::Inline => {
                    inner = inner.saturating_add(self.padding_depth(&f.ty, depth + 1)?);
                    self.layout(&f.ty)?
                }
                Storage::Lazy => (40, 8),
                Storage::Shard | Storage::Map => (64, 8),
            };
            parts.push((f.name.as_str(), s, a));
        }
        let fixed = parts.iter().fold(0u64, |n, (_, s, _)| n.saturating_add(*s));
        let own = size.saturating_sub(fixed);
        let mut order: Vec<(&str, u64, u64)> = parts;
        order.sort_by_key(|p| std::cmp::Reverse(p.2));
        let end = order.iter().fold(0u64, |at, (_, s, a)| round_up(at, *a).saturating_add(*s));
        Ok(Some(StructPadding {
            size: *size,
            own,
            total: own.saturating_add(inner),
            reordered_size: round_up(end, *align),
            reordered: order.into_iter().map(|(n, _, _)| n.to_owned()).collect(),
        }))
    }
}

impl Schema {
    /// The largest alignment of any archived byte a value of `ty` holds, inline or
    /// behind its pointers (a `Vec`'s elements, a `Box`), up to but not into lazy chunks
    /// (their 40-byte references align to 8). Opaque types count as 16: their insides
    /// are not described. Where a value is serialized on its own and then placed, a
    /// multiple of this keeps every byte of it where the serializer would have put it.
    ///
    /// # Errors
    /// [`Error::Schema`] for a named type with no definition, or nesting past 64 levels.
    pub fn max_align(&self, ty: &Ty) -> Result<u64> {
        let mut seen = std::collections::HashSet::new();
        self.max_align_depth(ty, 0, &mut seen)
    }

    fn max_align_depth<'s>(
        &'s self,
        ty: &'s Ty,
        depth: u32,
        seen: &mut std::collections::HashSet<&'s str>,
    ) -> Result<u64> {
        if depth > MAX_DEPTH {
            return Err(Error::Schema(String::from("type nesting too deep")));
        }
        let mut max = self.layout(ty)?.1;
        let mut more = |t: &'s Ty, seen: &mut std::collections::HashSet<&'s str>| -> Result<()> {
            max = max.max(self.max_align_depth(t, depth + 1, seen)?);
            Ok(())
        };
        match ty {
            Ty::Prim(_) | Ty::String | Ty::Str | Ty::Lazy(_) => {}
            Ty::Opaque { .. } => return Ok(16),
            Ty::Vec(t) | Ty::Option(t) | Ty::Boxed(t) | Ty::Array(t, _) => more(t, seen)?,
            Ty::Tuple(ts) => {
                for t in ts {
                    more(t, seen)?;
                }
            }
            Ty::Named(name, _) => {
                // A type met again (through a `Vec` or `Box` of itself) adds nothing new.
                if seen.insert(name.as_str()) {
                    let fields: Vec<&'s super::parse::Field> = match self.types.get(name) {
                        Some(Def::Struct { fields, .. }) => fields.iter().collect(),
                        Some(Def::Enum { variants, .. }) => variants.iter().flat_map(|v| &v.fields).collect(),
                        None => return Err(Error::Schema(format!("no definition of `{name}` in the schema"))),
                    };
                    for f in fields {
                        if f.storage == Storage::Inline {
                            more(&f.ty, seen)?;
                        }
                    }
                }
            }
        }
        Ok(max)
    }
}
