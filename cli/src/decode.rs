//! Decoding archived values without their Rust types: the schema's layouts, rkyv's
//! container layouts (`docs/FORMAT.md`), and strata's chunks, tables and buckets.
//! Every read is bounds-checked; a damaged value is an error, never a panic.

use crate::schema::{Def, Field, Schema, Storage, Ty, round_up};
use serde_json::{Map, Value, json};
use strata::raw::format::ChunkRef;
use strata::raw::format::bucket::Bucket;
use strata::raw::format::table::ChunkTable;
use strata::{Archive, View};

/// Where a value is: the bytes of its chunk, its position, how it is stored, its type.
#[derive(Clone)]
pub struct Place {
    pub bytes: View<[u8]>,
    pub pos: u64,
    pub storage: Storage,
    pub ty: Ty,
}

/// A decoder over one archive.
pub struct Decoder<'a> {
    pub archive: &'a Archive,
    pub schema: &'a Schema,
    /// Follow lazy fields, shards and buckets when printing (otherwise print their
    /// references).
    pub deep: bool,
}

type Res<T> = Result<T, String>;

/// The most zero-sized elements (`()`, empty structs) a vector may declare.
const MAX_ZERO_SIZED: u64 = 1 << 20;

fn slice(bytes: &[u8], pos: u64, len: u64) -> Res<&[u8]> {
    usize::try_from(pos)
        .ok()
        .zip(usize::try_from(len).ok())
        .and_then(|(p, l)| bytes.get(p..p.checked_add(l)?))
        .ok_or_else(|| format!("{len} bytes at {pos} lie outside the chunk ({} bytes)", bytes.len()))
}

fn le(bytes: &[u8], pos: u64, len: u64) -> Res<u128> {
    let b = slice(bytes, pos, len)?;
    Ok(b.iter().rev().fold(0u128, |acc, &x| (acc << 8) | u128::from(x)))
}

fn rel(bytes: &[u8], pos: u64) -> Res<u64> {
    let off = le(bytes, pos, 4)? as u32 as i32;
    pos.checked_add_signed(i64::from(off)).ok_or_else(|| String::from("relative pointer before the chunk"))
}

impl<'a> Decoder<'a> {
    /// The root value's place.
    pub fn root(&self) -> Res<Place> {
        let bytes = strata::raw::chunk(self.archive, &self.archive.footer().root).map_err(|e| e.to_string())?;
        self.at_root(bytes, self.schema.root.clone())
    }

    fn at_root(&self, bytes: View<[u8]>, ty: Ty) -> Res<Place> {
        let (size, _) = self.schema.layout(&ty)?;
        let pos = (bytes.len() as u64).checked_sub(size).ok_or("chunk smaller than its root value")?;
        Ok(Place { bytes, pos, storage: Storage::Inline, ty })
    }

    fn chunk_ref(&self, p: &Place) -> Res<ChunkRef> {
        let b = slice(&p.bytes, p.pos, 40)?;
        let mut r = [0u8; 40];
        r.copy_from_slice(b);
        Ok(ChunkRef::from_bytes(&r))
    }

    fn table(&self, p: &Place) -> Res<(ChunkTable, u64)> {
        let b = slice(&p.bytes, p.pos, 56)?;
        let mut t = [0u8; 56];
        t.copy_from_slice(b);
        Ok((ChunkTable::from_bytes(&t), le(&p.bytes, p.pos + 56, 8)? as u64))
    }

    /// Follows a lazy field to its chunk.
    fn follow(&self, p: &Place) -> Res<Place> {
        let r = self.chunk_ref(p)?;
        let bytes = strata::raw::chunk(self.archive, &r).map_err(|e| e.to_string())?;
        self.at_root(bytes, p.ty.clone())
    }

    /// Element `i` of a sharded vector.
    fn shard_element(&self, p: &Place, i: u64) -> Res<Place> {
        let (table, len) = self.table(p)?;
        if i >= len {
            return Err(format!("index {i} is past the end ({len} elements)"));
        }
        let (_, entry) = strata::raw::table_find(self.archive, &table, i).map_err(|e| e.to_string())?;
        let bytes = strata::raw::chunk(self.archive, entry.chunk()).map_err(|e| e.to_string())?;
        let vec = self.at_root(bytes, Ty::Vec(Box::new(p.ty_elem()?)))?;
        self.vec_element(&vec, i.checked_sub(entry.first()).ok_or("shard table out of order")?)
    }

    fn vec_element(&self, v: &Place, i: u64) -> Res<Place> {
        let Ty::Vec(elem) = &v.ty else { return Err(String::from("not a vector")) };
        let start = rel(&v.bytes, v.pos)?;
        let len = le(&v.bytes, v.pos + 4, 4)? as u64;
        if i >= len {
            return Err(format!("index {i} is past the end ({len} elements)"));
        }
        let (size, _) = self.schema.layout(elem)?;
        Ok(Place { bytes: v.bytes.clone(), pos: start + i * size, storage: Storage::Inline, ty: (**elem).clone() })
    }

    /// The entries of bucket `b` of a map: (key place, value place).
    fn bucket(&self, p: &Place, b: u64) -> Res<Vec<(Place, Place, u64)>> {
        let (table, _) = self.table(p)?;
        let (kt, vt) = p.map_types()?;
        let entry = strata::raw::table_leaf(self.archive, &table, b).map_err(|e| e.to_string())?;
        let bytes = strata::raw::chunk(self.archive, entry.chunk()).map_err(|e| e.to_string())?;
        let bucket = Bucket::parse(&bytes).map_err(String::from)?;
        let (ks, _) = self.schema.layout(&kt)?;
        let (vs, va) = self.schema.layout(&vt)?;
        let voff = round_up(ks, va);
        let (_, ka) = self.schema.layout(&kt)?;
        let size = round_up(voff + vs, ka.max(va));
        let mut out = Vec::with_capacity(bucket.len());
        for j in 0..bucket.len() {
            let e = bucket.entry(j).map_err(String::from)?;
            let pos = (e.as_ptr() as u64 - bytes.as_ptr() as u64)
                + (e.len() as u64).checked_sub(size).ok_or("entry too short")?;
            out.push((
                Place { bytes: bytes.clone(), pos, storage: Storage::Inline, ty: kt.clone() },
                Place { bytes: bytes.clone(), pos: pos + voff, storage: Storage::Inline, ty: vt.clone() },
                bucket.hash(j).unwrap_or(0),
            ));
        }
        Ok(out)
    }

    /// The value of a map's entry whose key equals `key` (compared as decoded JSON).
    fn map_get(&self, p: &Place, key: &Value) -> Res<Place> {
        let (table, _) = self.table(p)?;
        let (kt, _) = p.map_types()?;
        let hash = stable_hash(&kt, key)?;
        let buckets = table.entries();
        let b = ((u128::from(hash) * u128::from(buckets)) >> 64) as u64;
        for (k, v, h) in self.bucket(p, b)? {
            if h == hash && self.value(&k)? == *key {
                return Ok(v);
            }
        }
        Err(format!("no entry with key {key}"))
    }

    /// Decodes a value to JSON.
    pub fn value(&self, p: &Place) -> Res<Value> {
        self.value_depth(p, 0)
    }

    fn value_depth(&self, p: &Place, depth: u32) -> Res<Value> {
        if depth > 128 {
            return Err(String::from("value nested too deep"));
        }
        match p.storage {
            Storage::Lazy => {
                let r = self.chunk_ref(p)?;
                if !self.deep {
                    return Ok(
                        json!({ "$lazy": { "offset": r.offset(), "stored": r.stored_len(), "raw": r.raw_len() } }),
                    );
                }
                return self.value_depth(&self.follow(p)?, depth + 1);
            }
            Storage::Shard => {
                let (table, len) = self.table(p)?;
                if !self.deep {
                    return Ok(json!({ "$shard": { "len": len, "shards": table.entries() } }));
                }
                let mut items = Vec::new();
                for s in 0..table.entries() {
                    let entry = strata::raw::table_leaf(self.archive, &table, s).map_err(|e| e.to_string())?;
                    let bytes = strata::raw::chunk(self.archive, entry.chunk()).map_err(|e| e.to_string())?;
                    let vec = self.at_root(bytes, Ty::Vec(Box::new(p.ty_elem()?)))?;
                    let n = le(&vec.bytes, vec.pos + 4, 4)? as u64;
                    for i in 0..n {
                        items.push(self.value_depth(&self.vec_element(&vec, i)?, depth + 1)?);
                    }
                }
                return Ok(Value::Array(items));
            }
            Storage::Map => {
                let (table, len) = self.table(p)?;
                if !self.deep {
                    return Ok(json!({ "$map": { "len": len, "buckets": table.entries() } }));
                }
                let mut obj = Map::new();
                let mut pairs = Vec::new();
                for b in 0..table.entries() {
                    for (k, v, _) in self.bucket(p, b)? {
                        let key = self.value_depth(&k, depth + 1)?;
                        let value = self.value_depth(&v, depth + 1)?;
                        match &key {
                            Value::String(s) => {
                                obj.insert(s.clone(), value);
                            }
                            Value::Number(n) => {
                                obj.insert(n.to_string(), value);
                            }
                            _ => pairs.push(json!([key, value])),
                        }
                    }
                }
                return Ok(if pairs.is_empty() { Value::Object(obj) } else { Value::Array(pairs) });
            }
            Storage::Inline => {}
        }
        let (view, pos) = (&p.bytes, p.pos);
        let bytes: &[u8] = view;
        let inline = |ty: Ty, pos: u64| Place { bytes: view.clone(), pos, storage: Storage::Inline, ty };
        Ok(match &p.ty {
            Ty::Prim(name) => prim(bytes, pos, name)?,
            Ty::String => Value::String(string(bytes, pos)?),
            Ty::Vec(elem) => {
                let n = le(bytes, pos + 4, 4)? as u64;
                // Elements of no size occupy no bytes, so the file's length does not bound
                // their count: a damaged length could ask for billions of values.
                if self.schema.layout(elem)?.0 == 0 && n > MAX_ZERO_SIZED {
                    return Err(format!(
                        "a vector of {n} zero-sized elements at {pos}: more than {MAX_ZERO_SIZED} is refused"
                    ));
                }
                let mut items = Vec::new();
                for i in 0..n {
                    items.push(self.value_depth(&self.vec_element(p, i)?, depth + 1)?);
                }
                Value::Array(items)
            }
            Ty::Option(t) => {
                let (_, a) = self.schema.layout(t)?;
                match le(bytes, pos, 1)? {
                    0 => Value::Null,
                    1 => self.value_depth(&inline((**t).clone(), pos + round_up(1, a)), depth + 1)?,
                    tag => return Err(format!("invalid Option tag {tag} at {pos}")),
                }
            }
            Ty::Boxed(t) => self.value_depth(&inline((**t).clone(), rel(bytes, pos)?), depth + 1)?,
            Ty::Array(t, n) => {
                let (s, _) = self.schema.layout(t)?;
                let mut items = Vec::new();
                for i in 0..*n {
                    items.push(self.value_depth(&inline((**t).clone(), pos + i * s), depth + 1)?);
                }
                Value::Array(items)
            }
            Ty::Tuple(ts) => {
                let mut at = 0;
                let mut items = Vec::new();
                for t in ts {
                    let (s, a) = self.schema.layout(t)?;
                    at = round_up(at, a);
                    items.push(self.value_depth(&inline(t.clone(), pos + at), depth + 1)?);
                    at += s;
                }
                Value::Array(items)
            }
            Ty::Opaque { name, .. } => {
                json!({ "$opaque": name, "why": "this type's archived layout (rkyv's own hash table, B-tree, or a #[strata(rkyv)] type) cannot be decoded without its Rust type" })
            }
            Ty::Named(name, _) => match self.schema.types.get(name) {
                Some(Def::Struct { tuple, fields, .. }) => self.fields_value(view, pos, fields, *tuple, depth)?,
                Some(Def::Enum { variants, .. }) => {
                    let tag = le(bytes, pos, 1)?;
                    let v = variants
                        .get(tag as usize)
                        .ok_or_else(|| format!("invalid variant {tag} of `{name}` at {pos}"))?;
                    if v.fields.is_empty() {
                        Value::String(v.name.clone())
                    } else {
                        let mut obj = Map::new();
                        obj.insert(v.name.clone(), self.fields_value(view, pos, &v.fields, v.tuple, depth)?);
                        Value::Object(obj)
                    }
                }
                None => return Err(format!("no definition of `{name}`")),
            },
        })
    }

    fn fields_value(&self, bytes: &View<[u8]>, pos: u64, fields: &[Field], tuple: bool, depth: u32) -> Res<Value> {
        let mut obj = Map::new();
        let mut items = Vec::new();
        for f in fields {
            let v = self.value_depth(
                &Place { bytes: bytes.clone(), pos: pos + f.offset, storage: f.storage, ty: f.ty.clone() },
                depth + 1,
            )?;
            if tuple {
                items.push(v);
            } else {
                obj.insert(f.name.clone(), v);
            }
        }
        Ok(if tuple { Value::Array(items) } else { Value::Object(obj) })
    }

    /// Follows a path (`players["Hero123"].level`, `users[54321]`, `history[3]`) from the
    /// root, reading only the chunks on the way.
    pub fn walk(&self, path: &str) -> Res<Place> {
        let mut p = self.root()?;
        for step in parse_path(path)? {
            p = self.step(p, &step)?;
        }
        Ok(p)
    }

    fn step(&self, mut p: Place, step: &Step) -> Res<Place> {
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
                    if le(&p.bytes, p.pos, 1)? != 1 {
                        return Err(String::from("the value is None"));
                    }
                    p = Place {
                        bytes: p.bytes.clone(),
                        pos: p.pos + round_up(1, a),
                        storage: Storage::Inline,
                        ty: (**t).clone(),
                    };
                }
                Ty::Boxed(t) => {
                    p = Place {
                        bytes: p.bytes.clone(),
                        pos: rel(&p.bytes, p.pos)?,
                        storage: Storage::Inline,
                        ty: (**t).clone(),
                    }
                }
                _ => break,
            }
        }
        match (step, p.storage, &p.ty) {
            (Step::Index(i), Storage::Shard, _) => self.shard_element(&p, *i),
            (key, Storage::Map, _) => self.map_get(&p, &key.as_json()),
            (Step::Index(i), Storage::Inline, Ty::Vec(_)) => self.vec_element(&p, *i),
            (Step::Index(i), Storage::Inline, Ty::Array(t, n)) if i < n => {
                let (s, _) = self.schema.layout(t)?;
                Ok(Place { bytes: p.bytes.clone(), pos: p.pos + i * s, storage: Storage::Inline, ty: (**t).clone() })
            }
            (Step::Index(i), Storage::Inline, Ty::Tuple(ts)) => {
                let mut at = 0;
                for (j, t) in ts.iter().enumerate() {
                    let (s, a) = self.schema.layout(t)?;
                    at = round_up(at, a);
                    if j as u64 == *i {
                        return Ok(Place {
                            bytes: p.bytes.clone(),
                            pos: p.pos + at,
                            storage: Storage::Inline,
                            ty: t.clone(),
                        });
                    }
                    at += s;
                }
                Err(format!("no element {i} in a tuple of {}", ts.len()))
            }
            (Step::Field(name), Storage::Inline, Ty::Named(tn, _)) => {
                let fields = match self.schema.types.get(tn) {
                    Some(Def::Struct { fields, .. }) => fields,
                    Some(Def::Enum { variants, .. }) => {
                        let tag = le(&p.bytes, p.pos, 1)?;
                        &variants.get(tag as usize).ok_or("invalid variant")?.fields
                    }
                    None => return Err(format!("no definition of `{tn}`")),
                };
                let f = fields
                    .iter()
                    .find(|f| f.name == *name)
                    .ok_or_else(|| format!("`{tn}` has no field `{name}` here"))?;
                Ok(Place { bytes: p.bytes.clone(), pos: p.pos + f.offset, storage: f.storage, ty: f.ty.clone() })
            }
            (Step::Index(i), Storage::Inline, Ty::Named(..)) => self.step(p, &Step::Field(i.to_string())),
            (step, _, ty) => {
                Err(format!("cannot apply `{}` to a value of type {}", step.show(), crate::schema::render(ty)))
            }
        }
    }
}

impl Place {
    fn ty_elem(&self) -> Res<Ty> {
        match &self.ty {
            Ty::Vec(t) => Ok((**t).clone()),
            other => Err(format!("a sharded field of type {} is not a Vec", crate::schema::render(other))),
        }
    }

    fn map_types(&self) -> Res<(Ty, Ty)> {
        match &self.ty {
            Ty::Named(n, args) if n.starts_with("HashSet<") || n.starts_with("BTreeSet<") => {
                let k = args.first().cloned().ok_or("a set without a key type")?;
                Ok((k, Ty::Prim(String::from("()"))))
            }
            Ty::Named(_, args) if args.len() == 2 => {
                Ok((args.first().cloned().ok_or("key")?, args.get(1).cloned().ok_or("value")?))
            }
            other => Err(format!("a map field of type {} has no key and value types", crate::schema::render(other))),
        }
    }
}

fn prim(bytes: &[u8], pos: u64, name: &str) -> Res<Value> {
    let (size, _) = crate::schema::prim_layout(name).ok_or_else(|| format!("unknown primitive {name}"))?;
    let raw = le(bytes, pos, size)?;
    Ok(match name {
        "()" => Value::Null,
        "bool" => match raw {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => return Err(format!("invalid bool {b} at {pos}")),
        },
        "char" => {
            Value::String(char::from_u32(raw as u32).ok_or_else(|| format!("invalid char at {pos}"))?.to_string())
        }
        "f32" => json!(f32::from_bits(raw as u32)),
        "f64" => json!(f64::from_bits(raw as u64)),
        "u128" => Value::String(raw.to_string()),
        "i128" => Value::String((raw as i128).to_string()),
        "i8" => json!(raw as u8 as i8),
        "i16" => json!(raw as u16 as i16),
        "i32" => json!(raw as u32 as i32),
        "i64" | "isize" => json!(raw as u64 as i64),
        _ => json!(raw as u64),
    })
}

fn string(bytes: &[u8], pos: u64) -> Res<String> {
    let head = slice(bytes, pos, 8)?;
    let first = head.first().copied().unwrap_or(0);
    let raw = if first & 0xC0 != 0x80 {
        let len = head.iter().position(|&b| b == 0xFF).unwrap_or(8);
        head.get(..len).unwrap_or_default()
    } else {
        let v = le(bytes, pos, 4)? as u64;
        let len = (v & 0x3F) | ((v & !0xFF) >> 2);
        slice(bytes, rel(bytes, pos + 4)?.checked_sub(4).ok_or("string offset")?, len)?
    };
    String::from_utf8(raw.to_vec()).map_err(|_| format!("invalid UTF-8 in the string at {pos}"))
}

/// The stable hash (see `strata::hash`) of a key given as JSON, for the key types whose
/// encoding the tool knows: strings and primitives.
fn stable_hash(kt: &Ty, key: &Value) -> Res<u64> {
    let mut h = strata::StableHasher::new();
    match (kt, key) {
        (Ty::String, Value::String(s)) => {
            h.write_len(s.len());
            h.write(s.as_bytes());
        }
        (Ty::Prim(p), Value::Number(n)) => {
            let (size, _) = crate::schema::prim_layout(p).ok_or("unknown primitive")?;
            let v: i128 = n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from)).ok_or("a whole number")?;
            let bytes = v.to_le_bytes();
            h.write(bytes.get(..size as usize).unwrap_or_default());
        }
        (Ty::Prim(p), Value::Bool(b)) if p == "bool" => h.write(&[u8::from(*b)]),
        (kt, key) => {
            return Err(format!(
                "looking up a {} key by {key} is not supported; dump the whole map",
                crate::schema::render(kt)
            ));
        }
    }
    Ok(h.finish())
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Field(String),
    Index(u64),
    Key(String),
}

impl Step {
    fn as_json(&self) -> Value {
        match self {
            Step::Field(s) | Step::Key(s) => Value::String(s.clone()),
            Step::Index(i) => json!(i),
        }
    }
    fn show(&self) -> String {
        match self {
            Step::Field(s) => format!(".{s}"),
            Step::Index(i) => format!("[{i}]"),
            Step::Key(k) => format!("[{k:?}]"),
        }
    }
}

/// Parses `a.b[3]["key"].c`.
pub fn parse_path(path: &str) -> Res<Vec<Step>> {
    let mut steps = Vec::new();
    let mut rest = path.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix("[\"") {
            let end = r.find("\"]").ok_or("unterminated [\"key\"]")?;
            let (key, tail) = r.split_at(end);
            steps.push(Step::Key(key.to_owned()));
            rest = tail.get(2..).unwrap_or_default();
            continue;
        }
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or("unterminated [index]")?;
            let (n, tail) = r.split_at(end);
            steps.push(Step::Index(
                n.trim().parse().map_err(|_| format!("`[{n}]` is not an index; quote keys: [\"{n}\"]"))?,
            ));
            rest = tail.get(1..).unwrap_or_default();
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let (name, tail) = rest.split_at(end);
        steps.push(Step::Field(name.to_owned()));
        rest = tail;
    }
    Ok(steps)
}
