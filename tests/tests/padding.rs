//! Padding in archived values: what `Schema::padding`, `Schema::struct_padding`,
//! `Archive::space` and `strata schema --layout` report, checked against the bytes a
//! save writes, and the smaller layout they suggest read back through evolution.

use std::collections::HashMap;
use strata::schema::{Def, Schema, Ty, schema_of};
use strata::{Archive, Persist};

/// Declared as a program might: 29 bytes of fields in a 40-byte archived value.
mod declared {
    use strata::Persist;

    #[derive(Persist, Debug, Clone, PartialEq)]
    pub struct Inner {
        pub flag: bool,
        pub at: u64,
    }

    #[derive(Persist, Debug, Clone, PartialEq)]
    pub struct Row {
        pub id: u64,
        pub kind: u8,
        pub level: u32,
        pub done: bool,
        pub inner: Inner,
    }
}

/// The same fields declared by decreasing alignment, under the same type names.
mod reordered {
    use strata::Persist;

    #[derive(Persist, Debug, Clone, PartialEq)]
    pub struct Inner {
        pub at: u64,
        pub flag: bool,
    }

    #[derive(Persist, Debug, Clone, PartialEq)]
    pub struct Row {
        pub id: u64,
        pub inner: Inner,
        pub level: u32,
        pub kind: u8,
        pub done: bool,
    }
}

#[derive(Persist, Debug, PartialEq)]
struct Table<R: Persist + Send + Sync + 'static> {
    #[strata(shard)]
    rows: Vec<R>,
    #[strata(map)]
    by_id: HashMap<u64, R>,
}

fn schema<T: Persist>() -> Schema {
    Schema::parse(&schema_of::<T>().text).unwrap()
}

fn def<'a>(schema: &'a Schema, name: &str) -> &'a Def {
    schema.types.get(name).unwrap_or_else(|| panic!("no {name} in {:?}", schema.types.keys()))
}

fn rows(n: u64) -> Vec<declared::Row> {
    (0..n)
        .map(|i| declared::Row {
            id: i,
            kind: (i % 7) as u8,
            level: (i * 31) as u32,
            done: i % 2 == 0,
            inner: declared::Inner { flag: i % 3 == 0, at: i * 1000 },
        })
        .collect()
}

fn reorder(r: &declared::Row) -> reordered::Row {
    reordered::Row {
        id: r.id,
        inner: reordered::Inner { at: r.inner.at, flag: r.inner.flag },
        level: r.level,
        kind: r.kind,
        done: r.done,
    }
}

#[test]
fn a_structs_padding_and_its_reordered_size_follow_its_layout() {
    let s = schema::<declared::Row>();
    // Inner: flag @0, at @8: 7 bytes of padding; `at, flag` is still 16 bytes (the
    // tail pads to the alignment).
    let inner = s.struct_padding(def(&s, "Inner")).unwrap().unwrap();
    assert_eq!((inner.size, inner.own, inner.total, inner.reordered_size), (16, 7, 7, 16));
    // Row: id @0, kind @8, level @12, done @16, inner @24: 3 + 7 bytes of its own,
    // 7 more inside `inner`; by alignment (id, inner, level, kind, done) 32 bytes.
    let row = s.struct_padding(def(&s, "Row")).unwrap().unwrap();
    assert_eq!((row.size, row.own, row.total), (40, 10, 17));
    assert_eq!((row.reordered_size, row.reordered.join(",")), (32, String::from("id,inner,level,kind,done")));
    assert_eq!(s.padding(&Ty::Named("Row".into(), vec![])).unwrap(), 17);
    // Tuples, arrays and options pad too.
    let t = Ty::Tuple(vec![Ty::Prim("u8".into()), Ty::Named("Row".into(), vec![])]);
    assert_eq!(s.padding(&t).unwrap(), 7 + 17);
    assert_eq!(s.padding(&Ty::Array(Box::new(Ty::Named("Inner".into(), vec![])), 3)).unwrap(), 21);
    assert_eq!(s.padding(&Ty::Option(Box::new(Ty::Prim("u32".into())))).unwrap(), 3);
    assert_eq!(s.padding(&Ty::Vec(Box::new(Ty::Named("Row".into(), vec![])))).unwrap(), 0);

    // The reordered declaration is the size the report promised, with only its tail
    // padding left.
    let r = schema::<reordered::Row>();
    let row = r.struct_padding(def(&r, "Row")).unwrap().unwrap();
    assert_eq!((row.size, row.own, row.total, row.reordered_size), (32, 2, 9, 32));
    assert_eq!(size_of::<strata::Archived<reordered::Row>>(), 32);
    assert_eq!(size_of::<strata::Archived<declared::Row>>(), 40);
}

#[test]
fn space_counts_the_padding_inside_a_collections_elements_and_reordering_removes_it() {
    let n = 20_000u64;
    let declared = rows(n);
    let table = Table { by_id: declared.iter().map(|r| (r.id, r.clone())).collect(), rows: declared };
    let bytes = strata::to_bytes(&table).unwrap();
    let archive = Archive::from_bytes(bytes.clone()).unwrap();
    let space = archive.space().unwrap();
    let field = |name: &str| space.fields.iter().find(|f| f.path == name).unwrap().clone();
    // A row: 17 bytes of padding. A map entry (u64 key, row): the key takes 8 bytes
    // before the row's alignment, so the same.
    assert_eq!(field("rows").value_padding, n * 17, "{space}");
    assert_eq!(field("by_id").value_padding, n * 17, "{space}");
    assert!(field("rows").value_padding < field("rows").values);
    assert!(space.to_string().contains("of which padding inside them"), "{space}");

    // Declared by alignment, every row is 8 bytes smaller, in the vector and in the map.
    let smaller = Table {
        rows: table.rows.iter().map(reorder).collect(),
        by_id: table.by_id.iter().map(|(k, r)| (*k, reorder(r))).collect(),
    };
    let small_bytes = strata::to_bytes(&smaller).unwrap();
    let small = Archive::from_bytes(small_bytes.clone()).unwrap().space().unwrap();
    let small_field = |name: &str| small.fields.iter().find(|f| f.path == name).unwrap().clone();
    assert_eq!(small_field("rows").value_padding, n * 9);
    let saved = field("rows").values - small_field("rows").values;
    assert!(saved >= n * 8 - 64, "rows: {saved} bytes saved, expected about {}", n * 8);
    assert!(
        (small_bytes.len() as u64) + n * 8 - 4096 <= bytes.len() as u64,
        "{} -> {}",
        bytes.len(),
        small_bytes.len()
    );
    // The map's entries shrink as much: each starts at a multiple of the most its
    // bytes need (8 here; version 5 started every entry at a multiple of 16, where an
    // entry of 48 bytes that became 40 still took 48).
    let (map, small_map) = (field("by_id"), small_field("by_id"));
    assert_eq!(small_map.values + n * 8, map.values);
    assert!(small_map.stored + n * 8 - 4096 <= map.stored, "{map:?} -> {small_map:?}");
    assert_eq!(small_map.entry_padding, 0, "entries of 8-byte multiples at multiples of 8");
    assert!(
        (small_bytes.len() as u64) + 2 * n * 8 - 8192 <= bytes.len() as u64,
        "{} -> {}",
        bytes.len(),
        small_bytes.len()
    );

    // Evolution matches fields by name: the file written with the declared order reads
    // as the reordered types.
    let read: Table<reordered::Row> = archive.load().unwrap();
    assert_eq!(read, smaller);
}
