//! Where a save's bytes go: a positional writer.
//!
//! Saving writes each chunk at a position it reserved, so a sink only needs
//! `write_at`. The file sink is used by [`crate::save`] (which also starts the disk
//! writes early, see `Writeback`); the memory sink by [`crate::to_bytes`]; tests wrap
//! either to inject failures (with the `test-hooks` feature, `FailingSink`).

use std::io;
use std::sync::Mutex;

/// A destination for a save's bytes, written at absolute positions.
///
/// Bytes between written ranges (alignment padding) must read back as zero: files
/// give this for free (holes), [`MemorySink`] fills them.
pub trait Sink: Send + Sync {
    /// Writes all of `bytes` at `offset`.
    ///
    /// # Errors
    /// Any I/O error; the save is then abandoned.
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()>;
}

/// Writes to a file with positioned writes (`pwrite`).
#[derive(Debug)]
pub struct FileSink<'a>(pub &'a std::fs::File);

impl Sink for FileSink<'_> {
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        super::os::write_all_at(self.0, offset, bytes)
    }
}

/// A file sink that starts writing the file's dirty pages to disk every
/// [`WRITEBACK_EVERY`] bytes, while the save is still serializing, so that the final
/// `fsync` waits for the last few MiB instead of the whole file (what RocksDB's
/// `bytes_per_sync` does). Without it the disk idles until the save is done, and the
/// `fsync` then writes everything. The requests do not wait for the disk
/// (`SYNC_FILE_RANGE_WRITE` only starts the writes) and say nothing about durability:
/// that stays the final `fsync`'s job. Linux only; elsewhere a plain [`FileSink`].
///
#[derive(Debug)]
pub(crate) struct Writeback<'a> {
    file: FileSink<'a>,
    /// Bytes written since the last request.
    #[cfg(target_os = "linux")]
    pending: std::sync::atomic::AtomicU64,
}

/// How many bytes a save writes between two requests to start writing them to disk.
const WRITEBACK_EVERY: u64 = 4 << 20;

impl<'a> Writeback<'a> {
    pub(crate) fn new(file: &'a std::fs::File) -> Self {
        Self {
            file: FileSink(file),
            #[cfg(target_os = "linux")]
            pending: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Sink for Writeback<'_> {
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.file.write_at(offset, bytes)?;
        #[cfg(target_os = "linux")]
        {
            use std::sync::atomic::Ordering::Relaxed;
            let len = bytes.len() as u64;
            if self.pending.fetch_add(len, Relaxed).saturating_add(len) >= WRITEBACK_EVERY
                && self.pending.swap(0, Relaxed) >= WRITEBACK_EVERY
            {
                // A hint: if it fails, the final `fsync` writes (and reports) everything.
                super::os::start_writeback(self.file.0);
            }
        }
        Ok(())
    }
}

/// A sink over any [`io::Write`]: a pipe, a socket, an upload. The writer places
/// chunks in increasing offsets, so the file goes out front to back with no seek; the
/// zero padding between chunks (less than 16 bytes) is written as zeros. A write that
/// would need a seek is an error, never a wrong file.
#[derive(Debug)]
pub struct WriteSink<W> {
    inner: Mutex<(W, u64)>,
}

impl<W: io::Write + Send> WriteSink<W> {
    /// A sink writing to `writer`, which is at offset 0 of the file.
    pub fn new(writer: W) -> Self {
        Self { inner: Mutex::new((writer, 0)) }
    }

    /// The writer, flushed, and the bytes written.
    ///
    /// # Errors
    /// The flush's error.
    pub fn finish(self) -> io::Result<(W, u64)> {
        let (mut w, written) = self.inner.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        w.flush()?;
        Ok((w, written))
    }
}

impl<W: io::Write + Send> Sink for WriteSink<W> {
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut guard = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (w, at) = &mut *guard;
        let gap = offset.checked_sub(*at).filter(|&g| g < crate::format::CHUNK_ALIGN).ok_or_else(|| {
            io::Error::other(format!("internal: a write at offset {offset} after {at} bytes would need a seek"))
        })?;
        w.write_all([0u8; 16].get(..usize::try_from(gap).unwrap_or(0)).unwrap_or_default())?;
        w.write_all(bytes)?;
        *at = offset + bytes.len() as u64;
        Ok(())
    }
}

/// Collects the bytes in memory.
#[derive(Debug, Default)]
pub struct MemorySink(Mutex<Vec<u8>>);

impl MemorySink {
    /// An empty sink.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written so far.
    #[must_use]
    pub fn into_inner(self) -> Vec<u8> {
        self.0.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Sink for MemorySink {
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let too_big = || io::Error::new(io::ErrorKind::OutOfMemory, "write beyond addressable memory");
        let start = usize::try_from(offset).map_err(|_| too_big())?;
        let end = start.checked_add(bytes.len()).ok_or_else(too_big)?;
        let mut buf = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buf.len() < end {
            buf.resize(end, 0);
        }
        if let Some(dst) = buf.get_mut(start..end) {
            dst.copy_from_slice(bytes);
        }
        Ok(())
    }
}

/// Fails every write once `budget` bytes have been written: a full disk or a dying
/// device, for tests of what a failed save leaves behind (feature `test-hooks`).
#[cfg(feature = "test-hooks")]
#[derive(Debug)]
pub struct FailingSink<S> {
    inner: S,
    budget: std::sync::atomic::AtomicU64,
}

#[cfg(feature = "test-hooks")]
impl<S: Sink> FailingSink<S> {
    /// Wraps `inner`, allowing `budget` bytes before failing.
    pub fn new(inner: S, budget: u64) -> Self {
        Self { inner, budget: std::sync::atomic::AtomicU64::new(budget) }
    }
}

#[cfg(feature = "test-hooks")]
impl<S: Sink> Sink for FailingSink<S> {
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        use std::sync::atomic::Ordering;
        let len = bytes.len() as u64;
        let ok = self.budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(len)).is_ok();
        if ok {
            self.inner.write_at(offset, bytes)
        } else {
            // Write what fits, as a real device would before failing.
            let left = self.budget.swap(0, Ordering::SeqCst);
            let part = bytes.get(..usize::try_from(left).unwrap_or(0)).unwrap_or_default();
            self.inner.write_at(offset, part)?;
            Err(io::Error::other("injected write failure (FailingSink budget exhausted)"))
        }
    }
}
