//! Where an archive's bytes come from: the [`Source`] trait and its implementations.
//!
//! A source answers positioned reads of byte ranges. The store above it never learns
//! whether the bytes came from `pread`, a memory map, a buffer or an object store; it
//! only asks, through [`Source::bytes`], whether they are all in memory already (then
//! chunks are read in place, without a copy).

use std::io;
use std::sync::Arc;

/// A source of an archive's bytes.
///
/// Implemented by files ([`Archive::open`](crate::Archive::open)), memory maps
/// (opt-in, [`Access::Map`](crate::Access::Map)) and buffers (`Vec<u8>`, `Box<[u8]>`,
/// `Arc<[u8]>`, `&'static [u8]`); implement it to read archives from elsewhere and open
/// them with [`Archive::from_source`](crate::Archive::from_source).
///
/// A source's bytes are those it held when the archive opened it. A source whose
/// bytes change later (another program rewrites the file) must keep failing or return
/// the changed bytes, never crash: the store checks every chunk's checksum, so changed
/// bytes are an error, not a wrong value.
pub trait Source: Send + Sync + std::fmt::Debug + 'static {
    /// The source's length in bytes, as it was when opened.
    fn size(&self) -> u64;

    /// Fills all of `buf` with the bytes at `offset`, or fails.
    ///
    /// # Errors
    /// Any I/O error; a source shorter than `offset + buf.len()` gives
    /// [`io::ErrorKind::UnexpectedEof`].
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;

    /// Reads several ranges, each filled completely. Sources with costly requests
    /// (remote ones) issue them concurrently; the default reads them one by one.
    ///
    /// # Errors
    /// As [`read_at`](Self::read_at).
    fn read_ranges(&self, ranges: &mut [(u64, &mut [u8])]) -> io::Result<()> {
        for (offset, buf) in ranges.iter_mut() {
            self.read_at(*offset, buf)?;
        }
        Ok(())
    }

    /// All the bytes, when the source holds them in memory at an address that stays
    /// valid and unchanged for as long as the source lives. Chunks are then read in
    /// place (where they are aligned) instead of copied.
    fn bytes(&self) -> Option<&[u8]> {
        None
    }

    /// Why the source no longer holds what it held when opened (a file whose length or
    /// modification time changed), when it can tell. Asked after a read failed or a
    /// checksum did not match, to say so in the error.
    fn changed(&self) -> Option<String> {
        None
    }

    /// How many bytes at the end of the source the open reads, in one request: the
    /// footer, and the root chunk and the tail copies of the top index nodes when they
    /// end within them (a lookup then reads one level less). Sources whose requests
    /// cost a round trip ask for more than the default ([`DEFAULT_TAIL_LEN`]).
    fn tail_len(&self) -> u64 {
        DEFAULT_TAIL_LEN
    }

    /// Whether each request costs a network round trip (object storage). The store then
    /// reads the tail copies with a request of their own when the tail read at open
    /// did not bring them, and bulk reads send more ranges at once.
    fn remote(&self) -> bool {
        false
    }

    /// A hint that `start..end` will be read soon (a bulk load). Errors are ignored.
    fn will_need(&self, start: u64, end: u64) {
        let _ = (start, end);
    }

    /// The identity of the file the bytes are read from (device and inode on Unix),
    /// when they are a local file's: an incremental save to that same file refers to
    /// the chunks of values read from it instead of writing them again. `None` by
    /// default.
    fn file_id(&self) -> Option<(u64, u64)> {
        None
    }
}

/// The device and inode of `file` (Unix), see [`Source::file_id`].
pub(crate) fn file_id(file: &std::fs::File) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        file.metadata().ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        None
    }
}

/// The bytes at the end of a source that the open reads by default.
pub const DEFAULT_TAIL_LEN: u64 = 4096 + crate::format::footer::FOOTER_LEN;

#[cfg(feature = "object-store")]
pub use super::remote::{ObjectSource, REMOTE_TAIL_LEN};

macro_rules! memory_source {
    ($($t:ty),*) => {$(
        impl Source for $t {
            fn size(&self) -> u64 {
                self.len() as u64
            }
            fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
                read_slice(self, offset, buf)
            }
            fn bytes(&self) -> Option<&[u8]> {
                Some(self)
            }
        }
    )*};
}
memory_source!(Vec<u8>, Box<[u8]>, Arc<[u8]>, &'static [u8], rkyv::util::AlignedVec<16>);

fn read_slice(bytes: &[u8], offset: u64, buf: &mut [u8]) -> io::Result<()> {
    let src = usize::try_from(offset)
        .ok()
        .and_then(|o| bytes.get(o..o.checked_add(buf.len())?))
        .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
    buf.copy_from_slice(src);
    Ok(())
}

/// What identifies a file's contents cheaply: its length and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self { len: meta.len(), modified: meta.modified().ok() }
    }
}

/// A file read with positioned reads (`pread`): the default source of
/// [`Archive::open`](crate::Archive::open). Nothing is mapped, so a file that another
/// program cuts short or rewrites while it is open gives errors, never a signal.
#[derive(Debug)]
pub struct FileSource {
    file: std::fs::File,
    stamp: Stamp,
}

impl FileSource {
    /// Opens the file at `path` for reading.
    ///
    /// # Errors
    /// I/O errors.
    pub fn open(path: impl AsRef<std::path::Path>) -> io::Result<Self> {
        Self::new(std::fs::File::open(path)?)
    }

    /// A source over an open file; its length is taken now.
    ///
    /// # Errors
    /// When the file's metadata cannot be read.
    pub fn new(file: std::fs::File) -> io::Result<Self> {
        let stamp = Stamp::of(&file.metadata()?);
        Ok(Self { file, stamp })
    }
}

impl Source for FileSource {
    fn size(&self) -> u64 {
        self.stamp.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        super::os::read_exact_at(&self.file, offset, buf)
    }

    fn changed(&self) -> Option<String> {
        changed(&self.file, &self.stamp)
    }

    fn will_need(&self, start: u64, end: u64) {
        super::os::will_need(&self.file, start, end);
    }

    fn file_id(&self) -> Option<(u64, u64)> {
        file_id(&self.file)
    }
}

fn changed(file: &std::fs::File, opened: &Stamp) -> Option<String> {
    let now = match file.metadata() {
        Ok(m) => Stamp::of(&m),
        Err(e) => return Some(format!("its metadata can no longer be read ({e})")),
    };
    if now.len != opened.len {
        Some(format!("the file changed since it was opened: {} bytes then, {} now", opened.len, now.len))
    } else if now.modified != opened.modified {
        Some(String::from("the file changed since it was opened: it was modified in place"))
    } else {
        None
    }
}

/// A memory-mapped file ([`Access::Map`](crate::Access::Map), opt-in): chunks are read
/// in place, without a copy.
///
/// A mapped file that another program truncates while it is mapped makes the reading
/// process receive `SIGBUS` when it touches a page past the new end, and bytes another
/// program writes in place appear in views already handed out. Use it only for files
/// nothing else modifies.
#[derive(Debug)]
pub struct MapSource {
    map: memmap2::Mmap,
    file: std::fs::File,
    stamp: Stamp,
}

impl MapSource {
    /// Maps the file at `path` read-only.
    ///
    /// # Errors
    /// I/O errors.
    pub fn open(path: impl AsRef<std::path::Path>) -> io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let stamp = Stamp::of(&file.metadata()?);
        let map = super::os::map(&file)?;
        Ok(Self { map, file, stamp })
    }
}

impl Source for MapSource {
    fn size(&self) -> u64 {
        self.map.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        read_slice(&self.map, offset, buf)
    }

    fn bytes(&self) -> Option<&[u8]> {
        Some(&self.map)
    }

    fn changed(&self) -> Option<String> {
        changed(&self.file, &self.stamp)
    }

    fn will_need(&self, start: u64, end: u64) {
        super::os::advise_will_need(&self.map, start, end);
    }

    fn file_id(&self) -> Option<(u64, u64)> {
        file_id(&self.file)
    }
}
