//! Strata saves large native Rust object graphs to one file and opens them lazily:
//! any field of a cold file is reachable while touching only the bytes that hold it.
//!
//! `#[derive(Persist)]` on ordinary structs and enums makes them storable. Small fields
//! stay inline in their parent and are read in place, without deserializing; fields
//! marked `#[strata(lazy)]` go to chunks of their own and are read only when asked,
//! through a [`Promise`]. Every chunk is aligned, checksummed (xxh3) and optionally
//! zstd-compressed; a save is atomic.
//!
//! ```
//! use strata::{Archive, Persist, Promise};
//!
//! #[derive(Persist, Debug, PartialEq)]
//! struct Settings {
//!     difficulty: u8,
//! }
//!
//! #[derive(Persist, Debug, PartialEq)]
//! struct Region {
//!     name: String,
//!     #[strata(lazy)]
//!     tiles: Vec<u16>,
//! }
//!
//! #[derive(Persist, Debug, PartialEq)]
//! struct World {
//!     id: u64,
//!     name: String,
//!     settings: Settings,                        // nested Persist type: mirrored inline
//!     #[strata(lazy)]
//!     history: Vec<String>,                      // its own chunk, loaded on demand
//!     #[strata(lazy, compress = "zstd")]
//!     blob: Vec<u8>,
//!     #[strata(lazy)]
//!     region: Region,                            // a deferred Persist type
//! }
//!
//! # fn main() -> Result<(), strata::Error> {
//! let world = World {
//!     id: 1,
//!     name: "Aurora".into(),
//!     settings: Settings { difficulty: 3 },
//!     history: vec!["founded".into(), "flooded".into()],
//!     blob: vec![7; 100_000],
//!     region: Region { name: "north".into(), tiles: vec![1, 2, 3] },
//! };
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("w.strata");
//! # std::env::set_current_dir(dir.path())?;
//! strata::save("w.strata", &world)?;                // atomic: temp file, fsync, rename
//! let bytes = strata::to_bytes(&world)?;            // the same format in memory
//! strata::SaveOptions::new().compression(strata::Codec::Zstd(3)).save("w.strata", &world)?;
//!
//! let archive = Archive::open("w.strata")?;         // one read of the tail: nothing else
//! let w = archive.root::<World>()?;                 // zero-copy view, borrowed from `archive`
//! let _ = (w.id, w.name.as_str(), w.settings.difficulty); // read in place, no further I/O
//! let h: Vec<String> = w.history.load()?;           // one chunk: checksum, validate, deserialize
//! let r = w.region.view()?;                         // one chunk; r's own lazy fields stay lazy
//! let _: &Promise<Vec<u16>> = &r.tiles;
//! let all: World = archive.load::<World>()?;        // everything, owned
//! let mem = Archive::from_bytes(bytes)?;            // the same API over an owned buffer
//! assert_eq!(h, world.history);
//! assert_eq!(r.name, "north");
//! assert_eq!(all, world);
//! assert_eq!(mem.load::<World>()?, world);
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//! - Reading never panics, never overflows the stack and never allocates beyond what
//!   the file's checked lengths and [`OpenOptions`] allow: a damaged or hostile file
//!   yields an [`Error`] that says what and where. Inline nesting (recursive fields) is
//!   limited to [`OpenOptions::max_depth`] levels ([`DEFAULT_MAX_DEPTH`] by default),
//!   with the stack grown as needed within it; lazy chunks nest at most
//!   [`MAX_LAZY_NESTING`] deep.
//! - A file that another program truncates or rewrites while it is open gives errors,
//!   never a signal (files are read with `pread`; memory mapping is opt-in,
//!   [`Access::Map`]), and an open archive keeps at most [`OpenOptions::cache_limit`]
//!   bytes of chunks that no view holds.
//! - A chunk is verified (checksum) and validated (its archived structure) before its
//!   first use, once per open archive, and only when it is used.
//! - Files are portable between 64-bit and 32-bit, little- and big-endian platforms:
//!   the layout is fixed (little-endian, 32-bit relative pointers, aligned), whatever
//!   the host. `usize`/`isize` fields are stored as 64 bits.
//! - Saves are deterministic: equal values and options give byte-identical files.
//!
//! The byte-level format is described in `docs/FORMAT.md` and in [`raw::format`].

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![deny(missing_docs)]

extern crate self as strata;

mod append;
mod archive;
mod codec;
mod compact;
mod debug;
mod deep;
mod destination;
mod directory;
mod error;
mod evolve;
mod ext_types;
mod field;
pub mod hash;
pub mod inspect;
mod kept;
mod kept_buckets;
pub(crate) mod kept_map;
mod lazy;
mod load;
pub mod map;
mod options;
mod persist;
mod promise;
pub mod raw;
mod rc_loads;
mod save;
pub mod schema;
pub mod sharded;
mod shared;
pub mod space;
mod standalone;
mod std_types;
mod store;
mod stream;
#[cfg(feature = "test-hooks")]
pub mod testing;
mod threads;
pub mod value;
pub mod verify;
mod with;
mod with_std;
mod with_stored;
mod write;
mod writer;
mod written;

use raw::format;

pub use archive::{Archive, from_bytes, load};
pub use codec::Codec;
pub use compact::{CompactStats, compact};
pub use deep::DEFAULT_MAX_DEPTH;
pub use error::{Error, Location, Result};
pub use evolve::check_readable;
pub use hash::{StableHash, StableHasher};
pub use inspect::Inspection;
pub use lazy::Lazy;
pub use load::MAX_LAZY_NESTING;
pub use map::{BucketMap, Entry};
pub use options::{Access, DEFAULT_CACHE_LIMIT, OpenOptions};
pub use persist::{Loader, Persist, Validator};
pub use promise::Promise;
pub use save::{DEFAULT_COMPACT_ABOVE, SaveOptions, save, to_bytes};
pub use sharded::{Elem, ShardedVec};
pub use space::{Space, Stats};
pub use store::{CacheStats, View, sink, source};
/// Derives [`Persist`]; see the crate documentation for the attributes.
pub use strata_derive::Persist;
/// Derives [`StableHash`] for a map key type (derive [`Persist`] too).
pub use strata_derive::StableHash;
pub use stream::{Mapped, Sharded};
pub use value::Value;
pub use with_std::{PathView, SystemTimeView};
#[doc(hidden)]
pub use write::{SaveSerializer, serializer::ChunkBuf};
pub use write::{SaveStats, Saver};
pub use writer::Writer;

/// The archived form of `T`: what views are made of.
pub use rkyv::Archived;

/// Deserializes an archived value (a root, an element of a [`ShardedVec`], the value
/// of an [`Entry`], any part of a view) into an owned `T`, loading the lazy fields it
/// holds (in parallel, as [`Archive::load`] does).
///
/// ```
/// # #[derive(strata::Persist, Debug, PartialEq, Clone)] struct Point { x: i32, label: String }
/// # #[derive(strata::Persist)] struct Plot { #[strata(shard)] points: Vec<Point> }
/// let plot = Plot { points: vec![Point { x: 1, label: "a".into() }, Point { x: 2, label: "b".into() }] };
/// let archive = strata::Archive::from_bytes(strata::to_bytes(&plot)?)?;
/// let second = archive.root::<Plot>()?.points.get(1)?.unwrap();
/// assert_eq!(strata::deserialize::<Point>(&second)?, plot.points[1]);
/// # Ok::<(), strata::Error>(())
/// ```
///
/// # Errors
/// When a lazy field inside cannot be loaded ([`Error::Detached`] if the value does not
/// lie in an open archive's memory).
pub fn deserialize<T: Persist>(archived: &Archived<T>) -> Result<T> {
    load::deserialize_here::<T>(archived)
}

/// Items the derive's generated code names. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::debug::{Field as DebugField, Shown, ViaDebug, ViaOpaque};
    pub use crate::deep::{Deep, Nested, grow};
    pub use crate::kept_buckets::KeptBuckets;
    pub use crate::load::Prefetch;
    pub use crate::map::prefetch as prefetch_map;
    pub use crate::persist::{is_flat, is_leaf};
    pub use crate::promise::prefetch;
    pub use crate::schema::{SchemaBuilder, variant_offsets};
    pub use crate::sharded::{DEFAULT_SHARD_BYTES, prefetch as prefetch_sharded};
    pub use crate::shared::{AsSharedBuckets, AsSharedShards, Shared, SharedArc, SharedPointer, SharedValues};
    pub use crate::with::{AsI64, AsLazy, AsShards, AsU64, Bucketed, FieldName, Lazy, Unnamed, codec_of};
    pub use crate::with_std::{AsEpochTime, AsOsBytes, describe_epoch_time};
    pub use crate::with_stored::{AsInner, AsVec, StoredAs, Via, via_out_of_line};
    pub use crate::write::ChunkWriter;
    pub use crate::write::deterministic::Deterministic;
    pub use crate::write::leaves::{Pending, pending};
    pub use rkyv;
    pub use rkyv::bytecheck;
}
