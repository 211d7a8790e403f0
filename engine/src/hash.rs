//! [`StableHash`]: key hashing that is the same on every platform and in every process.
//!
//! A map's bucket is chosen by a hash of its key, computed when the file is written and
//! again when it is read, possibly on another machine. `std::hash::Hash` cannot serve:
//! its output depends on the platform (`usize`, byte order) and on the hasher's seed. A
//! `StableHash` key writes a fixed little-endian encoding into a [`StableHasher`]
//! (xxh3-64, seed 0):
//!
//! | type | encoding |
//! |---|---|
//! | `u8`…`u128`, `i8`…`i128` | its little-endian bytes (its own width) |
//! | `bool` | one byte, 0 or 1 |
//! | `char` | its scalar value as a little-endian `u32` |
//! | `str`, `String`, `[u8]` | length as a little-endian `u64`, then the bytes |
//! | `[T]`, `Vec<T>`, `[T; N]` | length as a little-endian `u64`, then each element |
//! | tuples | each element in order |
//! | `Option<T>` | `0`, or `1` then the value |
//! | derived structs | each field in order; enums: the variant's index (`u32`), then its fields |
//!
//! Equal keys of the borrowed and owned forms (`str`/`String`, `[T]`/`Vec<T>`) hash
//! alike, so lookups take the borrowed form.

/// A hasher over the stable encoding: xxh3-64 with seed 0.
pub struct StableHasher {
    state: xxhash_rust::xxh3::Xxh3Default,
}

impl StableHasher {
    /// A fresh hasher.
    #[must_use]
    pub fn new() -> Self {
        Self { state: xxhash_rust::xxh3::Xxh3Default::new() }
    }

    /// Feeds raw bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        self.state.update(bytes);
    }

    /// Feeds a length prefix.
    pub fn write_len(&mut self, len: usize) {
        self.write(&(len as u64).to_le_bytes());
    }

    /// The hash of everything fed so far.
    #[must_use]
    pub fn finish(&self) -> u64 {
        self.state.digest()
    }
}

impl Default for StableHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// A key type with a platform-independent hash; see the [module docs](self).
///
/// Derive it with `#[derive(StableHash)]` for your own key types.
pub trait StableHash {
    /// Feeds the stable encoding of `self` into `h`.
    fn stable_hash(&self, h: &mut StableHasher);
}

/// The stable hash of a key.
#[must_use]
pub fn stable_hash<K: StableHash + ?Sized>(key: &K) -> u64 {
    let mut h = StableHasher::new();
    key.stable_hash(&mut h);
    h.finish()
}

macro_rules! ints {
    ($($t:ty),*) => {$(
        impl StableHash for $t {
            fn stable_hash(&self, h: &mut StableHasher) {
                h.write(&self.to_le_bytes());
            }
        }
    )*};
}
ints!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128);

impl StableHash for bool {
    fn stable_hash(&self, h: &mut StableHasher) {
        h.write(&[u8::from(*self)]);
    }
}

impl StableHash for char {
    fn stable_hash(&self, h: &mut StableHasher) {
        h.write(&u32::from(*self).to_le_bytes());
    }
}

impl StableHash for str {
    fn stable_hash(&self, h: &mut StableHasher) {
        h.write_len(self.len());
        h.write(self.as_bytes());
    }
}

impl StableHash for String {
    fn stable_hash(&self, h: &mut StableHasher) {
        self.as_str().stable_hash(h);
    }
}

impl<T: StableHash> StableHash for [T] {
    fn stable_hash(&self, h: &mut StableHasher) {
        h.write_len(self.len());
        for v in self {
            v.stable_hash(h);
        }
    }
}

impl<T: StableHash> StableHash for Vec<T> {
    fn stable_hash(&self, h: &mut StableHasher) {
        self.as_slice().stable_hash(h);
    }
}

impl<T: StableHash, const N: usize> StableHash for [T; N] {
    fn stable_hash(&self, h: &mut StableHasher) {
        self.as_slice().stable_hash(h);
    }
}

impl<T: StableHash> StableHash for Option<T> {
    fn stable_hash(&self, h: &mut StableHasher) {
        match self {
            None => h.write(&[0]),
            Some(v) => {
                h.write(&[1]);
                v.stable_hash(h);
            }
        }
    }
}

impl<T: StableHash + ?Sized> StableHash for &T {
    fn stable_hash(&self, h: &mut StableHasher) {
        (**self).stable_hash(h);
    }
}

impl<T: StableHash + ?Sized> StableHash for Box<T> {
    fn stable_hash(&self, h: &mut StableHasher) {
        (**self).stable_hash(h);
    }
}

impl StableHash for () {
    fn stable_hash(&self, _: &mut StableHasher) {}
}

macro_rules! tuples {
    ($($name:ident $i:tt),+) => {
        impl<$($name: StableHash),+> StableHash for ($($name,)+) {
            fn stable_hash(&self, h: &mut StableHasher) {
                $(self.$i.stable_hash(h);)+
            }
        }
    };
}
tuples!(A 0);
tuples!(A 0, B 1);
tuples!(A 0, B 1, C 2);
tuples!(A 0, B 1, C 2, D 3);
tuples!(A 0, B 1, C 2, D 3, E 4);
tuples!(A 0, B 1, C 2, D 3, E 4, F 5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_and_owned_forms_hash_alike() {
        assert_eq!(stable_hash("abc"), stable_hash(&String::from("abc")));
        assert_eq!(stable_hash(&[1u32, 2][..]), stable_hash(&vec![1u32, 2]));
    }

    #[test]
    fn the_encoding_is_fixed() {
        // Pinned values: a change here breaks every file with a map.
        let mut h = StableHasher::new();
        h.write(&7u32.to_le_bytes());
        assert_eq!(stable_hash(&7u32), h.finish());
        assert_eq!(stable_hash(&7u32), xxhash_rust::xxh3::xxh3_64(&[7, 0, 0, 0]));
        assert_eq!(stable_hash("ab"), xxhash_rust::xxh3::xxh3_64(&[2, 0, 0, 0, 0, 0, 0, 0, b'a', b'b']));
        assert_ne!(stable_hash(&(1u8, 2u8)), stable_hash(&(2u8, 1u8)));
    }
}
