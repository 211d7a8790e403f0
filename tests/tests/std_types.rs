//! Standard types as fields: round trips inline, in shards, in lazy fields and in map
//! values; `Arc` sharing (fields across the archive, nested `Arc`s within a chunk);
//! same-layout types reading each other's files; and decoding without the Rust types.
//! `every_standard_type_round_trips_in_files_and_memory_compressed_or_not` holds every
//! type in one model (the crates' types: `foreign_crates.rs`; `via`: `converted_types.rs`).

use proptest::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::num::{NonZeroI64, NonZeroU8, NonZeroU32};
use std::ops::{Range, RangeInclusive};
use std::sync::Arc;
use std::time::Duration;
use strata::{Archive, Persist};

#[derive(Persist, Debug, Clone, PartialEq)]
struct Mesh {
    name: String,
    vertices: Vec<(f32, f32, f32)>,
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Conn {
    peer: SocketAddr,
    local: IpAddr,
    timeout: Duration,
    ports: RangeInclusive<u16>,
    retries: NonZeroU8,
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Everything {
    elapsed: Duration,
    window: Range<u64>,
    closed: RangeInclusive<i32>,
    id: NonZeroU32,
    delta: Option<NonZeroI64>,
    queue: VecDeque<String>,
    frozen: Box<[u16]>,
    v4: Ipv4Addr,
    v6: Ipv6Addr,
    ip: IpAddr,
    sock4: SocketAddrV4,
    sock6: SocketAddrV6,
    marker: PhantomData<String>,
    unit: (),
    #[strata(lazy)]
    lazy_queue: VecDeque<Duration>,
    #[strata(shard)]
    conns: Vec<Conn>,
    #[strata(map)]
    by_port: HashMap<u16, Conn>,
}

fn conn(i: u32) -> Conn {
    let peer = if i.is_multiple_of(2) {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8), 8000 + (i % 1000) as u16))
    } else {
        SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, i as u16), 443, i, i.wrapping_mul(3)))
    };
    Conn {
        peer,
        local: if i.is_multiple_of(3) { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { IpAddr::V6(Ipv6Addr::LOCALHOST) },
        timeout: Duration::new(u64::from(i), i.wrapping_mul(1000) % 1_000_000_000),
        ports: (i as u16)..=(i as u16).saturating_add(10),
        retries: NonZeroU8::new((i % 250) as u8 + 1).unwrap_or(NonZeroU8::MIN),
    }
}

fn everything(n: u32) -> Everything {
    let conns: Vec<Conn> = (0..n).map(conn).collect();
    Everything {
        elapsed: Duration::from_micros(1_234_567),
        window: 5..500,
        closed: -3..=3,
        id: NonZeroU32::new(77).unwrap_or(NonZeroU32::MIN),
        delta: NonZeroI64::new(-9),
        queue: ["a", "b", "c"].into_iter().map(String::from).collect(),
        frozen: vec![1u16, 2, 3, 65535].into_boxed_slice(),
        v4: Ipv4Addr::new(192, 168, 1, 20),
        v6: "2001:db8::1".parse().unwrap_or(Ipv6Addr::LOCALHOST),
        ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        sock4: SocketAddrV4::new(Ipv4Addr::BROADCAST, 9),
        sock6: SocketAddrV6::new(Ipv6Addr::LOCALHOST, 80, 7, 11),
        marker: PhantomData,
        unit: (),
        lazy_queue: (0..100).map(|i| Duration::from_millis(i * 7)).collect(),
        by_port: conns.iter().map(|c| (c.peer.port(), c.clone())).collect(),
        conns,
    }
}

#[test]
fn standard_types_round_trip_everywhere() -> strata::Result<()> {
    let value = everything(3000);
    let bytes = strata::to_bytes(&value)?;
    assert_eq!(strata::from_bytes::<Everything>(&bytes)?, value);
    let archive = Archive::from_bytes(bytes)?;
    let root = archive.root::<Everything>()?;
    // Views compare with the native values and read in place.
    assert_eq!(root.elapsed, value.elapsed);
    assert_eq!(root.v4.octets(), value.v4.octets());
    assert_eq!(root.lazy_queue.len()?, 100);
    let c = root.conns.get(1234)?.ok_or(strata::Error::Detached)?;
    assert_eq!(c.load()?, value.conns[1234]);
    let port = value.conns[77].peer.port();
    assert_eq!(root.by_port.get(&port)?.ok_or(strata::Error::Detached)?.load()?, value.by_port[&port]);
    assert!(archive.verify()?.is_ok());
    Ok(())
}

#[test]
fn shared_values_stay_shared_within_a_chunk() -> strata::Result<()> {
    #[derive(Persist, Debug, PartialEq)]
    struct Scene {
        a: Arc<Mesh>,
        b: Arc<Mesh>,
        c: Arc<Mesh>,
        palette: Arc<[u32]>,
        palette_again: Arc<[u32]>,
        #[strata(lazy)]
        instances: Vec<Arc<Mesh>>,
    }
    let tree = Arc::new(Mesh { name: "tree".into(), vertices: vec![(0.0, 1.0, 2.0); 1000] });
    let rock = Arc::new(Mesh { name: "rock".into(), vertices: vec![(3.0, 4.0, 5.0); 10] });
    let palette: Arc<[u32]> = (0..256).collect();
    let scene = Scene {
        palette: Arc::clone(&palette),
        palette_again: Arc::clone(&palette),
        a: Arc::clone(&tree),
        b: Arc::clone(&tree),
        c: Arc::clone(&rock),
        instances: (0..500).map(|i| Arc::clone(if i % 3 == 0 { &rock } else { &tree })).collect(),
    };
    let bytes = strata::to_bytes(&scene)?;
    // Each chunk stores each mesh once: 500 references cost 500 pointers.
    let unshared = 500 * 1000 * 12;
    assert!(bytes.len() < unshared / 10, "{} bytes", bytes.len());
    let loaded: Scene = strata::from_bytes(&bytes)?;
    assert_eq!(loaded, scene);
    assert!(Arc::ptr_eq(&loaded.a, &loaded.b));
    assert!(Arc::ptr_eq(&loaded.palette, &loaded.palette_again));
    assert!(!Arc::ptr_eq(&loaded.a, &loaded.c));
    let first_tree = loaded.instances.iter().find(|m| m.name == "tree").ok_or(strata::Error::Detached)?;
    assert!(loaded.instances.iter().filter(|m| m.name == "tree").all(|m| Arc::ptr_eq(m, first_tree)));
    Ok(())
}

/// The same record written with one type and read with another of the same layout.
mod written {
    #[derive(strata::Persist, Debug, PartialEq)]
    pub struct Rec {
        pub items: Vec<u32>,
        pub more: Vec<String>,
        pub id: u32,
        #[strata(lazy)]
        pub shared: u64,
    }
}

mod read {
    #[derive(strata::Persist, Debug, PartialEq)]
    pub struct Rec {
        pub items: std::collections::VecDeque<u32>,
        pub more: Box<[String]>,
        pub id: std::num::NonZeroU32,
        pub shared: std::sync::Arc<u64>,
    }
}

#[test]
fn types_of_one_layout_read_each_others_files() -> strata::Result<()> {
    let w = written::Rec { items: vec![1, 2, 3], more: vec!["x".into(), "yz".into()], id: 9, shared: 5 };
    let archive = Archive::from_bytes(strata::to_bytes(&w)?)?;
    assert_eq!(archive.footer().type_fingerprint, strata::schema::schema_of::<read::Rec>().fingerprint);
    let r: read::Rec = archive.load()?;
    assert_eq!(r.items, [1, 2, 3]);
    assert_eq!(&*r.more, ["x", "yz"]);
    assert_eq!(r.id.get(), 9);
    assert_eq!(*r.shared, 5);
    // A zero where the reader's type cannot hold one is an error, not a value.
    let zero = written::Rec { id: 0, ..w };
    let archive = Archive::from_bytes(strata::to_bytes(&zero)?)?;
    assert!(archive.root::<read::Rec>().is_err());
    assert!(archive.load::<read::Rec>().is_err());
    Ok(())
}

#[test]
fn standard_types_decode_without_their_rust_types() -> strata::Result<()> {
    let value = everything(10);
    let archive = Archive::from_bytes(strata::to_bytes(&value)?)?;
    let decoded = archive.value()?;
    let elapsed = decoded.field("elapsed").ok_or(strata::Error::Detached)?;
    assert_eq!(elapsed.field("secs").and_then(strata::Value::as_u64), Some(1));
    assert_eq!(elapsed.field("nanos").and_then(strata::Value::as_u64), Some(234_567_000));
    let window = decoded.field("window").ok_or(strata::Error::Detached)?;
    assert_eq!(window.field("end").and_then(strata::Value::as_u64), Some(500));
    assert_eq!(decoded.field("id").and_then(strata::Value::as_u64), Some(77));
    let text = format!("{decoded:?}");
    assert!(text.contains("V6") && text.contains("octets"), "{text}");
    // And the CLI's path syntax reaches into them.
    assert_eq!(archive.value_at("sock4.port")?.as_u64(), Some(9));
    Ok(())
}

#[test]
fn an_added_duration_field_reads_its_default_from_older_files() -> strata::Result<()> {
    mod v1 {
        #[derive(strata::Persist)]
        pub struct Job {
            pub name: String,
            pub window: std::ops::Range<u32>,
        }
    }
    mod v2 {
        #[derive(strata::Persist, Debug, PartialEq)]
        pub struct Job {
            pub name: String,
            pub window: std::ops::Range<u64>,
            #[strata(default)]
            pub timeout: std::time::Duration,
        }
    }
    let old = v1::Job { name: "j".into(), window: 3..9 };
    let archive = Archive::from_bytes(strata::to_bytes(&old)?)?;
    let job: v2::Job = archive.load()?;
    assert_eq!(job, v2::Job { name: "j".into(), window: 3..9, timeout: Duration::ZERO });
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn connections_round_trip(seeds in proptest::collection::vec(any::<u32>(), 0..200), secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
        let mut conns: Vec<Conn> = seeds.iter().map(|&s| conn(s)).collect();
        if let Some(c) = conns.first_mut() {
            c.timeout = Duration::new(secs, nanos);
        }
        #[derive(Persist, Debug, PartialEq)]
        struct Log {
            #[strata(shard)]
            conns: Vec<Conn>,
            #[strata(lazy)]
            first: Option<Conn>,
        }
        let log = Log { first: conns.first().cloned(), conns };
        prop_assert_eq!(strata::from_bytes::<Log>(&strata::to_bytes(&log)?)?, log);
    }
}

#[test]
fn shared_values_with_lazy_fields_are_written_once() -> strata::Result<()> {
    #[derive(Persist, Debug, PartialEq)]
    struct Texture {
        name: String,
        #[strata(lazy)]
        pixels: Vec<u8>,
    }
    #[derive(Persist, Debug, PartialEq)]
    struct Material {
        diffuse: Arc<Texture>,
        normal: Arc<Texture>,
        #[strata(shard)]
        layers: Vec<Arc<Texture>>,
    }
    let t = Arc::new(Texture { name: "brick".into(), pixels: vec![7; 100_000] });
    let m = Material { diffuse: Arc::clone(&t), normal: Arc::clone(&t), layers: vec![Arc::clone(&t); 3] };
    let bytes = strata::to_bytes(&m)?;
    // The `Arc` fields store the texture once, in a chunk of their own; the `Arc`s inside
    // the sharded vector's elements are stored (once) in their shard.
    assert!(bytes.len() < 3 * 100_000, "{} bytes", bytes.len());
    let archive = Archive::from_bytes(bytes)?;
    let loaded: Material = archive.load()?;
    assert_eq!(loaded, m);
    assert!(Arc::ptr_eq(&loaded.diffuse, &loaded.normal));
    let root = archive.root::<Material>()?;
    assert_eq!(root.diffuse.view()?.pixels.len()?, 100_000);
    assert!(archive.verify()?.is_ok());
    Ok(())
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct FileInfo {
    path: std::path::PathBuf,
    name: std::ffi::OsString,
    modified: std::time::SystemTime,
    created: Option<std::time::SystemTime>,
    aliases: Vec<std::path::PathBuf>,
    history: Vec<std::time::SystemTime>,
}

fn file_info(i: u64) -> FileInfo {
    use std::time::UNIX_EPOCH;
    FileInfo {
        path: std::path::PathBuf::from(format!("/data/{i}/file.bin")),
        name: std::ffi::OsString::from(format!("file-{i}")),
        modified: UNIX_EPOCH + Duration::new(1_700_000_000 + i, (i * 7) as u32 % 1_000_000_000),
        // Before the epoch, with and without nanoseconds.
        created: i.is_multiple_of(2).then(|| UNIX_EPOCH - Duration::new(86_400 * i, (i * 13) as u32 % 1_000_000_000)),
        aliases: (0..i % 3).map(|k| std::path::PathBuf::from(format!("alias{k}"))).collect(),
        history: (0..i % 5).map(|k| UNIX_EPOCH - Duration::from_secs(k)).collect(),
    }
}

#[test]
fn times_and_paths_round_trip_and_decode_without_types() -> strata::Result<()> {
    #[derive(Persist, Debug, PartialEq)]
    struct Tree {
        root: FileInfo,
        #[strata(shard)]
        files: Vec<FileInfo>,
    }
    let tree = Tree { root: file_info(0), files: (1..2000).map(file_info).collect() };
    let bytes = strata::to_bytes(&tree)?;
    assert_eq!(strata::from_bytes::<Tree>(&bytes)?, tree);
    let archive = Archive::from_bytes(bytes)?;
    let f = archive.root::<Tree>()?.files.get(41)?.ok_or(strata::Error::Detached)?;
    assert_eq!(f.load()?, tree.files[41]);
    // Without the types: the time as seconds and nanoseconds, the path as its bytes.
    let when = archive.value_at("root.modified")?;
    assert_eq!(when.field("secs_since_epoch").and_then(strata::Value::as_u64), Some(1_700_000_000));
    let path = archive.value_at("root.path")?;
    assert!(format!("{path:?}").contains("47"), "{path:?}"); // b'/'
    Ok(())
}

#[cfg(unix)]
#[test]
fn paths_that_are_not_unicode_round_trip_on_unix() -> strata::Result<()> {
    use std::os::unix::ffi::OsStringExt;
    #[derive(Persist, Debug, PartialEq)]
    struct P {
        path: std::path::PathBuf,
    }
    let p = P { path: std::path::PathBuf::from(std::ffi::OsString::from_vec(vec![b'/', 0xff, 0xfe, b'x'])) };
    assert_eq!(strata::from_bytes::<P>(&strata::to_bytes(&p)?)?, p);
    Ok(())
}

#[test]
fn stored_times_out_of_range_are_errors() -> strata::Result<()> {
    // A file whose time holds nanoseconds of a second or more, written through a struct
    // of the very schema strata gives a SystemTime (so the reader reads it in place).
    #[allow(non_camel_case_types)]
    mod raw {
        #[derive(strata::Persist)]
        pub struct std_SystemTime {
            pub secs_since_epoch: i64,
            pub nanos: u32,
        }
        #[derive(strata::Persist)]
        pub struct Stamp {
            pub at: std_SystemTime,
        }
    }
    mod typed {
        #[derive(strata::Persist, Debug)]
        pub struct Stamp {
            pub at: std::time::SystemTime,
        }
    }
    let bad = raw::Stamp { at: raw::std_SystemTime { secs_since_epoch: 5, nanos: 2_000_000_000 } };
    let archive = Archive::from_bytes(strata::to_bytes(&bad)?)?;
    assert_eq!(archive.footer().type_fingerprint, strata::schema::schema_of::<typed::Stamp>().fingerprint);
    let e = archive.load::<typed::Stamp>().map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("not a time this platform holds"), "{e}");
    let good = raw::Stamp { at: raw::std_SystemTime { secs_since_epoch: -5, nanos: 1 } };
    let at = strata::from_bytes::<typed::Stamp>(&strata::to_bytes(&good)?)?.at;
    assert_eq!(std::time::UNIX_EPOCH.duration_since(at).ok(), Some(Duration::new(4, 999_999_999)));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_time_round_trips(secs in -(1i64 << 40)..(1i64 << 40), nanos in 0u32..1_000_000_000) {
        use std::time::UNIX_EPOCH;
        let d = Duration::new(secs.unsigned_abs(), nanos);
        let t = if secs >= 0 { UNIX_EPOCH + d } else { UNIX_EPOCH - d };
        #[derive(Persist, Debug, PartialEq)]
        struct T { t: std::time::SystemTime }
        prop_assert_eq!(strata::from_bytes::<T>(&strata::to_bytes(&T { t })?)?, T { t });
    }
}

#[test]
fn arc_fields_of_older_files_stored_inline_still_read() -> strata::Result<()> {
    // Before `Arc<T>` fields were shared across the archive, they were stored inline as
    // a `Box<T>` is: such a file reads through evolution (inline to lazy, unboxed).
    mod inline {
        #[derive(strata::Persist)]
        pub struct Holder {
            pub mesh: Box<super::Mesh>,
            pub id: u32,
        }
    }
    #[derive(Persist, Debug)]
    struct Holder {
        mesh: Arc<Mesh>,
        id: u32,
    }
    let m = Mesh { name: "old".into(), vertices: vec![(1.0, 2.0, 3.0); 5] };
    let archive = Archive::from_bytes(strata::to_bytes(&inline::Holder { mesh: Box::new(m.clone()), id: 8 })?)?;
    let h: Holder = archive.load()?;
    assert_eq!((&*h.mesh, h.id), (&m, 8));
    assert_eq!(archive.root::<Holder>()?.mesh.view()?.name.as_str(), "old");
    Ok(())
}

/// Every standard type the crate stores, in one model: inline, in `Option`/`Vec`/tuples,
/// lazy, shared, sharded and in map values.
#[derive(Persist, Debug, Clone)]
struct AllTypes {
    boxed: Box<str>,
    arc_str: Arc<str>,
    rc_str: std::rc::Rc<str>,
    boxed_slice: Box<[u16]>,
    arc_slice: Arc<[u32]>,
    rc_slice: std::rc::Rc<[u8]>,
    deque: VecDeque<String>,
    heap: std::collections::BinaryHeap<u32>,
    list: std::collections::LinkedList<String>,
    elapsed: Duration,
    when: std::time::SystemTime,
    maybe_when: Option<std::time::SystemTime>,
    path: std::path::PathBuf,
    paths: Vec<std::path::PathBuf>,
    os: std::ffi::OsString,
    nz8: NonZeroU8,
    nz_i128: std::num::NonZeroI128,
    maybe_nz: Option<NonZeroI64>,
    range: Range<u64>,
    closed: RangeInclusive<i32>,
    marker: PhantomData<String>,
    unit: (),
    wrapped: std::num::Wrapping<u32>,
    reversed: std::cmp::Reverse<i64>,
    ip: IpAddr,
    v4: Ipv4Addr,
    v6: Ipv6Addr,
    sock: SocketAddr,
    sock4: SocketAddrV4,
    sock6: SocketAddrV6,
    cow: std::borrow::Cow<'static, str>,
    cow_slice: std::borrow::Cow<'static, [u16]>,
    tuple: (Ipv4Addr, Duration, NonZeroU32),
    shared: Arc<Conn>,
    shared_again: Arc<Conn>,
    rc: std::rc::Rc<Conn>,
    #[strata(lazy)]
    lazy_durations: VecDeque<Duration>,
    #[strata(shard, shard_bytes = 1024)]
    conns: Vec<Conn>,
    #[strata(map)]
    by_port: std::collections::BTreeMap<u16, Conn>,
}

#[cfg(unix)]
fn all_types(seeds: &[u32], text: &str, secs: i64, path: &[u8]) -> AllTypes {
    use std::os::unix::ffi::OsStringExt;
    use std::time::UNIX_EPOCH;
    let at = |s: i64| {
        let d = Duration::new(s.unsigned_abs(), (s.unsigned_abs() % 1_000_000_000) as u32);
        if s >= 0 { UNIX_EPOCH + d } else { UNIX_EPOCH - d }
    };
    let conns: Vec<Conn> = seeds.iter().map(|&s| conn(s)).collect();
    let first = conns.first().cloned().unwrap_or_else(|| conn(7));
    let shared = Arc::new(first.clone());
    let n = |s: u32| NonZeroU32::new(s.max(1)).unwrap_or(NonZeroU32::MIN);
    AllTypes {
        boxed: text.into(),
        arc_str: Arc::from(text),
        rc_str: std::rc::Rc::from(text),
        boxed_slice: seeds.iter().map(|&s| s as u16).collect(),
        arc_slice: Arc::from(seeds),
        rc_slice: seeds.iter().map(|&s| s as u8).collect(),
        deque: seeds.iter().map(|s| s.to_string()).collect(),
        heap: seeds.iter().copied().collect(),
        list: text.split(' ').map(String::from).collect(),
        elapsed: Duration::new(secs.unsigned_abs(), 999_999_999),
        when: at(secs),
        maybe_when: (secs % 2 == 0).then(|| at(-secs)),
        path: std::path::PathBuf::from(std::ffi::OsString::from_vec(path.to_vec())),
        paths: seeds.iter().map(|s| std::path::PathBuf::from(format!("/p/{s}"))).collect(),
        os: std::ffi::OsString::from_vec(path.iter().rev().copied().collect()),
        nz8: NonZeroU8::new((secs as u8).max(1)).unwrap_or(NonZeroU8::MIN),
        nz_i128: std::num::NonZeroI128::new(i128::from(secs) << 64 | 1).unwrap_or(std::num::NonZeroI128::MIN),
        maybe_nz: NonZeroI64::new(secs),
        range: secs.unsigned_abs()..u64::MAX,
        closed: -(secs as i32)..=(secs as i32),
        marker: PhantomData,
        unit: (),
        wrapped: std::num::Wrapping(secs as u32),
        reversed: std::cmp::Reverse(secs),
        ip: first.local,
        v4: Ipv4Addr::from(secs as u32),
        v6: Ipv6Addr::from(u128::from(secs.unsigned_abs()) << 64),
        sock: first.peer,
        sock4: SocketAddrV4::new(Ipv4Addr::from(secs as u32), secs as u16),
        sock6: SocketAddrV6::new(Ipv6Addr::LOCALHOST, secs as u16, secs as u32, 3),
        cow: if secs % 3 == 0 { std::borrow::Cow::Borrowed("static") } else { std::borrow::Cow::Owned(text.into()) },
        cow_slice: std::borrow::Cow::Owned(seeds.iter().map(|&s| s as u16).collect()),
        tuple: (Ipv4Addr::BROADCAST, Duration::from_nanos(secs.unsigned_abs()), n(seeds.len() as u32)),
        shared_again: Arc::clone(&shared),
        shared,
        rc: std::rc::Rc::new(first),
        lazy_durations: seeds.iter().map(|&s| Duration::from_micros(u64::from(s))).collect(),
        by_port: conns.iter().map(|c| (c.peer.port(), c.clone())).collect(),
        conns,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[cfg(unix)]
    #[test]
    fn every_standard_type_round_trips_in_files_and_memory_compressed_or_not(
        seeds in proptest::collection::vec(any::<u32>(), 0..80),
        text in ".{0,24}",
        secs in -(1i64 << 40)..(1i64 << 40),
        path in proptest::collection::vec(1u8.., 0..40),
        compress in any::<bool>(),
    ) {
        use strata::{PathView, SystemTimeView};
        let value = all_types(&seeds, &text, secs, &path);
        // Field by field through `Debug`: `BinaryHeap` has no `PartialEq` (its stored
        // order is kept), and the map is a `BTreeMap`, so the text is deterministic.
        let same = |a: &AllTypes| format!("{a:?}") == format!("{value:?}");
        let options = if compress { strata::SaveOptions::new().compression(strata::Codec::FAST) } else { strata::SaveOptions::new() };
        let bytes = options.to_bytes(&value)?;
        let back: AllTypes = strata::from_bytes(&bytes)?;
        prop_assert!(same(&back));
        prop_assert!(Arc::ptr_eq(&back.shared, &back.shared_again));
        let dir = tempfile::tempdir().map_err(strata::Error::Io)?;
        let file = dir.path().join("all.strata");
        options.save(&file, &value)?;
        prop_assert!(same(&strata::load::<AllTypes>(&file)?));
        // Views, against the values.
        let archive = Archive::open(&file)?;
        let root = archive.root::<AllTypes>()?;
        prop_assert_eq!(root.boxed.as_ref(), &*value.boxed);
        prop_assert_eq!(root.arc_str.as_ref(), &*value.arc_str);
        prop_assert_eq!(root.rc_slice.as_ref(), &*value.rc_slice);
        prop_assert_eq!(root.deque.len(), value.deque.len());
        prop_assert_eq!(root.elapsed, value.elapsed);
        prop_assert_eq!(root.when.system_time()?, value.when);
        prop_assert_eq!(root.path.as_path()?, value.path.as_path());
        prop_assert_eq!(root.nz_i128.get(), value.nz_i128.get());
        prop_assert_eq!(root.v6.octets(), value.v6.octets());
        prop_assert_eq!(root.sock4.port(), value.sock4.port());
        prop_assert_eq!(root.tuple.1, value.tuple.1);
        prop_assert_eq!(root.shared.load_shared()?.timeout, value.shared.timeout);
        prop_assert_eq!(&root.rc.load_rc()?.ports, &value.rc.ports);
        prop_assert_eq!(root.lazy_durations.len()?, value.lazy_durations.len());
        prop_assert_eq!(root.conns.len(), value.conns.len());
        if let Some((k, c)) = value.conns.iter().enumerate().next_back() {
            prop_assert_eq!(&root.conns.get(k)?.ok_or(strata::Error::Detached)?.load()?, c);
            let port = c.peer.port();
            prop_assert_eq!(&root.by_port.get(&port)?.ok_or(strata::Error::Detached)?.load()?, &value.by_port[&port]);
        }
        prop_assert!(archive.verify()?.is_ok());
        // Deterministic.
        prop_assert_eq!(options.to_bytes(&value)?, bytes);
    }
}
