//! [`OpenOptions`]: how an archive is read, and the limits that protect a reader from
//! hostile files.

/// Limits applied while reading, against hostile or damaged files, and how the file
/// is read.
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
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("config.strata");
/// strata::save(&path, &Config { name: "probe".into(), samples: (0..100_000).collect() })?;
/// let options = OpenOptions::new().cache_limit(8 << 20).max_depth(10_000);
/// let archive = Archive::open_with(&path, &options)?;
/// let config = archive.root::<Config>()?;
/// assert_eq!(config.samples.get(54_321)?.map(|s| s.to_native()), Some(54_321));
/// assert!(archive.cache_stats().bytes <= 8 << 20);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions {
    max_decompressed_chunk: Option<u64>,
    access: Access,
    cache_limit: u64,
    max_depth: u32,
    threads: Option<std::num::NonZeroUsize>,
}

/// The default [`OpenOptions::cache_limit`]: 64 MiB.
pub const DEFAULT_CACHE_LIMIT: u64 = 64 << 20;

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            max_decompressed_chunk: None,
            access: Access::default(),
            cache_limit: DEFAULT_CACHE_LIMIT,
            max_depth: crate::deep::DEFAULT_MAX_DEPTH,
            threads: None,
        }
    }
}

/// How [`Archive::open_with`](crate::Archive::open_with) reads a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Read each chunk with one positioned read (`pread`) into a buffer of its own (the
    /// default). A file that another program truncates, extends or rewrites in place
    /// while it is open gives errors ([`Error::Changed`](crate::Error::Changed)) or the
    /// values it held, never a signal; views already handed out keep their bytes.
    /// Chunks read for one value stay in the archive's cache, within
    /// [`OpenOptions::cache_limit`].
    #[default]
    Read,
    /// Memory-map the file and read chunks in place, without a copy (opt-in).
    ///
    /// **A mapped file that another program truncates while it is open makes the
    /// reading process receive `SIGBUS`** (a crash, not an error) when it touches a page
    /// past the new end, and bytes rewritten in place appear in views already handed
    /// out. Use it only for files that nothing else modifies while they are open
    /// (strata's own saves never do: they replace files by renaming).
    Map,
}

impl OpenOptions {
    /// The default options: `pread`, a 64 MiB cache, inline nesting up to
    /// [`DEFAULT_MAX_DEPTH`](crate::DEFAULT_MAX_DEPTH) levels.
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

    /// How the file is read: with `pread` (the default) or through a memory map (see
    /// [`Access::Map`] for its risk).
    #[must_use]
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// The most bytes the archive keeps for chunks it read (copies, decompressed
    /// chunks) once their views are gone; past it, the least useful chunks no view holds
    /// are dropped and read again when next needed. Chunks that views hold stay valid and
    /// are not counted against the limit's evictions (the cache may exceed the limit by
    /// them, and by the few chunks one read holds at once: a table path and its leaf).
    /// The root chunk is always kept. Chunks larger than a sixteenth of the limit (at
    /// least 4 MiB) are not kept. An archive read through schema evolution keeps the
    /// chunks it transcodes in a second cache of half this limit. Default: 64 MiB.
    #[must_use]
    pub fn cache_limit(mut self, bytes: u64) -> Self {
        self.cache_limit = bytes;
        self
    }

    /// How deeply a value may nest inline (a recursive field such as
    /// `next: Option<Box<Node>>` counts one level per node): past it, reading that value
    /// is an [`Error::TooDeep`](crate::Error::TooDeep) naming the field, never a stack
    /// overflow (within the limit, the stack grows as needed). Default:
    /// [`DEFAULT_MAX_DEPTH`](crate::DEFAULT_MAX_DEPTH).
    #[must_use]
    pub fn max_depth(mut self, levels: u32) -> Self {
        self.max_depth = levels;
        self
    }

    /// How many threads loads and verifications of this archive use: by default rayon's
    /// global pool (one thread per core); with `threads(n)`, a pool of `n` threads of
    /// strata's own (built once per process for each `n`) for the parallel parts, while
    /// the calling thread waits: `threads(1)` reads one thread at a time, for programs
    /// that manage their own threads; `threads(0)` is the default. The serial parts and
    /// point reads (views, elements, entries) run on the calling thread.
    ///
    /// ```
    /// # #[derive(strata::Persist, Debug, PartialEq)] struct Log { #[strata(shard)] lines: Vec<String> }
    /// # let log = Log { lines: (0..1000).map(|i| i.to_string()).collect() };
    /// let options = strata::OpenOptions::new().threads(1);
    /// let archive = strata::Archive::from_bytes_with(strata::to_bytes(&log)?, &options)?;
    /// assert_eq!(archive.load::<Log>()?, log);
    /// # Ok::<(), strata::Error>(())
    /// ```
    #[must_use]
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = std::num::NonZeroUsize::new(n);
        self
    }

    pub(crate) fn access_mode(&self) -> Access {
        self.access
    }

    pub(crate) fn limits(&self, file_len: u64) -> crate::store::Limits {
        crate::store::Limits {
            max_raw: self
                .max_decompressed_chunk
                .unwrap_or_else(|| file_len.saturating_mul(64).clamp(64 << 20, 4 << 30)),
            max_depth: self.max_depth,
            cache: self.cache_limit,
            threads: self.threads,
        }
    }
}
