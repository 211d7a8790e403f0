//! Saving: the file image, and the atomic replacement of the destination.

use crate::Persist;
use crate::codec::Codec;
use crate::destination::Destination;
use crate::error::{Error, Result};
use crate::format::{self, header};
use crate::schema::schema_of;
#[cfg(feature = "test-hooks")]
use crate::store::sink::FailingSink;
use crate::store::sink::{MemorySink, Sink, Writeback};
use crate::write::{SaveCtx, SaveStats};
use crate::writer::Writer;
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Instant;

/// How to save. The defaults: no compression (every chunk readable in place).
///
/// ```
/// # #[derive(strata::Persist)] struct World { id: u64 }
/// # let world = World { id: 1 };
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("w.strata");
/// let stats = strata::SaveOptions::new()
///     .compression(strata::Codec::Zstd(3))
///     .save(&path, &world)?;
/// assert!(stats.file_len > 0);
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SaveOptions {
    codec: Codec,
    max_depth: u32,
    lock_timeout: Option<std::time::Duration>,
    threads: Option<NonZeroUsize>,
    incremental: bool,
    compact_above: f64,
    #[cfg(feature = "test-hooks")]
    fail_after: Option<u64>,
    #[cfg(feature = "test-hooks")]
    io_log: Option<crate::testing::IoLog>,
}

/// The default of [`SaveOptions::compact_above`].
pub const DEFAULT_COMPACT_ABOVE: f64 = 0.5;

/// How an image is written: a whole file, or a version appended to a previous one.
enum Base<'p> {
    Whole,
    Append(&'p crate::append::Previous),
}

impl Default for SaveOptions {
    fn default() -> Self {
        Self {
            codec: Codec::None,
            max_depth: crate::deep::DEFAULT_MAX_DEPTH,
            lock_timeout: None,
            threads: None,
            incremental: false,
            compact_above: DEFAULT_COMPACT_ABOVE,
            #[cfg(feature = "test-hooks")]
            fail_after: None,
            #[cfg(feature = "test-hooks")]
            io_log: None,
        }
    }
}

impl SaveOptions {
    /// The default options.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How deeply a value may nest inline (a recursive field such as
    /// `next: Option<Box<Node>>` counts one level per node): past it, the save fails
    /// with [`Error::TooDeep`] naming the field, never a stack overflow (within the
    /// limit, the stack grows as needed). Default:
    /// [`DEFAULT_MAX_DEPTH`](crate::DEFAULT_MAX_DEPTH), which readers also use by
    /// default: a value saved within it reads back with default options.
    #[must_use]
    pub fn max_depth(mut self, levels: u32) -> Self {
        self.max_depth = levels;
        self
    }

    /// Compression for every chunk whose field does not choose its own
    /// (`#[strata(compress = ...)]`). The root chunk is never compressed: it is read
    /// in place by `open`.
    #[must_use]
    pub fn compression(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// How long a save to a path waits for another save to the same path (in this
    /// process or another) to finish before it gives up with [`Error::Locked`]. Saves
    /// to one path take turns; by default a save waits as long as it takes.
    #[must_use]
    pub fn lock_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    /// How many threads the save serializes, compresses and checksums with: by default
    /// rayon's global pool (one thread per core); with `threads(n)`, a pool of `n`
    /// threads of strata's own (built once per process for each `n`) for the parallel
    /// parts, while the calling thread waits: `threads(1)` saves one thread at a time,
    /// for programs that manage their own threads; `threads(0)` is the default. The
    /// serial parts run on the calling thread. The file's bytes do not depend on it.
    ///
    /// ```
    /// # #[derive(strata::Persist)] struct Log { #[strata(shard)] lines: Vec<String> }
    /// # let log = Log { lines: (0..1000).map(|i| i.to_string()).collect() };
    /// let one = strata::SaveOptions::new().threads(1).to_bytes(&log)?;
    /// assert_eq!(one, strata::to_bytes(&log)?);
    /// # Ok::<(), strata::Error>(())
    /// ```
    #[must_use]
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = NonZeroUsize::new(n);
        self
    }

    /// Makes the save fail once `bytes` have been written, as a full disk would. For
    /// tests of what a failed save leaves behind (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    #[must_use]
    pub fn fail_after_bytes(mut self, bytes: u64) -> Self {
        self.fail_after = Some(bytes);
        self
    }

    /// Makes [`save`](Self::save) and [`save_with`](Self::save_with) append a new version
    /// to the file at the path instead of replacing it, when that file is a strata file
    /// of this format version: the new version's chunks that the file's current version
    /// already holds (same bytes) are referred to where they are, and only the others,
    /// with a new meta chunk, root and footer, are written. A save that changes a few
    /// shards of a big file writes those shards, their index nodes and the root.
    ///
    /// The file only grows: readers that have it open keep reading their version, and a
    /// crash (or power loss) at any moment leaves the old version or the new one (the
    /// header's commit record names the last complete version; the next save cuts what
    /// a crashed one appended). Unused chunks of earlier versions stay in the file as
    /// dead bytes ([`Archive::stats`](crate::Archive::stats)) until a save rewrites the
    /// file: when the path holds no strata file of this version, or when its dead bytes
    /// exceed [`compact_above`](Self::compact_above) of its length, the save writes a
    /// whole file atomically, as without this option. [`SaveStats::appended`] says which
    /// happened.
    ///
    /// The appended bytes depend on the file's history, not only on the value: two
    /// files holding equal values may differ, and each reads back the value.
    ///
    /// ```
    /// # #[derive(strata::Persist)] struct Log { name: String, #[strata(shard)] lines: Vec<String> }
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("log.strata");
    /// let mut log = Log { name: "app".into(), lines: (0..100_000).map(|i| format!("line {i}")).collect() };
    /// let incremental = strata::SaveOptions::new().incremental(true);
    /// let first = incremental.save(&path, &log)?;
    /// assert!(!first.appended);
    /// log.lines[5] = "changed".into();
    /// let second = incremental.save(&path, &log)?;
    /// assert!(second.appended);
    /// assert!(second.file_len - first.file_len < first.file_len / 10);
    /// let archive = strata::Archive::open(&path)?;
    /// assert_eq!(archive.root::<Log>()?.lines.get(5)?.unwrap().load()?, "changed");
    /// # Ok::<(), strata::Error>(())
    /// ```
    #[must_use]
    pub fn incremental(mut self, yes: bool) -> Self {
        self.incremental = yes;
        self
    }

    /// How much of a file may be dead (bytes of earlier versions) before an
    /// [incremental](Self::incremental) save rewrites it whole instead of appending: a
    /// fraction of the file's length, checked before the save. Default
    /// [`DEFAULT_COMPACT_ABOVE`] (half); `1.0` never rewrites, `0.0` always does.
    #[must_use]
    pub fn compact_above(mut self, ratio: f64) -> Self {
        self.compact_above = ratio;
        self
    }

    /// Records every write, sync and cut an incremental save issues on its file in
    /// `log`, for tests that rebuild what a power loss at any point would leave
    /// (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    #[must_use]
    pub fn io_log(mut self, log: crate::testing::IoLog) -> Self {
        self.io_log = Some(log);
        self
    }

    pub(crate) fn lock_timeout_value(&self) -> Option<std::time::Duration> {
        self.lock_timeout
    }

    pub(crate) fn threads_value(&self) -> Option<NonZeroUsize> {
        self.threads
    }

    pub(crate) fn max_depth_value(&self) -> u32 {
        self.max_depth
    }

    /// Saves `value` to `path` atomically: the bytes go to a temporary file in the same
    /// folder, which is flushed to disk (`fsync`) and then renamed over `path`; the
    /// folder is flushed too. Readers of the old file (open archives included) keep
    /// seeing the old file; a crash at any point leaves either the old or the new file.
    ///
    /// Saves to one path take turns: each holds a lock on `.NAME.strata-lock` beside
    /// the destination for its whole duration (threads and processes alike; readers
    /// never wait), and the next waits for it, or gives up after
    /// [`lock_timeout`](Self::lock_timeout). Temporary files that crashed saves left
    /// behind are removed by the next save to the same path. On Linux the disk starts
    /// writing the file every few MiB while the save is still serializing, so the final
    /// flush has little left to wait for. On Unix a replaced file of 1 MiB or more is
    /// held open across the rename and closed on a thread of its own: the save does
    /// not wait while the system frees the old version's cached pages and blocks
    /// (nothing of it stays on disk, even if the process exits first).
    ///
    /// # Errors
    /// [`Error::Locked`] past the lock timeout; [`Error::Save`] naming the step and the
    /// file when an I/O step fails (the old file is then untouched and the temporary
    /// file removed); serialization errors.
    pub fn save<T: Persist>(&self, path: impl AsRef<Path>, value: &T) -> Result<SaveStats> {
        self.save_file(path.as_ref(), |sink, base| self.write_image_with::<T, &T>(sink, None, |_| Ok(value), base))
    }

    /// Writes a file image (the `write` given the sink) to a temporary sibling of `path`
    /// and puts it in place, the steps of [`save`](Self::save); or, for an incremental
    /// save, appends it to the file at `path`.
    fn save_file(
        &self,
        path: &Path,
        write: impl FnOnce(&dyn Sink, Base<'_>) -> Result<SaveStats>,
    ) -> Result<SaveStats> {
        let destination = Destination::lock(path, self.lock_timeout)?;
        if self.incremental
            && let Ok(previous) = crate::append::Previous::open(path, self.compact_above)?
        {
            #[cfg(feature = "test-hooks")]
            let previous = previous.logged(self.io_log.clone());
            previous.prepare()?;
            let sink = previous.sink();
            #[cfg(feature = "test-hooks")]
            let written = match self.fail_after {
                Some(n) => {
                    crate::threads::run(self.threads, || write(&FailingSink::new(sink, n), Base::Append(&previous)))
                }
                None => crate::threads::run(self.threads, || write(&sink, Base::Append(&previous))),
            };
            #[cfg(not(feature = "test-hooks"))]
            let written = crate::threads::run(self.threads, || write(&sink, Base::Append(&previous)));
            return written.map_err(|e| match e {
                Error::Io(source) => Error::Save { step: "append", path: path.to_path_buf(), source },
                other => other,
            });
        }
        let tmp = destination.temporary()?;
        let file_sink = Writeback::new(tmp.as_file());
        #[cfg(feature = "test-hooks")]
        let written = match self.fail_after {
            Some(n) => crate::threads::run(self.threads, || write(&FailingSink::new(file_sink, n), Base::Whole)),
            None => crate::threads::run(self.threads, || write(&file_sink, Base::Whole)),
        };
        #[cfg(not(feature = "test-hooks"))]
        let written = crate::threads::run(self.threads, || write(&file_sink, Base::Whole));
        let stats = written.map_err(|e| match e {
            Error::Io(source) => Error::Save { step: "write", path: tmp.path().to_path_buf(), source },
            other => other,
        })?;
        destination.replace_with(tmp)?;
        Ok(stats)
    }

    /// Writes `value` to `writer` front to back, with no seek: the bytes
    /// [`save`](Self::save) would put in a file, for pipes, sockets and uploads. Not
    /// atomic by itself: a failed write leaves part of a file behind (a reader refuses
    /// it: the footer comes last).
    ///
    /// ```
    /// # #[derive(strata::Persist)] struct Log { #[strata(shard)] lines: Vec<String> }
    /// # let log = Log { lines: (0..1000).map(|i| i.to_string()).collect() };
    /// let mut out = Vec::new();
    /// strata::SaveOptions::new().write(&mut out, &log)?;
    /// assert_eq!(out, strata::to_bytes(&log)?);
    /// # Ok::<(), strata::Error>(())
    /// ```
    ///
    /// # Errors
    /// The writer's errors ([`Error::Io`]) and serialization errors.
    pub fn write<T: Persist, W: std::io::Write + Send>(&self, writer: W, value: &T) -> Result<SaveStats> {
        let sink = crate::sink::WriteSink::new(writer);
        let stats = self.write_to(&sink, value)?;
        sink.finish()?;
        Ok(stats)
    }

    /// Saves `value` to object storage, at the object a URL names (`s3://bucket/key`
    /// and the other forms of [`Archive::open_url`](crate::Archive::open_url),
    /// configured from the environment the same way). The bytes are those of
    /// [`save`](Self::save), streamed as a multipart upload while the save goes on (16
    /// MiB parts, four in flight): the object appears whole when the upload completes,
    /// or not at all when the save fails (the upload is aborted). Object stores keep
    /// the last completed upload; saves to one key do not take turns as
    /// [`save`](Self::save)'s do.
    ///
    /// # Errors
    /// A URL no store serves, the store's errors ([`Error::Io`]) and serialization
    /// errors.
    #[cfg(feature = "object-store")]
    pub fn save_url<T: Persist>(&self, url: &str, value: &T) -> Result<SaveStats> {
        let (store, path) = crate::store::remote::store_for(url)?;
        self.save_store(store, path.as_ref(), value)
    }

    /// [`save_url`](Self::save_url) to the object `path` of a store the program built
    /// itself.
    ///
    /// # Errors
    /// See [`save_url`](Self::save_url).
    #[cfg(feature = "object-store")]
    pub fn save_store<T: Persist>(
        &self,
        store: std::sync::Arc<dyn object_store::ObjectStore>,
        path: &str,
        value: &T,
    ) -> Result<SaveStats> {
        let sink = crate::sink::WriteSink::new(crate::store::remote::Upload::start(store, path)?);
        let stats = self.write_to(&sink, value)?;
        sink.finish()?.0.finish()?;
        Ok(stats)
    }

    /// Serializes `value` into a byte vector holding exactly what [`save`](Self::save)
    /// would write to a file.
    ///
    /// # Errors
    /// Serialization errors.
    pub fn to_bytes<T: Persist>(&self, value: &T) -> Result<Vec<u8>> {
        let sink = MemorySink::new();
        self.write_to(&sink, value)?;
        Ok(sink.into_inner())
    }

    /// Saves, atomically as [`save`](Self::save) does, the value `make` returns, after
    /// the parts it streams into the file through the [`Writer`] it is given: a vector
    /// bigger than memory, produced by an iterator, is written shard by shard and put in
    /// the value as the [`Sharded`](crate::Sharded) handle [`Writer::shard`] returns.
    ///
    /// ```
    /// #[derive(strata::Persist)]
    /// struct Log {
    ///     name: String,
    ///     events: strata::Sharded<(u64, String)>,
    /// }
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("log.strata");
    /// strata::SaveOptions::new().save_with(&path, |w| {
    ///     let events = w.shard("events", (0..100_000u64).map(|i| (i, format!("event {i}"))))?;
    ///     Ok(Log { name: "app".into(), events })
    /// })?;
    /// let archive = strata::Archive::open(&path)?;
    /// let log = archive.root::<Log>()?;
    /// assert_eq!(log.events.len(), 100_000);
    /// assert_eq!(log.events.get(77_777)?.unwrap().load()?.1, "event 77777");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`save`](Self::save); `make`'s errors; a handle streamed into another save or
    /// under another field's name.
    pub fn save_with<T: Persist>(
        &self,
        path: impl AsRef<Path>,
        make: impl FnOnce(&mut Writer<'_>) -> Result<T>,
    ) -> Result<SaveStats> {
        let spill = path.as_ref().parent().filter(|p| !p.as_os_str().is_empty());
        self.save_file(path.as_ref(), |sink, base| self.write_image_with::<T, T>(sink, spill, make, base))
    }

    /// [`save_with`](Self::save_with) to any [`std::io::Write`], as
    /// [`write`](Self::write) writes (sequentially, footer last): a streamed archive
    /// piped or uploaded while it is produced. A streamed map spills into the system's
    /// temporary folder.
    ///
    /// ```
    /// let mut out = Vec::new();
    /// strata::SaveOptions::new().write_with(&mut out, |w| w.shard("items", 0..100_000u64))?;
    /// let archive = strata::Archive::from_bytes(out)?;
    /// assert_eq!(archive.root::<strata::Sharded<u64>>()?.get(99_999)?.map(|v| v.to_native()), Some(99_999));
    /// # Ok::<(), strata::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`write`](Self::write) and [`save_with`](Self::save_with).
    pub fn write_with<T: Persist, W: std::io::Write + Send>(
        &self,
        writer: W,
        make: impl FnOnce(&mut Writer<'_>) -> Result<T>,
    ) -> Result<SaveStats> {
        let sink = crate::sink::WriteSink::new(writer);
        let stats =
            crate::threads::run(self.threads, || self.write_image_with::<T, T>(&sink, None, make, Base::Whole))?;
        sink.finish()?;
        Ok(stats)
    }

    /// [`save_with`](Self::save_with) to object storage, as [`save_url`](Self::save_url)
    /// saves: the streamed parts go out as a multipart upload while they are produced,
    /// and the object appears when the save completes (or not at all). A streamed map
    /// spills into the system's temporary folder.
    ///
    /// # Errors
    /// As [`save_url`](Self::save_url) and [`save_with`](Self::save_with).
    #[cfg(feature = "object-store")]
    pub fn save_url_with<T: Persist>(
        &self,
        url: &str,
        make: impl FnOnce(&mut Writer<'_>) -> Result<T>,
    ) -> Result<SaveStats> {
        let (store, path) = crate::store::remote::store_for(url)?;
        self.save_store_with(store, path.as_ref(), make)
    }

    /// [`save_url_with`](Self::save_url_with) to the object `path` of a store the
    /// program built itself.
    ///
    /// # Errors
    /// See [`save_url_with`](Self::save_url_with).
    #[cfg(feature = "object-store")]
    pub fn save_store_with<T: Persist>(
        &self,
        store: std::sync::Arc<dyn object_store::ObjectStore>,
        path: &str,
        make: impl FnOnce(&mut Writer<'_>) -> Result<T>,
    ) -> Result<SaveStats> {
        let sink = crate::sink::WriteSink::new(crate::store::remote::Upload::start(store, path)?);
        let stats =
            crate::threads::run(self.threads, || self.write_image_with::<T, T>(&sink, None, make, Base::Whole))?;
        sink.finish()?.0.finish()?;
        Ok(stats)
    }

    /// [`save_with`](Self::save_with) into a byte vector.
    ///
    /// # Errors
    /// As [`save_with`](Self::save_with), I/O aside.
    pub fn to_bytes_with<T: Persist>(&self, make: impl FnOnce(&mut Writer<'_>) -> Result<T>) -> Result<Vec<u8>> {
        let sink = MemorySink::new();
        crate::threads::run(self.threads, || self.write_image_with::<T, T>(&sink, None, make, Base::Whole))?;
        Ok(sink.into_inner())
    }

    /// Writes the file image of `value` to any [`Sink`]: header, chunks (children
    /// before parents), meta chunk (schema and chunk directory), root, footer.
    ///
    /// # Errors
    /// Serialization errors and the sink's I/O errors.
    pub fn write_to<T: Persist>(&self, sink: &dyn Sink, value: &T) -> Result<SaveStats> {
        crate::threads::run(self.threads, || self.write_image(sink, value))
    }

    fn write_image<T: Persist>(&self, sink: &dyn Sink, value: &T) -> Result<SaveStats> {
        self.write_image_with::<T, &T>(sink, None, |_| Ok(value), Base::Whole)
    }

    /// Writes a file image whose root `make` gives, after streaming what it streams.
    fn write_image_with<T: Persist, R: std::borrow::Borrow<T>>(
        &self,
        sink: &dyn Sink,
        spill: Option<&Path>,
        make: impl FnOnce(&mut Writer<'_>) -> Result<R>,
        base: Base<'_>,
    ) -> Result<SaveStats> {
        let started = Instant::now();
        let fail = |e: std::io::Error| Error::Io(e);
        let ctx = match base {
            Base::Whole => {
                sink.write_at(0, &header::encode(format::VERSION)).map_err(fail)?;
                SaveCtx::new(sink, self.codec, self.max_depth, header::len_of(format::VERSION))
            }
            Base::Append(previous) => {
                SaveCtx::new(sink, self.codec, self.max_depth, previous.start()).with_reuse(previous.reuse())
            }
        };
        ctx.root_entry();
        let value = make(&mut Writer::new(&ctx, spill))?;
        let schema = schema_of::<T>();
        let written = ctx.write_root(value.borrow(), &schema.text)?;
        let footer_at = ctx.end()?;
        let footer = written.footer(footer_at, schema.fingerprint);
        let file_len = footer.file_len;
        match base {
            Base::Whole => sink.write_at(footer_at, &footer.encode()).map_err(fail)?,
            Base::Append(previous) => previous.finish(footer_at, &footer.encode())?,
        }
        Ok(ctx.stats(file_len, started.elapsed()))
    }
}

/// Saves `value` to `path` atomically with the default options; see
/// [`SaveOptions::save`].
///
/// # Errors
/// See [`SaveOptions::save`].
pub fn save<T: Persist>(path: impl AsRef<Path>, value: &T) -> Result<SaveStats> {
    SaveOptions::new().save(path, value)
}

/// Serializes `value` to bytes in the file format, with the default options.
///
/// # Errors
/// Serialization errors.
pub fn to_bytes<T: Persist>(value: &T) -> Result<Vec<u8>> {
    SaveOptions::new().to_bytes(value)
}
