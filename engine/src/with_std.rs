//! The `with`-wrappers the derive puts on standard types that rkyv does not archive:
//! `SystemTime` (as seconds and nanoseconds from the Unix epoch, before it too) and
//! `PathBuf`/`OsString` (as their bytes). Like `usize`, they are recognised by name as a
//! field's type, or inside an `Option` or a `Vec`. Not part of the public API.

use crate::error::Error;
use crate::schema::SchemaBuilder;
use rancor::{Fallible, Source};
use rkyv::Place;
use rkyv::ser::{Allocator, Writer};
use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::with::{ArchiveWith, DeserializeWith, SerializeWith};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Stores a `SystemTime` as whole seconds from the Unix epoch (negative before it) and
/// the nanoseconds past them, in rkyv's layout of `(i64, u32)`.
#[derive(Debug)]
pub struct AsEpochTime;

/// The archived form of an [`AsEpochTime`] field.
pub type ArchivedEpochTime = rkyv::Archived<(i64, u32)>;

/// `time` as (seconds, nanoseconds) from the epoch, the seconds rounded down; `None`
/// beyond what 64-bit seconds hold.
fn to_epoch(time: SystemTime) -> Option<(i64, u32)> {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => Some((i64::try_from(after.as_secs()).ok()?, after.subsec_nanos())),
        Err(e) => {
            let before = e.duration();
            let secs = i64::try_from(before.as_secs()).ok()?;
            match before.subsec_nanos() {
                0 => Some((secs.checked_neg()?, 0)),
                n => Some((secs.checked_neg()?.checked_sub(1)?, 1_000_000_000 - n)),
            }
        }
    }
}

/// The time (seconds, nanoseconds) from the epoch names; `None` when the nanoseconds
/// are a second or more, or the time is beyond what this platform's `SystemTime` holds.
fn from_epoch(secs: i64, nanos: u32) -> Option<SystemTime> {
    if nanos >= 1_000_000_000 {
        return None;
    }
    let whole = Duration::from_secs(secs.unsigned_abs());
    let time = if secs >= 0 { UNIX_EPOCH.checked_add(whole)? } else { UNIX_EPOCH.checked_sub(whole)? };
    time.checked_add(Duration::from_nanos(u64::from(nanos)))
}

impl ArchiveWith<SystemTime> for AsEpochTime {
    type Archived = ArchivedEpochTime;
    type Resolver = <(i64, u32) as rkyv::Archive>::Resolver;

    fn resolve_with(field: &SystemTime, resolver: Self::Resolver, out: Place<Self::Archived>) {
        // `serialize_with` refused the times `to_epoch` cannot express.
        rkyv::Archive::resolve(&to_epoch(*field).unwrap_or((0, 0)), resolver, out);
    }
}

impl<S: Fallible + ?Sized> SerializeWith<SystemTime, S> for AsEpochTime
where
    S::Error: Source,
{
    fn serialize_with(field: &SystemTime, _: &mut S) -> Result<Self::Resolver, S::Error> {
        match to_epoch(*field) {
            Some(_) => Ok(((), ())),
            None => Err(S::Error::new(Error::Message(String::from(
                "a SystemTime more than 2^63 seconds from the Unix epoch cannot be stored",
            )))),
        }
    }
}

impl<D> DeserializeWith<ArchivedEpochTime, SystemTime, D> for AsEpochTime
where
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &ArchivedEpochTime, _: &mut D) -> Result<SystemTime, D::Error> {
        let (secs, nanos) = (field.0.to_native(), field.1.to_native());
        from_epoch(secs, nanos).ok_or_else(|| {
            D::Error::new(Error::Message(format!(
                "stored time {secs} s {nanos} ns from the Unix epoch is not a time this platform holds"
            )))
        })
    }
}

/// The schema expression of an [`AsEpochTime`] field: a struct of rkyv's `(i64, u32)`
/// layout.
pub fn describe_epoch_time(s: &mut SchemaBuilder) -> String {
    const _: () = assert!(size_of::<ArchivedEpochTime>() == 16 && align_of::<ArchivedEpochTime>() == 8);
    s.named(String::from("std_SystemTime"), |_, _| {
        String::from("struct size 16 align 8 { secs_since_epoch @0: i64, nanos @8: u32 }")
    })
}

/// Stores a `PathBuf` or an `OsString` as its bytes, in a `Vec<u8>`'s layout: on Unix
/// any path; elsewhere a path that is not Unicode is an error when saved, and bytes that
/// are not UTF-8 are an error when loaded.
#[derive(Debug)]
pub struct AsOsBytes;

/// A path or OS string as bytes.
pub trait OsBytes: Sized {
    /// Its bytes, or `None` when the platform cannot give them.
    fn os_bytes(&self) -> Option<&[u8]>;
    /// The value of `bytes`, or `None` when they are not one on this platform.
    fn from_os_bytes(bytes: Vec<u8>) -> Option<Self>;
}

/// The bytes of `s`: any on Unix; elsewhere only a Unicode string's.
fn bytes_of(s: &std::ffi::OsStr) -> Option<&[u8]> {
    #[cfg(unix)]
    {
        Some(std::os::unix::ffi::OsStrExt::as_bytes(s))
    }
    #[cfg(not(unix))]
    {
        s.to_str().map(str::as_bytes)
    }
}

impl OsBytes for OsString {
    fn os_bytes(&self) -> Option<&[u8]> {
        bytes_of(self)
    }
    fn from_os_bytes(bytes: Vec<u8>) -> Option<Self> {
        #[cfg(unix)]
        {
            Some(std::os::unix::ffi::OsStringExt::from_vec(bytes))
        }
        #[cfg(not(unix))]
        {
            String::from_utf8(bytes).ok().map(OsString::from)
        }
    }
}

impl OsBytes for PathBuf {
    fn os_bytes(&self) -> Option<&[u8]> {
        bytes_of(self.as_os_str())
    }
    fn from_os_bytes(bytes: Vec<u8>) -> Option<Self> {
        OsString::from_os_bytes(bytes).map(PathBuf::from)
    }
}

impl<T: OsBytes> ArchiveWith<T> for AsOsBytes {
    type Archived = ArchivedVec<u8>;
    type Resolver = VecResolver;

    fn resolve_with(field: &T, resolver: VecResolver, out: Place<Self::Archived>) {
        ArchivedVec::resolve_from_len(field.os_bytes().map_or(0, <[u8]>::len), resolver, out);
    }
}

impl<T: OsBytes, S> SerializeWith<T, S> for AsOsBytes
where
    S: Fallible + Allocator + Writer + ?Sized,
    S::Error: Source,
{
    fn serialize_with(field: &T, serializer: &mut S) -> Result<VecResolver, S::Error> {
        let bytes = field.os_bytes().ok_or_else(|| {
            S::Error::new(Error::Message(String::from(
                "a path that is not valid Unicode cannot be stored on this platform",
            )))
        })?;
        ArchivedVec::serialize_from_slice(bytes, serializer)
    }
}

impl<T: OsBytes, D> DeserializeWith<ArchivedVec<u8>, T, D> for AsOsBytes
where
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &ArchivedVec<u8>, _: &mut D) -> Result<T, D::Error> {
        T::from_os_bytes(field.as_slice().to_vec()).ok_or_else(|| {
            D::Error::new(Error::Message(String::from("a stored path is not valid Unicode, as this platform needs")))
        })
    }
}

/// The view of a `SystemTime` field (seconds and nanoseconds from the Unix epoch) as
/// the time it stores.
///
/// ```
/// use strata::SystemTimeView;
/// # #[derive(strata::Persist)] struct Stamp { at: std::time::SystemTime }
/// let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
/// let archive = strata::Archive::from_bytes(strata::to_bytes(&Stamp { at })?)?;
/// assert_eq!(archive.root::<Stamp>()?.at.system_time()?, at);
/// # Ok::<(), strata::Error>(())
/// ```
pub trait SystemTimeView {
    /// The stored time.
    ///
    /// # Errors
    /// [`Error::Message`] when the stored time is not one this platform's `SystemTime`
    /// holds (or its nanoseconds are a second or more).
    fn system_time(&self) -> crate::Result<SystemTime>;
}

impl SystemTimeView for ArchivedEpochTime {
    fn system_time(&self) -> crate::Result<SystemTime> {
        let (secs, nanos) = (self.0.to_native(), self.1.to_native());
        from_epoch(secs, nanos).ok_or_else(|| {
            Error::Message(format!(
                "stored time {secs} s {nanos} ns from the Unix epoch is not a time this platform holds"
            ))
        })
    }
}

/// The view of a `PathBuf` or `OsString` field (its bytes) as a path, in place.
///
/// ```
/// use strata::PathView;
/// # #[derive(strata::Persist)] struct Doc { path: std::path::PathBuf }
/// let archive = strata::Archive::from_bytes(strata::to_bytes(&Doc { path: "/srv/data.bin".into() })?)?;
/// assert_eq!(archive.root::<Doc>()?.path.as_path()?, std::path::Path::new("/srv/data.bin"));
/// # Ok::<(), strata::Error>(())
/// ```
pub trait PathView {
    /// The stored path: any bytes on Unix; elsewhere UTF-8 only.
    ///
    /// # Errors
    /// [`Error::Message`] off Unix when the bytes are not UTF-8.
    fn as_path(&self) -> crate::Result<&std::path::Path>;
}

impl PathView for ArchivedVec<u8> {
    fn as_path(&self) -> crate::Result<&std::path::Path> {
        #[cfg(unix)]
        {
            Ok(std::path::Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(self.as_slice())))
        }
        #[cfg(not(unix))]
        {
            std::str::from_utf8(self.as_slice())
                .map(std::path::Path::new)
                .map_err(|_| Error::Message(String::from("a stored path is not valid Unicode, as this platform needs")))
        }
    }
}
