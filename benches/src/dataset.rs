//! The datasets every format writes and reads. Both hold a vector of records, a map
//! from each record's name to a copy of it, a binary asset and nested metadata;
//! `scale` multiplies the records and the asset.
//!
//! - [`Kind::Users`], the whitepaper's dataset: 100,000 users with nested fields and a
//!   small inner vector, a 10 MiB asset.
//! - [`Kind::Records`], string-heavy: 100,000 records of a name, an e-mail address and
//!   a few scores, a 100-byte-per-record asset.

use std::collections::HashMap;

/// A user record, deriving each library's traits as a program would on its own type:
/// strata's and parcode's worlds hold these records, so their writes take the dataset's
/// collections as they are (moving each record into a model type of theirs took 15 s
/// per format at scale 100). rkyv alone has a model of its own (`formats::rkyv_model`):
/// strata's derive implements rkyv's traits for the type it is on.
#[derive(serde::Serialize, serde::Deserialize, strata::Persist, parcode::ParcodeObject, Clone, Debug, PartialEq)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub level: u32,
    pub score: f64,
    pub active: bool,
    pub friends: Vec<u64>,
    pub profile: Profile,
}

/// Nested fields of a user (every format's own, as [`User`]).
#[derive(serde::Serialize, serde::Deserialize, strata::Persist, parcode::ParcodeObject, Clone, Debug, PartialEq)]
pub struct Profile {
    pub country: String,
    pub joined: u64,
}

/// Nested metadata.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Stats {
    pub users: u64,
    pub max_level: u32,
    pub mean_score: f64,
}

/// Metadata.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Meta {
    pub version: u32,
    pub created_by: String,
    pub stats: Stats,
    pub tags: Vec<String>,
}

/// A record of the string-heavy dataset: two strings of 15-35 bytes and a small
/// vector (every format's own, as [`User`]).
#[derive(serde::Serialize, serde::Deserialize, strata::Persist, parcode::ParcodeObject, Clone, Debug, PartialEq)]
pub struct Record {
    pub id: u64,
    pub name: String,
    pub email: String,
    pub level: u32,
    pub scores: Vec<u32>,
}

/// What the harness reads of a record, whichever the dataset.
pub trait Row {
    /// The field every point read and full load reports.
    fn level(&self) -> u32;
}

impl Row for User {
    fn level(&self) -> u32 {
        self.level
    }
}

impl Row for Record {
    fn level(&self) -> u32 {
        self.level
    }
}

/// The whole world, of [`User`]s or of [`Record`]s (`users` holds the records either
/// way).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct World<U = User> {
    pub name: String,
    pub meta: Meta,
    pub users: Vec<U>,
    pub by_name: HashMap<String, U>,
    pub asset: Vec<u8>,
}

/// Which dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// The whitepaper's users ([`world`]).
    #[default]
    Users,
    /// The string-heavy records ([`records`]).
    Records,
}

impl Kind {
    /// Its name on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Kind::Users => "users",
            Kind::Records => "records",
        }
    }

    /// The key every format looks up in this dataset of `n` records.
    #[must_use]
    pub fn probe_key(self, n: u64) -> String {
        match self {
            Kind::Users => probe_key(n),
            Kind::Records => record_name(n * 12_345 / 100_000),
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Kind::Users, Kind::Records]
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("no dataset {s:?}: users or records"))
    }
}

/// A dataset of either kind.
pub enum Data {
    Users(World<User>),
    Records(World<Record>),
}

impl Data {
    /// The dataset of `kind` at `scale`.
    #[must_use]
    pub fn build(kind: Kind, scale: u64) -> Data {
        match kind {
            Kind::Users => Data::Users(world(scale)),
            Kind::Records => Data::Records(records(scale)),
        }
    }

    /// What every format must answer for it.
    #[must_use]
    pub fn probe(&self) -> Probe {
        match self {
            Data::Users(w) => probe(w, Kind::Users),
            Data::Records(w) => probe(w, Kind::Records),
        }
    }
}

/// The key and index every format looks up, and the answers they must give.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The dataset, which tells a format which of its models to read the file as.
    pub kind: Kind,
    pub key: String,
    pub index: u64,
    pub version: u32,
    pub max_level: u32,
    pub key_level: u32,
    pub index_level: u32,
    /// Sum over users of `level`, plus the asset's length: what a full load reports.
    pub checksum: u64,
}

/// A xorshift64 generator from `seed`: the datasets' pseudo-random numbers, the same on
/// every run.
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut rng = seed;
    move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    }
}

const COUNTRIES: [&str; 6] = ["AR", "BR", "DE", "JP", "NG", "US"];

/// The dataset at `scale` (1: 100,000 users and a 10 MiB asset).
#[must_use]
pub fn world(scale: u64) -> World {
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
    let n = 100_000 * scale;
    let users: Vec<User> = (0..n)
        .map(|id| User {
            id,
            name: format!("player{id:08}"),
            level: (next() % 100) as u32,
            score: (next() % 1_000_000) as f64 / 100.0,
            active: !next().is_multiple_of(3),
            friends: (0..(next() % 4)).map(|_| next() % n).collect(),
            profile: Profile {
                country: COUNTRIES[(next() % 6) as usize].to_string(),
                joined: 1_600_000_000 + next() % 100_000_000,
            },
        })
        .collect();
    let asset: Vec<u8> =
        (0..scale as usize * 10 * 1024 * 1024).map(|i| ((i / 64) as u8).wrapping_add((next() % 8) as u8)).collect();
    let max_level = users.iter().map(|u| u.level).max().unwrap_or(0);
    let mean_score = users.iter().map(|u| u.score).sum::<f64>() / users.len().max(1) as f64;
    World {
        name: "Aurora".into(),
        meta: Meta {
            version: 7,
            created_by: "compare".into(),
            stats: Stats { users: n, max_level, mean_score },
            tags: vec!["benchmark".into(), "whitepaper-dataset".into()],
        },
        by_name: users.iter().map(|u| (u.name.clone(), u.clone())).collect(),
        users,
        asset,
    }
}

/// The name of record `id` of the string-heavy dataset: a first and a last name
/// picked by a hash of `id`, and `id` itself, which keeps it unique.
#[must_use]
pub fn record_name(id: u64) -> String {
    let (first, last) = record_person(id);
    format!("{first} {last} {id}")
}

const FIRST: [&str; 16] = [
    "Ana", "Bruno", "Chen", "Dara", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jun", "Kofi", "Lena", "Mateo", "Nadia",
    "Omar", "Priya",
];
const LAST: [&str; 16] = [
    "Okafor", "Silva", "Nakamura", "Schmidt", "Haddad", "Kowalski", "Oliveira", "Tanaka", "Ivanova", "Mensah",
    "Garcia", "Larsen", "Novak", "Rossi", "Singh", "Yilmaz",
];

fn record_person(id: u64) -> (&'static str, &'static str) {
    let h = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (FIRST[(h >> 60) as usize], LAST[((h >> 56) & 15) as usize])
}

/// The string-heavy dataset at `scale` (1: 100,000 records and a 100-byte-per-record
/// asset).
#[must_use]
pub fn records(scale: u64) -> World<Record> {
    let mut next = xorshift(0x2545_F491_4F6C_DD1D);
    let n = 100_000 * scale;
    let users: Vec<Record> = (0..n)
        .map(|id| {
            let (first, last) = record_person(id);
            Record {
                id,
                name: format!("{first} {last} {id}"),
                email: format!("{}.{}{id}@example.com", first.to_lowercase(), last.to_lowercase()),
                level: (next() % 100) as u32,
                scores: (0..(next() % 8)).map(|_| (next() % 10_000) as u32).collect(),
            }
        })
        .collect();
    let asset: Vec<u8> = (0..n as usize * 100).map(|i| ((i / 64) as u8).wrapping_add((next() % 8) as u8)).collect();
    let max_level = users.iter().map(|u| u.level).max().unwrap_or(0);
    World {
        name: "Records".into(),
        meta: Meta {
            version: 7,
            created_by: "compare".into(),
            stats: Stats { users: n, max_level, mean_score: 0.0 },
            tags: vec!["benchmark".into(), "string-heavy".into()],
        },
        by_name: users.iter().map(|u| (u.name.clone(), u.clone())).collect(),
        users,
        asset,
    }
}

/// The user name every format looks up in a dataset of `users` users.
#[must_use]
pub fn probe_key(users: u64) -> String {
    format!("player{:08}", users * 12_345 / 100_000)
}

/// The vector index every format reads in a dataset of `users` users.
#[must_use]
pub fn probe_index(users: u64) -> u64 {
    users * 54_321 / 100_000
}

/// What every format must answer for `w`, a dataset of `kind`.
#[must_use]
pub fn probe<U: Row>(w: &World<U>, kind: Kind) -> Probe {
    let index = probe_index(w.users.len() as u64);
    let key = kind.probe_key(w.users.len() as u64);
    Probe {
        kind,
        version: w.meta.version,
        max_level: w.meta.stats.max_level,
        key_level: w.by_name.get(&key).map_or(0, Row::level),
        index_level: w.users.get(index as usize).map_or(0, Row::level),
        checksum: checksum(w),
        key,
        index,
    }
}

/// Sum over records of `level` (vector and map), plus the asset's length.
#[must_use]
pub fn checksum<U: Row>(w: &World<U>) -> u64 {
    checksum_of(&w.users, &w.by_name, &w.asset)
}

/// [`checksum`] of a dataset's collections held in another type (a format's model).
#[must_use]
pub fn checksum_of<U: Row>(users: &[U], by_name: &HashMap<String, U>, asset: &[u8]) -> u64 {
    users.iter().map(|u| u64::from(u.level())).sum::<u64>()
        + by_name.values().map(|u| u64::from(u.level())).sum::<u64>()
        + asset.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<U: Row>(w: &World<U>, kind: Kind) {
        let p = probe(w, kind);
        assert_eq!(p.key, kind.probe_key(w.users.len() as u64), "{kind:?}: the key a child derives from the scale");
        assert!(w.by_name.contains_key(&p.key), "{kind:?}: no record named {:?}", p.key);
        assert_eq!(w.by_name.len(), w.users.len(), "{kind:?}: names are not unique");
        assert_eq!(kind.name().parse::<Kind>(), Ok(kind));
    }

    #[test]
    fn the_probe_key_names_a_record_of_each_dataset_and_names_are_unique() {
        check(&world(1), Kind::Users);
        let r = records(1);
        assert_eq!(r.asset.len(), r.users.len() * 100);
        check(&r, Kind::Records);
    }
}
