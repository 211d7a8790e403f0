//! [`Archive`]: an open strata file (or buffer), and the chunk access beneath every view.

use crate::codec;
use crate::error::{Error, Location, Result};
use crate::format::meta::ArchivedMeta;
use crate::format::table::{ChunkTable, TableEntry};
use crate::format::{self, ChunkRef, Encoding, Footer, footer::FOOTER_LEN, header::HEADER_LEN};
use crate::persist::{Loader, Validator};
use crate::schema::{root_name, schema_of};
use crate::{Persist, registry};
use rkyv::bytecheck::CheckBytes;
use rkyv::util::AlignedVec;
use rkyv::{Archived, Portable};
use std::any::TypeId;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

/// Limits applied while reading, against hostile or damaged files, and how the file
/// is read.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    max_decompressed_chunk: Option<u64>,
    access: Access,
}

/// How [`Archive::open_with`] reads a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Memory-map the file (the default). Chunks are read in place, without a copy,
    /// and the pages a reader touched stay in the page cache: shared between processes
    /// and reclaimable.
    ///
    /// On unix, small chunks read for one value (the root, index nodes, the bucket of
    /// one map lookup, a promise's view: at most 32 KiB each) are instead copied with
    /// one `pread` and kept while the archive is open, up to 4 MiB of copies per
    /// archive; the file is mapped only when a chunk is first read in place (a shard,
    /// a large promise, a load, an iteration, or any read once the copies reach that
    /// much). Page faults and page tables, built on first touch and torn down on close,
    /// cost more than such a copy, increasingly so as the file grows: an open plus one
    /// map lookup on a warm 3.3 GB file took 102 us when it touched the mapping (the
    /// reader before commit b4682d5) and 22 us this way. A long-lived archive doing many lookups ends up reading in place,
    /// holding at most those 4 MiB. Loads, iterations and verification never copy.
    #[default]
    Map,
    /// Read each chunk with one positioned read (`pread`) into a buffer that the
    /// archive keeps while it is open. No mapping to build and tear down: an open plus
    /// one lookup is a handful of system calls. Every chunk read stays in memory for the
    /// archive's life, so a long-lived archive that touches much of a large file holds
    /// that much memory; [`Access::Map`] suits it better. Unix only (elsewhere the file
    /// is mapped). [`Archive::as_bytes`] is `None` for such an archive.
    Read,
}

impl OpenOptions {
    /// The default limits.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The largest decompressed size a compressed chunk may declare. A chunk declaring
    /// more is refused before anything is allocated. The default is 64 times the file's
    /// size, at least 64 MiB and at most 4 GiB.
    #[must_use]
    pub fn max_decompressed_chunk(mut self, bytes: u64) -> Self {
        self.max_decompressed_chunk = Some(bytes);
        self
    }

    /// How the file is read: mapped (the default) or chunk by chunk with `pread`.
    ///
    /// ```
    /// use strata::{Access, Archive, OpenOptions, Persist};
    ///
    /// #[derive(Persist)]
    /// struct Config {
    ///     name: String,
    ///     #[strata(shard)]
    ///     samples: Vec<u32>,
    /// }
    ///
    /// # fn main() -> strata::Result<()> {
    /// let path = std::env::temp_dir().join(format!("strata-access-doc-{}.strata", std::process::id()));
    /// strata::save(&path, &Config { name: "probe".into(), samples: (0..100_000).collect() })?;
    /// // A short-lived open for one lookup: a few preads instead of a mapping.
    /// let archive = Archive::open_with(&path, &OpenOptions::new().access(Access::Read))?;
    /// let config = archive.root::<Config>()?;
    /// assert_eq!(config.samples.get(54_321)?.map(|s| s.to_native()), Some(54_321));
    /// assert!(archive.as_bytes().is_none());
    /// # drop(archive);
    /// # std::fs::remove_file(&path).ok();
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    fn limit_for(&self, file_len: u64) -> u64 {
        self.max_decompressed_chunk.unwrap_or_else(|| file_len.saturating_mul(64).clamp(64 << 20, 4 << 30))
    }
}

/// An open strata file, or a strata image in memory.
///
/// Opening reads the footer and verifies the root chunk's checksum: nothing else.
/// [`root`](Self::root) validates the root node (once) and hands out a zero-copy view;
/// lazy fields are read only when asked.
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
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive").field("len", &self.inner.data.len()).field("footer", &self.inner.footer).finish()
    }
}

impl Archive {
    /// Opens the file at `path`: reads the footer (one read, which also brings a small
    /// root chunk; the header is not read, see [`verify`](Self::verify)) and checks the
    /// root chunk's checksum.
    /// The file is memory-mapped when a first chunk is read in place (see
    /// [`Access::Map`]).
    ///
    /// Strata never modifies a saved file in place ([`crate::save`] replaces files by
    /// renaming), so an open archive keeps reading the file it opened even when a new
    /// save replaces it. Truncating or rewriting the file in place by other means while
    /// it is open is not supported (as with any memory-mapped file).
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::NotStrata`], [`Error::Truncated`],
    /// [`Error::FooterChecksum`], [`Error::UnsupportedVersion`],
    /// [`Error::IncompatibleLayout`], [`Error::ChecksumMismatch`] (root), and
    /// [`Error::OutOfBounds`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &OpenOptions::default())
    }

    /// [`open`](Self::open) with explicit limits.
    ///
    /// # Errors
    /// See [`open`](Self::open).
    pub fn open_with(path: impl AsRef<Path>, options: &OpenOptions) -> Result<Self> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        if len < HEADER_LEN + FOOTER_LEN {
            return Err(Error::Truncated {
                what: "header and footer",
                needed: HEADER_LEN + FOOTER_LEN,
                available: len,
            });
        }
        #[cfg(unix)]
        if options.access == Access::Read {
            return Self::from_data(Data::File(file, len), options);
        }
        let map = std::sync::OnceLock::new();
        // Elsewhere than unix every read is in place (there is no `pread` path): map now.
        #[cfg(not(unix))]
        let _ = map.set(map_file(&file)?);
        Self::from_data(Data::Mapped { file, len, map, init: Mutex::new(()) }, options)
    }

    /// Opens a strata image held in memory (for example from [`crate::to_bytes`]).
    /// The buffer is used as is when it is 16-byte aligned, and copied once otherwise.
    ///
    /// # Errors
    /// As [`open`](Self::open), without I/O.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Self::from_bytes_with(bytes, &OpenOptions::default())
    }

    /// [`from_bytes`](Self::from_bytes) with explicit limits.
    ///
    /// # Errors
    /// See [`open`](Self::open).
    pub fn from_bytes_with(bytes: Vec<u8>, options: &OpenOptions) -> Result<Self> {
        let data = if bytes.as_ptr().align_offset(16) == 0 {
            Data::Vec(bytes)
        } else {
            let mut aligned = AlignedVec::<16>::with_capacity(bytes.len());
            aligned.extend_from_slice(&bytes);
            Data::Aligned(aligned)
        };
        Self::from_data(data, options)
    }

    fn from_data(data: Data, options: &OpenOptions) -> Result<Self> {
        let mut tail = None;
        let footer = match &data {
            // One read rather than faults on the mapping's last pages: the footer with
            // up to `TAIL_READ` bytes before it, where the root chunk ends (a small root
            // comes with it). The header is not read (see `Footer::decode_tail`): on a
            // cold file each read is a dependent trip to the disk.
            #[cfg(unix)]
            Data::File(file, _) | Data::Mapped { file, .. } => {
                let len = data.len();
                let start = len.saturating_sub(FOOTER_LEN + TAIL_READ).max(HEADER_LEN) / format::CHUNK_ALIGN
                    * format::CHUNK_ALIGN;
                let bytes = read_at(file, start, usize::try_from(len - start).unwrap_or(0))?;
                let footer_at = bytes.len().saturating_sub(FOOTER_LEN as usize);
                let footer = Footer::decode_tail(len, bytes.get(footer_at..).unwrap_or_default(), || {
                    read_at(file, 0, HEADER_LEN as usize).map(|h| h.to_vec())
                })?;
                tail = Some(Tail { start, bytes });
                footer
            }
            _ => Footer::decode(data.bytes())?,
        };
        let expected = format::layout::fingerprint();
        if footer.layout_fingerprint != expected {
            return Err(Error::IncompatibleLayout { found: footer.layout_fingerprint, expected });
        }
        let max_raw = options.limit_for(footer.file_len);
        let inner = Arc::new_cyclic(|me| Inner {
            data,
            tail,
            copied: std::sync::atomic::AtomicU64::new(0),
            footer,
            max_raw,
            chunks: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            me: me.clone(),
        });
        let bytes = inner.bytes();
        registry::register(bytes.as_ptr(), bytes.len(), Arc::downgrade(&inner));
        // The root is read on every access: check it now, once.
        inner.raw_chunk(&footer.root, Reach::Point)?;
        Ok(Self { inner })
    }

    /// A zero-copy view of the root value, read in place.
    ///
    /// The first call validates the root node (its inline fields, not its lazy ones);
    /// later calls cost a fingerprint comparison and a cache lookup.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] when the file holds another type; [`Error::InvalidData`]
    /// when the root node is damaged.
    pub fn root<T: Persist>(&self) -> Result<&Archived<T>> {
        self.check_type::<T>()?;
        let root = self.inner.footer.root;
        self.inner.view_chunk::<Archived<T>>(&root, Reach::Point)
    }

    /// Loads the whole value, every lazy field included, as an owned `T`.
    ///
    /// # Errors
    /// As [`root`](Self::root), plus any error of loading a lazy field.
    pub fn load<T: Persist>(&self) -> Result<T> {
        self.check_type::<T>()?;
        // Everything will be read: one read-ahead request for the whole file.
        self.inner.will_need_range(0, self.inner.footer.file_len);
        let root = self.inner.footer.root;
        self.inner.load_chunk::<T>(&root)
    }

    /// The schema text recorded in the file (see [`crate::schema`]).
    ///
    /// # Errors
    /// When the meta chunk is damaged.
    pub fn schema_text(&self) -> Result<String> {
        Ok(self.meta()?.schema.as_str().to_owned())
    }

    /// The meta chunk: the schema and the directory of every chunk, with its path in
    /// the value (see [`crate::format::meta`]). Read and validated on first use; `open`
    /// does not touch it.
    ///
    /// # Errors
    /// When the meta chunk is damaged.
    pub fn meta(&self) -> Result<&ArchivedMeta> {
        let meta = self.inner.footer.meta;
        self.inner.view_chunk::<ArchivedMeta>(&meta, Reach::Point)
    }

    /// The footer: root and schema references, fingerprints, length.
    #[must_use]
    pub fn footer(&self) -> &Footer {
        &self.inner.footer
    }

    /// The whole file's bytes (the memory map, or the owned buffer); `None` for a file
    /// opened with [`Access::Read`], or when the file cannot be mapped.
    #[must_use]
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.inner.data {
            #[cfg(unix)]
            Data::File(..) => None,
            _ => self.inner.mapped().ok(),
        }
    }

    /// The bytes of any chunk of this file, bounds-checked, checksum-verified and
    /// decompressed (within the limits of [`OpenOptions`]): the archived value, its root
    /// object at the end. For tools that decode values without the Rust types (with the
    /// layouts the schema records); typed code uses views instead.
    ///
    /// # Errors
    /// When the chunk is out of bounds, damaged or too large to decompress.
    pub fn chunk(&self, chunk: &ChunkRef) -> Result<&[u8]> {
        self.inner.raw_chunk(chunk, Reach::Point)
    }

    /// Leaf `s` of a chunk table (shard or bucket `s`), reading the index nodes on its
    /// path. For tools that read collections without the Rust types.
    ///
    /// # Errors
    /// When the table is damaged or `s` is out of range.
    pub fn table_leaf(&self, table: &ChunkTable, s: u64) -> Result<TableEntry> {
        table.check()?;
        self.inner.table_leaf(table, s)
    }

    /// The leaf of a vector's chunk table whose range holds element `i`: its number and
    /// entry.
    ///
    /// # Errors
    /// When the table is damaged.
    pub fn table_find(&self, table: &ChunkTable, i: u64) -> Result<(u64, TableEntry)> {
        table.check()?;
        self.inner.table_find(table, i)
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    fn check_type<T: Persist>(&self) -> Result<()> {
        let schema = schema_of::<T>();
        let found = self.inner.footer.type_fingerprint;
        if schema.fingerprint == found {
            return Ok(());
        }
        let found_name = self
            .schema_text()
            .ok()
            .and_then(|t| root_name(&t).map(str::to_owned))
            .unwrap_or_else(|| String::from("<unreadable schema>"));
        Err(Error::TypeMismatch {
            expected: schema.name.clone(),
            expected_fingerprint: schema.fingerprint,
            found: found_name,
            found_fingerprint: found,
        })
    }
}

enum Data {
    /// [`Access::Map`]: the file, its length, and its mapping, made on the first read
    /// in place (under `init`, so that it is registered before any thread can use it).
    /// Until then, and for [`Reach::Point`] reads of small chunks, the file is read with
    /// `pread`.
    Mapped {
        file: std::fs::File,
        len: u64,
        map: std::sync::OnceLock<memmap2::Mmap>,
        init: Mutex<()>,
    },
    Vec(Vec<u8>),
    Aligned(AlignedVec<16>),
    /// Read chunk by chunk ([`Access::Read`]): the file and its length.
    #[cfg(unix)]
    File(std::fs::File, u64),
}

impl Data {
    /// The bytes held in memory: none for [`Data::File`], or for [`Data::Mapped`] until
    /// it is mapped ([`Inner::mapped`] maps it).
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Mapped { map, .. } => map.get().map_or(&[], |m| m),
            Data::Vec(v) => v,
            Data::Aligned(a) => a,
            #[cfg(unix)]
            Data::File(..) => &[],
        }
    }

    /// Whether every byte of the file is in memory (mapped or owned), so chunks can
    /// be read in place.
    fn in_memory(&self) -> bool {
        match self {
            #[cfg(unix)]
            Data::File(..) => false,
            _ => true,
        }
    }

    fn len(&self) -> u64 {
        match self {
            #[cfg(unix)]
            Data::File(_, len) => *len,
            Data::Mapped { len, .. } => *len,
            data => data.bytes().len() as u64,
        }
    }
}

/// Maps `file` read-only, with random-access advice.
fn map_file(file: &std::fs::File) -> Result<memmap2::Mmap> {
    // SAFETY: the map is read-only, and strata never writes to a file that may be
    // mapped: saves write a new file and rename it into place. Modifying the file in
    // place by other means while it is open is documented as unsupported.
    let map = unsafe { memmap2::Mmap::map(file)? };
    // Reads are random: without this hint the kernel reads megabytes ahead of every
    // page a lookup touches (measured: ~8 ms for a cold lookup instead of ~0.3 ms).
    // Each chunk asks for exactly its own bytes on first use instead (`WillNeed`).
    // A failed hint only costs speed.
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Random);
    Ok(map)
}

/// `len` bytes of `file` at `offset`, in a buffer aligned for archived values. The
/// caller has checked `offset + len` against the file's length.
#[cfg(unix)]
fn read_at(file: &std::fs::File, offset: u64, len: usize) -> Result<AlignedVec<16>> {
    use std::os::unix::fs::FileExt;
    let mut buf = AlignedVec::<16>::with_capacity(len);
    buf.resize(len, 0);
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// A chunk's stored bytes: in place in memory, or read from the file.
enum Stored<'a> {
    InPlace(&'a [u8]),
    #[cfg_attr(not(unix), expect(dead_code, reason = "files are read only on unix"))]
    Read(AlignedVec<16>),
}

impl Stored<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Stored::InPlace(b) => b,
            Stored::Read(b) => b,
        }
    }
}

/// What the archive remembers about a chunk it has read: its checksum passed, its
/// decompressed bytes (kept while the archive is open, so views can borrow them), and
/// the archived types it was validated as.
#[derive(Default)]
struct ChunkState {
    decoded: Option<AlignedVec<16>>,
    validated_as: Vec<TypeId>,
    /// Elements of this chunk (a shard) validated one by one so far.
    element_reads: u32,
}

const SHARDS: usize = 16;

/// The last bytes of a file, from a multiple of [`format::CHUNK_ALIGN`].
struct Tail {
    start: u64,
    bytes: AlignedVec<16>,
}

/// Bytes before the footer read with it at open, in the same request: the root chunk,
/// which ends where the footer starts, when it is at most this long. Saves a system
/// call on every open (one of six in an open + map lookup).
const TAIL_READ: u64 = 4096;

/// How a chunk of a memory-mapped file is about to be used, which decides how it is
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// For one value (a root, an index node, a bucket for one key, a promise's view):
    /// a chunk of at most [`POINT_READ_MAX`] bytes is copied out of the file with one
    /// `pread` and kept while the archive is open, instead of faulting in pages of the
    /// mapping, until the archive's copies reach [`POINT_COPY_BUDGET`].
    Point,
    /// One of many chunks read in a row (a full load, an iteration, a verification):
    /// read in place, never copied, so that touching a whole file does not also hold
    /// a copy of it.
    Bulk,
}

/// The largest chunk a [`Reach::Point`] read copies out of a mapped file: an index
/// node of 512 entries (24 KiB) fits, a 128 KiB shard does not. Touching a mapping costs
/// a page fault per 64 KiB, a page table per 2 MiB region of the file, and the same
/// again to tear them down when the archive closes, all growing with the spread of the
/// chunks touched. An open + map lookup on a warm 3.3 GB file took 102 us mapped (the
/// reader before commit b4682d5) and 22.4 us with these copies and no mapping
/// (`compare --repeat strata map 3000 --scale 100`, before and after). A shard, read
/// for one element, costs less through the mapping: 35.8 us against 110.9 us copied
/// into a fresh buffer (`strata` and `strata (pread)` in `compare --scale 100`).
pub(crate) const POINT_READ_MAX: u64 = 32 << 10;

/// The most bytes a mapped archive copies for [`Reach::Point`] reads; later point reads
/// are in place. An open + one lookup copies tens of KiB; a long-lived archive serving
/// lookups all over a large map would otherwise end up holding a heap copy of every
/// bucket it touched, beside the page cache.
pub(crate) const POINT_COPY_BUDGET: u64 = 4 << 20;

/// Reads of single elements of a shard validated one by one before the whole shard is
/// validated (once) and later reads become cache lookups: a cold shard's first element
/// costs one element's validation (12 us to first element instead of 43 us, measured),
/// a hot shard costs no validation at all.
const ELEMENT_READS_BEFORE_WHOLE: u32 = 8;

/// The shared state of an open archive. Views find it through [`registry`].
pub(crate) struct Inner {
    data: Data,
    /// The end of a file read by `pread` (or not yet mapped), read with its footer at
    /// open: [`Reach::Point`] reads of chunks inside it (the root) are copied from here.
    tail: Option<Tail>,
    /// Bytes copied by [`Reach::Point`] reads of a mapped file, against
    /// [`POINT_COPY_BUDGET`].
    copied: std::sync::atomic::AtomicU64,
    footer: Footer,
    max_raw: u64,
    chunks: [Mutex<HashMap<ChunkRef, ChunkState>>; SHARDS],
    me: Weak<Inner>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        registry::unregister(self.data.bytes().as_ptr());
        for shard in &mut self.chunks {
            let map = shard.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
            for state in map.values() {
                if let Some(buf) = &state.decoded {
                    registry::unregister(buf.as_ptr());
                }
            }
        }
    }
}

/// Keeps a temporary decompressed buffer registered while values inside it are read.
struct Registered<'a>(&'a AlignedVec<16>);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        registry::unregister(self.0.as_ptr());
    }
}

impl Inner {
    fn bytes(&self) -> &[u8] {
        self.data.bytes()
    }

    /// Whether a read of a `len`-byte chunk of a mapped file copies it: a small chunk
    /// for one value, while the archive's copies are within [`POINT_COPY_BUDGET`]
    /// (counted here; concurrent reads may overshoot it by a few chunks).
    fn copies(&self, reach: Reach, len: u64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let copy = reach == Reach::Point && len <= POINT_READ_MAX && self.copied.load(Relaxed) < POINT_COPY_BUDGET;
        if copy {
            self.copied.fetch_add(len, Relaxed);
        }
        copy
    }

    /// The file's first [`HEADER_LEN`] bytes (fewer if the file is shorter).
    pub(crate) fn head(&self) -> Result<Vec<u8>> {
        let n = usize::try_from(HEADER_LEN.min(self.data.len())).unwrap_or(0);
        match &self.data {
            #[cfg(unix)]
            Data::File(file, _) | Data::Mapped { file, .. } => Ok(read_at(file, 0, n)?.to_vec()),
            data => Ok(data.bytes().get(..n).unwrap_or_default().to_vec()),
        }
    }

    /// The `len` bytes at `offset` if the tail read at open holds them.
    fn in_tail(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let tail = self.tail.as_ref()?;
        let from = usize::try_from(offset.checked_sub(tail.start)?).ok()?;
        tail.bytes.get(from..from.checked_add(len)?)
    }

    /// The bytes in memory, mapping a [`Data::Mapped`] file first if it is not yet:
    /// the mapping is registered (so views inside it find this archive) before any
    /// other thread can see it.
    fn mapped(&self) -> Result<&[u8]> {
        Ok(match self.mapping()? {
            Some(m) => m,
            None => self.bytes(),
        })
    }

    /// The mapping of a [`Data::Mapped`] file, made now if it is not yet; `None` for
    /// other data.
    fn mapping(&self) -> Result<Option<&memmap2::Mmap>> {
        let Data::Mapped { file, map, init, .. } = &self.data else { return Ok(None) };
        if let Some(m) = map.get() {
            return Ok(Some(m));
        }
        let _guard = init.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(m) = map.get() {
            return Ok(Some(m));
        }
        let m = map_file(file)?;
        registry::register(m.as_ptr(), m.len(), self.me.clone());
        // The mapping's memory does not move with the `Mmap` value.
        Ok(Some(map.get_or_init(|| m)))
    }

    fn shard(&self, r: &ChunkRef) -> &Mutex<HashMap<ChunkRef, ChunkState>> {
        let i = ((r.offset() / format::CHUNK_ALIGN) as usize) % SHARDS;
        #[expect(clippy::indexing_slicing, reason = "i < SHARDS by the modulo")]
        &self.chunks[i]
    }

    fn lock(&self, r: &ChunkRef) -> std::sync::MutexGuard<'_, HashMap<ChunkRef, ChunkState>> {
        self.shard(r).lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The stored bytes of a chunk, bounds-checked against the chunk area and
    /// checksum-verified.
    fn stored_verified(&self, r: &ChunkRef, reach: Reach) -> Result<(Encoding, Stored<'_>)> {
        let encoding = r.check_shape()?;
        let at = r.location();
        let area_end = self.footer.file_len - FOOTER_LEN;
        let end = r.offset().checked_add(r.stored_len());
        match end {
            Some(end) if r.offset() >= HEADER_LEN && end <= area_end => {}
            _ => {
                return Err(Error::OutOfBounds {
                    what: "chunk",
                    declared: r.offset().saturating_add(r.stored_len()),
                    limit: area_end,
                    at,
                });
            }
        }
        let (o, l) = usize::try_from(r.offset())
            .ok()
            .zip(usize::try_from(r.stored_len()).ok())
            .ok_or(Error::OutOfBounds { what: "chunk", declared: r.stored_len(), limit: area_end, at })?;
        let stored = match &self.data {
            // The length was checked against the file above, before this allocation.
            #[cfg(unix)]
            Data::File(file, _) | Data::Mapped { file, .. }
                if !self.data.in_memory() || self.copies(reach, r.stored_len()) =>
            {
                if let Some(bytes) = self.in_tail(r.offset(), l) {
                    let mut copy = AlignedVec::<16>::with_capacity(l);
                    copy.extend_from_slice(bytes);
                    Stored::Read(copy)
                } else {
                    Stored::Read(read_at(file, r.offset(), l).map_err(|e| match e {
                        // Files are replaced by rename, never shortened in place by strata; a
                        // file cut short by other means while open is reported at the chunk.
                        Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => Error::OutOfBounds {
                            what: "chunk (the file is shorter than when it was opened)",
                            declared: r.offset().saturating_add(r.stored_len()),
                            limit: area_end,
                            at,
                        },
                        other => other,
                    })?)
                }
            }
            _ => {
                // One read request for the whole chunk rather than a page fault per
                // page. (MADV_POPULATE_READ was measured too: with random-access advice
                // it reads page by page, 5x slower cold and no faster warm.)
                let bytes = self.mapped()?;
                self.will_need_range(r.offset(), r.offset().saturating_add(r.stored_len()));
                Stored::InPlace(bytes.get(o..o.saturating_add(l)).ok_or(Error::OutOfBounds {
                    what: "chunk",
                    declared: r.stored_len(),
                    limit: area_end,
                    at,
                })?)
            }
        };
        let found = format::checksum(stored.bytes());
        if found != r.checksum() {
            return Err(Error::ChecksumMismatch { at, expected: r.checksum(), found });
        }
        Ok((encoding, stored))
    }

    fn decompress(&self, r: &ChunkRef, stored: &[u8]) -> Result<AlignedVec<16>> {
        let at = r.location();
        if r.raw_len() > self.max_raw {
            return Err(Error::OutOfBounds {
                what: "decompressed chunk length",
                declared: r.raw_len(),
                limit: self.max_raw,
                at,
            });
        }
        let raw_len = usize::try_from(r.raw_len()).map_err(|_| Error::OutOfBounds {
            what: "decompressed chunk length",
            declared: r.raw_len(),
            limit: self.max_raw,
            at,
        })?;
        codec::decode_zstd(stored, raw_len, at)
    }

    /// The archived bytes of a chunk, verified; decompressed chunks are kept for the
    /// life of the archive so that views may borrow them.
    pub(crate) fn raw_chunk(&self, r: &ChunkRef, reach: Reach) -> Result<&[u8]> {
        if let Some((bytes, _, _)) = self.known(r, None, false)? {
            return Ok(bytes);
        }
        let (encoding, stored) = self.stored_verified(r, reach)?;
        let buf = match (encoding, stored) {
            (Encoding::None, Stored::InPlace(bytes)) => {
                self.lock(r).entry(*r).or_default();
                return Ok(bytes);
            }
            (Encoding::None, Stored::Read(buf)) => buf,
            (Encoding::Zstd, stored) => self.decompress(r, stored.bytes())?,
        };
        let mut map = self.lock(r);
        let state = map.entry(*r).or_default();
        let buf = match &state.decoded {
            Some(existing) => existing, // another thread won the race; keep its buffer
            None => {
                registry::register(buf.as_ptr(), buf.len(), self.me.clone());
                state.decoded.insert(buf)
            }
        };
        let p = std::ptr::from_ref(buf.as_slice());
        drop(map);
        // SAFETY: the buffer (decompressed, or read from the file) now belongs to the
        // map for the life of `self` and is never mutated or moved (its heap storage
        // stays put when the map rehashes).
        Ok(unsafe { &*p })
    }

    /// Runs `check` over a chunk's archived bytes (verified and decompressed) without
    /// keeping them: a chunk already held is checked in place, any other is read into
    /// a temporary buffer. [`crate::Archive::verify`] reads every chunk this way, so
    /// verifying a compressed file, or a file opened with [`Access::Read`], does not
    /// keep the whole file in memory.
    pub(crate) fn check_chunk(&self, r: &ChunkRef, check: impl FnOnce(&[u8]) -> Result<()>) -> Result<()> {
        if let Some((bytes, _, _)) = self.known(r, None, false)? {
            return check(bytes);
        }
        match self.stored_verified(r, Reach::Bulk)? {
            (Encoding::None, stored) => check(stored.bytes()),
            (Encoding::Zstd, stored) => check(&self.decompress(r, stored.bytes())?),
        }
    }

    /// Asks the kernel to read the chunks' whole byte range ahead (one request), before
    /// a bulk load touches them one by one. A hint: errors are ignored.
    pub(crate) fn will_need(&self, chunks: &[TableEntry]) {
        let start = chunks.iter().map(|e| e.chunk().offset()).min();
        let end = chunks.iter().map(|e| e.chunk().offset().saturating_add(e.chunk().stored_len())).max();
        if let (Some(start), Some(end)) = (start, end) {
            self.will_need_range(start, end);
        }
    }

    /// Asks the kernel to read `start..end` of a mapped file now, in pieces of 1 MiB:
    /// measured here on a cold 53 MB file, hints of at most 4 MiB read it in ~40 ms (as
    /// fast as `pread`), while a single hint over the whole range left it at ~870 ms of
    /// page faults. A hint: errors are ignored.
    pub(crate) fn will_need_range(&self, start: u64, end: u64) {
        const PIECE: usize = 1 << 20;
        #[cfg(unix)]
        if let Ok(Some(map)) = self.mapping()
            && let (Ok(mut at), Ok(end)) = (usize::try_from(start), usize::try_from(end.min(map.len() as u64)))
        {
            while at < end {
                let len = PIECE.min(end - at);
                let _ = map.advise_range(memmap2::Advice::WillNeed, at, len);
                at += len;
            }
        }
    }

    /// The level-0 entry for leaf `s` of a chunk table, checked against the table's
    /// shape at every level.
    pub(crate) fn table_leaf(&self, t: &ChunkTable, s: u64) -> Result<TableEntry> {
        let node = self.table_node_of(t, s)?;
        let f = u64::from(t.fanout());
        let pos = usize::try_from(s % f).unwrap_or(usize::MAX);
        node.get(pos).copied().ok_or_else(|| bad_table(t, "leaf entry missing"))
    }

    /// The leaf whose range holds `key`: descends the table picking, in each node, the
    /// last entry whose `first` is at most `key`. Returns the leaf's index and entry.
    pub(crate) fn table_find(&self, t: &ChunkTable, key: u64) -> Result<(u64, TableEntry)> {
        let f = u64::from(t.fanout());
        let mut chunk = *t.root();
        let mut level = t.depth().saturating_sub(1);
        let mut node_index = 0u64;
        loop {
            let node = self.table_node(&chunk)?;
            if node.len() as u64 != t.node_len(level, node_index) {
                return Err(bad_table(t, "index node has the wrong number of entries"));
            }
            let pos = node.partition_point(|e| e.first() <= key);
            let Some(entry) = pos.checked_sub(1).and_then(|p| node.get(p)) else {
                return Err(bad_table(t, "key before the table's first entry"));
            };
            let index = node_index.saturating_mul(f).saturating_add(pos as u64 - 1);
            if level == 0 {
                return Ok((index, *entry));
            }
            node_index = index;
            chunk = *entry.chunk();
            level -= 1;
        }
    }

    /// The level-0 node holding leaf `s`.
    pub(crate) fn table_node_of(&self, t: &ChunkTable, s: u64) -> Result<&[TableEntry]> {
        if s >= t.entries() && !(s == 0 && t.entries() == 0) {
            return Err(bad_table(t, "leaf index beyond the table"));
        }
        let f = u64::from(t.fanout());
        let mut chunk = *t.root();
        let mut level = t.depth().saturating_sub(1);
        loop {
            let node = self.table_node(&chunk)?;
            let node_index = div_pow(s, f, level + 1);
            if node.len() as u64 != t.node_len(level, node_index) {
                return Err(bad_table(t, "index node has the wrong number of entries"));
            }
            if level == 0 {
                return Ok(node);
            }
            let pos = usize::try_from(div_pow(s, f, level) % f).unwrap_or(usize::MAX);
            chunk = *node.get(pos).ok_or_else(|| bad_table(t, "index entry missing"))?.chunk();
            level -= 1;
        }
    }

    /// The entries of an index node. The chunk is checksum-verified and its vector
    /// header checked against it, but its entries are not validated one by one: every
    /// bit pattern of a [`TableEntry`] is a valid value (integers and bytes), and each
    /// chunk reference is checked ([`ChunkRef::check_shape`]) when it is followed.
    /// Validating all 512 entries of a node took 14% of a warm open + map lookup.
    /// [`Archive::verify`] still validates whole nodes.
    fn table_node(&self, r: &ChunkRef) -> Result<&[TableEntry]> {
        const _: () = assert!(size_of::<TableEntry>() == 48 && align_of::<TableEntry>() == 8);
        let bytes = self.raw_chunk(r, Reach::Point)?;
        let bad = |d: &str| Error::InvalidData { at: r.location(), ty: "index node", detail: d.to_owned() };
        let (start, len) = vec_span(bytes, size_of::<TableEntry>()).map_err(bad)?;
        let first = bytes.get(start..).ok_or_else(|| bad("elements outside the chunk"))?.as_ptr();
        if first.align_offset(align_of::<TableEntry>()) != 0 {
            return Err(bad("misaligned entries"));
        }
        // SAFETY: `len` entries of 48 bytes from `first` lie inside `bytes` (checked by
        // `vec_span`), `first` is aligned for `TableEntry` (checked above), and
        // `TableEntry` is `repr(C)` of little-endian integers and bytes without padding,
        // so any bytes are a valid value. The bytes live as long as `self` (a kept
        // buffer or the mapping) and are never written.
        Ok(unsafe { std::slice::from_raw_parts(first.cast::<TableEntry>(), len) })
    }

    fn in_place(&self, r: &ChunkRef) -> Result<&[u8]> {
        let bytes = self.mapped()?;
        usize::try_from(r.offset())
            .ok()
            .zip(usize::try_from(r.stored_len()).ok())
            .and_then(|(o, l)| bytes.get(o..o + l))
            .ok_or(Error::OutOfBounds {
                what: "chunk",
                declared: r.stored_len(),
                limit: bytes.len() as u64,
                at: r.location(),
            })
    }

    /// One cache lookup for a chunk already read: its bytes (in place, or the kept
    /// decompressed buffer), whether it was validated as `ty`, and (with `count`) one
    /// more single-element read counted. `None` for a chunk not read yet.
    fn known(&self, r: &ChunkRef, ty: Option<TypeId>, count: bool) -> Result<Option<(&[u8], bool, u32)>> {
        let mut map = self.lock(r);
        let Some(state) = map.get_mut(r) else { return Ok(None) };
        if count {
            state.element_reads = state.element_reads.saturating_add(1);
        }
        let validated = ty.is_some_and(|t| state.validated_as.contains(&t));
        let reads = state.element_reads;
        let ptr: Option<*const [u8]> = state.decoded.as_ref().map(|d| std::ptr::from_ref(d.as_slice()));
        drop(map);
        let bytes = match ptr {
            // SAFETY: decoded buffers are never mutated or dropped while `self` lives
            // (only `Drop` touches them), and their heap storage does not move when the
            // map rehashes; so the bytes outlive `&self`.
            Some(p) => unsafe { &*p },
            None => self.in_place(r)?,
        };
        Ok(Some((bytes, validated, reads)))
    }

    /// A validated view of the chunk's root object as `A`. Validation runs once per
    /// (chunk, type) for the life of the archive.
    pub(crate) fn view_chunk<A>(&self, r: &ChunkRef, reach: Reach) -> Result<&A>
    where
        A: Portable + for<'a> CheckBytes<Validator<'a>> + 'static,
    {
        let ty = TypeId::of::<A>();
        let bytes = match self.known(r, Some(ty), false)? {
            Some((bytes, true, _)) => {
                // SAFETY: these exact bytes (same chunk reference, immutable for the life
                // of the archive) passed `rkyv::access::<A>` before.
                return Ok(unsafe { rkyv::access_unchecked::<A>(bytes) });
            }
            Some((bytes, false, _)) => bytes,
            None => self.raw_chunk(r, reach)?,
        };
        let view = validate::<A>(bytes, r.location())?;
        let mut map = self.lock(r);
        let state = map.entry(*r).or_default();
        if !state.validated_as.contains(&ty) {
            state.validated_as.push(ty);
        }
        Ok(view)
    }

    /// Element `k` of a chunk holding an rkyv `Vec<A>`, validating that element only
    /// (the chunk is still checksum-verified as a whole). When the whole vector was
    /// validated before, that cached result is used instead.
    pub(crate) fn vec_element<A>(&self, r: &ChunkRef, k: u64) -> Result<Option<&A>>
    where
        A: Portable + for<'a> CheckBytes<Validator<'a>> + 'static,
    {
        let whole = TypeId::of::<rkyv::vec::ArchivedVec<A>>();
        let (bytes, hot) = match self.known(r, Some(whole), true)? {
            Some((bytes, validated, reads)) => (bytes, validated || reads > ELEMENT_READS_BEFORE_WHOLE),
            None => (self.raw_chunk(r, Reach::Point)?, false),
        };
        if hot {
            // A shard read often is validated whole, once: later reads are a lookup.
            let vec = self.view_chunk::<rkyv::vec::ArchivedVec<A>>(r, Reach::Point)?;
            return Ok(usize::try_from(k).ok().and_then(|k| vec.get(k)));
        }
        let bad = |d: &str| Error::InvalidData { at: r.location(), ty: "shard", detail: d.to_owned() };
        let (start, len) = vec_span(bytes, size_of::<A>()).map_err(bad)?;
        let Some(pos) = usize::try_from(k).ok().filter(|&k| k < len).map(|k| start + k * size_of::<A>()) else {
            return Ok(None);
        };
        rkyv::api::high::access_pos::<A, Error>(bytes, pos).map(Some).map_err(|e| match e {
            e @ (Error::ChecksumMismatch { .. } | Error::InvalidData { .. }) => e,
            other => Error::InvalidData { at: r.location(), ty: std::any::type_name::<A>(), detail: other.to_string() },
        })
    }

    /// Loads the chunk as an owned `T`. A compressed chunk, or a chunk of a file read
    /// with [`Access::Read`], that no view holds is read into a temporary buffer, not
    /// kept.
    pub(crate) fn load_chunk<T: Persist>(&self, r: &ChunkRef) -> Result<T> {
        let _nest = crate::parallel::nest(*r)?;
        let cached = self.lock(r).get(r).is_some();
        if cached || (r.encoding() == Some(Encoding::None) && self.data.in_memory()) {
            let view = self.view_chunk::<Archived<T>>(r, Reach::Bulk)?;
            return deserialize::<T>(view);
        }
        let buf = match self.stored_verified(r, Reach::Bulk)? {
            (Encoding::None, Stored::Read(buf)) => buf,
            // Not reached (in-memory chunks take the view path above), and harmless:
            // the bytes are already registered as the archive's.
            (Encoding::None, Stored::InPlace(bytes)) => {
                return deserialize::<T>(validate::<Archived<T>>(bytes, r.location())?);
            }
            (Encoding::Zstd, stored) => self.decompress(r, stored.bytes())?,
        };
        registry::register(buf.as_ptr(), buf.len(), self.me.clone());
        let guard = Registered(&buf);
        let view = validate::<Archived<T>>(guard.0, r.location())?;
        deserialize::<T>(view)
    }
}

/// Where the elements of the rkyv `Vec` whose 8-byte header ends `bytes` lie: their
/// start and count, checked to fit between the buffer's start and the header. The
/// header is an i32 offset from the header to the elements, then the u32 length (the
/// layout the layout fingerprint pins).
fn vec_span(bytes: &[u8], size: usize) -> std::result::Result<(usize, usize), &'static str> {
    let root = bytes.len().checked_sub(8).ok_or("shorter than a vector header")?;
    let word = |at: usize| -> std::result::Result<[u8; 4], &'static str> {
        let mut w = [0u8; 4];
        w.copy_from_slice(bytes.get(at..at + 4).ok_or("vector header")?);
        Ok(w)
    };
    let offset = i32::from_le_bytes(word(root)?);
    let len = usize::try_from(u32::from_le_bytes(word(root + 4)?)).map_err(|_| "vector length")?;
    let start = root.checked_add_signed(isize::try_from(offset).map_err(|_| "vector offset")?);
    match start {
        Some(start) if len.checked_mul(size).and_then(|n| n.checked_add(start)).is_some_and(|end| end <= root) => {
            Ok((start, len))
        }
        _ => Err("elements outside the chunk"),
    }
}

fn div_pow(s: u64, f: u64, exp: u32) -> u64 {
    (0..exp).fold(s, |acc, _| acc / f)
}

fn bad_table(t: &ChunkTable, detail: &str) -> Error {
    Error::InvalidData { at: t.root().location(), ty: "chunk table", detail: detail.to_owned() }
}

pub(crate) fn validate<A>(bytes: &[u8], at: Location) -> Result<&A>
where
    A: Portable + for<'a> CheckBytes<Validator<'a>>,
{
    rkyv::access::<A, Error>(bytes).map_err(|e| match e {
        // An error from a nested load keeps its own location.
        e @ (Error::ChecksumMismatch { .. } | Error::InvalidData { .. }) => e,
        other => Error::InvalidData { at, ty: std::any::type_name::<A>(), detail: other.to_string() },
    })
}

use crate::parallel::deserialize;

/// The archive that owns the memory `anchor` lives in, and a view made from it with the
/// lifetime of `anchor`.
///
/// Every view that finds its archive through the registry (promises, sharded vectors,
/// maps) goes through here: this is the one place that ties a view's lifetime to it.
#[expect(clippy::needless_lifetimes, reason = "the lifetime the safety argument is about, named")]
pub(crate) fn owned_view<'s, A: ?Sized, X: ?Sized>(
    anchor: &'s X,
    f: impl FnOnce(&Inner) -> Result<&A>,
) -> Result<&'s A> {
    let owner = registry::owner_of(anchor).ok_or(Error::Detached)?;
    let view: *const A = f(&owner)?;
    // SAFETY: `view` points into memory owned by `owner`: its map, its owned buffer, or
    // a decompressed buffer it never frees or mutates while alive. `anchor` lives in
    // memory the same archive owns (that is how the registry found it), and the caller
    // may use `anchor` for all of `'s`, so the archive, and the memory `view` points
    // into, outlive `'s`. Dropping our `Arc` here does not free the archive: the owner
    // of `anchor` holds another.
    Ok(unsafe { &*view })
}

const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Archive>();
    let _: Option<Loader> = None;
};
