//! Where a save's bytes go: a positional writer.
//!
//! Saving writes each chunk at a position it reserved, so a sink only needs
//! `write_at`. The file sink is used by [`crate::save`]; the memory sink by
//! [`crate::to_bytes`]; tests wrap either to inject failures.

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
    #[cfg(unix)]
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self.0, bytes, offset)
    }

    #[cfg(windows)]
    fn write_at(&self, mut offset: u64, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = std::os::windows::fs::FileExt::seek_write(self.0, bytes, offset)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            bytes = bytes.get(n..).unwrap_or_default();
            offset += n as u64;
        }
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
/// device, for tests of what a failed save leaves behind.
#[derive(Debug)]
pub struct FailingSink<S> {
    inner: S,
    budget: std::sync::atomic::AtomicU64,
}

impl<S: Sink> FailingSink<S> {
    /// Wraps `inner`, allowing `budget` bytes before failing.
    pub fn new(inner: S, budget: u64) -> Self {
        Self { inner, budget: std::sync::atomic::AtomicU64::new(budget) }
    }
}

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
