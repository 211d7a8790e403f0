//! The schema text (see `docs/FORMAT.md`), parsed into types with their archived layouts.

use crate::error::{Error, Result};
use std::collections::HashMap;

/// A type expression of the schema text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ty {
    /// A primitive: its name (`u32`, `f64`, `bool`, `char`, `()`, `usize` ...).
    Prim(String),
    /// `String`.
    String,
    /// `Box<str>` (also how `Arc<str>` is described): a relative pointer and a 32-bit
    /// length, a `Vec<u8>`'s layout, over UTF-8 bytes.
    Str,
    /// `lazy T` inside a type (`Vec<lazy Mesh>`: the `Arc<T>`s of a `Vec<Arc<T>>` field):
    /// a 40-byte reference to a chunk that holds the `T`. As a field's whole type, `lazy`
    /// is the field's [`Storage`] instead.
    Lazy(Box<Ty>),
    /// `Vec<T>`.
    Vec(Box<Ty>),
    /// `Option<T>`.
    Option(Box<Ty>),
    /// `Box<T>`.
    Boxed(Box<Ty>),
    /// `[T; N]`.
    Array(Box<Ty>, u64),
    /// A tuple.
    Tuple(Vec<Ty>),
    /// A derived type, by its full name (`World`, `Pair<u32, String>`), with its
    /// arguments parsed.
    Named(String, Vec<Ty>),
    /// A type whose archived form is opaque here (rkyv's own inline hash tables and
    /// B-trees, `#[strata(rkyv)]` fields), with its size and alignment.
    Opaque {
        /// How the schema names it.
        name: String,
        /// Archived size in bytes.
        size: u64,
        /// Archived alignment.
        align: u64,
    },
}

/// How a field is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Storage {
    /// In its parent's bytes.
    Inline,
    /// In a chunk of its own (`#[strata(lazy)]`): a 40-byte chunk reference.
    Lazy,
    /// A sharded vector (`#[strata(shard)]`): a 64-byte header.
    Shard,
    /// A bucketed map (`#[strata(map)]`): a 64-byte header.
    Map,
}

/// A field: name (or index), offset, storage and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's name, or its index in a tuple struct or variant.
    pub name: String,
    /// Its byte offset in the archived value.
    pub offset: u64,
    /// How it is stored.
    pub storage: Storage,
    /// Its type.
    pub ty: Ty,
    /// Whether the type that wrote it gives it a default (`#[strata(default)]`): a file
    /// without the field reads as that default.
    pub default: bool,
    /// Names the field had before (`#[strata(alias = "...")]`).
    pub aliases: Vec<String>,
}

/// A derived type's definition, with its archived layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Def {
    /// A struct.
    Struct {
        /// Archived size in bytes.
        size: u64,
        /// Archived alignment.
        align: u64,
        /// Whether its fields are positional.
        tuple: bool,
        /// Its fields.
        fields: Vec<Field>,
        /// Names the type had before (`#[strata(alias = "...")]`).
        aliases: Vec<String>,
    },
    /// An enum (rkyv's `repr(u8)` layout: the variant's index in the first byte).
    Enum {
        /// Archived size in bytes.
        size: u64,
        /// Archived alignment.
        align: u64,
        /// Its variants, in declaration order.
        variants: Vec<Variant>,
        /// Names the type had before (`#[strata(alias = "...")]`).
        aliases: Vec<String>,
    },
}

/// An enum variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The variant's name.
    pub name: String,
    /// Whether its fields are positional.
    pub tuple: bool,
    /// Its fields, with offsets from the start of the enum value.
    pub fields: Vec<Field>,
    /// Names the variant had before (`#[strata(alias = "...")]`).
    pub aliases: Vec<String>,
    /// Whether it reads the variants a file holds that its type does not know
    /// (`#[strata(other)]`).
    pub other: bool,
}

/// A parsed schema: the root type and every named type's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// The root type.
    pub root: Ty,
    /// Named types by their full name (`World`, `Pair<u32, String>`).
    pub types: HashMap<String, Def>,
}

/// A parse error: what was expected, and the rest of the line.
type ParseError = String;

impl Schema {
    /// Parses a schema text.
    ///
    /// # Errors
    /// [`Error::Schema`] when the text does not follow the grammar of `docs/FORMAT.md`.
    pub fn parse(text: &str) -> Result<Self> {
        Self::parse_text(text).map_err(Error::Schema)
    }

    /// The schema an archive records.
    ///
    /// # Errors
    /// When the meta chunk is damaged or its schema does not parse.
    pub fn parse_archive(archive: &crate::Archive) -> Result<Self> {
        Self::parse(&archive.schema_text()?)
    }

    fn parse_text(text: &str) -> std::result::Result<Self, ParseError> {
        let mut lines = text.lines();
        if lines.next() != Some("strata-schema 1") {
            return Err(String::from("the schema does not start with `strata-schema 1`"));
        }
        let root_line = lines.next().and_then(|l| l.strip_prefix("root ")).ok_or("the schema has no `root` line")?;
        let root = Parser::new(root_line).ty_to_end()?;
        let mut types = HashMap::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let rest = line.strip_prefix("type ").ok_or_else(|| format!("expected `type ...`, found `{line}`"))?;
            let (name, def) = rest.split_once(" = ").ok_or_else(|| format!("expected `NAME = ...` in `{line}`"))?;
            let def = Parser::new(def).def()?;
            types.insert(name.to_owned(), def);
        }
        Ok(Self { root, types })
    }

    /// The archived (size, alignment) of a type.
    ///
    /// # Errors
    /// [`Error::Schema`] for a named type with no definition, or nesting past 64 levels.
    pub fn layout(&self, ty: &Ty) -> Result<(u64, u64)> {
        self.layout_depth(ty, 0).map_err(Error::Schema)
    }

    fn layout_depth(&self, ty: &Ty, depth: u32) -> std::result::Result<(u64, u64), String> {
        if depth > 64 {
            return Err(String::from("type nesting too deep"));
        }
        Ok(match ty {
            Ty::Prim(p) => prim_layout(p).ok_or_else(|| format!("unknown primitive `{p}`"))?,
            Ty::String | Ty::Str | Ty::Vec(_) => (8, 4),
            Ty::Boxed(_) => (4, 4),
            Ty::Lazy(_) => (40, 8),
            Ty::Option(t) => {
                let (s, a) = self.layout_depth(t, depth + 1)?;
                let a = a.max(1);
                (round_up(round_up(1, a) + s, a), a)
            }
            Ty::Array(t, n) => {
                let (s, a) = self.layout_depth(t, depth + 1)?;
                (s.saturating_mul(*n), a)
            }
            Ty::Tuple(ts) => {
                let (mut at, mut align) = (0, 1);
                for t in ts {
                    let (s, a) = self.layout_depth(t, depth + 1)?;
                    at = round_up(at, a) + s;
                    align = align.max(a);
                }
                (round_up(at, align), align)
            }
            Ty::Named(name, _) => match self.types.get(name) {
                Some(Def::Struct { size, align, .. } | Def::Enum { size, align, .. }) => (*size, *align),
                None => return Err(format!("no definition of `{name}` in the schema")),
            },
            Ty::Opaque { size, align, .. } => (*size, *align),
        })
    }
}

/// Rounds `n` up to a multiple of `a`.
pub fn round_up(n: u64, a: u64) -> u64 {
    let a = a.max(1);
    n.div_ceil(a).saturating_mul(a)
}

/// Size and alignment of a primitive's archived form.
pub fn prim_layout(p: &str) -> Option<(u64, u64)> {
    Some(match p {
        "u8" | "i8" | "bool" => (1, 1),
        "u16" | "i16" => (2, 2),
        "u32" | "i32" | "f32" | "char" => (4, 4),
        "u64" | "i64" | "f64" | "usize" | "isize" => (8, 8),
        "u128" | "i128" => (16, 16),
        "()" => (0, 1),
        _ => return None,
    })
}

struct Parser<'a> {
    s: &'a str,
    /// Type expressions open around the one being read.
    depth: u32,
}

/// The deepest type expression a schema may write (`Vec<Option<...>>`): far beyond a
/// program's types, and a bound on the parser's (and every later walk's) recursion.
const MAX_TYPE_DEPTH: u32 = 64;

/// Schema evolution's notes on a type, field or variant.
#[derive(Default)]
struct Notes {
    default: bool,
    other: bool,
    aliases: Vec<String>,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Self { s, depth: 0 }
    }

    fn eat(&mut self, token: &str) -> bool {
        match self.s.strip_prefix(token) {
            Some(rest) => {
                self.s = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, token: &str) -> std::result::Result<(), ParseError> {
        if self.eat(token) { Ok(()) } else { Err(format!("expected `{token}` at `{}`", self.s)) }
    }

    fn ident(&mut self) -> std::result::Result<&'a str, ParseError> {
        let end = self.s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(self.s.len());
        if end == 0 {
            return Err(format!("expected a name at `{}`", self.s));
        }
        let (id, rest) = self.s.split_at(end);
        self.s = rest;
        Ok(id)
    }

    fn number(&mut self) -> std::result::Result<u64, ParseError> {
        let end = self.s.find(|c: char| !c.is_ascii_digit()).unwrap_or(self.s.len());
        let (digits, rest) = self.s.split_at(end);
        let n = digits.parse().map_err(|_| format!("expected a number at `{}`", self.s))?;
        self.s = rest;
        Ok(n)
    }

    fn ty_to_end(mut self) -> std::result::Result<Ty, ParseError> {
        let t = self.ty()?;
        if self.s.is_empty() { Ok(t) } else { Err(format!("unexpected `{}` after a type", self.s)) }
    }

    fn ty(&mut self) -> std::result::Result<Ty, ParseError> {
        if self.depth >= MAX_TYPE_DEPTH {
            return Err(format!("a type nested deeper than {MAX_TYPE_DEPTH} levels"));
        }
        self.depth += 1;
        let ty = self.ty_within();
        self.depth -= 1;
        ty
    }

    fn ty_within(&mut self) -> std::result::Result<Ty, ParseError> {
        if self.eat("lazy ") {
            return Ok(Ty::Lazy(Box::new(self.ty()?)));
        }
        if self.eat("()") {
            return Ok(Ty::Prim(String::from("()")));
        }
        if self.eat("(") {
            let mut ts = Vec::new();
            while !self.eat(")") {
                ts.push(self.ty()?);
                self.expect(",")?;
                self.eat(" ");
            }
            return Ok(Ty::Tuple(ts));
        }
        if self.eat("[") {
            let t = self.ty()?;
            self.expect("; ")?;
            let n = self.number()?;
            self.expect("]")?;
            return Ok(Ty::Array(Box::new(t), n));
        }
        let name = self.ident()?;
        let mut args = Vec::new();
        if self.eat("<") {
            loop {
                args.push(self.ty()?);
                if self.eat(">") {
                    break;
                }
                self.expect(", ")?;
            }
        }
        let one =
            |args: Vec<Ty>| args.into_iter().next().map(Box::new).ok_or_else(|| format!("`{name}` needs an argument"));
        let full = if args.is_empty() {
            name.to_owned()
        } else {
            format!("{name}<{}>", args.iter().map(render).collect::<Vec<_>>().join(", "))
        };
        // Opaque maps carry their layout: `HashMap<K, V>[S/A]`.
        if self.eat("[") {
            let size = self.number()?;
            self.expect("/")?;
            let align = self.number()?;
            self.expect("]")?;
            return Ok(Ty::Opaque { name: full, size, align });
        }
        Ok(match name {
            "String" => Ty::String,
            "Box" if matches!(args.as_slice(), [Ty::Named(n, a)] if n == "str" && a.is_empty()) => Ty::Str,
            "Vec" => Ty::Vec(one(args)?),
            "Option" => Ty::Option(one(args)?),
            "Box" => Ty::Boxed(one(args)?),
            p if prim_layout(p).is_some() && args.is_empty() => Ty::Prim(p.to_owned()),
            _ => Ty::Named(full, args),
        })
    }

    fn field_ty(&mut self) -> std::result::Result<(Storage, Ty), ParseError> {
        if self.eat("lazy ") {
            return Ok((Storage::Lazy, self.ty()?));
        }
        if self.eat("shard ") {
            return Ok((Storage::Shard, self.ty()?));
        }
        if self.eat("map ") {
            return Ok((Storage::Map, self.ty()?));
        }
        if self.eat("rkyv[") {
            let size = self.number()?;
            self.expect("/")?;
            let align = self.number()?;
            self.expect("] ")?;
            // The Rust type's tokens, up to the end of the field.
            let mut depth = 0i32;
            let end = self
                .s
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '<' | '(' | '[' => depth += 1,
                        '>' | ')' | ']' if depth > 0 => depth -= 1,
                        ',' | '}' | ')' if depth == 0 => return true,
                        _ => {}
                    }
                    false
                })
                .map_or(self.s.len(), |(i, _)| i);
            let (name, rest) = self.s.split_at(end);
            self.s = rest;
            return Ok((Storage::Inline, Ty::Opaque { name: format!("rkyv {}", name.trim()), size, align }));
        }
        Ok((Storage::Inline, self.ty()?))
    }

    /// Schema evolution's notes, ` [default, alias a, other]`, when present: each note
    /// is a word, or `alias` and a name.
    fn notes(&mut self) -> std::result::Result<Notes, ParseError> {
        let mut notes = Notes::default();
        if !self.eat(" [") {
            return Ok(notes);
        }
        loop {
            if self.eat("default") {
                notes.default = true;
            } else if self.eat("other") {
                notes.other = true;
            } else if self.eat("alias ") {
                notes.aliases.push(self.ident()?.to_owned());
            } else {
                return Err(format!("expected `default`, `other` or `alias NAME` at `{}`", self.s));
            }
            if self.eat("]") {
                return Ok(notes);
            }
            self.expect(", ")?;
        }
    }

    /// `name @OFF [NOTES]: TYPE` (named) or `@OFF [NOTES]: TYPE` (tuple, named by
    /// position).
    fn field(&mut self, index: usize, named: bool) -> std::result::Result<Field, ParseError> {
        let name = if named {
            let n = self.ident()?.to_owned();
            self.expect(" ")?;
            n
        } else {
            index.to_string()
        };
        self.expect("@")?;
        let offset = self.number()?;
        let notes = self.notes()?;
        self.expect(": ")?;
        let (storage, ty) = self.field_ty()?;
        Ok(Field { name, offset, storage, ty, default: notes.default, aliases: notes.aliases })
    }

    fn fields(&mut self, named: bool, close: &str) -> std::result::Result<Vec<Field>, ParseError> {
        let mut out = Vec::new();
        if self.eat(close) {
            return Ok(out);
        }
        loop {
            out.push(self.field(out.len(), named)?);
            if self.eat(close) {
                return Ok(out);
            }
            self.expect(", ")?;
        }
    }

    fn layout(&mut self) -> std::result::Result<(u64, u64), ParseError> {
        self.expect("size ")?;
        let size = self.number()?;
        self.expect(" align ")?;
        let align = self.number()?;
        Ok((size, align))
    }

    fn def(&mut self) -> std::result::Result<Def, ParseError> {
        if self.eat("struct ") {
            let (size, align) = self.layout()?;
            let aliases = self.notes()?.aliases;
            let (tuple, fields) = if self.eat(" { ") {
                if self.eat(" }") { (false, Vec::new()) } else { (false, self.fields(true, " }")?) }
            } else if self.eat(" (") {
                (true, self.fields(false, ")")?)
            } else {
                (false, Vec::new())
            };
            return Ok(Def::Struct { size, align, tuple, fields, aliases });
        }
        self.expect("enum ")?;
        let (size, align) = self.layout()?;
        let aliases = self.notes()?.aliases;
        self.expect(" { ")?;
        let mut variants = Vec::new();
        loop {
            let name = self.ident()?.to_owned();
            let notes = self.notes()?;
            let (tuple, fields) = if self.eat("(") {
                (true, self.fields(false, ")")?)
            } else if self.eat(" { ") {
                (false, self.fields(true, " }")?)
            } else {
                (false, Vec::new())
            };
            variants.push(Variant { name, tuple, fields, aliases: notes.aliases, other: notes.other });
            if self.eat(" }") {
                break;
            }
            self.expect(", ")?;
        }
        Ok(Def::Enum { size, align, variants, aliases })
    }
}

/// The canonical text of a type expression (as the schema writes it).
pub fn render(t: &Ty) -> String {
    match t {
        Ty::Prim(p) => p.clone(),
        Ty::String => String::from("String"),
        Ty::Str => String::from("Box<str>"),
        Ty::Lazy(t) => format!("lazy {}", render(t)),
        Ty::Vec(t) => format!("Vec<{}>", render(t)),
        Ty::Option(t) => format!("Option<{}>", render(t)),
        Ty::Boxed(t) => format!("Box<{}>", render(t)),
        Ty::Array(t, n) => format!("[{}; {n}]", render(t)),
        Ty::Tuple(ts) => format!("({},)", ts.iter().map(render).collect::<Vec<_>>().join(", ")),
        Ty::Named(n, _) => n.clone(),
        Ty::Opaque { name, .. } => name.clone(),
    }
}
