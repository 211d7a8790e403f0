//! [`Archive`]: an open strata file (or buffer) and its public API.

use crate::error::Result;
use crate::format::Footer;
use crate::options::{Access, OpenOptions};
use crate::store::source::{FileSource, MapSource, Source};
use crate::store::{CacheStats, Store, View};
use crate::{Persist, persist};
use rkyv::Archived;
use std::path::Path;
use std::sync::Arc;

/// An open strata file, or a strata image in memory.
///
/// Opening reads the file's tail (the footer, and the root chunk with it) and verifies
/// the root chunk's checksum: nothing else. [`root`](Self::root) validates the root
/// node (once) and hands out a zero-copy view; lazy fields are read only when asked.
/// An `Archive` is cheap to clone (clones share one cache) and can be shared between
/// threads.
///
/// ```
/// use strata::{Archive, Persist};
///
/// #[derive(Persist, Debug, PartialEq)]
/// struct Settings { difficulty: u8 }
///
/// #[derive(Persist, Debug, PartialEq)]
/// struct World {
///     id: u64,
///     name: String,
///     settings: Settings,
///     #[strata(lazy)]
///     history: Vec<String>,
/// }
///
/// let world = World {
///     id: 7,
///     name: "Aurora".into(),
///     settings: Settings { difficulty: 3 },
///     history: vec!["founded".into()],
/// };
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("w.strata");
/// strata::save(&path, &world)?;
///
/// let archive = Archive::open(&path)?;
/// let w = archive.root::<World>()?;
/// assert_eq!(w.id, 7);
/// assert_eq!(w.name.as_str(), "Aurora");
/// assert_eq!(w.settings.difficulty, 3);
/// assert_eq!(w.history.load()?, vec!["founded".to_string()]);
/// assert_eq!(archive.load::<World>()?, world);
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone)]
pub struct Archive {
    store: Arc<Store>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive").field("store", &self.store).finish()
    }
}

impl Archive {
    /// Opens the file at `path`: reads its tail (the footer, and a small root chunk
    /// with it, in one read; the header is not read, see [`verify`](Self::verify)) and
    /// checks the root chunk's checksum.
    ///
    /// The file is read with positioned reads, never mapped (see [`Access`]): a file
    /// another program truncates or rewrites while it is open gives errors, never a
    /// crash. Strata's own saves replace files by renaming, so an open archive keeps
    /// reading the version it opened.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io), [`Error::NotStrata`](crate::Error::NotStrata), [`Error::Truncated`](crate::Error::Truncated),
    /// [`Error::FooterChecksum`](crate::Error::FooterChecksum), [`Error::UnsupportedVersion`](crate::Error::UnsupportedVersion),
    /// [`Error::UnknownFlags`](crate::Error::UnknownFlags), [`Error::IncompatibleLayout`](crate::Error::IncompatibleLayout),
    /// [`Error::ChecksumMismatch`](crate::Error::ChecksumMismatch) (root), and [`Error::OutOfBounds`](crate::Error::OutOfBounds).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &OpenOptions::default())
    }

    /// [`open`](Self::open) with explicit options.
    ///
    /// # Errors
    /// See [`open`](Self::open).
    pub fn open_with(path: impl AsRef<Path>, options: &OpenOptions) -> Result<Self> {
        let source: Arc<dyn Source> = match options.access_mode() {
            Access::Read => Arc::new(FileSource::open(path)?),
            Access::Map => Arc::new(MapSource::open(path)?),
        };
        Self::from_source(source, options)
    }

    /// Opens an archive in object storage, named by a URL: `s3://bucket/key`,
    /// `gs://bucket/key`, `az://container/key`, `http(s)://host/path` or
    /// `file:///path`, configured from the environment (`AWS_ENDPOINT_URL`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`, ...;
    /// see [`ObjectSource::open_url`](crate::source::ObjectSource::open_url)). The
    /// open is one request; a map lookup or a vector element then takes one request per
    /// table level below the root node, and the bucket or shard (two on a file of any
    /// size up to 16 GiB of map). Reads are pinned to the object seen at open.
    ///
    /// ```no_run
    /// # #[derive(strata::Persist)] struct World { #[strata(map)] players: std::collections::HashMap<String, u32> }
    /// let archive = strata::Archive::open_url("s3://my-bucket/worlds/w1.strata")?;
    /// let world = archive.root::<World>()?;
    /// let level = world.players.get("ada")?;
    /// # Ok::<(), strata::Error>(())
    /// ```
    ///
    /// # Errors
    /// A URL no store serves, the object store's errors ([`Error::Io`](crate::Error::Io)), and those of
    /// [`open`](Self::open).
    #[cfg(feature = "object-store")]
    pub fn open_url(url: &str) -> Result<Self> {
        Self::open_url_with(url, &OpenOptions::default())
    }

    /// [`open_url`](Self::open_url) with explicit options.
    ///
    /// # Errors
    /// See [`open_url`](Self::open_url).
    #[cfg(feature = "object-store")]
    pub fn open_url_with(url: &str, options: &OpenOptions) -> Result<Self> {
        Self::from_source(Arc::new(crate::source::ObjectSource::open_url(url)?), options)
    }

    /// Opens the object `path` of a store the program built itself (any
    /// [`object_store::ObjectStore`]), as [`open_url`](Self::open_url) does.
    ///
    /// # Errors
    /// See [`open_url`](Self::open_url).
    #[cfg(feature = "object-store")]
    pub fn open_store(store: Arc<dyn object_store::ObjectStore>, path: &str, options: &OpenOptions) -> Result<Self> {
        Self::from_source(Arc::new(crate::source::ObjectSource::open(store, path)?), options)
    }

    /// Opens a strata image held in memory (for example from [`crate::to_bytes`]).
    /// Chunks are read in place when the buffer is 16-byte aligned; otherwise it is
    /// copied once into an aligned buffer.
    ///
    /// # Errors
    /// As [`open`](Self::open), without I/O.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Self::from_bytes_with(bytes, &OpenOptions::default())
    }

    /// [`from_bytes`](Self::from_bytes) with explicit options.
    ///
    /// # Errors
    /// See [`open`](Self::open).
    pub fn from_bytes_with(bytes: Vec<u8>, options: &OpenOptions) -> Result<Self> {
        let source: Arc<dyn Source> = if bytes.as_ptr().align_offset(16) == 0 {
            Arc::new(bytes)
        } else {
            let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
            aligned.extend_from_slice(&bytes);
            Arc::new(aligned)
        };
        Self::from_source(source, options)
    }

    /// Opens an archive read from any [`Source`]: a shared buffer (`Arc<[u8]>`, read in
    /// place without a copy where it is aligned), a file, a memory map, or a source of
    /// your own.
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[derive(strata::Persist)] struct Note { text: String }
    /// let shared: Arc<[u8]> = strata::to_bytes(&Note { text: "hi".into() })?.into();
    /// let a = strata::Archive::from_source(Arc::new(Arc::clone(&shared)), &Default::default())?;
    /// let b = strata::Archive::from_source(Arc::new(shared), &Default::default())?;
    /// assert_eq!(a.root::<Note>()?.text, b.root::<Note>()?.text);
    /// # Ok::<(), strata::Error>(())
    /// ```
    ///
    /// # Errors
    /// See [`open`](Self::open).
    pub fn from_source(source: Arc<dyn Source>, options: &OpenOptions) -> Result<Self> {
        Ok(Self { store: Store::open(source, |len| options.limits(len))? })
    }

    /// A zero-copy view of the root value, read in place.
    ///
    /// The first call validates the root node (its inline fields, not its lazy ones);
    /// later calls cost a fingerprint comparison. A file written by another version of
    /// `T` (see `docs/EVOLUTION.md`) is read through a plan built from both schemas on
    /// the first call: in place where the layouts agree, else transcoded into `T`'s
    /// layout once.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`](crate::Error::TypeMismatch) when the file holds another type;
    /// [`Error::Incompatible`](crate::Error::Incompatible) when it holds a version of `T` that `T` cannot read;
    /// [`Error::InvalidData`](crate::Error::InvalidData) when the root node is damaged; [`Error::TooDeep`](crate::Error::TooDeep) when it
    /// nests deeper than [`OpenOptions::max_depth`].
    pub fn root<T: Persist>(&self) -> Result<&Archived<T>> {
        match crate::evolve::evolution::<T>(&self.store)? {
            None => self.store.root_as::<Archived<T>>(),
            Some(evolution) => evolution.root::<Archived<T>>(&self.store),
        }
    }

    /// Loads the whole value, every lazy field included, as an owned `T`.
    ///
    /// # Errors
    /// As [`root`](Self::root), plus any error of loading a lazy field.
    pub fn load<T: Persist>(&self) -> Result<T> {
        let root = self.root::<T>()?;
        // Everything will be read: one read-ahead request for the whole file.
        self.store.will_need(0, self.store.footer().file_len);
        let limits = self.store.limits();
        crate::threads::run(limits.threads, || {
            crate::deep::with_limit(limits.max_depth, || crate::load::deserialize::<T>(root))
        })
    }

    /// The schema text recorded in the file (see [`crate::schema`]).
    ///
    /// # Errors
    /// When the meta chunk is damaged.
    pub fn schema_text(&self) -> Result<String> {
        crate::directory::schema_text(&self.store)
    }

    /// The chunk directory: the schema text and one entry per chunk, with its kind,
    /// parent and path in the value (see [`crate::raw::format::meta`]). Reads the meta
    /// chunk and the directory's pages (in bulk, not kept in the cache); `open` does not
    /// touch them.
    ///
    /// # Errors
    /// When the meta chunk or a page is damaged.
    pub fn directory(&self) -> Result<crate::format::meta::Directory> {
        crate::directory::read(&self.store)
    }

    /// The footer: root and schema references, fingerprints, length.
    #[must_use]
    pub fn footer(&self) -> &Footer {
        self.store.footer()
    }

    /// What the archive's cache holds now, against its limit
    /// ([`OpenOptions::cache_limit`]).
    #[must_use]
    pub fn cache_stats(&self) -> CacheStats {
        self.store.cache_stats()
    }

    pub(crate) fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

/// Opens the file at `path` and loads its whole value as an owned `T`: the
/// counterpart of [`save`](crate::save). See [`Archive::open`] and [`Archive::load`].
///
/// ```
/// # #[derive(strata::Persist, Debug, PartialEq)] struct World { id: u64, #[strata(lazy)] names: Vec<String> }
/// let world = World { id: 7, names: vec!["Aurora".into()] };
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("w.strata");
/// strata::save(&path, &world)?;
/// assert_eq!(strata::load::<World>(&path)?, world);
/// # Ok::<(), strata::Error>(())
/// ```
///
/// # Errors
/// As [`Archive::open`] and [`Archive::load`].
pub fn load<T: Persist>(path: impl AsRef<Path>) -> Result<T> {
    Archive::open(path)?.load()
}

/// Loads the whole value of a strata image in memory (what [`to_bytes`](crate::to_bytes)
/// made) as an owned `T`. The bytes are copied once, into a buffer aligned for reading
/// in place.
///
/// ```
/// # #[derive(strata::Persist, Debug, PartialEq)] struct World { id: u64, #[strata(lazy)] names: Vec<String> }
/// let world = World { id: 7, names: vec!["Aurora".into()] };
/// let bytes = strata::to_bytes(&world)?;
/// assert_eq!(strata::from_bytes::<World>(&bytes)?, world);
/// # Ok::<(), strata::Error>(())
/// ```
///
/// # Errors
/// As [`Archive::from_bytes`] and [`Archive::load`].
pub fn from_bytes<T: Persist>(bytes: &[u8]) -> Result<T> {
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    Archive::from_source(Arc::new(aligned), &OpenOptions::new())?.load()
}

const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Archive>();
    send_sync::<View<[u8]>>();
    let _ = persist::is_leaf::<u8>;
};
