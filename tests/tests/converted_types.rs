//! Standard types stored as another type's archived form (`Box<str>`, `Arc<str>`,
//! `Wrapping`, `Reverse`, `BinaryHeap`, `LinkedList`, `Cow`), and foreign types stored
//! through `#[strata(via = "U")]`: round trips in every storage, views, files read
//! across the converted and the plain type, and decoding without the Rust types.

use proptest::prelude::*;
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, LinkedList};
use std::num::Wrapping;
use std::sync::Arc;
use strata::{Archive, Persist, SaveOptions};

/// A type from "another crate": not `Persist`, convertible to and from `[f32; 3]`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Vec3 {
    x: f32,
    y: f32,
    z: f32,
}

impl From<Vec3> for [f32; 3] {
    fn from(v: Vec3) -> Self {
        [v.x, v.y, v.z]
    }
}

impl From<[f32; 3]> for Vec3 {
    fn from([x, y, z]: [f32; 3]) -> Self {
        Self { x, y, z }
    }
}

/// A foreign identifier stored as a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Sku(String);

impl From<Sku> for String {
    fn from(s: Sku) -> Self {
        s.0
    }
}

impl From<String> for Sku {
    fn from(s: String) -> Self {
        Self(s)
    }
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Item {
    name: Box<str>,
    tag: Arc<str>,
    counter: Wrapping<u32>,
    rank: Reverse<i64>,
    label: Cow<'static, str>,
    weights: Cow<'static, [u16]>,
    history: LinkedList<String>,
    maybe: Option<Wrapping<u8>>,
    many: Vec<Reverse<u16>>,
    #[strata(via = "[f32; 3]")]
    position: Vec3,
    #[strata(via = "String")]
    sku: Sku,
}

/// `BinaryHeap` has no `PartialEq`: compared through its stored order.
#[derive(Persist, Debug, Clone)]
struct Queue {
    jobs: BinaryHeap<(u32, String)>,
    #[strata(lazy)]
    lazy_jobs: Vec<Item>,
    #[strata(shard)]
    items: Vec<Item>,
    #[strata(map)]
    by_name: HashMap<Box<str>, Item>,
}

fn item(i: u32) -> Item {
    Item {
        name: format!("item-{i}").into_boxed_str(),
        tag: Arc::from(if i.is_multiple_of(2) { "even" } else { "odd tag longer than eight" }),
        counter: Wrapping(u32::MAX - i),
        rank: Reverse(-(i64::from(i))),
        label: if i.is_multiple_of(3) { Cow::Borrowed("static label") } else { Cow::Owned(format!("label {i}")) },
        weights: Cow::Owned((0..(i % 7) as u16).collect()),
        history: (0..i % 4).map(|k| format!("h{k}")).collect(),
        maybe: (!i.is_multiple_of(5)).then_some(Wrapping(i as u8)),
        many: (0..i % 3).map(|k| Reverse(k as u16)).collect(),
        position: Vec3 { x: i as f32, y: -(i as f32), z: 0.5 },
        sku: Sku(format!("SKU-{i:06}")),
    }
}

fn queue(n: u32) -> Queue {
    let items: Vec<Item> = (0..n).map(item).collect();
    Queue {
        jobs: (0..n.min(50)).map(|i| (i * 7 % 13, format!("job {i}"))).collect(),
        lazy_jobs: items.iter().take(10).cloned().collect(),
        by_name: items.iter().map(|it| (it.name.clone(), it.clone())).collect(),
        items,
    }
}

fn same(a: &Queue, b: &Queue) {
    assert_eq!(a.jobs.as_slice(), b.jobs.as_slice(), "the heap keeps its stored order");
    assert_eq!(a.lazy_jobs, b.lazy_jobs);
    assert_eq!(a.items, b.items);
    assert_eq!(a.by_name, b.by_name);
}

#[test]
fn converted_and_via_fields_round_trip_in_every_storage() -> strata::Result<()> {
    let value = queue(2000);
    for options in [SaveOptions::new(), SaveOptions::new().compression(strata::Codec::Zstd(3))] {
        let bytes = options.to_bytes(&value)?;
        same(&strata::from_bytes::<Queue>(&bytes)?, &value);
        let archive = Archive::from_bytes(bytes)?;
        assert!(archive.verify()?.is_ok());
        let root = archive.root::<Queue>()?;
        // Views are the stored types' archived forms.
        let v = root.items.get(1234)?.ok_or(strata::Error::Detached)?;
        let it = &value.items[1234];
        assert_eq!(v.name.as_ref(), &*it.name);
        assert_eq!(v.tag.as_ref(), &*it.tag);
        assert_eq!(v.counter, it.counter.0);
        assert_eq!(v.rank, it.rank.0);
        assert_eq!(v.label.as_str(), it.label);
        assert_eq!(v.weights.as_slice(), &*it.weights);
        assert_eq!(v.history.len(), it.history.len());
        assert_eq!(v.position, <[f32; 3]>::from(it.position));
        assert_eq!(v.sku.as_str(), it.sku.0);
        assert_eq!(v.load()?, *it);
        let by_name = root.by_name.get(&Box::<str>::from("item-77"))?.ok_or(strata::Error::Detached)?;
        assert_eq!(by_name.load()?, value.items[77]);
    }
    Ok(())
}

#[test]
fn shared_strings_stay_shared_within_a_chunk() -> strata::Result<()> {
    #[derive(Persist, Debug, PartialEq)]
    struct Interned {
        names: Vec<Arc<str>>,
    }
    let a: Arc<str> = Arc::from("a string long enough to be stored out of line".repeat(20));
    let b: Arc<str> = Arc::from("another");
    let v = Interned { names: (0..1000).map(|i| Arc::clone(if i % 4 == 0 { &b } else { &a })).collect() };
    let bytes = strata::to_bytes(&v)?;
    assert!(bytes.len() < 100 * a.len(), "each string is stored once: {} bytes", bytes.len());
    let loaded: Interned = strata::from_bytes(&bytes)?;
    assert_eq!(loaded, v);
    assert!(loaded.names.iter().skip(1).take(3).all(|n| Arc::ptr_eq(n, &loaded.names[1])));
    Ok(())
}

/// Files written with the plain types and read with the converted ones, and back.
mod plain {
    #[derive(strata::Persist, Debug, PartialEq)]
    pub struct Rec {
        pub name: Box<str>,
        pub counter: u32,
        pub queue: Vec<u32>,
        pub label: String,
        pub position: [f32; 3],
    }
}

mod converted {
    #[derive(strata::Persist, Debug)]
    pub struct Rec {
        pub name: std::sync::Arc<str>,
        pub counter: std::num::Wrapping<u32>,
        pub queue: std::collections::BinaryHeap<u32>,
        pub label: std::borrow::Cow<'static, str>,
        #[strata(via = "[f32; 3]")]
        pub position: super::Vec3,
    }
}

#[test]
fn converted_types_read_files_of_their_stored_types() -> strata::Result<()> {
    let heap: BinaryHeap<u32> = [5, 1, 9, 3].into_iter().collect();
    let p = plain::Rec {
        name: "n".into(),
        counter: 7,
        queue: heap.clone().into_vec(),
        label: "l".into(),
        position: [1.0, 2.0, 3.0],
    };
    let archive = Archive::from_bytes(strata::to_bytes(&p)?)?;
    // The same schema: read in place, no transcoding.
    assert_eq!(archive.footer().type_fingerprint, strata::schema::schema_of::<converted::Rec>().fingerprint);
    let c: converted::Rec = archive.load()?;
    assert_eq!((&*c.name, c.counter.0, c.label.as_ref()), ("n", 7, "l"));
    assert_eq!(c.queue.as_slice(), heap.as_slice());
    assert_eq!(c.position, Vec3 { x: 1.0, y: 2.0, z: 3.0 });
    let back: plain::Rec = strata::from_bytes(&strata::to_bytes(&c)?)?;
    assert_eq!(back, p);
    Ok(())
}

#[test]
fn converted_types_decode_without_their_rust_types() -> strata::Result<()> {
    let archive = Archive::from_bytes(strata::to_bytes(&item(12))?)?;
    assert_eq!(archive.value_at("name")?.as_str(), Some("item-12"));
    assert_eq!(archive.value_at("tag")?.as_str(), Some("even"));
    assert_eq!(archive.value_at("counter")?.as_u64(), Some(u64::from(u32::MAX - 12)));
    assert_eq!(archive.value_at("label")?.as_str(), Some("static label"));
    assert_eq!(archive.value_at("sku")?.as_str(), Some("SKU-000012"));
    assert!(matches!(archive.value_at("history")?, strata::Value::Seq(h) if h.is_empty()));
    let schema = archive.schema_text()?;
    assert!(schema.contains("name @0: Box<str>"), "{schema}");
    Ok(())
}

#[test]
fn a_box_str_file_is_not_read_as_a_string() -> strata::Result<()> {
    mod a {
        #[derive(strata::Persist)]
        pub struct R {
            pub s: Box<str>,
        }
    }
    mod b {
        #[derive(strata::Persist, Debug)]
        pub struct R {
            pub s: String,
        }
    }
    let archive = Archive::from_bytes(strata::to_bytes(&a::R { s: "x".into() })?)?;
    let e = archive.load::<b::R>().map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("R.s") && e.to_string().contains("Box<str>"), "{e}");
    Ok(())
}

#[test]
fn invalid_utf8_in_a_boxed_str_is_an_error() -> strata::Result<()> {
    #[derive(Persist, Debug)]
    struct R {
        s: Box<str>,
    }
    // The string's bytes replaced by bytes that are not UTF-8, the root resealed.
    let mut bytes = strata::to_bytes(&R { s: "a string stored out of line".into() })?;
    let at = bytes.windows(8).position(|w| w == b"a string").ok_or(strata::Error::Detached)?;
    bytes[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
    let archive = Archive::from_bytes(strata_tests::hostile::reseal_root(&bytes))?;
    assert!(archive.root::<R>().is_err());
    assert!(archive.load::<R>().is_err());
    assert!(archive.value().is_err());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_converted_value_round_trips(
        seeds in proptest::collection::vec(any::<u32>(), 0..60),
        names in proptest::collection::vec(".{0,20}", 0..20),
        heap in proptest::collection::vec(any::<i32>(), 0..40),
        compress in any::<bool>(),
    ) {
        let mut value = queue(0);
        value.items = seeds.iter().map(|&s| item(s % 100_000)).collect();
        for (it, n) in value.items.iter_mut().zip(&names) {
            it.name = n.clone().into_boxed_str();
            it.tag = Arc::from(n.as_str());
            it.label = Cow::Owned(n.clone());
            it.sku = Sku(n.chars().rev().collect());
        }
        value.by_name = value.items.iter().map(|it| (it.name.clone(), it.clone())).collect();
        value.jobs = heap.iter().map(|&h| (h as u32, h.to_string())).collect();
        let options = if compress { SaveOptions::new().compression(strata::Codec::Zstd(1)) } else { SaveOptions::new() };
        let bytes = options.to_bytes(&value)?;
        same(&strata::from_bytes::<Queue>(&bytes)?, &value);
        let dir = tempfile::tempdir().map_err(strata::Error::Io)?;
        let path = dir.path().join("q.strata");
        options.save(&path, &value)?;
        same(&strata::load::<Queue>(&path)?, &value);
        // Deterministic: the same value gives the same bytes.
        prop_assert_eq!(options.to_bytes(&value)?, bytes);
    }
}
