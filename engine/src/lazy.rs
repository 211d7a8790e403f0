//! [`Lazy<T>`]: a value stored in a chunk of its own, like a `#[strata(lazy)] T` field,
//! that a load leaves in the archive.

use crate::Persist;
use crate::error::{Error, Result};
use crate::format::ChunkRef;
use crate::promise::Promise;
use crate::store::{Store, View};
use std::sync::{Arc, OnceLock};

/// A value stored in a chunk of its own, like a `#[strata(lazy)] T` field (the same
/// schema, `lazy T`: each reads the other's files), that a load leaves in the archive.
///
/// After a load, the value is read on first use ([`get`](Self::get)) and kept;
/// [`get_mut`](Self::get_mut) and [`set`](Self::set) make it owned and changed. An
/// [incremental](crate::SaveOptions::incremental) save to the file it was loaded from
/// refers to an unchanged value's chunk where it is, without reading or serializing it
/// (values holding lazy fields, sharded vectors or maps of their own, and saves to
/// another file, read and write it again, with the same result). Views of a field of
/// this type are [`Promise<T>`], as for a `#[strata(lazy)]` field.
///
/// ```
/// #[derive(strata::Persist)]
/// struct Level { name: String, terrain: strata::Lazy<Vec<u16>> }
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("level.strata");
/// let incremental = strata::SaveOptions::new().incremental(true);
/// incremental.save(&path, &Level { name: "one".into(), terrain: strata::Lazy::new(vec![7; 1_000_000]) })?;
///
/// let mut level: Level = strata::Archive::open(&path)?.load()?; // the terrain is not read
/// level.name = "renamed".into();
/// let stats = incremental.save(&path, &level)?;                 // nor written
/// assert!(stats.file_len < 2_000_000 + 10_000);
/// assert_eq!(level.terrain.get()?.len(), 1_000_000);            // read now
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Lazy<T> {
    inner: Inner<T>,
}

enum Inner<T> {
    Owned(T),
    /// Written by a [`Writer`](crate::Writer) into the file being saved, for `name` of
    /// save `save`.
    Written {
        chunk: ChunkRef,
        save: u64,
        name: &'static str,
    },
    /// In the archive `store`, through `promise` (a copy of the reference registered
    /// with the store); `loaded` once read.
    Kept {
        promise: View<Promise<T>>,
        store: Arc<Store>,
        loaded: OnceLock<T>,
    },
}

impl<T> Lazy<T> {
    /// An owned value, saved in a chunk of its own.
    #[must_use]
    pub fn new(value: T) -> Self {
        Self { inner: Inner::Owned(value) }
    }

    /// Whether the value is still in the archive it was loaded from (unchanged).
    #[must_use]
    pub fn is_in_archive(&self) -> bool {
        matches!(self.inner, Inner::Kept { .. })
    }

    /// A value a [`Writer`](crate::Writer) wrote into the file being saved.
    pub(crate) fn written(chunk: ChunkRef, save: u64, name: &'static str) -> Self {
        Self { inner: Inner::Written { chunk, save, name } }
    }

    /// The chunk of a value written ahead by a [`Writer`](crate::Writer), checked to
    /// belong to save `save` and field `field`; `None` for other values.
    pub(crate) fn written_chunk(&self, save: u64, field: &str) -> Option<Result<ChunkRef>> {
        let Inner::Written { chunk, save: s, name } = &self.inner else { return None };
        Some(if *s != save {
            Err(Error::Serialize(format!(
                "`{name}` was written into another save than the one writing field `{field}`"
            )))
        } else if *name != field {
            Err(Error::Serialize(format!(
                "`{name}` was written for another field than `{field}`: write it under the field's name"
            )))
        } else {
            Ok(*chunk)
        })
    }

    /// The owned value, if it is owned or was read.
    fn ready(&self) -> Option<&T> {
        match &self.inner {
            Inner::Owned(v) => Some(v),
            Inner::Kept { loaded, .. } => loaded.get(),
            Inner::Written { .. } => None,
        }
    }

    fn no_value() -> Error {
        Error::Message(String::from("a lazy value written ahead holds no value: it is in the file being written"))
    }
}

impl<T: Persist + Send + Sync> Lazy<T> {
    /// The chunk an unchanged value left in its archive is stored in, with that archive.
    pub(crate) fn kept(&self) -> Option<(&Arc<Store>, ChunkRef)> {
        match &self.inner {
            Inner::Kept { promise, store, .. } => Some((store, promise.target(store))),
            Inner::Owned(_) | Inner::Written { .. } => None,
        }
    }

    /// A handle to the value `promise` names, read from `store` as the file stores it.
    pub(crate) fn in_archive(promise: &Promise<T>, store: Arc<Store>) -> Result<Self> {
        let mut bytes = rkyv::util::AlignedVec::<16>::new();
        bytes.extend_from_slice(&promise.chunk().to_bytes());
        let promise = store.detached::<Promise<T>>(bytes)?;
        Ok(Self { inner: Inner::Kept { promise, store, loaded: OnceLock::new() } })
    }

    /// The value: read from the archive on first use (then kept), or owned.
    ///
    /// # Errors
    /// Reading the value's chunk.
    pub fn get(&self) -> Result<&T> {
        match &self.inner {
            Inner::Owned(v) => Ok(v),
            Inner::Written { .. } => Err(Self::no_value()),
            Inner::Kept { promise, loaded, .. } => {
                if let Some(v) = loaded.get() {
                    return Ok(v);
                }
                let value = promise.load()?;
                Ok(loaded.get_or_init(|| value))
            }
        }
    }

    /// A zero-copy view of the value in its archive (`None` when it is owned).
    ///
    /// # Errors
    /// Reading the value's chunk.
    pub fn view(&self) -> Result<Option<View<rkyv::Archived<T>>>> {
        match &self.inner {
            Inner::Kept { promise, .. } => promise.view().map(Some),
            Inner::Owned(_) | Inner::Written { .. } => Ok(None),
        }
    }

    /// The value, to change: read if need be, and owned from now on (the next save
    /// writes it).
    ///
    /// # Errors
    /// Reading the value's chunk.
    pub fn get_mut(&mut self) -> Result<&mut T> {
        if let Inner::Kept { promise, loaded, .. } = &mut self.inner {
            let value = match loaded.take() {
                Some(v) => v,
                None => promise.load()?,
            };
            self.inner = Inner::Owned(value);
        }
        match &mut self.inner {
            Inner::Owned(v) => Ok(v),
            Inner::Written { .. } => Err(Self::no_value()),
            Inner::Kept { .. } => Err(Error::Message(String::from("internal: a lazy value not made owned"))),
        }
    }

    /// Replaces the value.
    pub fn set(&mut self, value: T) {
        self.inner = Inner::Owned(value);
    }

    /// The value, owned.
    ///
    /// # Errors
    /// Reading the value's chunk.
    pub fn into_inner(self) -> Result<T> {
        match self.inner {
            Inner::Owned(v) => Ok(v),
            Inner::Written { .. } => Err(Self::no_value()),
            Inner::Kept { promise, loaded, .. } => match loaded.into_inner() {
                Some(v) => Ok(v),
                None => promise.load(),
            },
        }
    }
}

impl<T> From<T> for Lazy<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: Default> Default for Lazy<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: Clone> Clone for Lazy<T> {
    fn clone(&self) -> Self {
        match &self.inner {
            Inner::Owned(v) => Self::new(v.clone()),
            Inner::Kept { promise, store, loaded } => Self {
                inner: Inner::Kept { promise: promise.clone(), store: Arc::clone(store), loaded: loaded.clone() },
            },
            Inner::Written { chunk, save, name } => Self { inner: Inner::Written { chunk: *chunk, save: *save, name } },
        }
    }
}

impl<T: Persist + Send + Sync + PartialEq> PartialEq for Lazy<T> {
    /// Equal values (read from the archive where they are left there; a read that
    /// fails is unequal); values written ahead are equal when they name the same chunk.
    fn eq(&self, other: &Self) -> bool {
        match (&self.inner, &other.inner) {
            (Inner::Written { chunk: a, .. }, Inner::Written { chunk: b, .. }) => a == b,
            _ => matches!((self.get(), other.get()), (Ok(a), Ok(b)) if a == b),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Lazy<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.ready(), &self.inner) {
            (Some(v), _) => f.debug_tuple("Lazy").field(v).finish(),
            (None, Inner::Kept { promise, .. }) => {
                f.debug_struct("Lazy").field("in_archive", Promise::chunk(promise)).finish()
            }
            (None, Inner::Written { chunk, .. }) => f.debug_struct("Lazy").field("written", chunk).finish(),
            (None, Inner::Owned(_)) => f.write_str("Lazy"),
        }
    }
}
