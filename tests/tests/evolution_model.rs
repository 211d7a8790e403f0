//! Three versions of one model, as a program's types change over its releases: a shop
//! with nested structs, enums, lazy fields, a sharded vector of records and a map whose
//! values are records. Each version's file is read by the other versions' types in
//! every direction the rules allow, through views and through whole loads, and every
//! value is compared with the expected conversion; the other directions are errors
//! naming the field path.
//!
//! `tests/fixtures/shop-v*.strata` were written by these types when each version was
//! made: they are the compatibility contract. The types are frozen; a new version of
//! the model is a new module and a new fixture. `STRATA_BLESS=1 cargo test --test
//! evolution_model` writes the fixtures that are missing, never one that exists.

use std::path::PathBuf;
use strata::{Archive, Error};

/// The first release.
mod v1 {
    use std::collections::HashMap;

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub struct Shop {
        pub name: String,
        pub owner: Person,
        pub status: Status,
        #[strata(lazy)]
        pub notes: Vec<String>,
        #[strata(lazy)]
        pub featured: Item,
        #[strata(shard, shard_bytes = 1024)]
        pub items: Vec<Item>,
        #[strata(map)]
        pub stock: HashMap<String, Item>,
        pub rating: u8,
        pub legacy: u32,
        pub size: Dim,
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub struct Person {
        pub name: String,
        pub age: u8,
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub enum Status {
        Open,
        Closed { reason: String },
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub struct Item {
        pub id: u32,
        pub title: String,
        pub price: f32,
        pub tags: Vec<String>,
        pub kind: Kind,
        pub code: u16,
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub enum Kind {
        Tool,
        Food(u8),
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub struct Dim {
        pub w: u16,
        pub h: u16,
    }
}

/// The second release: a field removed (`legacy`, `Item.code`), fields added with
/// defaults (`opened`, `Person.email`, `Article.qty`), a type renamed (`Item` to
/// `Article`), a field renamed (`stock` to `inventory`, `title` to `name`), a variant
/// renamed (`Tool` to `Hardware`), variants added, numbers widened (`rating`, `age`
/// to a wider signed type, `id`, `price`, `Food`'s field), a value made optional
/// (`owner`) and an inline field made lazy (`size`).
mod v2 {
    use std::collections::HashMap;

    pub fn since() -> u64 {
        1_700_000_000
    }

    pub fn one() -> u32 {
        1
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub struct Shop {
        pub name: String,
        pub owner: Option<Person>,
        pub status: Status,
        #[strata(lazy)]
        pub notes: Vec<String>,
        #[strata(lazy)]
        pub featured: Article,
        #[strata(shard, shard_bytes = 1024)]
        pub items: Vec<Article>,
        #[strata(map, alias = "stock")]
        pub inventory: HashMap<String, Article>,
        pub rating: u32,
        #[strata(lazy)]
        pub size: Dim,
        #[strata(default = "since")]
        pub opened: u64,
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub struct Person {
        pub name: String,
        pub age: i32,
        #[strata(default)]
        pub email: Option<String>,
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub enum Status {
        Open,
        Closed { reason: String },
        Moved { to: String },
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    #[strata(alias = "Item")]
    pub struct Article {
        pub id: u64,
        #[strata(alias = "title")]
        pub name: String,
        pub price: f64,
        pub tags: Vec<String>,
        pub kind: Kind,
        #[strata(default = "one")]
        pub qty: u32,
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub enum Kind {
        #[strata(alias = "Tool")]
        Hardware,
        Food(u16),
        Drink {
            litres: f32,
        },
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub struct Dim {
        pub w: u16,
        pub h: u16,
    }
}

/// The third release, readable by the second's types too: a field added
/// (`Article.discount`), `notes` and `size` moved back inline, the owner boxed,
/// `other` variants for values a later release may add.
mod v3 {
    use std::collections::HashMap;

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub struct Shop {
        pub name: String,
        pub owner: Option<Box<Person>>,
        pub status: Status,
        pub notes: Vec<String>,
        #[strata(lazy)]
        pub featured: Article,
        #[strata(shard, shard_bytes = 1024)]
        pub items: Vec<Article>,
        #[strata(map, alias = "stock")]
        pub inventory: HashMap<String, Article>,
        pub rating: u32,
        pub size: Dim,
        #[strata(default = "crate::v2::since")]
        pub opened: u64,
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub struct Person {
        pub name: String,
        pub age: i32,
        #[strata(default)]
        pub email: Option<String>,
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub enum Status {
        Open,
        Closed {
            reason: String,
        },
        Moved {
            to: String,
        },
        #[strata(other)]
        Unknown,
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    #[strata(alias = "Item")]
    pub struct Article {
        pub id: u64,
        #[strata(alias = "title")]
        pub name: String,
        #[strata(default)]
        pub discount: Option<u8>,
        pub price: f64,
        pub tags: Vec<String>,
        pub kind: Kind,
        #[strata(default = "crate::v2::one")]
        pub qty: u32,
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub enum Kind {
        #[strata(alias = "Tool")]
        Hardware,
        Food(u16),
        Drink {
            litres: f32,
        },
        #[strata(other)]
        Other,
    }

    #[derive(strata::Persist, Debug, PartialEq, Clone)]
    pub struct Dim {
        pub w: u16,
        pub h: u16,
    }
}

fn text(i: u32) -> String {
    // Short strings are stored inline, longer ones out of line: both kinds move.
    if i.is_multiple_of(3) { format!("t{i}") } else { format!("a title longer than eight bytes, {i}") }
}

fn item_v1(i: u32) -> v1::Item {
    v1::Item {
        id: i * 7,
        title: text(i),
        price: i as f32 * 0.25,
        tags: (0..i % 4).map(|t| text(i + t)).collect(),
        kind: if i.is_multiple_of(2) { v1::Kind::Tool } else { v1::Kind::Food(i as u8) },
        code: i as u16 ^ 0x5a5a,
    }
}

fn shop_v1() -> v1::Shop {
    v1::Shop {
        name: "corner shop".into(),
        owner: v1::Person { name: "Ada Lovelace, the owner".into(), age: 36 },
        status: v1::Status::Closed { reason: "inventory of the whole shop".into() },
        notes: (0..30).map(text).collect(),
        featured: item_v1(1_000),
        items: (0..300).map(item_v1).collect(),
        stock: (0..200).map(|i| (format!("sku-{i}"), item_v1(i * 5))).collect(),
        rating: 200,
        legacy: 0xdead_beef,
        size: v1::Dim { w: 640, h: 480 },
    }
}

fn article_v1_to_v2(a: &v1::Item) -> v2::Article {
    v2::Article {
        id: u64::from(a.id),
        name: a.title.clone(),
        price: f64::from(a.price),
        tags: a.tags.clone(),
        kind: match a.kind {
            v1::Kind::Tool => v2::Kind::Hardware,
            v1::Kind::Food(n) => v2::Kind::Food(u16::from(n)),
        },
        qty: v2::one(),
    }
}

fn v1_to_v2(s: &v1::Shop) -> v2::Shop {
    v2::Shop {
        name: s.name.clone(),
        owner: Some(v2::Person { name: s.owner.name.clone(), age: i32::from(s.owner.age), email: None }),
        status: match &s.status {
            v1::Status::Open => v2::Status::Open,
            v1::Status::Closed { reason } => v2::Status::Closed { reason: reason.clone() },
        },
        notes: s.notes.clone(),
        featured: article_v1_to_v2(&s.featured),
        items: s.items.iter().map(article_v1_to_v2).collect(),
        inventory: s.stock.iter().map(|(k, v)| (k.clone(), article_v1_to_v2(v))).collect(),
        rating: u32::from(s.rating),
        size: v2::Dim { w: s.size.w, h: s.size.h },
        opened: v2::since(),
    }
}

fn shop_v2() -> v2::Shop {
    let mut s = v1_to_v2(&shop_v1());
    s.owner.as_mut().expect("an owner").email = Some("ada@example.com".into());
    s.status = v2::Status::Moved { to: "the high street, number 12".into() };
    s.rating = 70_000;
    s.opened = 1_800_000_000;
    for (i, a) in s.items.iter_mut().enumerate() {
        a.id += 1 << 40;
        a.qty = i as u32;
        if i % 5 == 0 {
            a.kind = v2::Kind::Drink { litres: i as f32 / 2.0 };
        }
    }
    s.inventory.insert("sku-new".into(), s.items[3].clone());
    s
}

fn article_v2_to_v3(a: &v2::Article) -> v3::Article {
    v3::Article {
        id: a.id,
        name: a.name.clone(),
        discount: None,
        price: a.price,
        tags: a.tags.clone(),
        kind: match a.kind {
            v2::Kind::Hardware => v3::Kind::Hardware,
            v2::Kind::Food(n) => v3::Kind::Food(n),
            v2::Kind::Drink { litres } => v3::Kind::Drink { litres },
        },
        qty: a.qty,
    }
}

fn v2_to_v3(s: &v2::Shop) -> v3::Shop {
    v3::Shop {
        name: s.name.clone(),
        owner: s
            .owner
            .as_ref()
            .map(|p| Box::new(v3::Person { name: p.name.clone(), age: p.age, email: p.email.clone() })),
        status: match &s.status {
            v2::Status::Open => v3::Status::Open,
            v2::Status::Closed { reason } => v3::Status::Closed { reason: reason.clone() },
            v2::Status::Moved { to } => v3::Status::Moved { to: to.clone() },
        },
        notes: s.notes.clone(),
        featured: article_v2_to_v3(&s.featured),
        items: s.items.iter().map(article_v2_to_v3).collect(),
        inventory: s.inventory.iter().map(|(k, v)| (k.clone(), article_v2_to_v3(v))).collect(),
        rating: s.rating,
        size: v3::Dim { w: s.size.w, h: s.size.h },
        opened: s.opened,
    }
}

fn shop_v3() -> v3::Shop {
    let mut s = v2_to_v3(&shop_v2());
    s.owner = None;
    s.notes.push("moved inline".into());
    for (i, a) in s.items.iter_mut().enumerate() {
        a.discount = (i % 3 == 0).then_some(i as u8);
    }
    for a in s.inventory.values_mut() {
        a.discount = Some(9);
    }
    s
}

/// What the second release's types read from a third release's file.
fn article_v3_to_v2(a: &v3::Article) -> v2::Article {
    v2::Article {
        id: a.id,
        name: a.name.clone(),
        price: a.price,
        tags: a.tags.clone(),
        kind: match a.kind {
            v3::Kind::Hardware => v2::Kind::Hardware,
            v3::Kind::Food(n) => v2::Kind::Food(n),
            v3::Kind::Drink { litres } => v2::Kind::Drink { litres },
            v3::Kind::Other => panic!("no value of the test holds `Other` where it is converted"),
        },
        qty: a.qty,
    }
}

fn v3_to_v2(s: &v3::Shop) -> v2::Shop {
    v2::Shop {
        name: s.name.clone(),
        owner: s.owner.as_ref().map(|p| v2::Person { name: p.name.clone(), age: p.age, email: p.email.clone() }),
        status: match &s.status {
            v3::Status::Open => v2::Status::Open,
            v3::Status::Closed { reason } => v2::Status::Closed { reason: reason.clone() },
            v3::Status::Moved { to } => v2::Status::Moved { to: to.clone() },
            v3::Status::Unknown => panic!("no value of the test holds `Unknown` where it is converted"),
        },
        notes: s.notes.clone(),
        featured: article_v3_to_v2(&s.featured),
        items: s.items.iter().map(article_v3_to_v2).collect(),
        inventory: s.inventory.iter().map(|(k, v)| (k.clone(), article_v3_to_v2(v))).collect(),
        rating: s.rating,
        size: v2::Dim { w: s.size.w, h: s.size.h },
        opened: s.opened,
    }
}

/// Reads every part of a `v2::Shop` through the views a program uses (the root view,
/// lazy loads and views, every element of the sharded vector by index, by iteration
/// and by shard, every map entry by key) and compares each with `want`; then the whole
/// load.
fn check_v2(archive: &Archive, want: &v2::Shop) {
    let root = archive.root::<v2::Shop>().unwrap();
    assert_eq!(root.name.as_str(), want.name);
    let owner: Option<v2::Person> = strata::deserialize(&root.owner).unwrap();
    assert_eq!(owner, want.owner);
    assert_eq!(strata::deserialize::<v2::Status>(&root.status).unwrap(), want.status);
    assert_eq!(root.rating, want.rating);
    assert_eq!(root.opened, want.opened);
    assert_eq!(root.notes.load().unwrap(), want.notes);
    assert_eq!(root.size.load().unwrap(), want.size);
    assert_eq!(root.featured.load().unwrap(), want.featured);
    assert_eq!(strata::deserialize::<v2::Article>(&*root.featured.view().unwrap()).unwrap(), want.featured);
    assert_eq!(root.items.len(), want.items.len());
    assert!(root.items.shard_count() > 1, "the records span several shards");
    for (i, a) in want.items.iter().enumerate().rev() {
        let got = root.items.get(i).unwrap().expect("in range");
        assert_eq!(&strata::deserialize::<v2::Article>(got.get()).unwrap(), a, "items[{i}]");
    }
    let iterated: Vec<v2::Article> =
        root.items.iter().map(|e| strata::deserialize::<v2::Article>(e.unwrap().get()).unwrap()).collect();
    assert_eq!(iterated, want.items);
    assert_eq!(root.items.load().unwrap(), want.items);
    assert_eq!(root.inventory.len(), want.inventory.len());
    for (k, v) in &want.inventory {
        let got = root.inventory.get(k.as_str()).unwrap().expect("the key is there");
        assert_eq!(&strata::deserialize::<v2::Article>(got.value()).unwrap(), v, "inventory[{k}]");
    }
    assert!(root.inventory.get("sku-none").unwrap().is_none());
    assert_eq!(&root.inventory.load().unwrap(), &want.inventory);
    assert_eq!(&archive.load::<v2::Shop>().unwrap(), want);
}

/// [`check_v2`] for the third release's types.
fn check_v3(archive: &Archive, want: &v3::Shop) {
    let root = archive.root::<v3::Shop>().unwrap();
    assert_eq!(root.name.as_str(), want.name);
    let owner: Option<Box<v3::Person>> = strata::deserialize(&root.owner).unwrap();
    assert_eq!(owner, want.owner);
    assert_eq!(strata::deserialize::<v3::Status>(&root.status).unwrap(), want.status);
    assert_eq!(root.rating, want.rating);
    assert_eq!(root.opened, want.opened);
    assert_eq!(strata::deserialize::<Vec<String>>(&root.notes).unwrap(), want.notes);
    assert_eq!(strata::deserialize::<v3::Dim>(&root.size).unwrap(), want.size);
    assert_eq!(root.featured.load().unwrap(), want.featured);
    assert_eq!(root.items.len(), want.items.len());
    for (i, a) in want.items.iter().enumerate() {
        let got = root.items.get(i).unwrap().expect("in range");
        assert_eq!(&strata::deserialize::<v3::Article>(got.get()).unwrap(), a, "items[{i}]");
    }
    let mut by_shard = Vec::new();
    for s in 0..root.items.shard_count() {
        for e in root.items.shard(s).unwrap().1.iter() {
            by_shard.push(strata::deserialize::<v3::Article>(e).unwrap());
        }
    }
    assert_eq!(by_shard, want.items);
    for (k, v) in &want.inventory {
        let got = root.inventory.get(k.as_str()).unwrap().expect("the key is there");
        assert_eq!(&strata::deserialize::<v3::Article>(got.value()).unwrap(), v, "inventory[{k}]");
    }
    assert_eq!(&archive.load::<v3::Shop>().unwrap(), want);
}

fn archive<T: strata::Persist>(value: &T) -> Archive {
    Archive::from_bytes(strata::to_bytes(value).unwrap()).unwrap()
}

fn incompatible_at(e: Error) -> String {
    match e {
        Error::Incompatible { path, .. } => path,
        other => panic!("expected an incompatibility, got {other}"),
    }
}

#[test]
fn older_files_read_with_newer_types() {
    check_v2(&archive(&shop_v1()), &v1_to_v2(&shop_v1()));
    check_v3(&archive(&shop_v1()), &v2_to_v3(&v1_to_v2(&shop_v1())));
    check_v3(&archive(&shop_v2()), &v2_to_v3(&shop_v2()));
    // Each version reads its own files.
    assert_eq!(archive(&shop_v1()).load::<v1::Shop>().unwrap(), shop_v1());
    check_v2(&archive(&shop_v2()), &shop_v2());
    check_v3(&archive(&shop_v3()), &shop_v3());
}

#[test]
fn newer_files_read_with_older_types_where_the_rules_allow() {
    // The third release only added and moved: the second's types read its files,
    // skipping what they do not know.
    check_v2(&archive(&shop_v3()), &v3_to_v2(&shop_v3()));

    // The second release widened numbers, made the owner optional and renamed types:
    // the first's types refuse its files before reading a value, naming the field.
    for file in [archive(&shop_v2()), archive(&shop_v3())] {
        assert_eq!(incompatible_at(file.root::<v1::Shop>().unwrap_err()), "Shop.owner");
        assert_eq!(incompatible_at(file.load::<v1::Shop>().unwrap_err()), "Shop.owner");
    }
}

#[test]
fn values_of_variants_an_older_release_lacks_are_errors_where_reached() {
    let mut shop = shop_v3();
    shop.items[123].kind = v3::Kind::Other;
    shop.inventory.get_mut("sku-7").expect("a key").kind = v3::Kind::Other;
    let file = archive(&shop);
    let root = file.root::<v2::Shop>().unwrap();
    let unknown = |e: Error, at: &str| match e {
        Error::UnknownVariant { path, ty, variant, .. } => {
            assert_eq!((path.as_str(), ty.as_str(), variant.as_str()), (at, "Kind", "Other"));
        }
        other => panic!("expected an unknown variant, got {other}"),
    };
    let want = v3_to_v2(&shop_v3());
    for i in 0..shop.items.len() {
        match root.items.get(i) {
            Ok(e) if i != 123 => {
                assert_eq!(strata::deserialize::<v2::Article>(e.unwrap().get()).unwrap(), want.items[i]);
            }
            Err(e) if i == 123 => unknown(e, "Shop.items[].kind"),
            other => panic!("items[{i}]: {:?}", other.map(|_| ())),
        }
    }
    unknown(root.inventory.get("sku-7").unwrap_err(), "Shop.inventory[].kind");
    let got = root.inventory.get("sku-8").unwrap().expect("a key");
    assert_eq!(strata::deserialize::<v2::Article>(got.value()).unwrap(), want.inventory["sku-8"]);
    assert!(matches!(file.load::<v2::Shop>().unwrap_err(), Error::UnknownVariant { .. }));

    // A status the second release lacks fails the root, where it is inline.
    let mut shop = shop_v3();
    shop.status = v3::Status::Unknown;
    let e = archive(&shop).root::<v2::Shop>().unwrap_err();
    assert!(matches!(&e, Error::UnknownVariant { path, variant, .. } if path == "Shop.status" && variant == "Unknown"));
}

fn fixture(version: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/shop-v{version}.strata"))
}

/// The committed file of `version`, written first when blessing and missing.
fn committed<T: strata::Persist>(version: u32, value: &T) -> Archive {
    let path = fixture(version);
    if std::env::var_os("STRATA_BLESS").is_some() && !path.exists() {
        strata::save(&path, value).unwrap();
    }
    Archive::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn committed_files_of_every_release_open_with_every_later_release() {
    let (f1, f2, f3) = (committed(1, &shop_v1()), committed(2, &shop_v2()), committed(3, &shop_v3()));
    assert_eq!(f1.load::<v1::Shop>().unwrap(), shop_v1());
    check_v2(&f1, &v1_to_v2(&shop_v1()));
    check_v3(&f1, &v2_to_v3(&v1_to_v2(&shop_v1())));
    check_v2(&f2, &shop_v2());
    check_v3(&f2, &v2_to_v3(&shop_v2()));
    check_v3(&f3, &shop_v3());
    check_v2(&f3, &v3_to_v2(&shop_v3()));
    for f in [&f1, &f2, &f3] {
        f.verify().unwrap();
    }
}

#[test]
fn the_schema_check_agrees_with_reading() {
    // `strata::check_readable` (what `strata schema --check-against` runs) says a
    // file is readable exactly when the types read it.
    let files = [archive(&shop_v1()), archive(&shop_v2()), archive(&shop_v3())];
    let readers = [
        &strata::schema::schema_of::<v1::Shop>().text,
        &strata::schema::schema_of::<v2::Shop>().text,
        &strata::schema::schema_of::<v3::Shop>().text,
    ];
    for (i, file) in files.iter().enumerate() {
        for (j, reader) in readers.iter().enumerate() {
            let checked = strata::check_readable(&file.schema_text().unwrap(), reader);
            let read = match j {
                0 => file.root::<v1::Shop>().map(drop),
                1 => file.root::<v2::Shop>().map(drop),
                _ => file.root::<v3::Shop>().map(drop),
            };
            match (checked, read) {
                (Ok(()), Ok(())) => {}
                (Err(Error::Incompatible { path: a, .. }), Err(Error::Incompatible { path: b, .. })) => {
                    assert_eq!(a, b, "file v{} read as v{}", i + 1, j + 1);
                }
                (c, r) => panic!("file v{} read as v{}: check {c:?}, read {:?}", i + 1, j + 1, r.err()),
            }
        }
    }
}
