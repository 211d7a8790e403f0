//! A [`strata::Value`] as JSON, the way `strata dump` prints it: structs as objects, tuple
//! structs and tuples as arrays, unit variants as strings, other variants as
//! `{"Variant": fields}`, maps as objects when their keys are strings or numbers and
//! as `[key, value]` pairs otherwise, 128-bit integers as strings (JSON numbers lose
//! them), and references a shallow dump does not follow as `$lazy`, `$shard`, `$map`.

use serde_json::{Map, Value as Json, json};
use strata::Value;

/// The JSON form of `v`.
pub fn json(v: &Value) -> Json {
    match v {
        Value::Unit | Value::Option(None) => Json::Null,
        Value::Bool(b) => json!(b),
        Value::U8(n) => json!(n),
        Value::U16(n) => json!(n),
        Value::U32(n) => json!(n),
        Value::U64(n) => json!(n),
        Value::I8(n) => json!(n),
        Value::I16(n) => json!(n),
        Value::I32(n) => json!(n),
        Value::I64(n) => json!(n),
        Value::U128(n) => json!(n.to_string()),
        Value::I128(n) => json!(n.to_string()),
        Value::F32(x) => json!(x),
        Value::F64(x) => json!(x),
        Value::Char(c) => json!(c.to_string()),
        Value::String(s) => json!(s),
        Value::Seq(items) | Value::Tuple(items) => Json::Array(items.iter().map(json).collect()),
        Value::Option(Some(v)) => json(v),
        Value::Struct { fields, .. } => fields_json(fields),
        Value::Enum { variant, fields, .. } if fields.is_empty() => json!(variant),
        Value::Enum { variant, fields, .. } => {
            let mut obj = Map::new();
            obj.insert(variant.clone(), fields_json(fields));
            Json::Object(obj)
        }
        Value::Map(entries) => {
            let mut obj = Map::new();
            let mut pairs = Vec::new();
            for (k, v) in entries {
                match json(k) {
                    Json::String(s) => {
                        obj.insert(s, json(v));
                    }
                    Json::Number(n) => {
                        obj.insert(n.to_string(), json(v));
                    }
                    key => pairs.push(json!([key, json(v)])),
                }
            }
            if pairs.is_empty() { Json::Object(obj) } else { Json::Array(pairs) }
        }
        Value::Lazy { offset, stored, raw } => json!({ "$lazy": { "offset": offset, "stored": stored, "raw": raw } }),
        Value::Sharded { len, shards } => json!({ "$shard": { "len": len, "shards": shards } }),
        Value::Bucketed { len, buckets } => json!({ "$map": { "len": len, "buckets": buckets } }),
        Value::Opaque(name) => json!({
            "$opaque": name,
            "why": "this type's archived layout (rkyv's own hash table, B-tree, or a #[strata(rkyv)] type) cannot be decoded without its Rust type"
        }),
        other => json!(format!("{other:?}")),
    }
}

/// Named fields as an object; positional ones (`0`, `1`, ...) as an array.
fn fields_json(fields: &[(String, Value)]) -> Json {
    let positional = fields.iter().enumerate().all(|(i, (name, _))| *name == i.to_string());
    if positional && !fields.is_empty() {
        Json::Array(fields.iter().map(|(_, v)| json(v)).collect())
    } else {
        Json::Object(fields.iter().map(|(n, v)| (n.clone(), json(v))).collect())
    }
}
