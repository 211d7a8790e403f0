//! Every format behind one interface, each doing the same logical work through its own
//! public API. Every read returns the value it found, which the harness checks against
//! [`crate::dataset::Probe`] before it reports a time.

use crate::dataset::{self, Data, Kind, World};
use std::path::Path;

mod capnp;
pub use capnp::Capnp;

/// Every operation's answer and time, from one decode ([`Format::run_every`]).
pub type Every = Vec<(Op, u64, std::time::Duration)>;

/// A boxed error: peers have their own error types.
pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The operations the harness times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// Open the file and read `meta.version`: what a format needs before a first field.
    Metadata,
    /// Open and read `meta.stats.max_level`.
    DeepField,
    /// Open and look up one user by name in the map; its `level`.
    MapLookup,
    /// Open and read one user of the vector by index; its `level`.
    VectorElement,
    /// Open and load everything into owned values; the dataset's checksum.
    FullLoad,
}

impl Op {
    pub const ALL: [Op; 5] = [Op::Metadata, Op::DeepField, Op::MapLookup, Op::VectorElement, Op::FullLoad];

    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Op::Metadata => "open + metadata",
            Op::DeepField => "open + deep field",
            Op::MapLookup => "open + map lookup",
            Op::VectorElement => "open + vector element",
            Op::FullLoad => "open + full load",
        }
    }
}

/// A format under test.
pub trait Format: Sync {
    /// Its name in the tables.
    fn name(&self) -> &'static str;
    /// Moves the dataset into this format's own types (not timed). Formats that
    /// serialize the dataset's plain types leave it and return `()`: at scale 100 a copy
    /// of the dataset would be 6 GB.
    ///
    /// # Errors
    /// The format's errors.
    fn prepare(&self, d: &mut Data) -> Res<Prepared> {
        let _ = d;
        Ok(Box::new(()))
    }
    /// Gives back to `d` what [`Format::prepare`] took.
    ///
    /// # Errors
    /// A value made by another format.
    fn restore(&self, value: Prepared, d: &mut Data) -> Res<()> {
        let _ = (value, d);
        Ok(())
    }
    /// Serializes the dataset (`d`, or `value` made by [`Format::prepare`]) and writes
    /// it to `path`, flushed to disk (fsync).
    ///
    /// # Errors
    /// The format's errors, and a dataset the format has no model of.
    fn write(&self, d: &Data, value: &Prepared, path: &Path) -> Res<()>;
    /// Opens `path`, a file of the dataset `probe.kind`, and performs `op`, returning
    /// the value read.
    ///
    /// # Errors
    /// The format's errors; `Ok(None)` when the format cannot perform `op`.
    fn run(&self, op: Op, path: &Path, probe: &dataset::Probe) -> Res<Option<u64>>;
    /// Whether every access, even to one field, decodes the whole file (sequential
    /// formats): [`Format::run_every`] then measures all operations with one decode.
    fn decodes_whole_file(&self) -> bool {
        false
    }
    /// For a format whose every access decodes the whole file: opens and decodes
    /// `path` once, then performs every operation on the decoded value, returning each
    /// one's answer and time (the decode's time plus its own). `Ok(None)` for other
    /// formats. What [`Format::run`] does for each operation, with the decode shared.
    ///
    /// # Errors
    /// The format's errors.
    fn run_every(&self, path: &Path, probe: &dataset::Probe) -> Res<Option<Every>> {
        let _ = (path, probe);
        Ok(None)
    }
}

/// What operations opened or built, set aside until their time is taken: the clock
/// stops when the answer is in hand, so closing a file and freeing a loaded dataset
/// (seconds, for millions of records) are timed for no format.
static KEPT: std::sync::Mutex<Vec<Box<dyn std::any::Any + Send>>> = std::sync::Mutex::new(Vec::new());

/// Sets `value` aside until [`release`]: its drop is not timed.
pub fn keep<T: Send + 'static>(value: T) {
    KEPT.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Box::new(value));
}

/// Drops everything [`keep`] set aside.
pub fn release() {
    let kept = std::mem::take(&mut *KEPT.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    drop(kept);
}

/// A dataset converted into one format's types.
pub type Prepared = Box<dyn std::any::Any + Send + Sync>;

/// The error of a prepared value that is not this format's model of the dataset.
const ANOTHER: &str = "prepared value of another format or dataset";

fn prepared<T: 'static>(value: &Prepared) -> Res<&T> {
    value.downcast_ref::<T>().ok_or_else(|| ANOTHER.into())
}

/// The error of a format that has no model of the records dataset.
fn users_only(name: &str) -> Box<dyn std::error::Error + Send + Sync> {
    format!("{name} has a model of the users dataset only").into()
}

fn fsync(path: &Path) -> Res<()> {
    std::fs::File::open(path)?.sync_all()?;
    Ok(())
}

fn map(path: &Path) -> Res<memmap2::Mmap> {
    let f = std::fs::File::open(path)?;
    // SAFETY: benchmark files are written by this harness and not modified while mapped.
    Ok(unsafe { memmap2::Mmap::map(&f)? })
}

/// The dataset's metadata as a model module's own `Meta` (each model has `Meta` and
/// `Stats` types of the same shape; the metadata is small, so it is copied).
macro_rules! meta_of {
    ($w:expr) => {
        Meta {
            version: $w.meta.version,
            created_by: $w.meta.created_by.clone(),
            stats: Stats {
                users: $w.meta.stats.users,
                max_level: $w.meta.stats.max_level,
                mean_score: $w.meta.stats.mean_score,
            },
            tags: $w.meta.tags.clone(),
        }
    };
}

/// Moves the dataset into a model module's own `World` (with `Stats` and `Meta` of the
/// same shape; the records are the dataset's own, `$row`) and back: the collections
/// change hands whole, nothing is copied or rebuilt.
macro_rules! moves {
    ($row:ident) => {
        /// Moves the dataset's collections into this model, leaving them empty in `w`.
        pub fn take(w: &mut dataset::World<$row>) -> World {
            World {
                name: w.name.clone(),
                meta: meta_of!(w),
                users: std::mem::take(&mut w.users),
                by_name: std::mem::take(&mut w.by_name),
                asset: std::mem::take(&mut w.asset),
            }
        }

        /// Moves the collections back into `w`.
        pub fn give_back(m: World, w: &mut dataset::World<$row>) {
            w.users = m.users;
            w.by_name = m.by_name;
            w.asset = m.asset;
        }
    };
}

// ---------------------------------------------------------------------------- strata

/// A strata model of a dataset of `$row`s: `World` with a sharded `users`, a bucketed
/// `by_name` and a lazy `asset`, and the reads of every operation.
macro_rules! strata_model {
    ($(#[$doc:meta])* $name:ident, $row:ident) => {
        $(#[$doc])*
        pub mod $name {
            use super::{Op, Res, keep};
            use crate::dataset::{self, $row};
            use std::collections::HashMap;
            use strata::Persist;

            #[derive(Persist)]
            pub struct Stats {
                pub users: u64,
                pub max_level: u32,
                pub mean_score: f64,
            }
            #[derive(Persist)]
            pub struct Meta {
                pub version: u32,
                pub created_by: String,
                pub stats: Stats,
                pub tags: Vec<String>,
            }
            #[derive(Persist)]
            pub struct World {
                pub name: String,
                pub meta: Meta,
                #[strata(shard)]
                pub users: Vec<$row>,
                #[strata(map)]
                pub by_name: HashMap<String, $row>,
                #[strata(lazy)]
                pub asset: Vec<u8>,
            }

            moves!($row);

            /// Performs `op` on an open file of this model.
            pub fn answer(archive: &strata::Archive, op: Op, probe: &dataset::Probe) -> Res<u64> {
                let w = archive.root::<World>()?;
                Ok(match op {
                    Op::Metadata => u64::from(w.meta.version.to_native()),
                    Op::DeepField => u64::from(w.meta.stats.max_level.to_native()),
                    Op::MapLookup => {
                        w.by_name.get(probe.key.as_str())?.map_or(u64::MAX, |u| u64::from(u.level.to_native()))
                    }
                    Op::VectorElement => {
                        w.users.get(usize::try_from(probe.index)?)?.map_or(u64::MAX, |u| u64::from(u.level.to_native()))
                    }
                    Op::FullLoad => {
                        let all: World = archive.load()?;
                        let sum = dataset::checksum_of(&all.users, &all.by_name, &all.asset);
                        keep(all);
                        sum
                    }
                })
            }
        }
    };
}

strata_model!(
    /// The strata model of the users dataset.
    strata_model,
    User
);
strata_model!(
    /// The strata model of the records dataset.
    strata_records,
    Record
);

/// strata, uncompressed or with zstd on every chunk but the root; the file read chunk
/// by chunk with `pread` (the default, [`strata::Access::Read`]) or mapped
/// ([`strata::Access::Map`], opt-in).
pub struct Strata {
    pub codec: strata::Codec,
    pub access: strata::Access,
}

impl Format for Strata {
    fn name(&self) -> &'static str {
        match (self.codec, self.access) {
            (strata::Codec::None, strata::Access::Map) => "strata (mmap)",
            (strata::Codec::None, _) => "strata",
            (strata::Codec::Zstd(3), _) => "strata (zstd)",
            (strata::Codec::Zstd(1), _) => "strata (zstd 1)",
            (strata::Codec::Zstd(-1), _) => "strata (zstd -1)",
            (strata::Codec::Zstd(-5), _) => "strata (zstd -5)",
            (strata::Codec::Zstd(_), _) => "strata (zstd, another level)",
        }
    }

    fn prepare(&self, d: &mut Data) -> Res<Prepared> {
        Ok(match d {
            Data::Users(w) => Box::new(strata_model::take(w)),
            Data::Records(w) => Box::new(strata_records::take(w)),
        })
    }

    fn restore(&self, value: Prepared, d: &mut Data) -> Res<()> {
        match d {
            Data::Users(w) => strata_model::give_back(*value.downcast().map_err(|_| ANOTHER)?, w),
            Data::Records(w) => strata_records::give_back(*value.downcast().map_err(|_| ANOTHER)?, w),
        }
        Ok(())
    }

    fn write(&self, d: &Data, value: &Prepared, path: &Path) -> Res<()> {
        // save() writes a temporary file, fsyncs it and renames it.
        let options = strata::SaveOptions::new().compression(self.codec);
        match d {
            Data::Users(_) => drop(options.save(path, prepared::<strata_model::World>(value)?)?),
            Data::Records(_) => drop(options.save(path, prepared::<strata_records::World>(value)?)?),
        }
        Ok(())
    }

    fn run(&self, op: Op, path: &Path, probe: &dataset::Probe) -> Res<Option<u64>> {
        let archive = strata::Archive::open_with(path, &strata::OpenOptions::new().access(self.access))?;
        let answer = match probe.kind {
            Kind::Users => strata_model::answer(&archive, op, probe)?,
            Kind::Records => strata_records::answer(&archive, op, probe)?,
        };
        keep(archive);
        Ok(Some(answer))
    }
}

// --------------------------------------------------------------------------- parcode

/// A parcode model of a dataset of `$row`s, and the reads of every operation.
macro_rules! parcode_model {
    ($name:ident, $row:ident) => {
        mod $name {
            use super::{Op, Res, keep};
            use crate::dataset::{self, $row};
            use parcode::ParcodeObject;
            use serde::{Deserialize, Serialize};
            use std::collections::HashMap;
            use std::path::Path;

            #[derive(Serialize, Deserialize, ParcodeObject, Clone, Debug)]
            pub struct Stats {
                pub users: u64,
                pub max_level: u32,
                pub mean_score: f64,
            }
            #[derive(Serialize, Deserialize, ParcodeObject, Clone, Debug)]
            pub struct Meta {
                pub version: u32,
                pub created_by: String,
                pub stats: Stats,
                pub tags: Vec<String>,
            }
            #[derive(Serialize, Deserialize, ParcodeObject, Clone, Debug)]
            pub struct World {
                pub name: String,
                pub meta: Meta,
                #[parcode(chunkable)]
                pub users: Vec<$row>,
                #[parcode(map)]
                pub by_name: HashMap<String, $row>,
                #[parcode(chunkable)]
                pub asset: Vec<u8>,
            }

            moves!($row);

            /// Opens `path`, a file of this model, and performs `op`.
            pub fn answer(path: &Path, op: Op, probe: &dataset::Probe) -> Res<u64> {
                if op == Op::FullLoad {
                    let all: World = parcode::Parcode::load(path)?;
                    let sum = dataset::checksum_of(&all.users, &all.by_name, &all.asset);
                    keep(all);
                    return Ok(sum);
                }
                let file = parcode::Parcode::open(path)?;
                let w = file.root::<World>()?;
                let answer = match op {
                    Op::Metadata => u64::from(w.meta.version),
                    Op::DeepField => u64::from(w.meta.stats.max_level),
                    Op::MapLookup => w.by_name.get(&probe.key)?.map_or(u64::MAX, |u| u64::from(u.level)),
                    Op::VectorElement => u64::from(w.users.get(usize::try_from(probe.index)?)?.level),
                    Op::FullLoad => 0,
                };
                drop(w);
                keep(file);
                Ok(answer)
            }
        }
    };
}

parcode_model!(parcode_model, User);
parcode_model!(parcode_records, Record);

/// parcode 0.6.1 (the seed's own implementation), through its public API.
pub struct Parcode;

impl Format for Parcode {
    fn name(&self) -> &'static str {
        "parcode 0.6.1"
    }

    fn prepare(&self, d: &mut Data) -> Res<Prepared> {
        Ok(match d {
            Data::Users(w) => Box::new(parcode_model::take(w)),
            Data::Records(w) => Box::new(parcode_records::take(w)),
        })
    }

    fn restore(&self, value: Prepared, d: &mut Data) -> Res<()> {
        match d {
            Data::Users(w) => parcode_model::give_back(*value.downcast().map_err(|_| ANOTHER)?, w),
            Data::Records(w) => parcode_records::give_back(*value.downcast().map_err(|_| ANOTHER)?, w),
        }
        Ok(())
    }

    fn write(&self, d: &Data, value: &Prepared, path: &Path) -> Res<()> {
        match d {
            Data::Users(_) => parcode::Parcode::save(path, prepared::<parcode_model::World>(value)?)?,
            Data::Records(_) => parcode::Parcode::save(path, prepared::<parcode_records::World>(value)?)?,
        }
        fsync(path)
    }

    fn run(&self, op: Op, path: &Path, probe: &dataset::Probe) -> Res<Option<u64>> {
        Ok(Some(match probe.kind {
            Kind::Users => parcode_model::answer(path, op, probe)?,
            Kind::Records => parcode_records::answer(path, op, probe)?,
        }))
    }
}

// ------------------------------------------------------------------------------ rkyv

/// rkyv's own types of the dataset's shape: strata's derive implements rkyv's traits
/// for [`dataset::User`], so rkyv's derive cannot also be on it. Unlike strata's and
/// parcode's worlds, this one moves every record into a type of its own (never at scale
/// 100, where rkyv cannot write the file: see [`rkyv_size_floor`]).
mod rkyv_model {
    use crate::dataset;
    use std::collections::HashMap;

    #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    pub struct Profile {
        pub country: String,
        pub joined: u64,
    }
    #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    pub struct User {
        pub id: u64,
        pub name: String,
        pub level: u32,
        pub score: f64,
        pub active: bool,
        pub friends: Vec<u64>,
        pub profile: Profile,
    }
    #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    pub struct Stats {
        pub users: u64,
        pub max_level: u32,
        pub mean_score: f64,
    }
    #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    pub struct Meta {
        pub version: u32,
        pub created_by: String,
        pub stats: Stats,
        pub tags: Vec<String>,
    }
    #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    pub struct World {
        pub name: String,
        pub meta: Meta,
        pub users: Vec<User>,
        pub by_name: HashMap<String, User>,
        pub asset: Vec<u8>,
    }

    fn user(u: dataset::User) -> User {
        let dataset::User { id, name, level, score, active, friends, profile } = u;
        let dataset::Profile { country, joined } = profile;
        User { id, name, level, score, active, friends, profile: Profile { country, joined } }
    }

    fn user_back(u: User) -> dataset::User {
        let User { id, name, level, score, active, friends, profile } = u;
        let Profile { country, joined } = profile;
        dataset::User { id, name, level, score, active, friends, profile: dataset::Profile { country, joined } }
    }

    /// `m` with its values converted by `f`: the same hasher and room, filled in the old
    /// table's order, so that every entry lands in the slot it had and the new table is
    /// written front to back (a fresh hasher writes it at random: 1.4-2.0 s of moves at
    /// scale 10 against 0.9-1.2 s).
    fn remap<A, B>(m: HashMap<String, A>, f: impl Fn(A) -> B) -> HashMap<String, B> {
        let mut out = HashMap::with_capacity_and_hasher(m.capacity(), m.hasher().clone());
        out.extend(m.into_iter().map(|(k, v)| (k, f(v))));
        out
    }

    /// Moves the dataset's collections into this model, leaving them empty in `w`.
    pub fn take(w: &mut dataset::World) -> World {
        World {
            name: w.name.clone(),
            meta: meta_of!(w),
            users: std::mem::take(&mut w.users).into_iter().map(user).collect(),
            by_name: remap(std::mem::take(&mut w.by_name), user),
            asset: std::mem::take(&mut w.asset),
        }
    }

    /// Moves the collections back into `w`.
    pub fn give_back(m: World, w: &mut dataset::World) {
        w.users = m.users.into_iter().map(user_back).collect();
        w.by_name = remap(m.by_name, user_back);
        w.asset = m.asset;
    }

    /// What a full load reports: as [`dataset::checksum`].
    pub fn checksum(w: &World) -> u64 {
        w.users.iter().map(|u| u64::from(u.level)).sum::<u64>()
            + w.by_name.values().map(|u| u64::from(u.level)).sum::<u64>()
            + w.asset.len() as u64
    }
}

/// rkyv 0.8 over the whole file: `checked` validates the whole buffer before any
/// access (its safe API); otherwise `access_unchecked` (no validation at all).
pub struct Rkyv {
    pub checked: bool,
}

/// A lower bound on the bytes `rkyv::to_bytes` writes for `w`: the asset, and every
/// user's fixed-size part, in the vector and in the map beside its key.
fn rkyv_size_floor(w: &World) -> u64 {
    let user = size_of::<rkyv_model::ArchivedUser>() as u64;
    let entry = user + size_of::<rkyv::string::ArchivedString>() as u64;
    (w.asset.len() as u64)
        .saturating_add((w.users.len() as u64).saturating_mul(user))
        .saturating_add((w.by_name.len() as u64).saturating_mul(entry))
}

/// rkyv's relative pointers are 32-bit unless the crate-wide `pointer_width_64` feature
/// is on (which would change strata's format too): a buffer past 2 GiB cannot be
/// written, and rkyv panics instead of returning its error. A dataset whose archive
/// must pass that is neither moved into rkyv's types nor serialized (at scale 100 the
/// panic came after 21 s of work); the rest is still caught.
fn rkyv_refusal(w: &World) -> Option<String> {
    let floor = rkyv_size_floor(w);
    (floor > i32::MAX as u64).then(|| {
        format!(
            "rkyv cannot write a buffer past 2 GiB with 32-bit relative pointers (this archive takes at least {:.2} GB: the asset and the users' fixed-size parts)",
            floor as f64 / 1e9
        )
    })
}

impl Format for Rkyv {
    fn name(&self) -> &'static str {
        if self.checked { "rkyv (validated)" } else { "rkyv (unchecked)" }
    }

    fn prepare(&self, d: &mut Data) -> Res<Prepared> {
        let Data::Users(w) = d else { return Ok(Box::new(())) };
        if rkyv_refusal(w).is_some() {
            return Ok(Box::new(()));
        }
        Ok(Box::new(rkyv_model::take(w)))
    }

    fn restore(&self, value: Prepared, d: &mut Data) -> Res<()> {
        if let (Ok(m), Data::Users(w)) = (value.downcast::<rkyv_model::World>(), d) {
            rkyv_model::give_back(*m, w);
        }
        Ok(())
    }

    fn write(&self, d: &Data, value: &Prepared, path: &Path) -> Res<()> {
        let Data::Users(w) = d else { return Err(users_only(self.name())) };
        // `prepare` moved nothing when the dataset is refused: `w` is whole.
        let Ok(m) = prepared::<rkyv_model::World>(value) else {
            return Err(rkyv_refusal(w).unwrap_or_else(|| ANOTHER.into()).into());
        };
        let bytes = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rkyv::to_bytes::<rkyv::rancor::Error>(m)))
            .map_err(|_| "rkyv cannot write a buffer past 2 GiB with 32-bit relative pointers")??;
        std::fs::write(path, &bytes)?;
        fsync(path)
    }

    fn run(&self, op: Op, path: &Path, probe: &dataset::Probe) -> Res<Option<u64>> {
        if probe.kind != Kind::Users {
            return Err(users_only(self.name()));
        }
        let map = map(path)?;
        let w: &rkyv_model::ArchivedWorld = if self.checked {
            rkyv::access::<rkyv_model::ArchivedWorld, rkyv::rancor::Error>(&map)?
        } else {
            // SAFETY: the file was written by `write` above from a valid value and is not
            // modified; this is the unchecked path rkyv offers for trusted bytes.
            unsafe { rkyv::access_unchecked::<rkyv_model::ArchivedWorld>(&map) }
        };
        let answer = match op {
            Op::Metadata => u64::from(w.meta.version.to_native()),
            Op::DeepField => u64::from(w.meta.stats.max_level.to_native()),
            Op::MapLookup => w.by_name.get(probe.key.as_str()).map_or(u64::MAX, |u| u64::from(u.level.to_native())),
            Op::VectorElement => {
                w.users.get(usize::try_from(probe.index)?).map_or(u64::MAX, |u| u64::from(u.level.to_native()))
            }
            Op::FullLoad => {
                let all: rkyv_model::World = rkyv::deserialize::<rkyv_model::World, rkyv::rancor::Error>(w)?;
                let sum = rkyv_model::checksum(&all);
                keep(all);
                sum
            }
        };
        keep(map);
        Ok(Some(answer))
    }
}

// ---------------------------------------------------------------- bincode, postcard

/// A sequential serde format: every access decodes the whole file.
pub struct Serde {
    pub kind: SerdeKind,
}

/// Which sequential format.
#[derive(Clone, Copy)]
pub enum SerdeKind {
    Bincode,
    Postcard,
}

impl Format for Serde {
    fn name(&self) -> &'static str {
        match self.kind {
            SerdeKind::Bincode => "bincode 2",
            SerdeKind::Postcard => "postcard",
        }
    }

    fn decodes_whole_file(&self) -> bool {
        true
    }

    fn write(&self, d: &Data, _: &Prepared, path: &Path) -> Res<()> {
        let bytes = match d {
            Data::Users(w) => self.encode(w)?,
            Data::Records(w) => self.encode(w)?,
        };
        std::fs::write(path, &bytes)?;
        fsync(path)
    }

    fn run(&self, op: Op, path: &Path, probe: &dataset::Probe) -> Res<Option<u64>> {
        Ok(Some(match probe.kind {
            Kind::Users => self.one::<dataset::User>(op, path, probe)?,
            Kind::Records => self.one::<dataset::Record>(op, path, probe)?,
        }))
    }

    fn run_every(&self, path: &Path, probe: &dataset::Probe) -> Res<Option<Every>> {
        Ok(Some(match probe.kind {
            Kind::Users => self.every::<dataset::User>(path, probe)?,
            Kind::Records => self.every::<dataset::Record>(path, probe)?,
        }))
    }
}

impl Serde {
    fn encode<U: serde::Serialize>(&self, w: &World<U>) -> Res<Vec<u8>> {
        Ok(match self.kind {
            SerdeKind::Bincode => bincode::serde::encode_to_vec(w, bincode::config::standard())?,
            SerdeKind::Postcard => postcard::to_allocvec(w)?,
        })
    }

    /// Reads and decodes the whole file.
    fn decode<U: serde::de::DeserializeOwned>(&self, path: &Path) -> Res<World<U>> {
        let bytes = std::fs::read(path)?;
        let w = match self.kind {
            SerdeKind::Bincode => bincode::serde::decode_from_slice(&bytes, bincode::config::standard())?.0,
            SerdeKind::Postcard => postcard::from_bytes(&bytes)?,
        };
        keep(bytes);
        Ok(w)
    }

    /// One decode, then `op` on the decoded value.
    fn one<U: serde::de::DeserializeOwned + dataset::Row + Send + 'static>(
        &self,
        op: Op,
        path: &Path,
        probe: &dataset::Probe,
    ) -> Res<u64> {
        let w = self.decode::<U>(path)?;
        let answer = Self::answer(&w, op, probe)?;
        keep(w);
        Ok(answer)
    }

    /// One decode, then every operation on the decoded value: each one's answer and
    /// time (the decode's plus its own).
    fn every<U: serde::de::DeserializeOwned + dataset::Row + Send + 'static>(
        &self,
        path: &Path,
        probe: &dataset::Probe,
    ) -> Res<Every> {
        let t = std::time::Instant::now();
        let w = self.decode::<U>(path)?;
        let decode = t.elapsed();
        let mut out = Vec::new();
        for op in Op::ALL {
            let t = std::time::Instant::now();
            let answer = Self::answer(&w, op, probe)?;
            out.push((op, answer, decode + t.elapsed()));
        }
        keep(w);
        Ok(out)
    }

    fn answer<U: dataset::Row>(w: &World<U>, op: Op, probe: &dataset::Probe) -> Res<u64> {
        Ok(match op {
            Op::Metadata => u64::from(w.meta.version),
            Op::DeepField => u64::from(w.meta.stats.max_level),
            Op::MapLookup => w.by_name.get(&probe.key).map_or(u64::MAX, |u| u64::from(u.level())),
            Op::VectorElement => w.users.get(usize::try_from(probe.index)?).map_or(u64::MAX, |u| u64::from(u.level())),
            Op::FullLoad => dataset::checksum(w),
        })
    }
}

// ------------------------------------------------------------------------------ redb

const USERS: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("users");

/// redb 2, the embedded-database reference for map lookups: the same entries in one
/// table, values postcard-encoded.
pub struct Redb;

impl Format for Redb {
    fn name(&self) -> &'static str {
        "redb 2 (map only)"
    }

    fn write(&self, d: &Data, _: &Prepared, path: &Path) -> Res<()> {
        match d {
            Data::Users(w) => Self::insert(&w.by_name, path),
            Data::Records(w) => Self::insert(&w.by_name, path),
        }
    }

    fn run(&self, op: Op, path: &Path, probe: &dataset::Probe) -> Res<Option<u64>> {
        if op != Op::MapLookup {
            return Ok(None);
        }
        let db = redb::Database::open(path)?;
        let tx = db.begin_read()?;
        let table = tx.open_table(USERS)?;
        let level = match (table.get(probe.key.as_str())?, probe.kind) {
            (Some(v), Kind::Users) => u64::from(postcard::from_bytes::<dataset::User>(v.value())?.level),
            (Some(v), Kind::Records) => u64::from(postcard::from_bytes::<dataset::Record>(v.value())?.level),
            (None, _) => u64::MAX,
        };
        drop(table);
        drop(tx);
        keep(db);
        Ok(Some(level))
    }
}

impl Redb {
    /// Writes the map's entries in key order, values postcard-encoded, in one
    /// transaction.
    fn insert<U: serde::Serialize>(by_name: &std::collections::HashMap<String, U>, path: &Path) -> Res<()> {
        let _ = std::fs::remove_file(path);
        let db = redb::Database::create(path)?;
        let tx = db.begin_write()?;
        {
            let mut table = tx.open_table(USERS)?;
            let mut entries: Vec<(&String, &U)> = by_name.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in entries {
                table.insert(k.as_str(), postcard::to_allocvec(v)?.as_slice())?;
            }
        }
        tx.commit()?; // durable: redb fsyncs on commit
        Ok(())
    }
}

/// Every format, in table order.
#[must_use]
pub fn all() -> Vec<Box<dyn Format>> {
    vec![
        Box::new(Strata { codec: strata::Codec::None, access: strata::Access::Read }),
        Box::new(Strata { codec: strata::Codec::None, access: strata::Access::Map }),
        Box::new(Strata { codec: strata::Codec::Zstd(3), access: strata::Access::Read }),
        Box::new(Parcode),
        Box::new(Rkyv { checked: true }),
        Box::new(Rkyv { checked: false }),
        Box::new(Serde { kind: SerdeKind::Bincode }),
        Box::new(Serde { kind: SerdeKind::Postcard }),
        Box::new(Capnp),
        Box::new(Redb),
    ]
}

/// Formats a run measures only when `--formats` names them: strata at other zstd
/// levels.
#[must_use]
pub fn extras() -> Vec<Box<dyn Format>> {
    [1, -1, -5]
        .into_iter()
        .map(|level| {
            Box::new(Strata { codec: strata::Codec::Zstd(level), access: strata::Access::Read }) as Box<dyn Format>
        })
        .collect()
}

/// The format named `name` in the tables.
#[must_use]
pub fn by_name(name: &str) -> Option<Box<dyn Format>> {
    all().into_iter().chain(extras()).find(|f| f.name() == name)
}

/// The expected answer of `op`.
#[must_use]
pub fn expected(op: Op, p: &dataset::Probe) -> u64 {
    match op {
        Op::Metadata => u64::from(p.version),
        Op::DeepField => u64::from(p.max_level),
        Op::MapLookup => u64::from(p.key_level),
        Op::VectorElement => u64::from(p.index_level),
        Op::FullLoad => p.checksum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The floor that lets the harness refuse an rkyv write up front must stay below
    /// what rkyv writes, or a writable dataset would be refused.
    #[test]
    fn the_rkyv_size_floor_is_below_the_archive_and_close_to_it() {
        let mut w = dataset::world(1);
        let floor = rkyv_size_floor(&w);
        let m = rkyv_model::take(&mut w);
        let written = rkyv::to_bytes::<rkyv::rancor::Error>(&m).map(|b| b.len() as u64).unwrap_or(0);
        assert!(floor <= written, "floor {floor} above the archive's {written} bytes");
        assert!(floor * 10 >= written * 7, "floor {floor} far below the archive's {written} bytes");
    }
}
