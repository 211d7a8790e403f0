//! The names of fields, carried into generated wrappers by marker types.

/// The name of the field a wrapper stores, carried by a zero-sized marker type that the
/// derive generates (a string cannot be a const generic parameter on stable Rust). The
/// name goes into the chunk directory.
pub trait FieldName {
    /// The field's name (`history`, `0`, `Variant.field`).
    const NAME: &'static str;
}

/// The name of fields whose wrapper is used without the derive.
#[derive(Debug)]
pub struct Unnamed;

impl FieldName for Unnamed {
    const NAME: &'static str = "";
}
