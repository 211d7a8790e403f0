//! A geographic index: points of interest in a sharded vector, sorted by tile, and a
//! map from tile to the range of points it holds. A bounding-box query looks up the
//! tiles the box covers (one bucket each) and reads their points (one shard each),
//! whatever the size of the file.
//!
//! ```text
//! cargo run --release --example geo_index [-- POINTS]
//! ```

use std::collections::HashMap;
use std::time::Instant;
use strata::{Archive, Persist};

/// Tiles are `1 / TILES_PER_DEGREE` of a degree on each side.
const TILES_PER_DEGREE: f64 = 4.0;

#[derive(Persist, Debug, Clone, PartialEq)]
struct Point {
    lat: f64,
    lon: f64,
    name: String,
    kind: Kind,
}

#[derive(Persist, Debug, Clone, Copy, PartialEq)]
enum Kind {
    Cafe,
    Museum,
    Station,
    Park,
}

/// The points of one tile: `points[start..end]`.
#[derive(Persist, Debug, Clone, Copy, PartialEq)]
struct Span {
    start: u64,
    end: u64,
}

#[derive(Persist, Debug, PartialEq)]
struct GeoIndex {
    name: String,
    /// Every point, sorted by tile.
    #[strata(shard)]
    points: Vec<Point>,
    /// Tile key to the span of its points.
    #[strata(map)]
    tiles: HashMap<u64, Span>,
}

fn tile_of(lat: f64, lon: f64) -> (i64, i64) {
    ((lat * TILES_PER_DEGREE).floor() as i64, (lon * TILES_PER_DEGREE).floor() as i64)
}

fn key(tile: (i64, i64)) -> u64 {
    // Latitude and longitude tiles in two 32-bit halves.
    ((tile.0 as u32 as u64) << 32) | u64::from(tile.1 as u32)
}

fn build(points: usize) -> GeoIndex {
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let kinds = [Kind::Cafe, Kind::Museum, Kind::Station, Kind::Park];
    let mut all: Vec<Point> = (0..points)
        .map(|i| Point {
            lat: -60.0 + (next() % 1_200_000) as f64 / 10_000.0,
            lon: -180.0 + (next() % 3_600_000) as f64 / 10_000.0,
            name: format!("poi-{i}"),
            kind: kinds[(next() % 4) as usize],
        })
        .collect();
    all.sort_by_key(|p| key(tile_of(p.lat, p.lon)));
    let mut tiles: HashMap<u64, Span> = HashMap::new();
    for (i, p) in all.iter().enumerate() {
        let span = tiles.entry(key(tile_of(p.lat, p.lon))).or_insert(Span { start: i as u64, end: i as u64 });
        span.end = i as u64 + 1;
    }
    GeoIndex { name: "world points".into(), points: all, tiles }
}

/// The points inside the box, read from the file: one map lookup per tile the box
/// covers, and the shards that hold those tiles' points.
fn query(index: &ArchivedGeoIndex, lat: (f64, f64), lon: (f64, f64)) -> strata::Result<Vec<Point>> {
    let (lo, hi) = (tile_of(lat.0, lon.0), tile_of(lat.1, lon.1));
    let mut found = Vec::new();
    for tlat in lo.0..=hi.0 {
        for tlon in lo.1..=hi.1 {
            let Some(span) = index.tiles.get(&key((tlat, tlon)))? else { continue };
            let range = span.start.to_native() as usize..span.end.to_native() as usize;
            for p in index.points.range(range) {
                let p = p?;
                let (plat, plon) = (p.lat.to_native(), p.lon.to_native());
                if (lat.0..=lat.1).contains(&plat) && (lon.0..=lon.1).contains(&plon) {
                    found.push(p.load()?);
                }
            }
        }
    }
    Ok(found)
}

fn run(points: usize, path: &std::path::Path) -> strata::Result<()> {
    let index = build(points);
    let t = Instant::now();
    let stats = strata::save(path, &index)?;
    println!(
        "{} points in {} tiles: {} bytes, saved in {:.1?}",
        points,
        index.tiles.len(),
        stats.file_len,
        t.elapsed()
    );

    // Paris, roughly: a box of half a degree.
    let (lat, lon) = ((48.6, 49.1), (2.0, 2.5));
    let t = Instant::now();
    let archive = Archive::open(path)?;
    let found = query(archive.root::<GeoIndex>()?, lat, lon)?;
    println!("{} points in the box, read in {:.1?}", found.len(), t.elapsed());

    // The same answer from the data in memory.
    let mut expected: Vec<Point> = index
        .points
        .iter()
        .filter(|p| (lat.0..=lat.1).contains(&p.lat) && (lon.0..=lon.1).contains(&p.lon))
        .cloned()
        .collect();
    let mut found = found;
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    found.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(found, expected);
    Ok(())
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let points: usize = std::env::args().nth(1).map_or(Ok(2_000_000), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    run(points, &dir.path().join("points.strata"))?;
    Ok(())
}

#[test]
fn a_small_index_answers_box_queries() -> strata::Result<()> {
    let dir = tempfile::tempdir()?;
    run(200_000, &dir.path().join("points.strata"))
}
