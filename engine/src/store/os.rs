//! The operating system calls under the store: positioned reads and writes, memory
//! maps, and hints. Every foreign call of the engine is here.

use std::io;

/// Fills `buf` from `file` at `offset`.
pub(crate) fn read_exact_at(file: &std::fs::File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut offset, mut buf) = (offset, buf);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(file, buf, offset)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = buf.get_mut(n..).unwrap_or_default();
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}

/// Writes all of `bytes` to `file` at `offset`.
pub(crate) fn write_all_at(file: &std::fs::File, offset: u64, bytes: &[u8]) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
    }
    #[cfg(windows)]
    {
        let (mut offset, mut bytes) = (offset, bytes);
        while !bytes.is_empty() {
            match std::os::windows::fs::FileExt::seek_write(file, bytes, offset)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => {
                    bytes = bytes.get(n..).unwrap_or_default();
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}

/// Maps `file` read-only, with random-access advice: without it the kernel reads
/// megabytes ahead of every page a lookup touches.
pub(crate) fn map(file: &std::fs::File) -> io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only. A file modified or truncated by another program
    // while mapped changes or invalidates the mapped pages; `MapSource`, the only
    // caller, documents this, and is used only when the user opts in.
    let map = unsafe { memmap2::Mmap::map(file)? };
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Random);
    Ok(map)
}

/// Asks the kernel to read `start..end` of a mapping now, in pieces of 1 MiB: one hint
/// over a whole large range is served page by page. A hint: errors are ignored.
pub(crate) fn advise_will_need(map: &memmap2::Mmap, start: u64, end: u64) {
    #[cfg(unix)]
    if let (Ok(mut at), Ok(end)) = (usize::try_from(start), usize::try_from(end.min(map.len() as u64))) {
        const PIECE: usize = 1 << 20;
        while at < end {
            let len = PIECE.min(end - at);
            let _ = map.advise_range(memmap2::Advice::WillNeed, at, len);
            at += len;
        }
    }
    #[cfg(not(unix))]
    let _ = (map, start, end);
}

/// Asks the kernel to start reading `start..end` of `file` into the page cache. A hint:
/// errors are ignored.
pub(crate) fn will_need(file: &std::fs::File, start: u64, end: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let (Ok(offset), Ok(len)) = (libc::off_t::try_from(start), libc::off_t::try_from(end.saturating_sub(start)))
        {
            // SAFETY: `posix_fadvise` only reads its integer arguments; the descriptor
            // is open for as long as `file` is borrowed.
            let _ = unsafe { libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_WILLNEED) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, start, end);
}

/// Asks the kernel to start writing `file`'s dirty pages to disk, without waiting and
/// without any promise of durability. A hint: errors are ignored.
pub(crate) fn start_writeback(file: &std::fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `sync_file_range` only reads its integer arguments; the descriptor is
        // open for as long as `file` is borrowed. Offset 0 and length 0 cover the file.
        let _ = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}
