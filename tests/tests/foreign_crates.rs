//! Types of other crates behind strata's features (`uuid`, `smallvec`, `arrayvec`,
//! `bytes`, `indexmap`, `hashbrown`): round trips in every storage, views, files read
//! across each type and the std type of its layout, and hostile lengths.

use arrayvec::ArrayVec;
use bytes::Bytes;
use indexmap::{IndexMap, IndexSet};
use proptest::prelude::*;
use smallvec::SmallVec;
use strata::{Archive, Persist, SaveOptions};
use uuid::Uuid;

#[derive(Persist, Debug, Clone, PartialEq)]
struct Account {
    id: Uuid,
    tags: SmallVec<[u32; 4]>,
    recent: ArrayVec<u16, 8>,
    avatar: Bytes,
    settings: IndexMap<String, u32>,
    seen: IndexSet<u64>,
    scores: hashbrown::HashMap<String, i64>,
    groups: hashbrown::HashSet<u32>,
    parent: Option<Uuid>,
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Registry {
    #[strata(shard)]
    accounts: Vec<Account>,
    #[strata(map)]
    by_id: hashbrown::HashMap<Uuid, Account>,
    #[strata(lazy)]
    blob: Bytes,
}

fn account(i: u64) -> Account {
    Account {
        id: Uuid::from_u64_pair(i, i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        tags: (0..i % 7).map(|t| t as u32).collect(),
        recent: (0..i % 9).map(|r| r as u16).collect(),
        avatar: Bytes::from(vec![(i % 251) as u8; (i % 40) as usize]),
        settings: (0..i % 5).map(|k| (format!("setting-{k}"), (k * i) as u32)).collect(),
        seen: (0..i % 4).map(|k| k * 1000 + i).collect(),
        scores: (0..i % 3).map(|k| (format!("game {k}"), -(k as i64) * 7)).collect(),
        groups: (0..i % 6).map(|g| g as u32 * 3).collect(),
        parent: (i > 0).then(|| Uuid::from_u64_pair(i - 1, 0)),
    }
}

fn registry(n: u64) -> Registry {
    let accounts: Vec<Account> = (0..n).map(account).collect();
    Registry {
        by_id: accounts.iter().map(|a| (a.id, a.clone())).collect(),
        accounts,
        blob: Bytes::from((0..200_000u32).map(|i| (i % 256) as u8).collect::<Vec<u8>>()),
    }
}

#[test]
fn foreign_types_round_trip_in_every_storage() -> strata::Result<()> {
    let value = registry(3000);
    for options in [SaveOptions::new(), SaveOptions::new().compression(strata::Codec::Zstd(3))] {
        let bytes = options.to_bytes(&value)?;
        assert_eq!(strata::from_bytes::<Registry>(&bytes)?, value);
        let archive = Archive::from_bytes(bytes)?;
        assert!(archive.verify()?.is_ok());
        let root = archive.root::<Registry>()?;
        let a = &value.accounts[2024];
        let v = root.accounts.get(2024)?.ok_or(strata::Error::Detached)?;
        assert_eq!(v.id, a.id);
        assert_eq!(v.tags.as_slice(), a.tags.as_slice());
        assert_eq!(v.recent.as_slice(), a.recent.as_slice());
        assert_eq!(v.avatar.as_slice(), &a.avatar[..]);
        assert_eq!(v.settings.len(), a.settings.len());
        assert_eq!(v.load()?, *a);
        let found = root.by_id.get(&a.id)?.ok_or(strata::Error::Detached)?;
        assert_eq!(found.load()?, *a);
        assert_eq!(root.blob.view()?.len(), 200_000);
    }
    Ok(())
}

#[test]
fn index_maps_keep_their_order() -> strata::Result<()> {
    #[derive(Persist, Debug, PartialEq)]
    struct Ordered {
        m: IndexMap<String, u32>,
        s: IndexSet<u64>,
    }
    let m: IndexMap<String, u32> =
        ["zeta", "alpha", "mid", "beta"].iter().enumerate().map(|(i, k)| ((*k).to_owned(), i as u32)).collect();
    let s: IndexSet<u64> = [9, 1, 8, 2, 7].into_iter().collect();
    let back: Ordered = strata::from_bytes(&strata::to_bytes(&Ordered { m: m.clone(), s: s.clone() })?)?;
    assert!(back.m.keys().eq(m.keys()));
    assert!(back.s.iter().eq(s.iter()));
    Ok(())
}

#[test]
fn hashbrown_maps_are_deterministic_and_read_as_std_maps() -> strata::Result<()> {
    mod std_side {
        #[derive(strata::Persist, Debug, PartialEq)]
        pub struct M {
            pub m: std::collections::HashMap<String, u32>,
            pub s: std::collections::HashSet<u32>,
            #[strata(map)]
            pub big: std::collections::HashMap<u64, String>,
        }
    }
    mod brown_side {
        #[derive(strata::Persist, Debug, PartialEq)]
        pub struct M {
            pub m: hashbrown::HashMap<String, u32>,
            pub s: hashbrown::HashSet<u32>,
            #[strata(map)]
            pub big: hashbrown::HashMap<u64, String>,
        }
    }
    let keys: Vec<String> = (0..500).map(|i| format!("key {i}")).collect();
    let forward = brown_side::M {
        m: keys.iter().enumerate().map(|(i, k)| (k.clone(), i as u32)).collect(),
        s: (0..300).collect(),
        big: (0..5000u64).map(|i| (i, i.to_string())).collect(),
    };
    let backward = brown_side::M {
        m: keys.iter().enumerate().rev().map(|(i, k)| (k.clone(), i as u32)).collect(),
        s: (0..300).rev().collect(),
        big: (0..5000u64).rev().map(|i| (i, i.to_string())).collect(),
    };
    let bytes = strata::to_bytes(&forward)?;
    assert_eq!(bytes, strata::to_bytes(&backward)?, "insertion order does not change the bytes");
    let as_std: std_side::M = strata::from_bytes(&bytes)?;
    assert_eq!(as_std.m.len(), 500);
    assert_eq!(as_std.big.get(&77).map(String::as_str), Some("77"));
    let std_bytes = strata::to_bytes(&as_std)?;
    assert_eq!(std_bytes, bytes, "std's maps write the same bytes");
    Ok(())
}

#[test]
fn foreign_types_read_files_of_their_layouts() -> strata::Result<()> {
    mod plain {
        #[derive(strata::Persist, Debug, PartialEq)]
        pub struct R {
            pub id: [u8; 16],
            pub tags: Vec<u32>,
            pub recent: Vec<u16>,
            pub avatar: Vec<u8>,
        }
    }
    mod foreign {
        #[derive(strata::Persist, Debug, PartialEq)]
        pub struct R {
            pub id: uuid::Uuid,
            pub tags: smallvec::SmallVec<[u32; 2]>,
            pub recent: arrayvec::ArrayVec<u16, 4>,
            pub avatar: bytes::Bytes,
        }
    }
    let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
    let p = plain::R { id: *id.as_bytes(), tags: vec![1, 2, 3], recent: vec![4, 5], avatar: vec![6; 10] };
    let archive = Archive::from_bytes(strata::to_bytes(&p)?)?;
    assert_eq!(archive.footer().type_fingerprint, strata::schema::schema_of::<foreign::R>().fingerprint);
    let f: foreign::R = archive.load()?;
    assert_eq!(
        (f.id, f.tags.as_slice(), f.recent.as_slice(), &f.avatar[..]),
        (id, &[1, 2, 3][..], &[4, 5][..], &[6; 10][..])
    );
    assert_eq!(strata::from_bytes::<plain::R>(&strata::to_bytes(&f)?)?, p);
    // More elements than the ArrayVec holds: an error, not a panic.
    let long = plain::R { recent: vec![1; 5], ..p };
    let e = Archive::from_bytes(strata::to_bytes(&long)?)?.load::<foreign::R>().map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("does not fit an ArrayVec of 4"), "{e}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_foreign_value_round_trips(seeds in proptest::collection::vec(any::<u64>(), 0..80), compress in any::<bool>()) {
        let accounts: Vec<Account> = seeds.iter().map(|&s| account(s % 1_000_000)).collect();
        let value = Registry {
            by_id: accounts.iter().map(|a| (a.id, a.clone())).collect(),
            accounts,
            blob: Bytes::from(seeds.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>()),
        };
        let options = if compress { SaveOptions::new().compression(strata::Codec::Zstd(1)) } else { SaveOptions::new() };
        let bytes = options.to_bytes(&value)?;
        prop_assert_eq!(&strata::from_bytes::<Registry>(&bytes)?, &value);
        let dir = tempfile::tempdir().map_err(strata::Error::Io)?;
        let path = dir.path().join("r.strata");
        options.save(&path, &value)?;
        prop_assert_eq!(strata::load::<Registry>(&path)?, value);
    }
}
