//! `Rc<T>` fields keep the object graph as `Arc<T>` fields do: each shared allocation
//! is stored once per archive, in a chunk of its own, and comes back shared within what
//! one load returns. Values holding an `Rc` are saved and loaded on the calling thread;
//! the parallel parts of their saves and loads (sharded vectors, maps, lazy values of
//! thread-safe types) still run in parallel.

use proptest::prelude::*;
use std::collections::HashMap;
use std::rc::Rc;
use strata::raw::format::ChunkRef;
use strata::{Archive, Persist, SaveOptions};

#[derive(Persist, Debug, Clone, PartialEq)]
struct Mesh {
    name: String,
    vertices: Vec<[f32; 3]>,
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Part {
    mesh: Rc<Mesh>,
    offset: [f32; 3],
}

/// A group of meshes, itself shared: its meshes are shared with the scene's parts
/// through a second level of chunks.
#[derive(Persist, Debug, Clone, PartialEq)]
struct Group {
    label: Rc<str>,
    meshes: Vec<Rc<Mesh>>,
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Scene {
    hero: Rc<Mesh>,
    parts: Vec<Part>,
    spare: Option<Rc<Mesh>>,
    groups: Vec<Rc<Group>>,
    /// Nested in a map: shared within the chunk that holds the map.
    by_name: HashMap<String, Rc<Mesh>>,
    weights: Rc<[u32]>,
    /// Thread-safe parts of a value that holds `Rc`s: written and read in parallel.
    #[strata(shard, shard_bytes = 1024)]
    samples: Vec<u64>,
    #[strata(lazy)]
    notes: Vec<String>,
}

fn mesh(name: &str, n: usize) -> Rc<Mesh> {
    Rc::new(Mesh { name: name.into(), vertices: (0..n).map(|i| [i as f32, 1.0, 2.0]).collect() })
}

/// 1,001 references (a hero and 1,000 parts) to two meshes of 10,000 vertices, plus
/// groups and a map over the same meshes.
fn scene() -> Scene {
    let tree = mesh("tree", 10_000);
    let rock = mesh("rock", 10_000);
    let parts: Vec<Part> = (0..1000)
        .map(|i| Part { mesh: Rc::clone(if i % 3 == 0 { &rock } else { &tree }), offset: [i as f32; 3] })
        .collect();
    let forest = Rc::new(Group { label: "forest".into(), meshes: vec![Rc::clone(&tree), Rc::clone(&tree)] });
    let by_name = [("t".to_owned(), Rc::clone(&tree)), ("r".to_owned(), Rc::clone(&rock))].into_iter().collect();
    Scene {
        hero: Rc::clone(&tree),
        parts,
        spare: Some(Rc::clone(&rock)),
        groups: vec![Rc::clone(&forest), forest, Rc::new(Group { label: "quarry".into(), meshes: vec![rock] })],
        by_name,
        weights: Rc::from(vec![1, 2, 3]),
        samples: (0..2000).collect(),
        notes: vec!["a".into(), "b".into()],
    }
}

#[test]
fn a_thousand_rc_references_to_two_meshes_store_each_mesh_once_and_load_shared() -> strata::Result<()> {
    let scene = scene();
    let bytes = strata::to_bytes(&scene)?;
    let mesh_bytes = 10_000 * 12;
    // Two meshes (the map's copies aside: that map is one chunk's inline value),
    // 1,000 parts of about 40 bytes, the samples and the rest.
    assert!(bytes.len() < 4 * mesh_bytes + 1000 * 80 + 64 * 1024, "{} bytes", bytes.len());
    let archive = Archive::from_bytes(bytes)?;
    let meshes = archive
        .inspect()?
        .chunks()
        .iter()
        .filter(|c| c.total.raw >= mesh_bytes as u64 && c.children.is_empty())
        .count();
    assert_eq!(meshes, 2, "one chunk per shared mesh");
    assert!(archive.verify()?.is_ok());

    let loaded: Scene = archive.load()?;
    assert_eq!(loaded, scene);
    let tree = &loaded.hero;
    let rock = &loaded.parts[0].mesh;
    assert!(!Rc::ptr_eq(tree, rock));
    for (i, part) in loaded.parts.iter().enumerate() {
        assert!(Rc::ptr_eq(&part.mesh, if i % 3 == 0 { rock } else { tree }), "part {i}");
    }
    assert!(loaded.spare.as_ref().is_some_and(|s| Rc::ptr_eq(s, rock)));
    // Through a second level of shared chunks.
    assert!(Rc::ptr_eq(&loaded.groups[0], &loaded.groups[1]));
    assert!(!Rc::ptr_eq(&loaded.groups[0], &loaded.groups[2]));
    assert!(loaded.groups[0].meshes.iter().all(|m| Rc::ptr_eq(m, tree)));
    assert!(Rc::ptr_eq(&loaded.groups[2].meshes[0], rock));
    // Every reference, no other copy: the hero, 666 parts, two in one group.
    assert_eq!(Rc::strong_count(tree), 1 + 666 + 2);
    assert_eq!(Rc::strong_count(rock), 334 + 1 + 1);
    // A map's values are shared within the chunk that holds the map.
    assert!(!Rc::ptr_eq(&loaded.by_name["t"], &loaded.by_name["r"]));
    assert_eq!(*loaded.by_name["t"], **tree);
    Ok(())
}

#[test]
fn rc_values_save_to_files_and_read_as_views() -> strata::Result<()> {
    let scene = scene();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("scene.strata");
    strata::save(&path, &scene)?;
    let archive = Archive::open(&path)?;
    let root = archive.root::<Scene>()?;
    let hero = root.hero.view()?;
    let part = root.parts.get(1).ok_or(strata::Error::Detached)?;
    assert!(std::ptr::eq(&*hero, &*part.mesh.view()?), "one archived mesh");
    assert_eq!(root.groups.len(), 3);
    assert_eq!(root.samples.get(1999)?.map(|e| u64::from(*e)), Some(1999));
    // Outside a load, each `load_rc` is a value of its own.
    let (a, b) = (root.hero.load_rc()?, part.mesh.load_rc()?);
    assert_eq!(a, b);
    assert!(!Rc::ptr_eq(&a, &b));
    assert_eq!(archive.value_at("parts[3].mesh.name")?.as_str(), Some("rock"));
    assert_eq!(archive.value_at("groups[2].label")?.as_str(), Some("quarry"));
    assert_eq!(archive.load::<Scene>()?, scene);
    // With a pool of its own for the parallel parts, the value still loads shared.
    for threads in [1, 2] {
        let options = strata::OpenOptions::new().threads(threads);
        let loaded: Scene = Archive::from_bytes_with(std::fs::read(&path)?, &options)?.load()?;
        assert!(Rc::ptr_eq(&loaded.hero, &loaded.parts[1].mesh));
        assert_eq!(loaded, scene);
    }
    Ok(())
}

#[test]
fn rc_graphs_save_to_the_same_bytes_on_any_thread_count_and_allocation() -> strata::Result<()> {
    let scene = scene();
    let one = SaveOptions::new().threads(1).to_bytes(&scene)?;
    assert_eq!(SaveOptions::new().threads(2).to_bytes(&scene)?, one);
    assert_eq!(SaveOptions::new().threads(4).to_bytes(&scene)?, one);
    // The same graph in fresh allocations.
    assert_eq!(strata::to_bytes(&rebuild(&scene))?, one);
    Ok(())
}

/// `scene` with every allocation made anew, sharing kept.
fn rebuild(scene: &Scene) -> Scene {
    let mut fresh: Vec<(*const Mesh, Rc<Mesh>)> = Vec::new();
    let mut again = |m: &Rc<Mesh>| -> Rc<Mesh> {
        if let Some((_, f)) = fresh.iter().find(|(p, _)| std::ptr::eq(*p, Rc::as_ptr(m))) {
            return Rc::clone(f);
        }
        let f = Rc::new((**m).clone());
        fresh.push((Rc::as_ptr(m), Rc::clone(&f)));
        f
    };
    let hero = again(&scene.hero);
    let parts = scene.parts.iter().map(|p| Part { mesh: again(&p.mesh), offset: p.offset }).collect();
    let spare = scene.spare.as_ref().map(&mut again);
    let mut groups: Vec<(*const Group, Rc<Group>)> = Vec::new();
    let mut out_groups = Vec::new();
    for g in &scene.groups {
        if let Some((_, f)) = groups.iter().find(|(p, _)| std::ptr::eq(*p, Rc::as_ptr(g))) {
            out_groups.push(Rc::clone(f));
            continue;
        }
        let f = Rc::new(Group { label: Rc::from(&*g.label), meshes: g.meshes.iter().map(&mut again).collect() });
        groups.push((Rc::as_ptr(g), Rc::clone(&f)));
        out_groups.push(f);
    }
    let by_name = scene.by_name.iter().map(|(k, v)| (k.clone(), again(v))).collect();
    Scene {
        hero,
        parts,
        spare,
        groups: out_groups,
        by_name,
        weights: Rc::from(&*scene.weights),
        samples: scene.samples.clone(),
        notes: scene.notes.clone(),
    }
}

mod arc {
    use std::sync::Arc;
    use strata::Persist;

    #[derive(Persist, Debug, Clone, PartialEq)]
    pub struct Mesh {
        pub name: String,
        pub vertices: Vec<[f32; 3]>,
    }

    #[derive(Persist, Debug, Clone, PartialEq)]
    pub struct Part {
        pub mesh: Arc<Mesh>,
        pub offset: [f32; 3],
    }

    /// `Part`s in a sharded vector: only thread-safe types may be sharded.
    #[derive(Persist, Debug, Clone, PartialEq)]
    pub struct Level {
        pub hero: Arc<Mesh>,
        pub parts: Vec<Part>,
    }
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Level {
    hero: Rc<Mesh>,
    parts: Vec<Part>,
}

#[test]
fn rc_and_arc_fields_read_each_others_files_with_their_sharing() -> strata::Result<()> {
    let scene = scene();
    let level = Level { hero: Rc::clone(&scene.hero), parts: scene.parts.clone() };
    let loaded: arc::Level = Archive::from_bytes(strata::to_bytes(&level)?)?.load()?;
    assert_eq!(loaded.parts.len(), 1000);
    assert!(std::sync::Arc::ptr_eq(&loaded.hero, &loaded.parts[1].mesh));
    assert!(std::sync::Arc::ptr_eq(&loaded.parts[0].mesh, &loaded.parts[3].mesh));
    assert_eq!(loaded.hero.vertices, level.hero.vertices);
    // And back: the same bytes either way.
    let back: Level = Archive::from_bytes(strata::to_bytes(&loaded)?)?.load()?;
    assert_eq!(back, level);
    assert!(Rc::ptr_eq(&back.hero, &back.parts[1].mesh));
    assert_eq!(strata::to_bytes(&loaded)?, strata::to_bytes(&level)?);
    Ok(())
}

#[test]
fn a_damaged_rc_graph_is_an_error_or_the_value_never_a_panic() -> strata::Result<()> {
    let tree = mesh("tree", 3);
    let group = Rc::new(Group { label: "g".into(), meshes: vec![Rc::clone(&tree), Rc::clone(&tree)] });
    let level = Scene {
        hero: Rc::clone(&tree),
        parts: vec![Part { mesh: Rc::clone(&tree), offset: [0.0; 3] }],
        spare: None,
        groups: vec![Rc::clone(&group), group],
        by_name: HashMap::new(),
        weights: Rc::from(vec![7]),
        samples: vec![1, 2, 3],
        notes: Vec::new(),
    };
    let bytes = strata::to_bytes(&level)?;
    // The chunks every load reads: the shared mesh's and the shared group's.
    let clean = Archive::from_bytes(bytes.clone())?;
    let root = clean.root::<Scene>()?;
    let read: Vec<std::ops::Range<usize>> = [*root.hero.chunk(), *root.groups[0].chunk()]
        .iter()
        .map(|c| c.offset() as usize..(c.offset() + c.stored_len()) as usize)
        .collect();
    for i in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0x55;
        match Archive::from_bytes(damaged).and_then(|a| a.load::<Scene>()) {
            Ok(v) => {
                assert_eq!(v, level, "byte {i} gave another value");
                assert!(!read.iter().any(|r| r.contains(&i)), "byte {i} of a shared chunk went unnoticed");
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any pattern of references to a few meshes loads with the same sharing classes.
    #[test]
    fn sharing_patterns_survive_a_round_trip(
        meshes in 1usize..5,
        picks in prop::collection::vec(0usize..5, 0..40),
        threads in 1usize..4,
    ) {
        let all: Vec<Rc<Mesh>> = (0..meshes).map(|i| mesh(&format!("m{i}"), i + 1)).collect();
        let parts: Vec<Part> =
            picks.iter().map(|p| Part { mesh: Rc::clone(&all[p % meshes]), offset: [*p as f32; 3] }).collect();
        let level = Level { hero: Rc::clone(&all[0]), parts };
        let bytes = SaveOptions::new().threads(threads).to_bytes(&level)?;
        let back: Level = Archive::from_bytes(bytes)?.load()?;
        prop_assert_eq!(&back, &level);
        let refs: Vec<&Rc<Mesh>> = std::iter::once(&level.hero).chain(level.parts.iter().map(|p| &p.mesh)).collect();
        let got: Vec<&Rc<Mesh>> = std::iter::once(&back.hero).chain(back.parts.iter().map(|p| &p.mesh)).collect();
        for (i, (a, b)) in refs.iter().zip(&got).enumerate() {
            for (x, y) in refs.iter().zip(&got).skip(i) {
                prop_assert_eq!(Rc::ptr_eq(a, x), Rc::ptr_eq(b, y));
            }
        }
    }
}

/// A scene whose first reference to its shared mesh, in the root chunk, is replaced by
/// `make(mesh)` and the root resealed: what a hostile writer can do with a valid
/// checksum.
fn redirected(make: impl Fn(ChunkRef) -> ChunkRef) -> strata::Result<Vec<u8>> {
    let tree = mesh("tree", 3);
    let group = Rc::new(Group { label: "a group label".into(), meshes: vec![Rc::clone(&tree); 4] });
    let scene = Scene {
        hero: Rc::clone(&tree),
        parts: vec![Part { mesh: tree, offset: [0.0; 3] }],
        spare: None,
        groups: vec![group],
        by_name: HashMap::new(),
        weights: Rc::from(vec![7]),
        samples: vec![1],
        notes: Vec::new(),
    };
    let bytes = strata::to_bytes(&scene)?;
    let archive = Archive::from_bytes(bytes.clone())?;
    let root = archive.root::<Scene>()?;
    let hero = *root.hero.chunk();
    strata_tests::hostile::replaced_in_root(&bytes, &hero, &make(hero)).ok_or(strata::Error::Detached)
}

/// What a test does to a reference.
type Damage = Box<dyn Fn(ChunkRef) -> ChunkRef>;

#[test]
fn shared_references_outside_the_file_with_a_stale_checksum_or_at_another_type_are_errors() -> strata::Result<()> {
    // The shared group's reference, from the same deterministic save: its chunk is a
    // `Group`, whose layout validates as a `Mesh`.
    let group = *Archive::from_bytes(redirected(|hero| hero)?)?.root::<Scene>()?.groups[0].chunk();
    let cases: [(&str, Damage); 4] = [
        ("at a value of another type", Box::new(move |_| group)),
        (
            "past the end of the file",
            Box::new(|hero| {
                let e = hero.encoding().unwrap_or(strata::raw::format::Encoding::None);
                ChunkRef::new(1 << 40, hero.stored_len(), hero.raw_len(), hero.checksum(), e)
            }),
        ),
        (
            "a stale checksum",
            Box::new(|hero| {
                let e = hero.encoding().unwrap_or(strata::raw::format::Encoding::None);
                ChunkRef::new(hero.offset(), hero.stored_len(), hero.raw_len(), hero.checksum() ^ 1, e)
            }),
        ),
        (
            "a length past the chunk's",
            Box::new(|hero| {
                let e = hero.encoding().unwrap_or(strata::raw::format::Encoding::None);
                ChunkRef::new(hero.offset(), hero.stored_len() + 4096, hero.raw_len(), hero.checksum(), e)
            }),
        ),
    ];
    for (what, make) in cases {
        let bytes = redirected(make)?;
        let archive = Archive::from_bytes(bytes.clone())?;
        let rc = archive.load::<Scene>();
        assert!(rc.is_err(), "{what}: loaded {rc:?}");
        // Whichever of the two references was redirected, viewing both fails.
        let viewed = archive.root::<Scene>().and_then(|r| {
            let part = r.parts.first().ok_or(strata::Error::Detached)?;
            Ok(r.hero.view()?.name.len() + part.mesh.view()?.name.len())
        });
        assert!(viewed.is_err(), "{what}: viewed {viewed:?}");
        let arc = Archive::from_bytes(bytes)?.load::<arc::Level>();
        assert!(arc.is_err(), "{what}: loaded as Arcs {arc:?}");
    }
    Ok(())
}
