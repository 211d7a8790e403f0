//! Schema evolution, rule by rule (`docs/EVOLUTION.md`): for each rule, an old and a
//! new version of one record type `Rec`, written by one and read by the other, in both
//! directions, in every place a record can be: inline in the root, in a lazy chunk, as
//! the elements of a sharded vector, as the values of a bucketed map, in an inline
//! vector and in an option. Every value read is compared with the expected conversion;
//! a direction the rules refuse is an error naming the field path.

use std::collections::HashMap;
use strata::{Archive, Error, Persist};

/// Records read back from each place, by place name.
pub type Read<R> = Vec<(&'static str, Vec<R>)>;

/// A carrier of records in every place a value can be.
pub trait Places: Persist + std::fmt::Debug + PartialEq {
    type Rec: Persist + std::fmt::Debug + PartialEq + Clone;
    /// A carrier holding `recs` (at least one) everywhere.
    fn build(recs: &[Self::Rec]) -> Self;
    /// Every place read back through the views a program uses, by place name.
    fn read(archive: &Archive) -> strata::Result<Read<Self::Rec>>;
}

/// The carrier, the same in every version: only `Rec` changes between them.
macro_rules! carrier {
    () => {
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Carrier {
            pub inline: Rec,
            #[strata(lazy)]
            pub lazy: Rec,
            #[strata(shard, shard_bytes = 1024)]
            pub shard: Vec<Rec>,
            #[strata(map)]
            pub map: std::collections::HashMap<u32, Rec>,
            pub list: Vec<Rec>,
            pub maybe: Option<Rec>,
        }

        impl crate::Places for Carrier {
            type Rec = Rec;

            fn build(recs: &[Rec]) -> Self {
                Carrier {
                    inline: recs[0].clone(),
                    lazy: recs[recs.len() - 1].clone(),
                    shard: recs.to_vec(),
                    map: recs.iter().cloned().enumerate().map(|(i, r)| (i as u32, r)).collect(),
                    list: recs.to_vec(),
                    maybe: Some(recs[recs.len() / 2].clone()),
                }
            }

            fn read(archive: &strata::Archive) -> strata::Result<crate::Read<Rec>> {
                let root = archive.root::<Carrier>()?;
                let n = root.shard.len();
                let mut out = Vec::new();
                out.push(("inline", vec![strata::deserialize::<Rec>(&root.inline)?]));
                out.push(("lazy load", vec![root.lazy.load()?]));
                out.push(("lazy view", vec![strata::deserialize::<Rec>(&*root.lazy.view()?)?]));
                // Element by element twice: the first reads transcode single elements,
                // later ones the whole shard.
                for name in ["shard get", "shard get again"] {
                    let mut got = Vec::new();
                    for i in 0..n {
                        got.push(strata::deserialize::<Rec>(root.shard.get(i)?.expect("in range").get())?);
                    }
                    out.push((name, got));
                }
                let mut got = Vec::new();
                for e in root.shard.iter() {
                    got.push(strata::deserialize::<Rec>(e?.get())?);
                }
                out.push(("shard iter", got));
                let mut got = Vec::new();
                for s in 0..root.shard.shard_count() {
                    for e in root.shard.shard(s)?.1.iter() {
                        got.push(strata::deserialize::<Rec>(e)?);
                    }
                }
                out.push(("shard by shard", got));
                out.push(("shard load", root.shard.load()?));
                let mut got = Vec::new();
                for k in 0..n as u32 {
                    got.push(strata::deserialize::<Rec>(root.map.get(&k)?.expect("present").value())?);
                }
                out.push(("map get", got));
                let mut entries = Vec::new();
                for e in root.map.iter() {
                    let e = e?;
                    entries.push((e.key().to_native(), strata::deserialize::<Rec>(e.value())?));
                }
                entries.sort_by_key(|(k, _)| *k);
                out.push(("map iter", entries.into_iter().map(|(_, v)| v).collect()));
                let mut loaded: Vec<(u32, Rec)> = root.map.load()?.into_iter().collect();
                loaded.sort_by_key(|(k, _)| *k);
                out.push(("map load", loaded.into_iter().map(|(_, v)| v).collect()));
                let mut got = Vec::new();
                for r in root.list.iter() {
                    got.push(strata::deserialize::<Rec>(r)?);
                }
                out.push(("list", got));
                let maybe = root.maybe.as_ref().expect("some");
                out.push(("maybe", vec![strata::deserialize::<Rec>(maybe)?]));
                Ok(out)
            }
        }
    };
}

/// The records a carrier built from `recs` holds in each place.
fn expected<R: Clone>(recs: &[R], place: &str) -> Vec<R> {
    match place {
        "inline" => vec![recs[0].clone()],
        "lazy load" | "lazy view" => vec![recs[recs.len() - 1].clone()],
        "maybe" => vec![recs[recs.len() / 2].clone()],
        _ => recs.to_vec(),
    }
}

/// Writes a carrier of `old` records, reads it as `N`, and compares every place with
/// the converted records, and the whole load with the carrier of converted records.
fn reads<O: Places, N: Places>(old: &[O::Rec], convert: impl Fn(&O::Rec) -> N::Rec) {
    let archive = Archive::from_bytes(strata::to_bytes(&O::build(old)).unwrap()).unwrap();
    let new: Vec<N::Rec> = old.iter().map(convert).collect();
    let places = N::read(&archive).unwrap_or_else(|e| panic!("reading as the other version: {e}"));
    assert_eq!(places.len(), 13);
    for (place, got) in places {
        assert_eq!(got, expected(&new, place), "{place}");
    }
    assert_eq!(archive.load::<N>().unwrap(), N::build(&new));
    // A second archive over a file, cold: the same values.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.strata");
    strata::save(&path, &O::build(old)).unwrap();
    let archive = Archive::open(&path).unwrap();
    assert_eq!(archive.load::<N>().unwrap(), N::build(&new));
}

/// Writes a carrier of `old` records and checks that reading it as `N` is refused
/// before any value is read, naming `path`.
fn refuses<O: Places, N: Places>(old: &[O::Rec], path: &str) {
    let archive = Archive::from_bytes(strata::to_bytes(&O::build(old)).unwrap()).unwrap();
    for result in [archive.root::<N>().err(), archive.load::<N>().err()] {
        match result {
            Some(Error::Incompatible { path: p, .. }) => assert_eq!(p, path),
            other => panic!("expected an incompatibility at {path}, got {other:?}"),
        }
    }
}

/// A field added with a default; in the other direction, a field removed.
mod added {
    pub fn seven() -> u8 {
        7
    }
    pub fn words() -> Vec<String> {
        vec!["default".into(), "a default longer than eight bytes".into()]
    }
    pub mod old {
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            pub a: u32,
            pub s: String,
        }
    }
    pub mod new {
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            #[strata(default)]
            pub b: u64,
            pub a: u32,
            #[strata(default = "crate::added::seven")]
            pub c: u8,
            pub s: String,
            #[strata(default = "crate::added::words")]
            pub t: Vec<String>,
            #[strata(lazy, default = "crate::added::words")]
            pub z: Vec<String>,
            #[strata(default)]
            pub o: Option<super::super::Point>,
        }
    }
}

#[derive(Persist, Debug, PartialEq, Clone, Default)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}

fn strings(i: u32) -> String {
    if i.is_multiple_of(2) { format!("s{i}") } else { format!("a string longer than eight bytes, number {i}") }
}

#[test]
fn an_added_field_reads_its_default_and_a_removed_one_is_skipped() {
    use added::{new, old};
    let olds: Vec<old::Rec> = (0..100).map(|i| old::Rec { a: i * 3, s: strings(i) }).collect();
    reads::<old::Carrier, new::Carrier>(&olds, |r| new::Rec {
        b: 0,
        a: r.a,
        c: 7,
        s: r.s.clone(),
        t: added::words(),
        z: added::words(),
        o: None,
    });
    let news: Vec<new::Rec> = (0..100)
        .map(|i| new::Rec {
            b: u64::from(i) << 40,
            a: i,
            c: i as u8,
            s: strings(i + 1),
            t: vec![strings(i)],
            z: vec![strings(i + 2); 3],
            o: Some(Point { x: -(i as i32), y: 1 }),
        })
        .collect();
    reads::<new::Carrier, old::Carrier>(&news, |r| old::Rec { a: r.a, s: r.s.clone() });
}

/// A field and a variant renamed, the old names given as aliases; a type renamed.
mod renamed {
    pub mod old {
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            pub name: String,
            pub n: u32,
            pub at: Place,
            pub k: Kind,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Place {
            pub x: i16,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub enum Kind {
            Small,
            Big(u32),
        }
    }
    pub mod new {
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            pub n: u32,
            #[strata(alias = "label", alias = "name")]
            pub title: String,
            pub at: Spot,
            pub k: Kind,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        #[strata(alias = "Place")]
        pub struct Spot {
            pub x: i16,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub enum Kind {
            #[strata(alias = "Small")]
            Tiny,
            Big(u32),
        }
    }
}

#[test]
fn renamed_fields_variants_and_types_read_through_their_aliases() {
    use renamed::{new, old};
    let olds: Vec<old::Rec> = (0..100)
        .map(|i| old::Rec {
            name: strings(i),
            n: i,
            at: old::Place { x: i as i16 - 10 },
            k: if i % 3 == 0 { old::Kind::Small } else { old::Kind::Big(i) },
        })
        .collect();
    reads::<old::Carrier, new::Carrier>(&olds, |r| new::Rec {
        n: r.n,
        title: r.name.clone(),
        at: new::Spot { x: r.at.x },
        k: match r.k {
            old::Kind::Small => new::Kind::Tiny,
            old::Kind::Big(b) => new::Kind::Big(b),
        },
    });
    // The old types know neither the new field name nor the new type name.
    let news: Vec<new::Rec> =
        (0..3).map(|i| new::Rec { n: i, title: strings(i), at: new::Spot { x: 1 }, k: new::Kind::Tiny }).collect();
    refuses::<new::Carrier, old::Carrier>(&news, "Carrier.inline.name");
}

/// Numbers widened.
mod widened {
    pub mod old {
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            pub a: u8,
            pub b: u16,
            pub c: u32,
            pub d: i8,
            pub e: i32,
            pub f: u32,
            pub g: f32,
            pub h: u64,
            pub i: i64,
            pub j: usize,
            pub v: Vec<u16>,
        }
    }
    pub mod new {
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            pub a: u16,
            pub b: u64,
            pub c: u64,
            pub d: i64,
            pub e: i64,
            pub f: i64,
            pub g: f64,
            pub h: u128,
            pub i: i128,
            pub j: u64,
            pub v: Vec<i32>,
        }
    }
}

#[test]
fn numbers_widen_and_never_narrow() {
    use widened::{new, old};
    let olds: Vec<old::Rec> = (0..100u32)
        .map(|i| old::Rec {
            a: u8::MAX - i as u8,
            b: u16::MAX - i as u16,
            c: u32::MAX - i,
            d: i8::MIN + i as i8,
            e: i32::MIN + i as i32,
            f: u32::MAX - i,
            g: i as f32 * -1.5,
            h: u64::MAX - u64::from(i),
            i: i64::MIN + i64::from(i),
            j: usize::MAX - i as usize,
            v: vec![u16::MAX, i as u16],
        })
        .collect();
    reads::<old::Carrier, new::Carrier>(&olds, |r| new::Rec {
        a: r.a.into(),
        b: r.b.into(),
        c: r.c.into(),
        d: r.d.into(),
        e: r.e.into(),
        f: r.f.into(),
        g: r.g.into(),
        h: r.h.into(),
        i: r.i.into(),
        j: r.j as u64,
        v: r.v.iter().map(|&x| x.into()).collect(),
    });
    let news = vec![new::Rec { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7.0, h: 8, i: 9, j: 10, v: vec![11] }];
    refuses::<new::Carrier, old::Carrier>(&news, "Carrier.inline.a");
}

/// A value wrapped in an `Option` or a `Box`; a box unwrapped.
mod wrapped {
    pub mod old {
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            pub a: u32,
            pub s: String,
            pub p: super::super::Point,
            pub b: Box<u16>,
        }
    }
    pub mod new {
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        #[allow(clippy::box_collection, reason = "the rule under test: a value becomes a `Box`")]
        pub struct Rec {
            pub a: Option<u32>,
            pub s: Box<String>,
            pub p: Option<Box<super::super::Point>>,
            pub b: u32,
        }
    }
}

#[test]
fn values_become_options_and_boxes() {
    use wrapped::{new, old};
    let olds: Vec<old::Rec> = (0..100)
        .map(|i| old::Rec { a: i, s: strings(i), p: Point { x: i as i32, y: -(i as i32) }, b: Box::new(i as u16) })
        .collect();
    reads::<old::Carrier, new::Carrier>(&olds, |r| new::Rec {
        a: Some(r.a),
        s: Box::new(r.s.clone()),
        p: Some(Box::new(r.p.clone())),
        b: u32::from(*r.b),
    });
    let news = vec![new::Rec { a: None, s: Box::new("x".into()), p: None, b: 1 }];
    refuses::<new::Carrier, old::Carrier>(&news, "Carrier.inline.a");
}

/// A field moved between inline and lazy storage, both ways.
mod storage {
    pub mod old {
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            pub a: u32,
            #[strata(lazy)]
            pub big: Vec<String>,
            pub small: super::super::Point,
        }
    }
    pub mod new {
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            pub a: u32,
            pub big: Vec<String>,
            #[strata(lazy)]
            pub small: super::super::Point,
        }
    }
}

#[test]
fn fields_move_between_inline_and_lazy_both_ways() {
    use storage::{new, old};
    let olds: Vec<old::Rec> = (0..100)
        .map(|i| old::Rec { a: i, big: (0..i % 4).map(strings).collect(), small: Point { x: i as i32, y: 2 } })
        .collect();
    reads::<old::Carrier, new::Carrier>(&olds, |r| new::Rec { a: r.a, big: r.big.clone(), small: r.small.clone() });
    let news: Vec<new::Rec> = (0..100)
        .map(|i| new::Rec { a: i, big: (0..i % 5).map(strings).collect(), small: Point { x: 5, y: i as i32 } })
        .collect();
    reads::<new::Carrier, old::Carrier>(&news, |r| old::Rec { a: r.a, big: r.big.clone(), small: r.small.clone() });
}

/// Enums: variants added; a file variant the reader lacks, with and without `other`.
mod variants {
    pub mod old {
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            pub k: Kind,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub enum Kind {
            A,
            B(u32),
            C { s: String },
        }
    }
    pub mod new {
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            pub k: Kind,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub enum Kind {
            Z(String),
            A,
            C {
                s: String,
                #[strata(default)]
                n: u64,
            },
            B(u32),
        }
    }
    pub mod other {
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            pub k: Kind,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub enum Kind {
            A,
            #[strata(other)]
            Unknown,
            B(u32),
        }
    }
}

#[test]
fn enums_gain_variants_and_unknown_ones_are_errors_where_reached_or_other() {
    use variants::{new, old, other};
    let olds: Vec<old::Rec> = (0..100)
        .map(|i| old::Rec {
            k: match i % 3 {
                0 => old::Kind::A,
                1 => old::Kind::B(i),
                _ => old::Kind::C { s: strings(i) },
            },
        })
        .collect();
    reads::<old::Carrier, new::Carrier>(&olds, |r| new::Rec {
        k: match &r.k {
            old::Kind::A => new::Kind::A,
            old::Kind::B(b) => new::Kind::B(*b),
            old::Kind::C { s } => new::Kind::C { s: s.clone(), n: 0 },
        },
    });
    // Unknown variants read as the reader's `other` variant.
    reads::<old::Carrier, other::Carrier>(&olds, |r| other::Rec {
        k: match &r.k {
            old::Kind::A => other::Kind::A,
            old::Kind::B(b) => other::Kind::B(*b),
            old::Kind::C { .. } => other::Kind::Unknown,
        },
    });

    // A newer file: the old types read every value but the one holding variant `Z`,
    // which is an error naming it where it is reached.
    let news: Vec<new::Rec> =
        (0..100).map(|i| new::Rec { k: if i == 17 { new::Kind::Z(strings(i)) } else { new::Kind::A } }).collect();
    let carrier = new::Carrier {
        inline: news[0].clone(),
        lazy: news[17].clone(),
        shard: news.clone(),
        map: news.iter().cloned().enumerate().map(|(i, r)| (i as u32, r)).collect(),
        list: Vec::new(),
        maybe: None,
    };
    let archive = Archive::from_bytes(strata::to_bytes(&carrier).unwrap()).unwrap();
    let root = archive.root::<old::Carrier>().unwrap();
    // The error names the place the value was reached.
    let unknown = |e: Error, at: &str| match e {
        Error::UnknownVariant { path, ty, variant, .. } => {
            assert_eq!((path.as_str(), ty.as_str(), variant.as_str()), (at, "Kind", "Z"));
        }
        other => panic!("expected an unknown variant, got {other}"),
    };
    unknown(root.lazy.load().unwrap_err(), "Carrier.lazy.k");
    for round in 0..3 {
        for i in 0..100u64 {
            match root.shard.get(i as usize) {
                Ok(e) => {
                    assert_ne!(i, 17, "round {round}");
                    assert_eq!(strata::deserialize::<old::Rec>(e.unwrap().get()).unwrap().k, old::Kind::A);
                }
                Err(e) => {
                    assert_eq!(i, 17, "round {round}");
                    unknown(e, "Carrier.shard[].k");
                }
            }
            match root.map.get(&(i as u32)) {
                Ok(e) => {
                    assert_ne!(i, 17);
                    assert_eq!(strata::deserialize::<old::Rec>(e.unwrap().value()).unwrap().k, old::Kind::A);
                }
                Err(e) => unknown(e, "Carrier.map[].k"),
            }
        }
    }
    let iterated: Vec<strata::Result<_>> = root.shard.iter().collect();
    assert_eq!(iterated.iter().filter(|r| r.is_err()).count(), 1);
    assert!(iterated[17].is_err());
    unknown(root.shard.load().unwrap_err(), "Carrier.shard[].k");
    let whole = archive.load::<old::Carrier>().unwrap_err();
    assert!(matches!(&whole, Error::UnknownVariant { path, .. } if path != "Carrier.inline.k"), "{whole}");
    // With `other`, the same file reads whole.
    let loaded = archive.load::<other::Carrier>().unwrap();
    assert_eq!(loaded.lazy.k, other::Kind::Unknown);
    assert_eq!(loaded.shard.iter().filter(|r| r.k == other::Kind::Unknown).count(), 1);
}

/// Changes the rules refuse: each an error naming the field path, before any value is
/// read.
mod refused {
    pub mod old {
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Doc {
            pub n: u64,
            pub s: String,
            #[strata(shard)]
            pub v: Vec<u32>,
            #[strata(map)]
            pub m: std::collections::HashMap<u32, String>,
            pub e: E,
            pub f: f64,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub enum E {
            A(u32),
        }
    }
    pub mod narrowed {
        use std::collections::HashMap;
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Doc {
            pub n: u32,
            pub s: String,
            #[strata(shard)]
            pub v: Vec<u32>,
            #[strata(map)]
            pub m: HashMap<u32, String>,
            pub e: E,
            pub f: f64,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub enum E {
            A(u32),
        }
    }
    pub mod string_to_number {
        use std::collections::HashMap;
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Doc {
            pub n: u64,
            pub s: u64,
            #[strata(shard)]
            pub v: Vec<u32>,
            #[strata(map)]
            pub m: HashMap<u32, String>,
            pub e: E,
            pub f: f64,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub enum E {
            A(u32),
        }
    }
    pub mod shard_to_inline {
        use std::collections::HashMap;
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Doc {
            pub n: u64,
            pub s: String,
            pub v: Vec<u32>,
            #[strata(map)]
            pub m: HashMap<u32, String>,
            pub e: E,
            pub f: f64,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub enum E {
            A(u32),
        }
    }
    pub mod map_key {
        use std::collections::HashMap;
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Doc {
            pub n: u64,
            pub s: String,
            #[strata(shard)]
            pub v: Vec<u32>,
            #[strata(map)]
            pub m: HashMap<u64, String>,
            pub e: E,
            pub f: f64,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub enum E {
            A(u32),
        }
    }
    pub mod missing_without_default {
        use std::collections::HashMap;
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Doc {
            pub n: u64,
            pub s: String,
            #[strata(shard)]
            pub v: Vec<u32>,
            #[strata(map)]
            pub m: HashMap<u32, String>,
            pub e: E,
            pub f: f64,
            pub extra: u8,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub enum E {
            A(u32),
        }
    }
    pub mod float_to_int {
        use std::collections::HashMap;
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Doc {
            pub n: u64,
            pub s: String,
            #[strata(shard)]
            pub v: Vec<u32>,
            #[strata(map)]
            pub m: HashMap<u32, String>,
            pub e: E,
            pub f: i64,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub enum E {
            A(u32),
        }
    }
    pub mod element_narrowed {
        use std::collections::HashMap;
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Doc {
            pub n: u64,
            pub s: String,
            #[strata(shard)]
            pub v: Vec<u16>,
            #[strata(map)]
            pub m: HashMap<u32, String>,
            pub e: E,
            pub f: f64,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub enum E {
            A(u32),
        }
    }
    pub mod value_changed {
        use std::collections::HashMap;
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Doc {
            pub n: u64,
            pub s: String,
            #[strata(shard)]
            pub v: Vec<u32>,
            #[strata(map)]
            pub m: HashMap<u32, u32>,
            pub e: E,
            pub f: f64,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub enum E {
            A(u32),
        }
    }
}

#[test]
fn incompatible_changes_are_errors_naming_the_field() {
    use refused::*;
    let doc =
        old::Doc { n: 1, s: "s".into(), v: vec![1, 2], m: HashMap::from([(1, "one".into())]), e: old::E::A(3), f: 0.5 };
    let archive = Archive::from_bytes(strata::to_bytes(&doc).unwrap()).unwrap();
    let check = |e: Option<Error>, path: &str, why: &str| match e {
        Some(Error::Incompatible { path: p, why: w, .. }) => {
            assert_eq!(p, path);
            assert!(w.contains(why), "{w}");
        }
        other => panic!("{path}: expected an incompatibility, got {other:?}"),
    };
    check(archive.root::<narrowed::Doc>().err(), "Doc.n", "widening");
    check(archive.root::<string_to_number::Doc>().err(), "Doc.s", "differ");
    check(archive.root::<shard_to_inline::Doc>().err(), "Doc.v", "sharded");
    check(archive.root::<map_key::Doc>().err(), "Doc.m", "key type");
    check(archive.root::<missing_without_default::Doc>().err(), "Doc.extra", "default");
    check(archive.root::<float_to_int::Doc>().err(), "Doc.f", "widening");
    check(archive.root::<element_narrowed::Doc>().err(), "Doc.v[]", "widening");
    check(archive.root::<value_changed::Doc>().err(), "Doc.m[]", "differ");
    // Another type altogether stays a type mismatch.
    assert!(matches!(archive.root::<Point>(), Err(Error::TypeMismatch { .. })));
    assert!(matches!(archive.root::<u64>(), Err(Error::TypeMismatch { .. })));
}

/// Values stored in rkyv's own layout (inline maps and sets) inside a record whose
/// layout changed: moved by the reading type.
mod inline_maps {
    pub mod old {
        use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            pub a: u16,
            pub attrs: HashMap<String, u32>,
            pub order: BTreeMap<u8, String>,
            pub tags: HashSet<String>,
            pub seen: BTreeSet<u64>,
        }
    }
    pub mod new {
        use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
        carrier!();
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            #[strata(default)]
            pub first: Option<String>,
            pub a: u64,
            pub attrs: HashMap<String, u32>,
            pub order: BTreeMap<u8, String>,
            pub tags: HashSet<String>,
            pub seen: BTreeSet<u64>,
        }
    }
    /// A map whose values hold a lazy field: its entries hold chunks of their own,
    /// which strata cannot move inside a changed record.
    pub mod chunky {
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Note {
            #[strata(lazy)]
            pub text: String,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Doc {
            pub n: u32,
            pub notes: std::collections::HashMap<u32, Note>,
        }
    }
    pub mod chunky_new {
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Note {
            #[strata(lazy)]
            pub text: String,
        }
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Doc {
            pub n: u64,
            pub notes: std::collections::HashMap<u32, Note>,
        }
    }
}

#[test]
fn inline_maps_and_sets_move_with_the_records_around_them() {
    use inline_maps::{chunky, chunky_new, new, old};
    let olds: Vec<old::Rec> = (0..60)
        .map(|i| old::Rec {
            a: i as u16,
            attrs: (0..i % 5).map(|k| (strings(i + k), k * i)).collect(),
            order: (0..i % 4).map(|k| (k as u8, strings(k))).collect(),
            tags: (0..i % 3).map(strings).collect(),
            seen: (0..u64::from(i % 6)).map(|k| k << 33).collect(),
        })
        .collect();
    reads::<old::Carrier, new::Carrier>(&olds, |r| new::Rec {
        first: None,
        a: u64::from(r.a),
        attrs: r.attrs.clone(),
        order: r.order.clone(),
        tags: r.tags.clone(),
        seen: r.seen.clone(),
    });
    let news: Vec<new::Rec> = olds
        .iter()
        .map(|r| new::Rec {
            first: Some(strings(u32::from(r.a))),
            a: u64::from(r.a) * 3,
            attrs: r.attrs.clone(),
            order: r.order.clone(),
            tags: r.tags.clone(),
            seen: r.seen.clone(),
        })
        .collect();
    refuses::<new::Carrier, old::Carrier>(&news, "Carrier.inline.a");

    let doc = chunky::Doc { n: 1, notes: [(1, chunky::Note { text: "lazy".into() })].into() };
    let archive = Archive::from_bytes(strata::to_bytes(&doc).unwrap()).unwrap();
    match archive.root::<chunky_new::Doc>() {
        Err(Error::Incompatible { path, why, .. }) => {
            assert_eq!(path, "Doc.notes");
            assert!(why.contains("cannot be moved"), "{why}");
        }
        other => panic!("expected an incompatibility, got {:?}", other.map(|_| ())),
    }
}

mod nested {
    pub mod old {
        #[derive(strata::Persist, Debug, PartialEq)]
        pub struct Node {
            pub value: u32,
            pub next: Option<Box<Node>>,
        }
    }
    pub mod new {
        #[derive(strata::Persist, Debug, PartialEq)]
        pub struct Node {
            pub value: u64,
            #[strata(default)]
            pub weight: u16,
            pub next: Option<Box<Node>>,
        }
    }
}

/// A recursive value whose type changed is transcoded on a stack that grows: a list
/// 20,000 nodes deep reads through a plan on a thread with 256 KiB of stack.
#[test]
fn a_deep_value_of_a_changed_recursive_type_transcodes_without_overflow() {
    use nested::{new, old};
    const DEPTH: u32 = 20_000;
    let mut list = old::Node { value: 0, next: None };
    for i in 1..DEPTH {
        list = old::Node { value: i, next: Some(Box::new(list)) };
    }
    let bytes = strata::to_bytes(&list).unwrap();
    let mut link = list.next.take();
    while let Some(mut node) = link {
        link = node.next.take();
    }
    let (count, last) = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || {
            let archive = Archive::from_bytes(bytes).unwrap();
            let mut node = archive.root::<new::Node>().unwrap();
            let mut count = 1u32;
            while let Some(next) = node.next.as_ref() {
                assert_eq!(node.weight.to_native(), 0);
                node = next;
                count += 1;
            }
            (count, node.value.to_native())
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!((count, last), (DEPTH, 0));
}

mod reordered {
    pub mod old {
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            pub id: u32,
            pub name: String,
            pub tags: Vec<u32>,
        }
        #[derive(strata::Persist, Debug, PartialEq)]
        pub struct Db {
            #[strata(shard, shard_bytes = 2048)]
            pub recs: Vec<Rec>,
            #[strata(map)]
            pub by_id: std::collections::HashMap<u32, Rec>,
        }
    }
    pub mod new {
        /// The fields in another order, one widened, one added.
        #[derive(strata::Persist, Debug, PartialEq, Clone)]
        pub struct Rec {
            pub tags: Vec<u32>,
            #[strata(default)]
            pub note: u8,
            pub id: u64,
            pub name: String,
        }
        #[derive(strata::Persist, Debug, PartialEq)]
        pub struct Db {
            #[strata(shard, shard_bytes = 2048)]
            pub recs: Vec<Rec>,
            #[strata(map)]
            pub by_id: std::collections::HashMap<u32, Rec>,
        }
    }
}

/// Records whose fields moved (their out-of-line bytes now come in another order), were
/// widened or added: shards and map entries read whole, element by element and by key.
#[test]
fn moved_widened_and_added_fields_read_in_shards_and_maps() {
    use reordered::{new, old};
    let recs: Vec<old::Rec> = (0..2_000u32)
        .map(|i| old::Rec { id: i, name: format!("a name longer than eight bytes {i}"), tags: (0..i % 5).collect() })
        .collect();
    let db = old::Db { recs: recs.clone(), by_id: recs.iter().map(|r| (r.id, r.clone())).collect() };
    let convert = |r: &old::Rec| new::Rec { tags: r.tags.clone(), note: 0, id: u64::from(r.id), name: r.name.clone() };
    let archive = Archive::from_bytes(strata::to_bytes(&db).unwrap()).unwrap();
    let loaded: new::Db = archive.load().unwrap();
    assert_eq!(loaded.recs, recs.iter().map(convert).collect::<Vec<_>>());
    assert_eq!(loaded.by_id.len(), recs.len());
    assert!(recs.iter().all(|r| loaded.by_id.get(&r.id) == Some(&convert(r))));
    let root = archive.root::<new::Db>().unwrap();
    for i in [0usize, 777, 1_999] {
        assert_eq!(root.recs.get(i).unwrap().unwrap().load().unwrap(), convert(&recs[i]));
        let key = u32::try_from(i).unwrap();
        assert_eq!(root.by_id.get(&key).unwrap().unwrap().load().unwrap(), convert(&recs[i]));
    }
}
