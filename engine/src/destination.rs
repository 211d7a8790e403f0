//! A save's destination: the lock that serializes saves to one path, the temporary
//! sibling a save writes, and the atomic replacement of the destination by it.
//!
//! Every save to `dir/name` first locks `dir/.name.strata-lock` (created once, never
//! removed: removing a lock file races with the next locker) and holds the lock until
//! the destination is replaced. Only then does it remove the temporaries that crashed
//! saves left (none can belong to a live save: a live save holds the lock) and create
//! its own, `dir/.name.XXXXXX.strata-tmp`. Readers never take the lock: they open the
//! destination, which is always a complete file, old or new. The replaced version of a
//! large file is closed on a thread of its own (see [`Replaced`]).
//!
//! The lock is an advisory file lock (`flock` on Unix, `LockFileEx` on Windows): it
//! serializes saves in threads of one process and across processes, and it dies with
//! its process, so a killed save never blocks the next. The lock file holds the process
//! id of its current holder, for the error of a save that gave up waiting.

use crate::error::{Error, Result};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The suffix of every temporary file of a save.
const TEMP_SUFFIX: &str = ".strata-tmp";

/// Random characters in a temporary file's name.
const TEMP_RANDOM: usize = 6;

/// A destination locked for one save.
#[derive(Debug)]
pub(crate) struct Destination {
    path: PathBuf,
    dir: PathBuf,
    name: String,
    /// Holds the lock; dropping it (closing the file) releases the lock.
    _lock: std::fs::File,
}

impl Destination {
    /// Locks `path` for a save, waiting at most `timeout` (`None`: as long as it takes)
    /// for a save that holds it.
    ///
    /// # Errors
    /// [`Error::Locked`] past the timeout; [`Error::Save`] when the lock file cannot be
    /// opened or locked.
    pub(crate) fn lock(path: &Path, timeout: Option<Duration>) -> Result<Self> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let lock_path = dir.join(format!(".{name}.strata-lock"));
        let failed = |step: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Save { step, path, source }
        };
        let mut lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(failed("open the lock file", &lock_path))?;
        match timeout {
            None => lock.lock().map_err(failed("lock", &lock_path))?,
            Some(timeout) => {
                let started = Instant::now();
                let mut pause = Duration::from_millis(1);
                loop {
                    match lock.try_lock() {
                        Ok(()) => break,
                        Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < timeout => {
                            std::thread::sleep(pause.min(timeout.saturating_sub(started.elapsed())));
                            pause = (pause * 2).min(Duration::from_millis(50));
                        }
                        Err(std::fs::TryLockError::WouldBlock) => {
                            return Err(Error::Locked {
                                path: path.to_path_buf(),
                                holder: holder(&mut lock),
                                waited: started.elapsed(),
                            });
                        }
                        Err(std::fs::TryLockError::Error(e)) => return Err(failed("lock", &lock_path)(e)),
                    }
                }
            }
        }
        // Who holds it, for a save that gives up waiting. Best effort: a lock file that
        // cannot be written still locks.
        let _ = lock.set_len(0).and_then(|()| {
            lock.rewind()?;
            write!(lock, "{}", std::process::id())
        });
        Ok(Self { path: path.to_path_buf(), dir, name, _lock: lock })
    }

    /// Removes the temporaries crashed saves left, and creates this save's own, with the
    /// permissions `File::create` would give (0666 less the umask) or those of the file
    /// being replaced.
    ///
    /// # Errors
    /// [`Error::Save`] when the temporary file cannot be created.
    pub(crate) fn temporary(&self) -> Result<tempfile::NamedTempFile> {
        self.remove_stale_temporaries();
        let prefix = format!(".{}.", self.name);
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(TEMP_SUFFIX).rand_bytes(TEMP_RANDOM);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&self.path).map_or(0o666, |m| m.permissions().mode() & 0o7777);
            builder.permissions(std::fs::Permissions::from_mode(mode));
        }
        builder.tempfile_in(&self.dir).map_err(|source| Error::Save {
            step: "create the temporary file in",
            path: self.dir.clone(),
            source,
        })
    }

    /// Makes the temporary file durable and puts it in the destination's place: `fsync`
    /// of the file, rename over the destination, `fsync` of the folder.
    ///
    /// # Errors
    /// [`Error::Save`] naming the step and the file (the temporary file is then removed
    /// and the destination untouched, but for a failed folder sync, after which the new
    /// file is in place but its rename may not be durable yet).
    pub(crate) fn replace_with(&self, tmp: tempfile::NamedTempFile) -> Result<()> {
        tmp.as_file().sync_all().map_err(|source| Error::Save {
            step: "sync",
            path: tmp.path().to_path_buf(),
            source,
        })?;
        let replaced = Replaced::open(&self.path);
        let tmp_path = tmp.path().to_path_buf();
        tmp.persist(&self.path).map_err(|e| Error::Save { step: "rename", path: tmp_path, source: e.error })?;
        sync_dir(&self.dir).map_err(|source| Error::Save {
            step: "sync the folder",
            path: self.dir.clone(),
            source,
        })?;
        replaced.release();
        Ok(())
    }

    /// Whether `file_name` is the name of a temporary of a save to this destination.
    fn is_temporary(&self, file_name: &str) -> bool {
        let random = file_name
            .strip_prefix('.')
            .and_then(|n| n.strip_prefix(self.name.as_str()))
            .and_then(|n| n.strip_prefix('.'))
            .and_then(|n| n.strip_suffix(TEMP_SUFFIX));
        random.is_some_and(|r| r.len() == TEMP_RANDOM && r.bytes().all(|b| b.is_ascii_alphanumeric()))
    }

    /// Removes the temporaries of saves to this destination that died (killed, crashed,
    /// power lost). Only called with the destination locked, so no live save owns one.
    /// Best effort: errors are ignored.
    fn remove_stale_temporaries(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            if self.is_temporary(&entry.file_name().to_string_lossy()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The smallest replaced file whose release is handed to another thread: starting a
/// thread costs far less than freeing this many cached bytes.
const RELEASE_APART_MIN: u64 = 1 << 20;

/// The version a save replaces, held open across the rename so that the rename does not
/// free it.
///
/// Renaming over a file drops its last link: the kernel then frees its cached pages and
/// its blocks inside the `rename` call, a cost that grows with the file's size. Held
/// open, the old version outlives the rename as an unlinked file, and the thread that
/// closes it last pays that cost. A save closes it on a thread of its own once the new
/// version is durable; should the process end first, the kernel closes it at exit.
/// Nothing is left on disk either way.
struct Replaced(Option<std::fs::File>);

impl Replaced {
    /// The file at `path`, when it is a regular file of at least
    /// [`RELEASE_APART_MIN`] bytes that this process may open (otherwise nothing: the
    /// rename frees it).
    fn open(path: &Path) -> Self {
        let worth =
            cfg!(unix) && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() >= RELEASE_APART_MIN);
        Self(worth.then(|| std::fs::File::open(path).ok()).flatten())
    }

    /// Closes the replaced version on a thread of its own (on this one when no thread
    /// can be started: the closure, and the file with it, is then dropped here).
    fn release(self) {
        if let Some(file) = self.0 {
            let _ = std::thread::Builder::new().name(String::from("strata-release")).spawn(move || drop(file));
        }
    }
}

/// The process id recorded in a lock file, if it holds one.
fn holder(lock: &mut std::fs::File) -> Option<u32> {
    let mut text = String::new();
    lock.rewind().ok()?;
    lock.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Destination;

    #[test]
    fn temporaries_of_other_destinations_are_not_ours() -> crate::Result<()> {
        let dir = tempfile::tempdir()?;
        let d = Destination::lock(&dir.path().join("a"), None)?;
        assert!(d.is_temporary(".a.x7Yz09.strata-tmp"));
        for other in
            [".a.b.x7Yz09.strata-tmp", ".a.x7Yz0.strata-tmp", ".a.x7-z09.strata-tmp", ".ab.x7Yz09.strata-tmp", "a"]
        {
            assert!(!d.is_temporary(other), "{other}");
        }
        Ok(())
    }
}
