//! The whitepaper's dataset: user records with nested fields and a small inner vector,
//! a binary asset, nested metadata, a map from user name to record and a vector of
//! records. `scale` multiplies the records and the asset.

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

/// The whole world.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct World {
    pub name: String,
    pub meta: Meta,
    pub users: Vec<User>,
    pub by_name: HashMap<String, User>,
    pub asset: Vec<u8>,
}

/// The key and index every format looks up, and the answers they must give.
#[derive(Debug, Clone)]
pub struct Probe {
    pub key: String,
    pub index: u64,
    pub version: u32,
    pub max_level: u32,
    pub key_level: u32,
    pub index_level: u32,
    /// Sum over users of `level`, plus the asset's length: what a full load reports.
    pub checksum: u64,
}

const COUNTRIES: [&str; 6] = ["AR", "BR", "DE", "JP", "NG", "US"];

/// The dataset at `scale` (1: 100,000 users and a 10 MiB asset).
#[must_use]
pub fn world(scale: u64) -> World {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let n = 100_000 * scale;
    let users: Vec<User> = (0..n)
        .map(|id| User {
            id,
            name: format!("player{id:08}"),
            level: (next() % 100) as u32,
            score: (next() % 1_000_000) as f64 / 100.0,
            active: next() % 3 != 0,
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

/// What every format must answer for `w`.
#[must_use]
pub fn probe(w: &World) -> Probe {
    let index = probe_index(w.users.len() as u64);
    let key = probe_key(w.users.len() as u64);
    Probe {
        version: w.meta.version,
        max_level: w.meta.stats.max_level,
        key_level: w.by_name.get(&key).map_or(0, |u| u.level),
        index_level: w.users.get(index as usize).map_or(0, |u| u.level),
        checksum: checksum(w),
        key,
        index,
    }
}

/// Sum over users of `level` (vector and map), plus the asset's length.
#[must_use]
pub fn checksum(w: &World) -> u64 {
    w.users.iter().map(|u| u64::from(u.level)).sum::<u64>()
        + w.by_name.values().map(|u| u64::from(u.level)).sum::<u64>()
        + w.asset.len() as u64
}
