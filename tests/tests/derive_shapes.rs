//! Every shape the derive accepts, saved and read back through views and loads.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use strata::{Archive, Persist};

fn roundtrip<T: Persist + PartialEq + std::fmt::Debug>(value: &T) -> Archive {
    let bytes = strata::to_bytes(value).expect("save");
    let archive = Archive::from_bytes(bytes).expect("open");
    assert_eq!(&archive.load::<T>().expect("load"), value);
    archive
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Tuple(u32, String, #[strata(lazy)] Vec<u8>);

#[derive(Persist, Debug, PartialEq, Clone)]
struct Unit;

#[derive(Persist, Debug, PartialEq, Clone)]
enum Shape {
    Empty,
    Circle(f32),
    Rect {
        w: f32,
        h: f32,
    },
    Poly(#[strata(lazy)] Vec<(f32, f32)>, String),
    Tagged {
        #[strata(lazy, compress = "zstd(5)")]
        data: Vec<u64>,
        tag: char,
    },
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Pair<A, B: Clone>
where
    A: Clone,
{
    a: A,
    b: B,
    #[strata(lazy)]
    more: Vec<A>,
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Fixed<const N: usize> {
    bytes: [u8; N],
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Node {
    label: String,
    #[strata(lazy)]
    children: Vec<Node>,
}

#[derive(Persist, Debug, PartialEq, Clone)]
enum List {
    Nil,
    Cons(u32, Box<List>),
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Sizes {
    len: usize,
    delta: isize,
    maybe: Option<usize>,
    many: Vec<usize>,
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Maps {
    by_name: HashMap<String, u32>,
    tags: HashSet<u16>,
    ordered: BTreeMap<u8, String>,
    set: BTreeSet<i64>,
    nested: Option<HashMap<u8, Vec<String>>>,
    #[strata(lazy)]
    lazy_map: HashMap<String, Vec<u8>>,
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Everything {
    a: u8,
    b: i128,
    c: f64,
    d: bool,
    e: char,
    f: (),
    g: Option<Box<(u8, String)>>,
    h: [(u16, bool); 3],
    i: (u8, String, Vec<i32>),
    #[strata(rkyv)]
    j: std::time::Duration,
}

#[test]
fn tuple_and_unit_structs() {
    let t = Tuple(9, "nine".into(), vec![9; 9]);
    let archive = roundtrip(&t);
    let v = archive.root::<Tuple>().unwrap();
    assert_eq!(v.0, 9);
    assert_eq!(v.1, "nine");
    assert_eq!(v.2.load().unwrap(), vec![9; 9]);
    roundtrip(&Unit);
}

#[test]
fn enums_of_every_variant_kind() {
    for s in [
        Shape::Empty,
        Shape::Circle(1.5),
        Shape::Rect { w: 2.0, h: 3.0 },
        Shape::Poly(vec![(0.0, 1.0), (2.0, 3.0)], "tri".into()),
        Shape::Tagged { data: (0..1000).collect(), tag: 'x' },
    ] {
        let archive = roundtrip(&s);
        let view = archive.root::<Shape>().unwrap();
        match (view, &s) {
            (ArchivedShape::Empty, Shape::Empty) => {}
            (ArchivedShape::Circle(r), Shape::Circle(e)) => assert_eq!(r.to_native(), *e),
            (ArchivedShape::Rect { w, h }, Shape::Rect { w: ew, h: eh }) => {
                assert_eq!((w.to_native(), h.to_native()), (*ew, *eh))
            }
            (ArchivedShape::Poly(points, name), Shape::Poly(ep, en)) => {
                assert_eq!(&points.load().unwrap(), ep);
                assert_eq!(name, en);
            }
            (ArchivedShape::Tagged { data, tag }, Shape::Tagged { data: ed, tag: et }) => {
                assert!(data.is_compressed());
                assert_eq!(data.view().unwrap().len(), ed.len());
                assert_eq!(*tag, *et);
            }
            _ => panic!("variant changed"),
        }
    }
}

#[test]
fn generics_with_bounds_and_const_generics() {
    let p = Pair { a: 1u32, b: "b".to_string(), more: vec![2, 3] };
    let archive = roundtrip(&p);
    assert_eq!(archive.root::<Pair<u32, String>>().unwrap().more.load().unwrap(), vec![2, 3]);
    // Another instantiation reads through schema evolution: `u32` widens to `u64`, in
    // place and in the lazy chunk...
    let wide = archive.root::<Pair<u64, String>>().unwrap();
    assert_eq!((wide.a.to_native(), wide.b.as_str()), (1, "b"));
    assert_eq!(wide.more.load().unwrap(), vec![2u64, 3]);
    assert_eq!(archive.load::<Pair<i64, String>>().unwrap(), Pair { a: 1i64, b: "b".into(), more: vec![2, 3] });
    // ... and a number never becomes a string, nor narrows.
    for e in [archive.root::<Pair<String, String>>().err(), archive.root::<Pair<u16, String>>().err()] {
        assert!(matches!(e, Some(strata::Error::Incompatible { ref path, .. }) if path == "Pair.a"), "{e:?}");
    }
    roundtrip(&Fixed::<4> { bytes: [1, 2, 3, 4] });
}

#[test]
fn recursive_types_lazy_and_inline() {
    let tree = Node {
        label: "root".into(),
        children: vec![
            Node { label: "a".into(), children: vec![] },
            Node { label: "b".into(), children: vec![Node { label: "b1".into(), children: vec![] }] },
        ],
    };
    let archive = roundtrip(&tree);
    let root = archive.root::<Node>().unwrap();
    let kids = root.children.view().unwrap();
    assert_eq!(kids[1].label, "b");
    assert_eq!(kids[1].children.view().unwrap()[0].label, "b1");

    let list = List::Cons(1, Box::new(List::Cons(2, Box::new(List::Nil))));
    roundtrip(&list);
}

#[test]
fn usize_fields_are_stored_as_64_bits() {
    let s = Sizes {
        len: 5_000_000_000,
        delta: -5_000_000_000,
        maybe: Some(usize::MAX),
        many: vec![0, 1, u32::MAX as usize + 1],
    };
    let archive = roundtrip(&s);
    assert_eq!(archive.root::<Sizes>().unwrap().len, 5_000_000_000u64);
}

#[test]
fn maps_and_sets_inline_and_lazy() {
    let m = Maps {
        by_name: (0..50).map(|i| (format!("k{i}"), i)).collect(),
        tags: (0..20).collect(),
        ordered: [(1, "one".to_string()), (2, "two".to_string())].into(),
        set: [-1, 0, 1].into(),
        nested: Some([(1, vec!["x".to_string()])].into()),
        lazy_map: [("blob".to_string(), vec![1, 2, 3])].into(),
    };
    let archive = roundtrip(&m);
    let view = archive.root::<Maps>().unwrap();
    assert_eq!(view.by_name.get("k7").map(|v| v.to_native()), Some(7));
    assert_eq!(view.lazy_map.view().unwrap().get("blob").map(|v| v.len()), Some(3));
}

#[test]
fn every_inline_field_type() {
    let e = Everything {
        a: 1,
        b: -(1 << 100),
        c: std::f64::consts::PI,
        d: true,
        e: 'ß',
        f: (),
        g: Some(Box::new((1, "boxed".into()))),
        h: [(1, true), (2, false), (3, true)],
        i: (7, "seven".into(), vec![-7]),
        j: std::time::Duration::from_millis(1500),
    };
    let archive = roundtrip(&e);
    let v = archive.root::<Everything>().unwrap();
    assert_eq!(v.e, 'ß');
    assert_eq!(v.g.as_ref().map(|b| b.1.as_str()), Some("boxed"));
}

#[test]
fn archived_views_print_like_the_native_values() {
    let t = Tuple(9, "nine".into(), vec![9; 2]);
    let archive = roundtrip(&t);
    let printed = format!("{:?}", archive.root::<Tuple>().unwrap());
    assert!(printed.starts_with("Tuple(9, \"nine\", Promise(ChunkRef {"), "{printed}");
    let s = Shape::Rect { w: 2.0, h: 3.0 };
    let archive = roundtrip(&s);
    assert_eq!(format!("{:?}", archive.root::<Shape>().unwrap()), "Rect { w: 2.0, h: 3.0 }");
    // Generic and recursive types too.
    let p = Pair { a: 1u32, b: "b".to_string(), more: vec![] };
    let archive = roundtrip(&p);
    assert!(
        format!("{:?}", archive.root::<Pair<u32, String>>().unwrap())
            .starts_with("Pair { a: 1, b: \"b\", more: Promise(")
    );
    let list = List::Cons(1, Box::new(List::Nil));
    let archive = roundtrip(&list);
    // (rkyv's own `Debug` of an archived `Box` prints its relative pointer.)
    assert!(format!("{:?}", archive.root::<List>().unwrap()).starts_with("Cons(1, "));
}
