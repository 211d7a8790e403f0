//! The one error type of strata.

use std::fmt;

/// Where in a file something went wrong: enough to find the bytes with a hex editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// Absolute byte offset of the chunk (or structure) in the file.
    pub offset: u64,
    /// Stored length of that chunk, when known.
    pub len: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chunk at offset {} (stored length {})", self.offset, self.len)
    }
}

/// Everything that can go wrong while saving or reading a strata file.
///
/// Every variant that concerns file bytes says where: the offset of the chunk or
/// structure involved. Reading never panics: a hostile or damaged file yields one of
/// these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system reported an I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// The bytes do not start or end like a strata file.
    #[error("not a strata file: {what}")]
    NotStrata {
        /// What was expected and not found.
        what: &'static str,
    },

    /// The file was written by a format version this build cannot read.
    #[error("unsupported format version {found} (this build reads versions 1 to {supported})")]
    UnsupportedVersion {
        /// Version found in the file.
        found: u32,
        /// The newest version this build reads (it reads every version from 1).
        supported: u32,
    },

    /// The file was written with a different in-memory layout (byte order, pointer
    /// width, alignment or archive library version).
    #[error("incompatible layout: file has layout fingerprint {found:#018x}, this build uses {expected:#018x}")]
    IncompatibleLayout {
        /// Layout fingerprint stored in the file.
        found: u64,
        /// Layout fingerprint of this build.
        expected: u64,
    },

    /// The file is shorter than a structure it declares.
    #[error("truncated file: {what} needs bytes up to offset {needed}, file has {available}")]
    Truncated {
        /// What could not be read.
        what: &'static str,
        /// The end offset that was needed.
        needed: u64,
        /// The length of the file.
        available: u64,
    },

    /// A chunk's bytes do not match the checksum its reference records. For a lazy
    /// value's reference (typed from format version 5 on), also a reference to a chunk
    /// written as a value of another type.
    #[error("checksum mismatch in {at}: expected {expected:#018x}, found {found:#018x}")]
    ChecksumMismatch {
        /// The damaged chunk.
        at: Location,
        /// Checksum recorded in the reference.
        expected: u64,
        /// Checksum of the bytes actually found.
        found: u64,
    },

    /// The footer is damaged: its own checksum does not match.
    #[error("footer checksum mismatch at offset {offset}: the file's last bytes are damaged")]
    FooterChecksum {
        /// Offset of the footer.
        offset: u64,
    },

    /// A chunk passed its checksum but its contents are not a valid value of the
    /// expected type.
    #[error("invalid data in {at} (type {ty}): {detail}")]
    InvalidData {
        /// The chunk that failed validation.
        at: Location,
        /// The archived type it was validated as.
        ty: &'static str,
        /// What the validator reported.
        detail: String,
    },

    /// The file holds a different type than the one asked for.
    #[error(
        "type mismatch: file holds `{found}` (fingerprint {found_fingerprint:#018x}), asked for `{expected}` (fingerprint {expected_fingerprint:#018x})"
    )]
    TypeMismatch {
        /// Name of the requested type.
        expected: String,
        /// Fingerprint of the requested type.
        expected_fingerprint: u64,
        /// Name of the root type recorded in the file, when it can be read.
        found: String,
        /// Fingerprint recorded in the file.
        found_fingerprint: u64,
    },

    /// A compressed chunk could not be decompressed, or decompressed to a different
    /// length than its reference declares.
    #[error("decompression failed in {at}: {detail}")]
    Decompression {
        /// The chunk.
        at: Location,
        /// What went wrong.
        detail: String,
    },

    /// A chunk reference names a codec this build does not know.
    #[error("unknown codec {codec} in {at}")]
    UnknownCodec {
        /// The chunk.
        at: Location,
        /// The codec byte.
        codec: u8,
    },

    /// A declared length or offset points outside the file, or beyond a configured
    /// limit. Nothing was allocated for it.
    #[error("{what} out of bounds: declared {declared}, limit {limit} (in {at})")]
    OutOfBounds {
        /// What was declared.
        what: &'static str,
        /// The declared value.
        declared: u64,
        /// The limit it exceeds.
        limit: u64,
        /// Where the declaration was found.
        at: Location,
    },

    /// A value nests deeper than the limit allows: inline nesting (a recursive field
    /// such as `next: Option<Box<Node>>`) past [`crate::OpenOptions::max_depth`] or
    /// [`crate::SaveOptions::max_depth`], or lazy chunks inside lazy chunks past
    /// [`crate::MAX_LAZY_NESTING`]. Nothing is read or written past the limit, so a
    /// hostile file cannot exhaust the stack.
    #[error("value nested too deep: {what} at depth {depth}, past the limit of {limit}{}", .at.map(|at| format!(" (in {at})")).unwrap_or_default())]
    TooDeep {
        /// The recursive field (`Node.next`), or what nests (`lazy chunks`).
        what: &'static str,
        /// The depth reached.
        depth: u64,
        /// The limit.
        limit: u64,
        /// The chunk being read; `None` while saving.
        at: Option<Location>,
    },

    /// The file changed after the archive opened it (another program truncated,
    /// extended or rewrote it in place): a chunk could not be read as it was.
    #[error("the file changed while open, reading {at}: {detail}")]
    Changed {
        /// The chunk that could not be read as it was.
        at: Location,
        /// What changed.
        detail: String,
    },

    /// The header or footer sets flags this build does not know.
    #[error("unknown flags {flags:#x} in the {what} (a newer writer's feature this build does not read)")]
    UnknownFlags {
        /// `header` or `footer`.
        what: &'static str,
        /// The flags found.
        flags: u32,
    },

    /// Another save held the destination's lock for longer than
    /// [`crate::SaveOptions::lock_timeout`].
    #[error(
        "{} is being saved by another writer{}: gave up after {waited:?}",
        .path.display(),
        .holder.map(|pid| format!(" (process {pid})")).unwrap_or_default()
    )]
    Locked {
        /// The destination.
        path: std::path::PathBuf,
        /// The process holding the lock, when its lock file says.
        holder: Option<u32>,
        /// How long this save waited.
        waited: std::time::Duration,
    },

    /// A step of a save failed on a file: opening or locking the lock file, creating,
    /// writing or syncing the temporary file, renaming it over the destination, or
    /// syncing the folder.
    #[error("saving failed to {step} {}: {source}", .path.display())]
    Save {
        /// The step (`create the temporary file in`, `write`, `sync`, `rename`, ...).
        step: &'static str,
        /// The file or folder it failed on.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// Compressing a chunk failed while saving.
    #[error("compression failed: {0}")]
    Compression(String),

    /// A schema text could not be parsed, or does not describe the layouts it names.
    #[error("schema: {0}")]
    Schema(String),

    /// The file's schema cannot be read as the requested type (schema evolution, see
    /// `docs/EVOLUTION.md`): found when the archive compares the two schemas, before any
    /// value is read.
    #[error("incompatible schema at `{path}`: the file has `{file}`, the reading type has `{reader}`: {why}")]
    Incompatible {
        /// The field path from the root type (`Shop.items[].price`).
        path: String,
        /// The file's type there.
        file: String,
        /// The reading type's type there.
        reader: String,
        /// Why the file's type cannot be read as the reader's.
        why: String,
    },

    /// The file holds an enum variant that the reading type does not have (and no
    /// `#[strata(other)]` variant stands in for): reported when a chunk holding such a
    /// value is read.
    #[error("`{path}` in {at}: the file holds variant `{variant}` of `{ty}`, which the reading type does not have")]
    UnknownVariant {
        /// The field path from the root type.
        path: String,
        /// The enum type.
        ty: String,
        /// The variant the file holds.
        variant: String,
        /// The chunk holding the value.
        at: Location,
    },

    /// A path into a value (`a.b[3]["key"]`) is malformed or does not lead to a value.
    #[error("path `{path}`: {detail}")]
    Path {
        /// The path.
        path: String,
        /// What is wrong with it.
        detail: String,
    },

    /// A view of a value was used outside of any open archive (for example, archived
    /// bytes accessed directly rather than through [`crate::Archive`]).
    #[error("this value does not belong to an open strata archive")]
    Detached,

    /// Serialization of a value failed while saving.
    #[error("serialization failed: {0}")]
    Serialize(String),

    /// An error reported by the archive library without more context (for example
    /// while deserializing); the message is kept.
    #[error("{0}")]
    Message(String),
}

/// `Result` with [`Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

// strata's error is also the error type of every rkyv operation it drives, so that an
// error raised deep inside (a nested promise load during `Archive::load`) comes back
// out unchanged instead of being flattened into a string.
impl rancor::Trace for Error {
    fn trace<R>(self, _trace: R) -> Self
    where
        R: fmt::Debug + fmt::Display + Send + Sync + 'static,
    {
        self
    }
}

impl rancor::Source for Error {
    fn new<T: std::error::Error + Send + Sync + 'static>(source: T) -> Self {
        let mut source = Some(source);
        if let Some(slot) = (&mut source as &mut dyn std::any::Any).downcast_mut::<Option<Error>>()
            && let Some(err) = slot.take()
        {
            return err;
        }
        match source {
            Some(source) => Error::Message(source.to_string()),
            None => Error::Message(String::from("unknown error")),
        }
    }
}
