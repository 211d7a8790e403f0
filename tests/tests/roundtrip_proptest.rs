//! Property tests: generated values of a rich model survive save and open, and every
//! field reads back equal through views, promises and full loads.

use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use strata::{Access, Archive, Codec, OpenOptions, Persist, SaveOptions};

#[derive(Persist, Debug, PartialEq, Clone)]
enum Kind {
    Plain,
    Weighted(f64),
    Named { name: String, aliases: Vec<String> },
    Deferred(#[strata(lazy)] Vec<u32>),
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Inner<T> {
    value: T,
    maybe: Option<String>,
    #[strata(lazy, compress = "zstd")]
    packed: Vec<T>,
}

#[derive(Persist, Debug, PartialEq, Clone)]
struct Model {
    id: u64,
    label: String,
    kind: Kind,
    inner: Inner<i32>,
    counts: HashMap<String, u32>,
    ordered: BTreeMap<u16, Vec<u8>>,
    pair: (bool, char),
    #[strata(lazy)]
    lines: Vec<String>,
    #[strata(lazy)]
    nested: Inner<u64>,
    #[strata(lazy, compress = "none")]
    kinds: Vec<Kind>,
    empty: Vec<u8>,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Plain),
        any::<f64>().prop_filter("NaN is not equal to itself", |f| !f.is_nan()).prop_map(Kind::Weighted),
        (".{0,12}", prop::collection::vec(".{0,6}", 0..4)).prop_map(|(name, aliases)| Kind::Named { name, aliases }),
        prop::collection::vec(any::<u32>(), 0..50).prop_map(Kind::Deferred),
    ]
}

fn inner<T: Arbitrary + Clone + std::fmt::Debug>() -> impl Strategy<Value = Inner<T>> {
    (any::<T>(), prop::option::of(".{0,10}"), prop::collection::vec(any::<T>(), 0..300))
        .prop_map(|(value, maybe, packed)| Inner { value, maybe, packed })
}

fn model() -> impl Strategy<Value = Model> {
    (
        any::<u64>(),
        ".{0,40}",
        kind(),
        inner::<i32>(),
        prop::collection::hash_map(".{0,8}", any::<u32>(), 0..20),
        prop::collection::btree_map(any::<u16>(), prop::collection::vec(any::<u8>(), 0..8), 0..10),
        any::<(bool, char)>(),
        prop::collection::vec(".{0,30}", 0..40),
        inner::<u64>(),
        prop::collection::vec(kind(), 0..10),
    )
        .prop_map(|(id, label, kind, inner, counts, ordered, pair, lines, nested, kinds)| Model {
            id,
            label,
            kind,
            inner,
            counts,
            ordered,
            pair,
            lines,
            nested,
            kinds,
            empty: Vec::new(),
        })
}

fn check_views(archive: &Archive, m: &Model) -> strata::Result<()> {
    let v = archive.root::<Model>()?;
    assert_eq!(v.id, m.id);
    assert_eq!(v.label, m.label);
    assert_eq!(v.inner.value, m.inner.value);
    assert_eq!(v.inner.maybe.as_ref().map(|s| s.as_str()), m.inner.maybe.as_deref());
    assert_eq!(v.inner.packed.load()?, m.inner.packed);
    assert_eq!(v.inner.packed.view()?.len(), m.inner.packed.len());
    assert_eq!(v.counts.len(), m.counts.len());
    for (k, val) in &m.counts {
        assert_eq!(v.counts.get(k.as_str()).map(|x| x.to_native()), Some(*val));
    }
    assert_eq!(v.pair.1, m.pair.1);
    assert_eq!(v.lines.load()?, m.lines);
    let nested = v.nested.view()?;
    assert_eq!(nested.value, m.nested.value);
    assert_eq!(nested.packed.load()?, m.nested.packed);
    assert_eq!(v.nested.load()?, m.nested);
    assert_eq!(v.kinds.load()?, m.kinds);
    if let (ArchivedKind::Deferred(p), Kind::Deferred(e)) = (&v.kind, &m.kind) {
        assert_eq!(&p.load()?, e);
    }
    assert!(v.empty.is_empty());
    assert_eq!(&archive.load::<Model>()?, m);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn roundtrip_uncompressed(m in model()) {
        let archive = Archive::from_bytes(strata::to_bytes(&m).unwrap()).unwrap();
        check_views(&archive, &m).unwrap();
    }

    #[test]
    fn roundtrip_compressed_by_default(m in model(), level in 1i32..6) {
        let bytes = SaveOptions::new().compression(Codec::Zstd(level)).to_bytes(&m).unwrap();
        let archive = Archive::from_bytes(bytes).unwrap();
        check_views(&archive, &m).unwrap();
        // `compress = "none"` wins over the default.
        prop_assert!(!archive.root::<Model>().unwrap().kinds.is_compressed());
    }

    #[test]
    fn roundtrip_through_a_file(m in model()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.strata");
        strata::save(&path, &m).unwrap();
        let archive = Archive::open(&path).unwrap();
        check_views(&archive, &m).unwrap();
    }

    #[test]
    fn roundtrip_through_a_mapped_file_and_a_small_cache(m in model(), zstd in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.strata");
        let codec = if zstd { Codec::Zstd(1) } else { Codec::None };
        SaveOptions::new().compression(codec).save(&path, &m).unwrap();
        for options in [OpenOptions::new().access(Access::Map), OpenOptions::new().cache_limit(0)] {
            let archive = Archive::open_with(&path, &options).unwrap();
            check_views(&archive, &m).unwrap();
            prop_assert!(archive.verify().is_ok());
        }
    }
}
