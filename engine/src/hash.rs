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
///
/// Keys are short: their encoding is gathered on the stack and hashed in one call,
/// which gives the same hash as streaming the same bytes (xxh3's one-shot and streaming
/// forms agree) without setting up a streaming state. Longer encodings stream.
pub struct StableHasher {
    small: [u8; SMALL],
    len: usize,
    stream: Option<Box<xxhash_rust::xxh3::Xxh3Default>>,
}

const SMALL: usize = 128;

impl StableHasher {
    /// A fresh hasher.
    #[must_use]
    pub fn new() -> Self {
        Self { small: [0; SMALL], len: 0, stream: None }
    }

    /// Feeds raw bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        if let Some(stream) = &mut self.stream {
            stream.update(bytes);
            return;
        }
        match self.small.get_mut(self.len..self.len + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => {
                let mut stream = Box::new(xxhash_rust::xxh3::Xxh3Default::new());
                stream.update(self.small.get(..self.len).unwrap_or_default());
                stream.update(bytes);
                self.stream = Some(stream);
            }
        }
    }

    /// Feeds a length prefix.
    pub fn write_len(&mut self, len: usize) {
        self.write(&(len as u64).to_le_bytes());
    }

    /// The hash of everything fed so far.
    #[must_use]
    pub fn finish(&self) -> u64 {
        match &self.stream {
            Some(stream) => stream.digest(),
            None => xxhash_rust::xxh3::xxh3_64(self.small.get(..self.len).unwrap_or_default()),
        }
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

impl<T: StableHash + ?Sized> StableHash for std::sync::Arc<T> {
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
    fn short_and_long_keys_hash_as_their_bytes() {
        for len in [0, 1, 7, 100, 119, 120, 121, 127, 128, 129, 500, 10_000] {
            let key = "k".repeat(len);
            let mut bytes = (len as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(key.as_bytes());
            assert_eq!(stable_hash(key.as_str()), xxhash_rust::xxh3::xxh3_64(&bytes), "length {len}");
        }
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
