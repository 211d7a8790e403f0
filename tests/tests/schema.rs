//! The schema text records names, types, storage and the archived layout.

use std::collections::HashMap;
use strata::{Archive, Persist};

#[derive(Persist)]
struct Point(i32, i32);

#[derive(Persist)]
enum Shape {
    Empty,
    Circle(Point, f32),
    Named {
        name: String,
        #[strata(lazy)]
        tags: Vec<String>,
    },
}

#[derive(Persist)]
struct Scene {
    id: u64,
    count: usize,
    shapes: Vec<Shape>,
    #[strata(shard)]
    points: Vec<Point>,
    #[strata(map)]
    index: HashMap<String, u32>,
    inline_map: HashMap<u8, bool>,
    #[strata(rkyv)]
    elapsed: std::time::Duration,
}

#[test]
fn the_schema_describes_names_storage_and_layout() {
    let scene = Scene {
        id: 1,
        count: 2,
        shapes: vec![],
        points: vec![],
        index: HashMap::new(),
        inline_map: HashMap::new(),
        elapsed: std::time::Duration::ZERO,
    };
    let archive = Archive::from_bytes(strata::to_bytes(&scene).unwrap()).unwrap();
    let text = archive.schema_text().unwrap();
    let expected = "strata-schema 1
root Scene
type Point = struct size 8 align 4 (@0: i32, @4: i32)
type Scene = struct size 184 align 8 { id @0: u64, count @8: usize, shapes @16: Vec<Shape>, points @24: shard Vec<Point>, index @88: map HashMap<String, u32>, inline_map @152: HashMap<u8, bool>[12/4], elapsed @168: rkyv[16/8] std::time::Duration }
type Shape = enum size 56 align 8 { Empty, Circle(@4: Point, @12: f32), Named { name @4: String, tags @16: lazy Vec<String> } }
";
    assert_eq!(text, expected);
    assert_eq!(archive.footer().type_fingerprint, strata::raw::format::checksum(expected.as_bytes()));
}
