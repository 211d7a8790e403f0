//! Page-cache control and memory figures (Linux).

use std::os::fd::AsRawFd;
use std::path::Path;

/// Drops `path`'s pages from the page cache and checks that they are gone, then reads
/// the file's extent map back into memory ([`load_extent_map`]): what an "evicted"
/// figure waits for is the file's data, the same at every file size.
///
/// # Errors
/// When the kernel refuses, or keeps more than 1% of the pages resident.
pub fn evict(path: &Path) -> std::io::Result<()> {
    evict_data(path)?;
    load_extent_map(path);
    Ok(())
}

/// Asks the filesystem where `path`'s data lies (`FS_IOC_FIEMAP`, counting extents
/// only), which brings its extent tree into memory without reading any data. A file of
/// more than 4 extents (ext4 extents hold up to 128 MiB) keeps them in a separate block
/// that memory pressure can push out of the cache with the file's pages, as the
/// harness's own whole-file reads at scale 100 may; the first read of the file then
/// waits for that block too, in every format (a cold 4 KiB read at the end of a 3.3 GB
/// file: 100-123 us, 176-304 us after `drop_caches`, 132-133 us after `drop_caches`
/// and this call; no difference on a 33 MB file). Best effort: a filesystem without
/// FIEMAP is left as it is.
pub fn load_extent_map(path: &Path) {
    /// `struct fiemap` without room for extents (`fm_extent_count` 0: count only).
    #[repr(C)]
    struct Fiemap {
        start: u64,
        length: u64,
        flags: u32,
        mapped_extents: u32,
        extent_count: u32,
        reserved: u32,
    }
    /// `_IOWR('f', 11, struct fiemap)`.
    const FS_IOC_FIEMAP: libc::Ioctl = 0xC020_660B_u32 as libc::Ioctl;
    let Ok(file) = std::fs::File::open(path) else { return };
    let mut map = Fiemap { start: 0, length: u64::MAX, flags: 0, mapped_extents: 0, extent_count: 0, reserved: 0 };
    // SAFETY: FS_IOC_FIEMAP reads and writes one `struct fiemap`, which `map` is (with
    // no room for extents, as `extent_count` 0 says); the descriptor is open.
    let _ = unsafe { libc::ioctl(file.as_raw_fd(), FS_IOC_FIEMAP, &raw mut map) };
}

/// [`evict`] without the extent map.
fn evict_data(path: &Path) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    file.sync_all()?;
    let mut left = 1.0;
    // Pages of a file just written can sit in per-CPU batches the kernel has not put on
    // its lists yet, out of the advice's reach (seen: 5% of a fresh 36 MB file left):
    // a few tries, a moment apart, let them settle.
    for attempt in 0..5 {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // SAFETY: a plain system call on a descriptor we own.
        let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        left = resident(&file)?;
        if left <= 0.01 {
            return Ok(());
        }
    }
    Err(std::io::Error::other(format!("{:.0}% of {} still cached after eviction", left * 100.0, path.display())))
}

/// Reads the whole file so that it is in the page cache, and checks that all of it
/// stayed there (`cachestat`, or `mincore` on older kernels).
///
/// # Errors
/// I/O errors, or an error when part of the file was reclaimed at once (memory short:
/// a "warm" figure would then include disk reads).
pub fn warm(path: &Path) -> std::io::Result<()> {
    let mut f = std::fs::File::open(path)?;
    let mut held = resident(&f)?;
    if held >= 0.9999 {
        return Ok(()); // still cached from the last time
    }
    // The kernel may reclaim a few just-read pages while the rest are read; reading
    // again brings them back (the others are cache hits).
    for _ in 0..3 {
        std::io::Seek::rewind(&mut f)?;
        std::io::copy(&mut f, &mut std::io::sink())?;
        held = resident(&f)?;
        if held >= 0.9999 {
            return Ok(());
        }
    }
    if held < 0.99 {
        return Err(std::io::Error::other(format!(
            "only {:.1}% of {} stayed in the page cache after reading it",
            held * 100.0,
            path.display()
        )));
    }
    Ok(())
}

/// The share of `file`'s pages in the page cache: `cachestat` (Linux 6.5), or `mincore`
/// over a mapping of the whole file on an older kernel. `mincore` is not used where
/// `cachestat` exists because it slowed the next cold read of a large file: a fresh
/// process's open + map lookup of the evicted 3.3 GB strata file took 538 us after an
/// eviction checked by `mincore` and 459 us after one checked by `cachestat` (449 us
/// unchecked), while the 33 MB file took 365-388 us all three ways (medians of 10 at the
/// same moments, the three ways and two files alternating).
fn resident(file: &std::fs::File) -> std::io::Result<f64> {
    let len = file.metadata()?.len() as usize;
    if len == 0 {
        return Ok(0.0);
    }
    let pages = len.div_ceil(4096);
    if let Some(cached) = cachestat(file)? {
        return Ok(cached as f64 / pages as f64);
    }
    // SAFETY: a read-only map of a file nobody writes during the call.
    let map = unsafe { memmap2::Mmap::map(file)? };
    let mut vec = vec![0u8; pages];
    // SAFETY: `map` is a live mapping of `len` bytes and `vec` has one byte per page.
    let rc = unsafe { libc::mincore(map.as_ptr() as *mut libc::c_void, len, vec.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(vec.iter().filter(|b| *b & 1 == 1).count() as f64 / pages as f64)
}

/// The number of `file`'s pages in the page cache (`cachestat(2)`), or `None` where the
/// kernel has no such call, or a seccomp filter (a container's) refuses it.
fn cachestat(file: &std::fs::File) -> std::io::Result<Option<u64>> {
    /// `struct cachestat_range`: the whole file (`len` 0: to its end).
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    /// `struct cachestat`.
    #[repr(C)]
    #[derive(Default)]
    struct Stat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }
    /// The call's number in the kernel's shared table (x86-64, arm64 and most others;
    /// alpha differs), not in the `libc` crate yet.
    const SYS_CACHESTAT: libc::c_long = 451;
    let range = Range { off: 0, len: 0 };
    let mut stat = Stat::default();
    // SAFETY: cachestat reads one `cachestat_range` and writes one `cachestat`, which
    // `range` and `stat` are (`repr(C)`, the kernel's layout); the descriptor is open.
    let rc = unsafe { libc::syscall(SYS_CACHESTAT, file.as_raw_fd(), &raw const range, &raw mut stat, 0u32) };
    if rc == 0 {
        return Ok(Some(stat.nr_cache));
    }
    let e = std::io::Error::last_os_error();
    if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) { Ok(None) } else { Err(e) }
}

/// CPU time this process has used so far, all threads: user and system.
#[must_use]
pub fn cpu_time() -> (std::time::Duration, std::time::Duration) {
    // SAFETY: `rusage` is plain old data, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage` for the call to fill.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) } != 0 {
        return Default::default();
    }
    let time = |t: libc::timeval| {
        std::time::Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + std::time::Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    (time(usage.ru_utime), time(usage.ru_stime))
}

/// Minor page faults this process has taken so far (`minflt` of `/proc/self/stat`; 0
/// if unreadable).
#[must_use]
pub fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| s.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(7)?.parse().ok()))
        .unwrap_or(0)
}

/// This process's peak resident set size in bytes (`VmHWM`).
#[must_use]
pub fn peak_rss() -> u64 {
    kib_field("/proc/self/status", "VmHWM:")
}

/// This process's resident set size in bytes (`VmRSS`).
#[must_use]
pub fn rss() -> u64 {
    kib_field("/proc/self/status", "VmRSS:")
}

/// The memory the kernel could give without swapping, page cache included
/// (`MemAvailable`), in bytes.
#[must_use]
pub fn mem_available() -> u64 {
    kib_field("/proc/meminfo", "MemAvailable:")
}

/// A `key:   N kB` line of a `/proc` file, in bytes (0 if absent).
fn kib_field(file: &str, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Returns the memory the allocator holds free to the kernel (glibc keeps freed heap
/// in its arenas): after the dataset is dropped, the reads that follow get it, and the
/// page cache too.
pub fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: `malloc_trim` only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
