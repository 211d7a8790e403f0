//! [`Value`]: any stored value, read without its Rust type.
//!
//! A file records its schema with the archived layout of every type (see
//! [`crate::schema`]), so a program can read any strata file without the types that
//! wrote it: [`Archive::value`](crate::Archive::value) decodes the root,
//! [`Archive::value_at`](crate::Archive::value_at) follows a path
//! (`by_name["player012345"].level`) reading only the chunks on the way. With the
//! `serde` feature, a [`Value`] serializes through serde (to JSON, for example).
//!
//! ```
//! use strata::{Persist, Value};
//!
//! #[derive(Persist)]
//! struct Config {
//!     name: String,
//!     #[strata(lazy)]
//!     ports: Vec<u16>,
//! }
//!
//! let bytes = strata::to_bytes(&Config { name: "edge".into(), ports: vec![80, 443] })?;
//! let archive = strata::Archive::from_bytes(bytes)?;
//! let v = archive.value()?;                       // no `Config` needed
//! assert_eq!(v.field("name"), Some(&Value::String("edge".into())));
//! assert_eq!(archive.value_at("ports[1]")?, Value::U16(443));
//! # Ok::<(), strata::Error>(())
//! ```

mod decode;
mod path;
pub(crate) mod refs;

pub use decode::Decoder;
pub use path::{Step, parse_path};

/// A stored value, decoded from the layouts a file records.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// `()`.
    Unit,
    /// A `bool`.
    Bool(bool),
    /// A `u8`.
    U8(u8),
    /// A `u16`.
    U16(u16),
    /// A `u32`.
    U32(u32),
    /// A `u64` (and a `usize`, stored as 64 bits).
    U64(u64),
    /// A `u128`.
    U128(u128),
    /// An `i8`.
    I8(i8),
    /// An `i16`.
    I16(i16),
    /// An `i32`.
    I32(i32),
    /// An `i64` (and an `isize`, stored as 64 bits).
    I64(i64),
    /// An `i128`.
    I128(i128),
    /// An `f32`.
    F32(f32),
    /// An `f64`.
    F64(f64),
    /// A `char`.
    Char(char),
    /// A `String`.
    String(String),
    /// A `Vec`, an array, or a sharded vector's elements.
    Seq(Vec<Value>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// An `Option`.
    Option(Option<Box<Value>>),
    /// A struct: its type's name and its fields (tuple structs name them `0`, `1`, ...).
    Struct {
        /// The type's name.
        name: String,
        /// The fields, in declaration order.
        fields: Vec<(String, Value)>,
    },
    /// An enum variant: its type's name, the variant's name and its fields.
    Enum {
        /// The type's name.
        name: String,
        /// The variant's name.
        variant: String,
        /// The variant's fields (tuple variants name them `0`, `1`, ...).
        fields: Vec<(String, Value)>,
    },
    /// A bucketed map's or set's entries (a set's values are [`Value::Unit`]).
    Map(Vec<(Value, Value)>),
    /// A lazy field not followed (a shallow decode): its chunk.
    Lazy {
        /// The chunk's offset in the file.
        offset: u64,
        /// Its stored length.
        stored: u64,
        /// Its length once decompressed.
        raw: u64,
    },
    /// A sharded vector not read (a shallow decode).
    Sharded {
        /// Its element count.
        len: u64,
        /// Its shard count.
        shards: u64,
    },
    /// A bucketed map not read (a shallow decode).
    Bucketed {
        /// Its entry count.
        len: u64,
        /// Its bucket count.
        buckets: u64,
    },
    /// A value whose archived layout cannot be decoded without its Rust type (rkyv's
    /// own inline hash tables and B-trees, `#[strata(rkyv)]` fields): its type.
    Opaque(String),
}

impl Value {
    /// The field `name` of a struct or enum variant.
    #[must_use]
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct { fields, .. } | Value::Enum { fields, .. } => {
                fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// The value as a `u64`, for any unsigned integer that fits, or a non-negative
    /// signed one.
    #[must_use]
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(u64::from(v)),
            Value::U16(v) => Some(u64::from(v)),
            Value::U32(v) => Some(u64::from(v)),
            Value::U64(v) => Some(v),
            Value::U128(v) => u64::try_from(v).ok(),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            Value::I128(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as an `i64`, for any integer that fits.
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(i64::from(v)),
            Value::I16(v) => Some(i64::from(v)),
            Value::I32(v) => Some(i64::from(v)),
            Value::I64(v) => Some(v),
            Value::I128(v) => i64::try_from(v).ok(),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// The string of a [`Value::String`].
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

impl crate::Archive {
    /// The root value, decoded without its Rust type from the layouts the file records:
    /// every lazy field, sharded vector and bucketed map followed (the whole value).
    ///
    /// # Errors
    /// When the meta chunk or a chunk the value needs is damaged, or the recorded
    /// layouts do not match the bytes.
    pub fn value(&self) -> crate::Result<Value> {
        let schema = crate::schema::Schema::parse_archive(self)?;
        let decoder = Decoder::new(self, &schema, true);
        decoder.value(&decoder.root()?)
    }

    /// The value at `path` (`a.b[3]["key"].c`: fields, vector and array indexes, map
    /// keys), decoded without its Rust type, reading only the chunks on the way there
    /// and those of the value itself.
    ///
    /// # Errors
    /// As [`value`](Self::value), and when the path does not lead to a value.
    pub fn value_at(&self, path: &str) -> crate::Result<Value> {
        let schema = crate::schema::Schema::parse_archive(self)?;
        let decoder = Decoder::new(self, &schema, true);
        decoder.value(&decoder.walk(path)?)
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::Value;
    use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};

    impl serde::Serialize for Value {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Value::Unit => s.serialize_unit(),
                Value::Bool(v) => s.serialize_bool(*v),
                Value::U8(v) => s.serialize_u8(*v),
                Value::U16(v) => s.serialize_u16(*v),
                Value::U32(v) => s.serialize_u32(*v),
                Value::U64(v) => s.serialize_u64(*v),
                Value::U128(v) => s.serialize_u128(*v),
                Value::I8(v) => s.serialize_i8(*v),
                Value::I16(v) => s.serialize_i16(*v),
                Value::I32(v) => s.serialize_i32(*v),
                Value::I64(v) => s.serialize_i64(*v),
                Value::I128(v) => s.serialize_i128(*v),
                Value::F32(v) => s.serialize_f32(*v),
                Value::F64(v) => s.serialize_f64(*v),
                Value::Char(v) => s.serialize_char(*v),
                Value::String(v) => s.serialize_str(v),
                Value::Seq(items) | Value::Tuple(items) => {
                    let mut seq = s.serialize_seq(Some(items.len()))?;
                    for item in items {
                        seq.serialize_element(item)?;
                    }
                    seq.end()
                }
                Value::Option(None) => s.serialize_none(),
                Value::Option(Some(v)) => s.serialize_some(v),
                Value::Struct { fields, .. } => {
                    let mut map = s.serialize_map(Some(fields.len()))?;
                    for (name, v) in fields {
                        map.serialize_entry(name, v)?;
                    }
                    map.end()
                }
                Value::Enum { variant, fields, .. } if fields.is_empty() => s.serialize_str(variant),
                Value::Enum { variant, fields, .. } => {
                    let mut map = s.serialize_map(Some(1))?;
                    map.serialize_entry(variant, &Fields(fields))?;
                    map.end()
                }
                Value::Map(entries) => {
                    let mut map = s.serialize_map(Some(entries.len()))?;
                    for (k, v) in entries {
                        map.serialize_entry(k, v)?;
                    }
                    map.end()
                }
                Value::Lazy { offset, stored, raw } => {
                    let mut st = s.serialize_struct("$lazy", 3)?;
                    st.serialize_field("offset", offset)?;
                    st.serialize_field("stored", stored)?;
                    st.serialize_field("raw", raw)?;
                    st.end()
                }
                Value::Sharded { len, shards } => {
                    let mut st = s.serialize_struct("$shard", 2)?;
                    st.serialize_field("len", len)?;
                    st.serialize_field("shards", shards)?;
                    st.end()
                }
                Value::Bucketed { len, buckets } => {
                    let mut st = s.serialize_struct("$map", 2)?;
                    st.serialize_field("len", len)?;
                    st.serialize_field("buckets", buckets)?;
                    st.end()
                }
                Value::Opaque(ty) => {
                    let mut st = s.serialize_struct("$opaque", 1)?;
                    st.serialize_field("type", ty)?;
                    st.end()
                }
            }
        }
    }

    /// A variant's fields, as a map.
    struct Fields<'a>(&'a [(String, Value)]);

    impl serde::Serialize for Fields<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(self.0.len()))?;
            for (name, v) in self.0 {
                map.serialize_entry(name, v)?;
            }
            map.end()
        }
    }
}
