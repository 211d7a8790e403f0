//! Decoding archived values without their Rust types: the schema's layouts, rkyv's
//! container layouts (`docs/FORMAT.md`), and strata's chunks, tables and buckets.
//! Every read is bounds-checked; a damaged value is an error, never a panic.

use super::Value;
use super::path::{Step, parse_path};
use crate::archive::Archive;
use crate::error::{Error, Location, Result};
use crate::format::ChunkRef;
use crate::format::archived::Bytes;
use crate::format::bucket::Bucket;
use crate::format::table::{ChunkTable, TableHeader};
use crate::schema::{Def, Field, Schema, Storage, Ty, round_up};
use crate::store::View;

/// Where a value is: the bytes of its chunk, its position, how it is stored, its type.
#[derive(Clone)]
pub struct Place {
    bytes: View<[u8]>,
    at: Location,
    pos: u64,
    storage: Storage,
    ty: Ty,
}

impl Place {
    /// The value's type.
    #[must_use]
    pub fn ty(&self) -> &Ty {
        &self.ty
    }

    /// How the value is stored (inline, or a lazy field, sharded vector or map).
    #[must_use]
    pub fn storage(&self) -> Storage {
        self.storage
    }
}

/// The most levels a decoded value nests: a [`Value`] is a tree dropped recursively.
const MAX_LEVELS: u32 = 4096;

/// The most zero-sized elements (`()`, empty structs) a vector may declare: their count
/// is not bounded by the bytes they occupy.
const MAX_ZERO_SIZED: u64 = 1 << 20;

/// Reads values of one archive through the layouts of one schema.
pub struct Decoder<'a> {
    archive: &'a Archive,
    schema: &'a Schema,
    /// Follow lazy fields, shards and buckets (otherwise describe them).
    deep: bool,
}

impl Place {
    fn bad(&self, detail: impl Into<String>) -> Error {
        Error::InvalidData { at: self.at, ty: "value", detail: detail.into() }
    }

    fn read(&self) -> Bytes<'_> {
        Bytes::new(&self.bytes)
    }

    fn slice(&self, pos: u64, len: u64) -> Result<&[u8]> {
        self.read().slice(pos, len).map_err(|d| self.bad(d))
    }

    /// The little-endian integer of `len` (at most 16) bytes at `pos`.
    fn le(&self, pos: u64, len: u64) -> Result<u128> {
        self.read().le(pos, len).map_err(|d| self.bad(d))
    }

    /// The target of the `i32` relative pointer at `pos`.
    fn rel(&self, pos: u64) -> Result<u64> {
        self.read().rel(pos).map_err(|d| self.bad(d))
    }

    fn inline(&self, pos: u64, ty: Ty) -> Place {
        Place { bytes: self.bytes.clone(), at: self.at, pos, storage: Storage::Inline, ty }.unlazy()
    }

    /// A `lazy T` inside a type (`Vec<lazy T>`) as the lazy field it is stored as.
    fn unlazy(self) -> Place {
        match (self.storage, self.ty) {
            (Storage::Inline, Ty::Lazy(t)) => Place { storage: Storage::Lazy, ty: *t, ..self },
            (storage, ty) => Place { storage, ty, ..self },
        }
    }

    fn chunk_ref(&self) -> Result<ChunkRef> {
        let mut r = [0u8; 40];
        r.copy_from_slice(self.slice(self.pos, 40)?);
        Ok(ChunkRef::from_bytes(&r))
    }

    fn header(&self) -> Result<TableHeader> {
        let mut h = [0u8; 64];
        h.copy_from_slice(self.slice(self.pos, 64)?);
        Ok(TableHeader::from_bytes(&h))
    }

    fn elem_ty(&self) -> Result<Ty> {
        match &self.ty {
            Ty::Vec(t) => Ok((**t).clone()),
            other => Err(self.bad(format!("a sharded field of type {} is not a Vec", crate::schema::render(other)))),
        }
    }

    fn map_types(&self) -> Result<(Ty, Ty)> {
        match &self.ty {
            Ty::Named(n, args) if n.starts_with("HashSet<") || n.starts_with("BTreeSet<") => {
                let k = args.first().cloned().ok_or_else(|| self.bad("a set without a key type"))?;
                Ok((k, Ty::Prim(String::from("()"))))
            }
            Ty::Named(_, args) if args.len() == 2 => Ok((
                args.first().cloned().ok_or_else(|| self.bad("a map without a key type"))?,
                args.get(1).cloned().ok_or_else(|| self.bad("a map without a value type"))?,
            )),
            other => {
                Err(self.bad(format!("a map of type {} has no key and value types", crate::schema::render(other))))
            }
        }
    }
}

impl<'a> Decoder<'a> {
    /// A decoder of `archive` through `schema` (the file's own, usually). `deep`:
    /// follow lazy fields, sharded vectors and maps when decoding, rather than describing
    /// them ([`Value::Lazy`], [`Value::Sharded`], [`Value::Bucketed`]).
    #[must_use]
    pub fn new(archive: &'a Archive, schema: &'a Schema, deep: bool) -> Self {
        Self { archive, schema, deep }
    }

    /// The root value's place.
    ///
    /// # Errors
    /// When the root chunk is damaged or smaller than its type.
    pub fn root(&self) -> Result<Place> {
        let root = self.archive.footer().root;
        self.at_root(&root, self.schema.root.clone())
    }

    /// The place of the root object of chunk `r`, of type `ty`.
    fn at_root(&self, r: &ChunkRef, ty: Ty) -> Result<Place> {
        let bytes = crate::raw::chunk(self.archive, r)?;
        let (size, _) = self.schema.layout(&ty)?;
        let at = r.location();
        let pos = (bytes.len() as u64).checked_sub(size).ok_or_else(|| Error::InvalidData {
            at,
            ty: "value",
            detail: String::from("chunk smaller than its root value"),
        })?;
        Ok(Place { bytes, at, pos, storage: Storage::Inline, ty }.unlazy())
    }

    /// Follows a lazy field to its chunk.
    fn follow(&self, p: &Place) -> Result<Place> {
        let mut r = p.chunk_ref()?;
        if self.archive.footer().version >= crate::format::TYPED_VERSION {
            r = r.tagged(crate::format::type_tag(&crate::schema::render(&p.ty)));
        }
        self.at_root(&r, p.ty.clone())
    }

    /// Element `i` of a sharded vector.
    fn shard_element(&self, p: &Place, i: u64) -> Result<Place> {
        let header = p.header()?;
        if i >= header.len() {
            return Err(p.bad(format!("index {i} is past the end ({} elements)", header.len())));
        }
        let (_, entry) = crate::raw::table_find(self.archive, header.table(), i)?;
        let vec = self.at_root(entry.chunk(), Ty::Vec(Box::new(p.elem_ty()?)))?;
        let k = i.checked_sub(entry.first()).ok_or_else(|| p.bad("shard table out of order"))?;
        self.vec_element(&vec, k)
    }

    fn vec_element(&self, v: &Place, i: u64) -> Result<Place> {
        let Ty::Vec(elem) = &v.ty else { return Err(v.bad("not a vector")) };
        let start = v.rel(v.pos)?;
        let len = v.le(v.pos + 4, 4)? as u64;
        if i >= len {
            return Err(v.bad(format!("index {i} is past the end ({len} elements)")));
        }
        let (size, _) = self.schema.layout(elem)?;
        Ok(v.inline(start + i * size, (**elem).clone()))
    }

    /// The entries of bucket `b` of a map: (key place, value place); with `hash`, only
    /// those whose stored hash matches it.
    fn bucket(&self, p: &Place, table: &ChunkTable, b: u64, hash: Option<u64>) -> Result<Vec<(Place, Place)>> {
        let (kt, vt) = p.map_types()?;
        let entry = crate::raw::table_leaf(self.archive, table, b)?;
        let r = *entry.chunk();
        let bytes = crate::raw::chunk(self.archive, &r)?;
        let at = r.location();
        let bad = |d: &str| Error::InvalidData { at, ty: "map bucket", detail: d.to_owned() };
        let bucket = Bucket::parse(&bytes).map_err(bad)?;
        let (ks, ka) = self.schema.layout(&kt)?;
        let (vs, va) = self.schema.layout(&vt)?;
        let voff = round_up(ks, va);
        let size = round_up(voff + vs, ka.max(va));
        let mut out = Vec::with_capacity(bucket.len());
        for j in (0..bucket.len()).filter(|&j| hash.is_none_or(|h| bucket.matches(j, h))) {
            let e = bucket.entry(j).map_err(bad)?;
            let pos = (e.as_ptr() as u64 - bytes.as_ptr() as u64)
                + (e.len() as u64).checked_sub(size).ok_or_else(|| bad("entry too short"))?;
            let place = |pos, ty| Place { bytes: bytes.clone(), at, pos, storage: Storage::Inline, ty }.unlazy();
            out.push((place(pos, kt.clone()), place(pos + voff, vt.clone())));
        }
        Ok(out)
    }

    /// The value of a map's entry whose key equals `key`.
    fn map_get(&self, p: &Place, key: &Step) -> Result<Place> {
        let header = p.header()?;
        let (kt, _) = p.map_types()?;
        let hash = stable_hash(&kt, key).ok_or_else(|| {
            p.bad(format!(
                "looking up a {} key by {} is not supported; read the whole map",
                crate::schema::render(&kt),
                key.show()
            ))
        })?;
        let b = ((u128::from(hash) * u128::from(header.table().entries())) >> 64) as u64;
        for (k, v) in self.bucket(p, header.table(), b, Some(hash))? {
            if key_matches(&self.value(&k)?, key) {
                return Ok(v);
            }
        }
        Err(p.bad(format!("no entry with key {}", key.show())))
    }

    /// Decodes the value at `p`.
    ///
    /// # Errors
    /// When a chunk the value needs is damaged, the recorded layouts do not match the
    /// bytes, or the value nests more than 4,096 levels.
    pub fn value(&self, p: &Place) -> Result<Value> {
        self.value_depth(p, 0)
    }

    fn value_depth(&self, p: &Place, depth: u32) -> Result<Value> {
        if depth > MAX_LEVELS {
            return Err(Error::TooDeep {
                what: "a value decoded without its type",
                depth: u64::from(depth),
                limit: u64::from(MAX_LEVELS),
                at: Some(p.at),
            });
        }
        crate::deep::grow(|| self.value_here(p, depth))
    }

    fn value_here(&self, p: &Place, depth: u32) -> Result<Value> {
        match p.storage {
            Storage::Lazy => {
                let r = p.chunk_ref()?;
                if !self.deep {
                    return Ok(Value::Lazy { offset: r.offset(), stored: r.stored_len(), raw: r.raw_len() });
                }
                return self.value_depth(&self.follow(p)?, depth + 1);
            }
            Storage::Shard => {
                let header = p.header()?;
                if !self.deep {
                    return Ok(Value::Sharded { len: header.len(), shards: header.table().entries() });
                }
                let mut items = Vec::new();
                for entry in crate::raw::table_leaves(self.archive, header.table())? {
                    let vec = self.at_root(entry.chunk(), Ty::Vec(Box::new(p.elem_ty()?)))?;
                    let n = vec.le(vec.pos + 4, 4)? as u64;
                    for i in 0..n {
                        items.push(self.value_depth(&self.vec_element(&vec, i)?, depth + 1)?);
                    }
                }
                return Ok(Value::Seq(items));
            }
            Storage::Map => {
                let header = p.header()?;
                if !self.deep {
                    return Ok(Value::Bucketed { len: header.len(), buckets: header.table().entries() });
                }
                let mut entries = Vec::new();
                for b in 0..header.table().entries() {
                    for (k, v) in self.bucket(p, header.table(), b, None)? {
                        entries.push((self.value_depth(&k, depth + 1)?, self.value_depth(&v, depth + 1)?));
                    }
                }
                return Ok(Value::Map(entries));
            }
            Storage::Inline => {}
        }
        let pos = p.pos;
        Ok(match &p.ty {
            Ty::Prim(name) => prim(p, name)?,
            Ty::String => Value::String(string(p, pos)?),
            // Places of `lazy T` are made lazy fields (`unlazy`).
            Ty::Lazy(_) => return Err(p.bad("internal: a lazy reference read inline")),
            Ty::Str => {
                let start = p.rel(pos)?;
                let len = p.le(pos + 4, 4)? as u64;
                String::from_utf8(p.slice(start, len)?.to_vec())
                    .map(Value::String)
                    .map_err(|_| p.bad(format!("invalid UTF-8 in the string at {pos}")))?
            }
            Ty::Vec(elem) => {
                let n = p.le(pos + 4, 4)? as u64;
                // Elements of no size occupy no bytes, so the file's length does not bound
                // their count: a damaged length could ask for billions of values.
                if self.schema.layout(elem)?.0 == 0 && n > MAX_ZERO_SIZED {
                    return Err(p.bad(format!(
                        "a vector of {n} zero-sized elements at {pos}: more than {MAX_ZERO_SIZED} is refused"
                    )));
                }
                let mut items = Vec::new();
                for i in 0..n {
                    items.push(self.value_depth(&self.vec_element(p, i)?, depth + 1)?);
                }
                Value::Seq(items)
            }
            Ty::Option(t) => {
                let (_, a) = self.schema.layout(t)?;
                match p.le(pos, 1)? {
                    0 => Value::Option(None),
                    1 => Value::Option(Some(Box::new(
                        self.value_depth(&p.inline(pos + round_up(1, a), (**t).clone()), depth + 1)?,
                    ))),
                    tag => return Err(p.bad(format!("invalid Option tag {tag} at {pos}"))),
                }
            }
            Ty::Boxed(t) => self.value_depth(&p.inline(p.rel(pos)?, (**t).clone()), depth + 1)?,
            Ty::Array(t, n) => {
                let (s, _) = self.schema.layout(t)?;
                let mut items = Vec::new();
                for i in 0..*n {
                    items.push(self.value_depth(&p.inline(pos + i * s, (**t).clone()), depth + 1)?);
                }
                Value::Seq(items)
            }
            Ty::Tuple(ts) => {
                let mut at = 0;
                let mut items = Vec::new();
                for t in ts {
                    let (s, a) = self.schema.layout(t)?;
                    at = round_up(at, a);
                    items.push(self.value_depth(&p.inline(pos + at, t.clone()), depth + 1)?);
                    at += s;
                }
                Value::Tuple(items)
            }
            Ty::Opaque { name, .. } => Value::Opaque(name.clone()),
            Ty::Named(name, _) => match self.schema.types.get(name) {
                Some(Def::Struct { fields, .. }) => {
                    Value::Struct { name: name.clone(), fields: self.fields_value(p, fields, depth)? }
                }
                Some(Def::Enum { variants, .. }) => {
                    let tag = p.le(pos, 1)?;
                    let v = variants
                        .get(tag as usize)
                        .ok_or_else(|| p.bad(format!("invalid variant {tag} of `{name}` at {pos}")))?;
                    Value::Enum {
                        name: name.clone(),
                        variant: v.name.clone(),
                        fields: self.fields_value(p, &v.fields, depth)?,
                    }
                }
                None => return Err(Error::Schema(format!("no definition of `{name}`"))),
            },
        })
    }

    fn fields_value(&self, p: &Place, fields: &[Field], depth: u32) -> Result<Vec<(String, Value)>> {
        let mut out = Vec::with_capacity(fields.len());
        for f in fields {
            let place =
                Place { bytes: p.bytes.clone(), at: p.at, pos: p.pos + f.offset, storage: f.storage, ty: f.ty.clone() }
                    .unlazy();
            out.push((f.name.clone(), self.value_depth(&place, depth + 1)?));
        }
        Ok(out)
    }

    /// Follows a path (`players["Hero123"].level`, `users[54321]`, `history[3]`) from the
    /// root, reading only the chunks on the way.
    ///
    /// # Errors
    /// [`Error::Path`] when the path is malformed or leads nowhere; damaged chunks.
    pub fn walk(&self, path: &str) -> Result<Place> {
        let mut p = self.root()?;
        for step in parse_path(path)? {
            p = self.step(p, &step).map_err(|e| match e {
                Error::InvalidData { ty: "value", detail, .. } => Error::Path { path: path.to_owned(), detail },
                other => other,
            })?;
        }
        Ok(p)
    }

    fn step(&self, mut p: Place, step: &Step) -> Result<Place> {
        // A lazy field is followed, an `Option` or `Box` seen through.
        loop {
            if p.storage == Storage::Lazy {
                p = self.follow(&p)?;
                continue;
            }
            if p.storage != Storage::Inline {
                break;
            }
            match &p.ty {
                Ty::Option(t) => {
                    let (_, a) = self.schema.layout(t)?;
                    if p.le(p.pos, 1)? != 1 {
                        return Err(p.bad("the value is None"));
                    }
                    p = p.inline(p.pos + round_up(1, a), (**t).clone());
                }
                Ty::Boxed(t) => p = p.inline(p.rel(p.pos)?, (**t).clone()),
                _ => break,
            }
        }
        match (step, p.storage, &p.ty) {
            (Step::Index(i), Storage::Shard, _) => self.shard_element(&p, *i),
            (key, Storage::Map, _) => self.map_get(&p, key),
            (Step::Index(i), Storage::Inline, Ty::Vec(_)) => self.vec_element(&p, *i),
            (Step::Index(i), Storage::Inline, Ty::Array(t, n)) if i < n => {
                let (s, _) = self.schema.layout(t)?;
                Ok(p.inline(p.pos + i * s, (**t).clone()))
            }
            (Step::Index(i), Storage::Inline, Ty::Tuple(ts)) => {
                let mut at = 0;
                for (j, t) in ts.iter().enumerate() {
                    let (s, a) = self.schema.layout(t)?;
                    at = round_up(at, a);
                    if j as u64 == *i {
                        return Ok(p.inline(p.pos + at, t.clone()));
                    }
                    at += s;
                }
                Err(p.bad(format!("no element {i} in a tuple of {}", ts.len())))
            }
            (Step::Field(name), Storage::Inline, Ty::Named(tn, _)) => {
                let fields = match self.schema.types.get(tn) {
                    Some(Def::Struct { fields, .. }) => fields,
                    Some(Def::Enum { variants, .. }) => {
                        let tag = p.le(p.pos, 1)?;
                        &variants.get(tag as usize).ok_or_else(|| p.bad("invalid variant"))?.fields
                    }
                    None => return Err(Error::Schema(format!("no definition of `{tn}`"))),
                };
                let f = fields
                    .iter()
                    .find(|f| f.name == *name)
                    .ok_or_else(|| p.bad(format!("`{tn}` has no field `{name}` here")))?;
                Ok(Place {
                    bytes: p.bytes.clone(),
                    at: p.at,
                    pos: p.pos + f.offset,
                    storage: f.storage,
                    ty: f.ty.clone(),
                }
                .unlazy())
            }
            (Step::Index(i), Storage::Inline, Ty::Named(..)) => self.step(p, &Step::Field(i.to_string())),
            (step, _, ty) => {
                Err(p.bad(format!("cannot apply `{}` to a value of type {}", step.show(), crate::schema::render(ty))))
            }
        }
    }
}

fn prim(p: &Place, name: &str) -> Result<Value> {
    let (size, _) =
        crate::schema::prim_layout(name).ok_or_else(|| Error::Schema(format!("unknown primitive `{name}`")))?;
    let raw = p.le(p.pos, size)?;
    Ok(match name {
        "()" => Value::Unit,
        "bool" => match raw {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => return Err(p.bad(format!("invalid bool {b} at {}", p.pos))),
        },
        "char" => Value::Char(char::from_u32(raw as u32).ok_or_else(|| p.bad(format!("invalid char at {}", p.pos)))?),
        "f32" => Value::F32(f32::from_bits(raw as u32)),
        "f64" => Value::F64(f64::from_bits(raw as u64)),
        "u8" => Value::U8(raw as u8),
        "u16" => Value::U16(raw as u16),
        "u32" => Value::U32(raw as u32),
        "u64" | "usize" => Value::U64(raw as u64),
        "u128" => Value::U128(raw),
        "i8" => Value::I8(raw as u8 as i8),
        "i16" => Value::I16(raw as u16 as i16),
        "i32" => Value::I32(raw as u32 as i32),
        "i64" | "isize" => Value::I64(raw as u64 as i64),
        "i128" => Value::I128(raw as i128),
        other => return Err(Error::Schema(format!("unknown primitive `{other}`"))),
    })
}

/// The archived string at `pos` (rkyv's inline or out-of-line representation, see
/// `docs/FORMAT.md`).
fn string(p: &Place, pos: u64) -> Result<String> {
    let (raw, _) = p.read().string(pos).map_err(|d| p.bad(d))?;
    String::from_utf8(raw.to_vec()).map_err(|_| p.bad(format!("invalid UTF-8 in the string at {pos}")))
}

/// Whether a decoded key equals a path's key step.
fn key_matches(key: &Value, step: &Step) -> bool {
    match (key, step) {
        (Value::String(s), Step::Key(k) | Step::Field(k)) => s == k,
        (v, Step::Index(i)) => v.as_u64() == Some(*i),
        (Value::Bool(b), Step::Key(k) | Step::Field(k)) => k == if *b { "true" } else { "false" },
        _ => false,
    }
}

/// The stable hash (see [`crate::hash`]) of a key given by a path step, for the key
/// types whose encoding is known without their Rust type: strings, integers, `bool`.
fn stable_hash(kt: &Ty, key: &Step) -> Option<u64> {
    let mut h = crate::StableHasher::new();
    match (kt, key) {
        (Ty::String | Ty::Str, Step::Key(s) | Step::Field(s)) => {
            h.write_len(s.len());
            h.write(s.as_bytes());
        }
        (Ty::Prim(p), Step::Key(b) | Step::Field(b)) if p == "bool" => h.write(&[u8::from(b == "true")]),
        (Ty::Prim(p), Step::Index(i)) if p != "bool" && p != "char" && !p.starts_with('f') => {
            let (size, _) = crate::schema::prim_layout(p)?;
            let bytes = i128::from(*i).to_le_bytes();
            h.write(bytes.get(..usize::try_from(size).ok()?)?);
        }
        _ => return None,
    }
    Some(h.finish())
}
