//! Peak memory of a save, measured in a process of its own.

/// The process's peak resident set size in bytes (Linux: `VmHWM`), if known.
#[must_use]
pub fn peak_rss() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// The anonymous (heap) part of the process's resident set in bytes (Linux:
/// `RssAnon`), if known.
#[must_use]
pub fn rss_anon() -> Option<u64> {
    status_bytes("RssAnon:")
}

/// A `kB` figure of `/proc/self/status`, in bytes.
fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Builds a `Vec<u64>` of `bytes` bytes in a sharded field, saves it to `path`, and
/// returns (data bytes, peak RSS before the save, peak RSS after the save).
///
/// # Errors
/// Save errors.
pub fn save_large_vector(path: &std::path::Path, bytes: u64) -> strata::Result<(u64, u64, u64)> {
    #[derive(strata::Persist)]
    struct Big {
        #[strata(shard)]
        values: Vec<u64>,
    }
    let n = bytes / 8;
    let big = Big { values: (0..n).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect() };
    let before = peak_rss().unwrap_or(0);
    strata::save(path, &big)?;
    let after = peak_rss().unwrap_or(0);
    Ok((n * 8, before, after))
}

/// Builds a map of `entries` small entries (`u64` to `u64`: the most entries for the
/// bytes, so the most per-entry bookkeeping in a save), then saves it to `path`; returns
/// the RSS the map took and the peak RSS before and after the save.
///
/// # Errors
/// The save's errors.
pub fn save_large_map(path: &std::path::Path, entries: u64) -> strata::Result<(u64, u64, u64)> {
    #[derive(strata::Persist)]
    struct Index {
        #[strata(map)]
        offsets: std::collections::HashMap<u64, u64>,
    }
    let empty = rss_anon().unwrap_or(0);
    let mut offsets = std::collections::HashMap::with_capacity(usize::try_from(entries).unwrap_or(0));
    offsets.extend((0..entries).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15), i)));
    let map = rss_anon().unwrap_or(0).saturating_sub(empty);
    let index = Index { offsets };
    let before = peak_rss().unwrap_or(0);
    strata::save(path, &index)?;
    let after = peak_rss().unwrap_or(0);
    Ok((map, before, after))
}
