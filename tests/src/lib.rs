//! Shared models and helpers for strata's integration tests.

use strata::Persist;

/// A small but rich model: nested inline struct, enum, options, strings, maps, lazy
/// fields (plain, compressed, nested Persist with lazy fields of its own).
#[derive(Persist, Debug, PartialEq, Clone)]
pub struct World {
    pub id: u64,
    pub name: String,
    pub settings: Settings,
    pub weather: Weather,
    #[strata(lazy)]
    pub history: Vec<String>,
    #[strata(lazy, compress = "zstd")]
    pub blob: Vec<u8>,
    #[strata(lazy)]
    pub region: Region,
    pub tags: Option<Vec<String>>,
}

/// Inline settings.
#[derive(Persist, Debug, PartialEq, Clone)]
pub struct Settings {
    pub difficulty: u8,
    pub seed: u64,
}

/// An inline enum.
#[derive(Persist, Debug, PartialEq, Clone)]
pub enum Weather {
    Clear,
    Rain { mm: f32 },
    Storm(u32, String),
}

/// A deferred Persist type with lazy fields of its own.
#[derive(Persist, Debug, PartialEq, Clone)]
pub struct Region {
    pub name: String,
    #[strata(lazy)]
    pub tiles: Vec<u16>,
    #[strata(lazy, compress = "zstd(1)")]
    pub notes: Vec<String>,
}

/// A deterministic sample world.
#[must_use]
pub fn sample_world() -> World {
    World {
        id: 42,
        name: "Aurora".into(),
        settings: Settings { difficulty: 3, seed: 0xDEAD_BEEF },
        weather: Weather::Storm(9, "north wind".into()),
        history: (0..200).map(|i| format!("event {i}")).collect(),
        blob: (0..50_000u32).map(|i| (i % 251) as u8).collect(),
        region: Region {
            name: "north".into(),
            tiles: (0..4096).map(|i| (i * 7 % 65_521) as u16).collect(),
            notes: vec!["cold".into(); 100],
        },
        tags: Some(vec!["a".into(), "b".into()]),
    }
}

/// The same image opened every way a reader can: in memory, mapped (small chunks
/// copied, shards in place), and read with `pread`. Writes it to `dir/name` first.
///
/// # Panics
/// When the file cannot be written or an open fails.
#[must_use]
pub fn open_every_way(bytes: Vec<u8>, dir: &std::path::Path, name: &str) -> [strata::Archive; 3] {
    let path = dir.join(name);
    std::fs::write(&path, &bytes).expect("write the image");
    [
        strata::Archive::from_bytes(bytes).expect("open in memory"),
        strata::Archive::open(&path).expect("open mapped"),
        strata::Archive::open_with(&path, &strata::OpenOptions::new().access(strata::Access::Read))
            .expect("open with pread"),
    ]
}

/// Reads every field of a world through views and promises, comparing with `expected`.
/// Returns the first error met.
///
/// # Errors
/// Any error of a lazy load.
pub fn walk_world(archive: &strata::Archive, expected: &World) -> strata::Result<()> {
    let w = archive.root::<World>()?;
    assert_eq!(w.id, expected.id);
    assert_eq!(w.name, expected.name);
    assert_eq!(w.settings.seed, expected.settings.seed);
    assert_eq!(w.history.load()?, expected.history);
    assert_eq!(w.blob.load()?, expected.blob);
    let r = w.region.view()?;
    assert_eq!(r.name, expected.region.name);
    assert_eq!(r.tiles.load()?, expected.region.tiles);
    assert_eq!(r.notes.load()?, expected.region.notes);
    assert_eq!(&archive.load::<World>()?, expected);
    Ok(())
}

pub mod hostile;
pub mod lying;
pub mod memory;
pub mod moto;

/// The README's Rust code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
