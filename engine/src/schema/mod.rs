//! The schema: a canonical text description of a stored type, written to the file.
//!
//! Every [`Persist`] type describes itself (the derive writes this code): struct and
//! enum names, field names in declaration order, field types, how each field is stored
//! (inline, `lazy`, `shard`, `map`, `rkyv`), and the archived layout: each named type's
//! size and alignment and each field's offset. The description is canonical text:
//!
//! ```
//! # use strata::Persist;
//! #[derive(Persist)]
//! struct Settings { difficulty: u8, seed: u64 }
//! #[derive(Persist)]
//! struct User { id: u64 }
//! #[derive(Persist)]
//! struct World {
//!     id: u64,
//!     name: String,
//!     settings: Settings,
//!     #[strata(lazy)]
//!     history: Vec<String>,
//!     #[strata(shard)]
//!     users: Vec<User>,
//! }
//!
//! assert_eq!(strata::schema::schema_of::<World>().text, "\
//! strata-schema 1
//! root World
//! type Settings = struct size 16 align 8 { difficulty @0: u8, seed @8: u64 }
//! type User = struct size 8 align 8 { id @0: u64 }
//! type World = struct size 136 align 8 { id @0: u64, name @8: String, settings @16: Settings, \
//! history @32: lazy Vec<String>, users @72: shard Vec<User> }
//! ");
//! ```
//!
//! `root` names the root type; each `type` line defines one named type, sorted by name.
//! `docs/FORMAT.md` gives the whole grammar. The file's type fingerprint is the xxh3-64
//! of this text: two types match when their names, field names, field types, storage
//! kinds and layouts match, recursively. Compression choices are not part of it (each
//! chunk reference records its own encoding).
//!
//! The schema is stored in the meta chunk, off the hot path of `open`, for tools that
//! inspect files without their Rust types and for schema evolution.

mod padding;
mod parse;
mod relocator;

pub use padding::StructPadding;
pub use parse::{Def, Field, Schema, Storage, Ty, Variant, prim_layout, render, round_up};
pub(crate) use relocator::Moved;
pub use relocator::Relocator;

use crate::Persist;
use std::any::TypeId;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::RwLock;

/// The offsets of an enum variant's fields in rkyv's archived layout: a `repr(u8)`
/// enum's variant is a `repr(C)` struct whose first field is the one-byte tag. Takes
/// each field's archived (size, alignment).
#[must_use]
pub fn variant_offsets(fields: &[(usize, usize)]) -> Vec<usize> {
    let mut at = 1usize;
    fields
        .iter()
        .map(|&(size, align)| {
            let off = at.next_multiple_of(align.max(1));
            at = off + size;
            off
        })
        .collect()
}

/// First line of every schema text.
pub const SCHEMA_HEADER: &str = "strata-schema 1";

/// Makes the archived bytes of an added field's default value (see [`Defaults`]).
pub type DefaultFn = Box<dyn Fn() -> crate::Result<rkyv::util::AlignedVec<16>> + Send + Sync>;

/// What added fields read as: for each (type, field), a function making the archived
/// bytes of its default value (an rkyv archive whose root ends the bytes), as the
/// field stores it inline, or for a lazy field, as its chunk holds it. Registered by
/// the derive for fields marked `#[strata(default)]` or `#[strata(default = "...")]`.
#[derive(Default)]
pub struct Defaults {
    by_field: HashMap<(String, String), DefaultFn>,
}

impl std::fmt::Debug for Defaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.by_field.keys()).finish()
    }
}

impl Defaults {
    /// The default of field `field` of the named type `ty`, if it has one.
    #[must_use]
    pub fn get(&self, ty: &str, field: &str) -> Option<&DefaultFn> {
        self.by_field.get(&(ty.to_owned(), field.to_owned()))
    }
}

/// Collects the definitions of named types while a schema is being described.
#[derive(Debug, Default)]
pub struct SchemaBuilder {
    defs: BTreeMap<String, String>,
    in_progress: HashSet<String>,
    defaults: Defaults,
    relocators: HashMap<String, Relocator>,
}

impl SchemaBuilder {
    /// Defines the named type `name` by running `define` once (with the name), and
    /// returns the name for use in type expressions. Recursive types terminate: a name
    /// already being defined is returned at once.
    pub fn named(&mut self, name: String, define: impl FnOnce(&mut Self, &str) -> String) -> String {
        if !self.defs.contains_key(&name) && self.in_progress.insert(name.clone()) {
            let def = define(self, &name);
            self.in_progress.remove(&name);
            self.defs.insert(name.clone(), def);
        }
        name
    }

    /// Registers the default of field `field` of type `ty`: `make`'s value, archived
    /// through the `with`-wrapper `W` the field is stored with.
    pub fn default_value<T, W>(&mut self, ty: &str, field: &str, make: fn() -> T)
    where
        T: 'static,
        W: rkyv::with::ArchiveWith<T> + for<'s> rkyv::with::SerializeWith<T, crate::Saver<'s>> + 'static,
    {
        let archived: DefaultFn =
            Box::new(move || crate::write::serializer::archived_bytes_of(rkyv::with::With::<T, W>::cast(&make())));
        self.defaults.by_field.insert((ty.to_owned(), field.to_owned()), archived);
    }

    /// Registers how values of `T`, stored in rkyv's own layout and named `name` in
    /// schemas (without their layout), move into a transcoded chunk; only types that
    /// hold no chunk of their own are registered.
    pub fn relocatable<T: Persist>(&mut self, name: String, make: fn() -> Relocator) {
        if crate::persist::is_leaf::<T>() {
            self.relocators.entry(name).or_insert_with(make);
        }
    }

    /// The type expression of `T`.
    pub fn of<T: Persist>(&mut self) -> String {
        T::__describe(self)
    }

    fn finish(self, root: &str) -> String {
        let mut out = String::new();
        out.push_str(SCHEMA_HEADER);
        out.push_str("\nroot ");
        out.push_str(root);
        out.push('\n');
        for (name, def) in self.defs {
            out.push_str("type ");
            out.push_str(&name);
            out.push_str(" = ");
            out.push_str(&def);
            out.push('\n');
        }
        out
    }
}

/// A type's schema text and fingerprint.
#[derive(Debug)]
pub struct TypeSchema {
    /// The root type expression, e.g. `World` or `Vec<u32>`.
    pub name: String,
    /// The full canonical schema text.
    pub text: String,
    /// xxh3-64 of `text`.
    pub fingerprint: u64,
    /// What the type's added fields read as from files that lack them.
    pub defaults: Defaults,
    /// How the values it stores in rkyv's own layout move, by type name.
    pub(crate) relocators: HashMap<String, Relocator>,
    /// The type tag of its references as a lazy value ([`crate::format::type_tag`] of
    /// the type expression as readers without the Rust type render it).
    pub(crate) tag: u64,
    /// The largest alignment of any byte a value of the type holds, its chunks aside
    /// ([`Schema::max_align`]; 16 when the text does not parse).
    pub(crate) max_align: u64,
}

/// The schema of `T`, computed once per type and cached for the process.
pub fn schema_of<T: Persist>() -> &'static TypeSchema {
    static CACHE: RwLock<Option<HashMap<TypeId, &'static TypeSchema>>> = RwLock::new(None);
    let id = TypeId::of::<T>();
    if let Some(found) =
        CACHE.read().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().and_then(|m| m.get(&id).copied())
    {
        return found;
    }
    let mut builder = SchemaBuilder::default();
    let name = T::__describe(&mut builder);
    let defaults = std::mem::take(&mut builder.defaults);
    let relocators = std::mem::take(&mut builder.relocators);
    let text = builder.finish(&name);
    let fingerprint = crate::format::checksum(text.as_bytes());
    // What a reader of the schema text computes: the root type as parsed and rendered
    // back (an inline map's layout suffix is not part of it). A text that does not
    // parse cannot be read without its type at all; its references are typed by name.
    let parsed = Schema::parse(&text);
    let rendered = parsed.as_ref().map(|s| render(&s.root));
    let tag = crate::format::type_tag(rendered.as_deref().unwrap_or(&name));
    let max_align = parsed.and_then(|s| s.max_align(&s.root)).unwrap_or(16);
    let mut guard = CACHE.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let map = guard.get_or_insert_with(HashMap::new);
    // One leaked description per stored type: bounded by the program's types.
    map.entry(id).or_insert_with(|| {
        Box::leak(Box::new(TypeSchema { name, text, fingerprint, defaults, relocators, tag, max_align }))
    })
}

/// The root type expression recorded in a schema text (its second line).
#[must_use]
pub fn root_name(text: &str) -> Option<&str> {
    text.lines().nth(1)?.strip_prefix("root ")
}
