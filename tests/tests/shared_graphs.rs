//! `Arc<T>` fields keep the object graph: each shared allocation is stored once per
//! archive (in a chunk of its own, whichever chunks refer to it), comes back shared
//! after a load, resolves to one archived value in views, and gives the same bytes
//! however the save is threaded.

use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use strata::{Archive, OpenOptions, Persist, SaveOptions};

#[derive(Persist, Debug, Clone, PartialEq)]
struct Mesh {
    name: String,
    vertices: Vec<[f32; 3]>,
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Instance {
    mesh: Arc<Mesh>,
    transform: [f32; 4],
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Scene {
    hero: Arc<Mesh>,
    #[strata(shard, shard_bytes = 4096)]
    instances: Vec<Instance>,
    #[strata(map)]
    by_name: HashMap<String, Instance>,
}

fn mesh(name: &str, n: usize) -> Arc<Mesh> {
    Arc::new(Mesh { name: name.into(), vertices: (0..n).map(|i| [i as f32, 1.0, 2.0]).collect() })
}

/// 1,001 references (a hero and 1,000 instances) to two meshes of 10,000 vertices.
fn scene() -> (Scene, Arc<Mesh>, Arc<Mesh>) {
    let tree = mesh("tree", 10_000);
    let rock = mesh("rock", 10_000);
    let instances: Vec<Instance> = (0..1000)
        .map(|i| Instance { mesh: Arc::clone(if i % 3 == 0 { &rock } else { &tree }), transform: [i as f32; 4] })
        .collect();
    let by_name = instances.iter().take(50).enumerate().map(|(i, x)| (format!("i{i}"), x.clone())).collect();
    (Scene { hero: Arc::clone(&tree), instances, by_name }, tree, rock)
}

#[test]
fn a_thousand_references_to_two_meshes_store_each_mesh_once() -> strata::Result<()> {
    let (scene, tree, rock) = scene();
    let bytes = strata::to_bytes(&scene)?;
    let mesh_bytes = 10_000 * 12;
    // Two meshes, 1,050 references of 40 bytes, the transforms, and the maps' keys.
    assert!(bytes.len() < 2 * mesh_bytes + 1050 * 80 + 64 * 1024, "{} bytes", bytes.len());
    assert!(bytes.len() > 2 * mesh_bytes);
    let archive = Archive::from_bytes(bytes)?;
    // One chunk per mesh, however many shards and buckets refer to it.
    let meshes = archive
        .inspect()?
        .chunks()
        .iter()
        .filter(|c| c.total.raw >= mesh_bytes as u64 && c.children.is_empty())
        .count();
    assert_eq!(meshes, 2);
    assert!(archive.verify()?.is_ok());

    let loaded: Scene = archive.load()?;
    assert_eq!(loaded, scene);
    // Shared wherever it was shared before the save: across shards, buckets and the root.
    let first_tree = &loaded.instances[1].mesh;
    let first_rock = &loaded.instances[0].mesh;
    assert!(Arc::ptr_eq(&loaded.hero, first_tree));
    for (x, original) in loaded.instances.iter().zip(&scene.instances) {
        let expected = if Arc::ptr_eq(&original.mesh, &tree) { first_tree } else { first_rock };
        assert!(Arc::ptr_eq(&x.mesh, expected));
    }
    assert!(loaded.by_name.values().all(|x| Arc::ptr_eq(&x.mesh, first_tree) || Arc::ptr_eq(&x.mesh, first_rock)));
    assert!(!Arc::ptr_eq(first_tree, first_rock));
    // The hero, 666 instances and 33 map entries: every reference, no other copy.
    assert_eq!(Arc::strong_count(first_tree), 1 + 666 + 33);
    assert_eq!(Arc::strong_count(first_rock), 334 + 17);
    drop((tree, rock));
    Ok(())
}

#[test]
fn views_resolve_every_reference_to_one_archived_value() -> strata::Result<()> {
    let (scene, _, _) = scene();
    let archive = Archive::from_bytes(strata::to_bytes(&scene)?)?;
    let root = archive.root::<Scene>()?;
    let hero = root.hero.view()?;
    let far = root.instances.get(998)?.ok_or(strata::Error::Detached)?;
    let far_mesh = far.mesh.view()?;
    assert!(std::ptr::eq(&*hero, &*far_mesh), "one archived mesh");
    assert_eq!(far_mesh.name.as_str(), "tree");
    assert_eq!(root.hero.chunk(), far.mesh.chunk());
    // An element loads its own `Arc`, shared with what other loads of this archive hold.
    let a = far.load()?;
    let b = root.instances.get(1)?.ok_or(strata::Error::Detached)?.load()?;
    assert!(Arc::ptr_eq(&a.mesh, &b.mesh));
    assert!(Arc::ptr_eq(&a.mesh, &root.hero.load_shared()?));
    // Without the types, a shared field reads as the lazy field it is stored as.
    assert_eq!(archive.value_at("hero.name")?.as_str(), Some("tree"));
    assert_eq!(archive.value_at("instances[3].mesh.name")?.as_str(), Some("rock"));
    Ok(())
}

#[test]
fn shared_graphs_save_to_the_same_bytes_on_any_thread_count() -> strata::Result<()> {
    let (scene, _, _) = scene();
    let one = SaveOptions::new().threads(1).to_bytes(&scene)?;
    let two = SaveOptions::new().threads(2).to_bytes(&scene)?;
    let four = SaveOptions::new().threads(4).to_bytes(&scene)?;
    assert_eq!(one, two);
    assert_eq!(one, four);
    // A copy of the graph with fresh allocations gives the same bytes.
    let copy = scene_copy(&scene);
    assert_eq!(strata::to_bytes(&copy)?, one);
    Ok(())
}

/// The same graph with new allocations (one per original allocation).
fn scene_copy(s: &Scene) -> Scene {
    let mut fresh: HashMap<*const Mesh, Arc<Mesh>> = HashMap::new();
    let mut remap = |m: &Arc<Mesh>| Arc::clone(fresh.entry(Arc::as_ptr(m)).or_insert_with(|| Arc::new((**m).clone())));
    let hero = remap(&s.hero);
    let instances: Vec<Instance> = s.instances.iter().map(|x| Instance { mesh: remap(&x.mesh), ..x.clone() }).collect();
    let by_name = s.by_name.iter().map(|(k, x)| (k.clone(), Instance { mesh: remap(&x.mesh), ..x.clone() })).collect();
    Scene { hero, instances, by_name }
}

#[test]
fn a_shared_field_and_a_lazy_field_read_each_others_files() -> strata::Result<()> {
    mod lazy {
        #[derive(strata::Persist, Debug, PartialEq)]
        pub struct Holder {
            #[strata(lazy)]
            pub mesh: super::Mesh,
            pub id: u32,
        }
    }
    mod shared {
        #[derive(strata::Persist, Debug, PartialEq)]
        pub struct Holder {
            pub mesh: std::sync::Arc<super::Mesh>,
            pub id: u32,
        }
    }
    let m = Mesh { name: "m".into(), vertices: vec![[1.0, 2.0, 3.0]; 10] };
    let archive = Archive::from_bytes(strata::to_bytes(&lazy::Holder { mesh: m.clone(), id: 4 })?)?;
    assert_eq!(archive.footer().type_fingerprint, strata::schema::schema_of::<shared::Holder>().fingerprint);
    let s: shared::Holder = archive.load()?;
    assert_eq!((&*s.mesh, s.id), (&m, 4));
    let back: lazy::Holder = strata::from_bytes(&strata::to_bytes(&s)?)?;
    assert_eq!(back.mesh, m);
    Ok(())
}

#[test]
fn an_added_shared_field_reads_its_default() -> strata::Result<()> {
    mod v1 {
        #[derive(strata::Persist)]
        pub struct Doc {
            pub title: String,
        }
    }
    mod v2 {
        #[derive(strata::Persist, Debug)]
        pub struct Doc {
            pub title: String,
            #[strata(default)]
            pub style: std::sync::Arc<Vec<u32>>,
        }
    }
    let archive = Archive::from_bytes(strata::to_bytes(&v1::Doc { title: "t".into() })?)?;
    let d: v2::Doc = archive.load()?;
    assert_eq!((d.title.as_str(), d.style.len()), ("t", 0));
    Ok(())
}

#[test]
fn loads_share_under_a_small_cache_and_after_the_archive_evicts() -> strata::Result<()> {
    let (scene, _, _) = scene();
    let archive = Archive::from_bytes_with(strata::to_bytes(&scene)?, &OpenOptions::new().cache_limit(64 * 1024))?;
    let loaded: Scene = archive.load()?;
    assert!(loaded.instances.iter().skip(1).step_by(3).all(|x| Arc::ptr_eq(&x.mesh, &loaded.instances[1].mesh)));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any graph of instances over a few meshes: the load has the same sharing classes,
    /// every mesh is stored once, and the bytes do not depend on the allocations.
    #[test]
    fn any_sharing_pattern_survives_a_round_trip(
        picks in proptest::collection::vec(0usize..6, 1..300),
        sizes in proptest::collection::vec(1usize..2000, 6),
        compress in any::<bool>(),
    ) {
        let meshes: Vec<Arc<Mesh>> = sizes.iter().enumerate().map(|(i, &n)| mesh(&format!("m{i}"), n)).collect();
        let instances: Vec<Instance> = picks.iter().enumerate()
            .map(|(i, &p)| Instance { mesh: Arc::clone(&meshes[p]), transform: [i as f32; 4] })
            .collect();
        let scene = Scene { hero: Arc::clone(&meshes[picks[0]]), instances, by_name: HashMap::new() };
        let options = if compress { SaveOptions::new().compression(strata::Codec::Zstd(1)) } else { SaveOptions::new() };
        let bytes = options.to_bytes(&scene)?;
        let used: std::collections::BTreeSet<usize> = picks.iter().copied().collect();
        let archive = Archive::from_bytes(bytes.clone())?;
        let stored = archive.inspect()?.chunks().iter().filter(|c| matches!(c.path.rsplit('.').next(), Some("mesh" | "hero"))).count();
        prop_assert_eq!(stored, used.len());
        let loaded: Scene = archive.load()?;
        prop_assert_eq!(&loaded, &scene);
        for (a, pa) in loaded.instances.iter().zip(&picks) {
            for (b, pb) in loaded.instances.iter().zip(&picks) {
                prop_assert_eq!(Arc::ptr_eq(&a.mesh, &b.mesh), pa == pb);
            }
        }
        let copy = scene_copy(&scene);
        prop_assert_eq!(options.to_bytes(&copy)?, bytes);
    }
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Library {
    meshes: Vec<Arc<Mesh>>,
    favourite: Option<Arc<Mesh>>,
    none: Option<Arc<Mesh>>,
    #[strata(shard, shard_bytes = 4096)]
    instances: Vec<Instance>,
}

fn library() -> Library {
    let meshes: Vec<Arc<Mesh>> = (0..4).map(|i| mesh(&format!("m{i}"), 500 * (i + 1))).collect();
    let instances = (0..300).map(|i| Instance { mesh: Arc::clone(&meshes[i % 4]), transform: [0.5; 4] }).collect();
    Library { favourite: Some(Arc::clone(&meshes[2])), none: None, meshes, instances }
}

#[test]
fn vectors_and_options_of_arcs_share_with_every_other_reference() -> strata::Result<()> {
    let lib = library();
    let bytes = strata::to_bytes(&lib)?;
    let archive = Archive::from_bytes(bytes)?;
    assert!(archive.schema_text()?.contains("meshes @0: Vec<lazy Mesh>"), "{}", archive.schema_text()?);
    let stored = archive.inspect()?.chunks().iter().filter(|c| c.chunk.raw_len() >= 500 * 12).count();
    assert_eq!(stored, 4, "each mesh once");
    let loaded: Library = archive.load()?;
    assert_eq!(loaded, lib);
    let fav = loaded.favourite.as_ref().ok_or(strata::Error::Detached)?;
    assert!(Arc::ptr_eq(fav, &loaded.meshes[2]));
    assert!(loaded.instances.iter().enumerate().all(|(i, x)| Arc::ptr_eq(&x.mesh, &loaded.meshes[i % 4])));
    // Views and decoding follow the references.
    let root = archive.root::<Library>()?;
    assert!(std::ptr::eq(&*root.meshes[2].view()?, &*root.favourite.as_ref().ok_or(strata::Error::Detached)?.view()?));
    assert!(root.none.is_none());
    assert_eq!(archive.value_at("meshes[3].name")?.as_str(), Some("m3"));
    assert_eq!(archive.value_at("favourite.name")?.as_str(), Some("m2"));
    Ok(())
}

#[test]
fn shared_values_evolve_like_lazy_ones() -> strata::Result<()> {
    mod v2 {
        #[derive(strata::Persist, Debug)]
        pub struct Mesh {
            pub name: String,
            pub vertices: Vec<[f32; 3]>,
            #[strata(default)]
            pub material: Option<String>,
        }
        #[derive(strata::Persist, Debug)]
        pub struct Instance {
            pub mesh: std::sync::Arc<Mesh>,
            pub transform: [f32; 4],
        }
        #[derive(strata::Persist, Debug)]
        pub struct Library {
            pub meshes: Vec<std::sync::Arc<Mesh>>,
            pub favourite: Option<std::sync::Arc<Mesh>>,
            pub none: Option<std::sync::Arc<Mesh>>,
            #[strata(shard, shard_bytes = 4096)]
            pub instances: Vec<Instance>,
        }
    }
    let lib = library();
    let archive = Archive::from_bytes(strata::to_bytes(&lib)?)?;
    let newer: v2::Library = archive.load()?;
    assert_eq!(newer.meshes.len(), 4);
    assert!(newer.meshes.iter().zip(&lib.meshes).all(|(n, o)| n.name == o.name && n.vertices == o.vertices));
    assert!(newer.meshes.iter().all(|m| m.material.is_none()));
    let fav = newer.favourite.as_ref().ok_or(strata::Error::Detached)?;
    assert!(Arc::ptr_eq(fav, &newer.meshes[2]));
    assert!(newer.instances.iter().enumerate().all(|(i, x)| Arc::ptr_eq(&x.mesh, &newer.meshes[i % 4])));
    // Views of the evolved file are the reader's layout.
    let root = archive.root::<v2::Library>()?;
    let m = root.meshes[1].view()?;
    assert_eq!((m.name.as_str(), m.material.is_none()), ("m1", true));
    Ok(())
}

#[derive(Persist, Debug, PartialEq)]
struct Node {
    id: u32,
    children: Vec<Arc<Node>>,
}

/// A chain of `n` nodes, each the only child of the next.
fn chain(n: u32) -> Arc<Node> {
    let mut at = Arc::new(Node { id: 0, children: Vec::new() });
    for i in 1..n {
        at = Arc::new(Node { id: i, children: vec![at] });
    }
    at
}

/// Drops a chain without recursion.
fn drop_chain(n: Arc<Node>) {
    let mut stack = vec![n];
    while let Some(n) = stack.pop() {
        if let Ok(mut n) = Arc::try_unwrap(n) {
            stack.append(&mut n.children);
        }
    }
}

#[test]
fn chains_of_shared_values_save_to_the_nesting_limit_and_are_refused_past_it() -> strata::Result<()> {
    // Each node is a chunk inside its parent's: what a reader accepts is what a save writes.
    let limit = strata::MAX_LAZY_NESTING;
    let deepest = chain(limit);
    let bytes = strata::to_bytes(&Node { id: 999_999, children: vec![Arc::clone(&deepest)] })?;
    let loaded: Node = strata::from_bytes(&bytes)?;
    assert_eq!(loaded.children[0].id, limit - 1);
    loaded.children.into_iter().for_each(drop_chain);
    for n in [limit + 1, 100_000] {
        let too_deep = chain(n);
        let e = strata::to_bytes(&Node { id: 0, children: vec![Arc::clone(&too_deep)] }).map(|_| ()).unwrap_err();
        assert!(matches!(e, strata::Error::TooDeep { depth, .. } if depth == u64::from(limit) + 1), "{e}");
        drop_chain(too_deep);
    }
    drop_chain(deepest);
    Ok(())
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Gallery {
    hero: Arc<Mesh>,
    /// The `Arc`s are the elements: each allocation is still stored once.
    #[strata(shard, shard_bytes = 1024)]
    meshes: Vec<Arc<Mesh>>,
}

fn gallery() -> Gallery {
    let (tree, rock) = (mesh("tree", 2_000), mesh("rock", 2_000));
    let meshes = (0..1000).map(|i| Arc::clone(if i % 4 == 0 { &rock } else { &tree })).collect();
    Gallery { hero: tree, meshes }
}

#[test]
fn a_sharded_vector_of_arcs_stores_each_allocation_once_across_its_shards() -> strata::Result<()> {
    let gallery = gallery();
    let bytes = strata::to_bytes(&gallery)?;
    let mesh_bytes = 2_000 * 12;
    assert!(bytes.len() < 2 * mesh_bytes + 1000 * 80 + 64 * 1024, "{} bytes", bytes.len());
    assert_eq!(SaveOptions::new().threads(1).to_bytes(&gallery)?, bytes);
    let archive = Archive::from_bytes(bytes)?;
    assert!(archive.schema_text()?.contains("shard Vec<lazy Mesh>"), "{}", archive.schema_text()?);
    let root = archive.root::<Gallery>()?;
    assert!(root.meshes.shard_count() > 10, "{} shards", root.meshes.shard_count());
    let far = root.meshes.get(999)?.ok_or(strata::Error::Detached)?;
    let far: &strata::Promise<Mesh> = &far;
    assert!(std::ptr::eq(&*far.view()?, &*root.hero.view()?), "one archived mesh");
    assert_eq!(archive.value_at("meshes[4].name")?.as_str(), Some("rock"));

    let loaded: Gallery = archive.load()?;
    assert_eq!(loaded, gallery);
    let (tree, rock) = (&loaded.hero, &loaded.meshes[0]);
    for (i, m) in loaded.meshes.iter().enumerate() {
        assert!(Arc::ptr_eq(m, if i % 4 == 0 { rock } else { tree }), "element {i}");
    }
    assert_eq!(Arc::strong_count(tree), 1 + 750);
    Ok(())
}

mod inline_gallery {
    use super::Mesh;
    use strata::Persist;

    /// `Gallery` as files before shared elements stored it: each shard holds its meshes.
    #[derive(Persist, Debug, Clone, PartialEq)]
    pub struct Gallery {
        pub hero: std::sync::Arc<Mesh>,
        #[strata(shard, shard_bytes = 1024)]
        #[expect(clippy::vec_box, reason = "the layout of a sharded `Vec<Arc<Mesh>>` before its elements were shared")]
        pub meshes: Vec<Box<Mesh>>,
    }
}

#[test]
fn a_sharded_vector_of_inline_values_reads_as_shared_elements() -> strata::Result<()> {
    let gallery = gallery();
    let old = inline_gallery::Gallery {
        hero: Arc::clone(&gallery.hero),
        meshes: gallery.meshes.iter().take(20).map(|m| Box::new((**m).clone())).collect(),
    };
    let archive = Archive::from_bytes(strata::to_bytes(&old)?)?;
    let loaded: Gallery = archive.load()?;
    assert_eq!(loaded.meshes.len(), 20);
    assert!(loaded.meshes.iter().zip(&old.meshes).all(|(a, b)| **a == **b));
    // Each inline value is a value of its own, in views too.
    let root = archive.root::<Gallery>()?;
    for (i, m) in old.meshes.iter().enumerate() {
        let e = root.meshes.get(i)?.ok_or(strata::Error::Detached)?;
        let p: &strata::Promise<Mesh> = &e;
        assert_eq!(p.view()?.name.as_str(), m.name, "element {i}");
        assert_eq!(*p.load_shared()?, **m);
    }
    Ok(())
}

mod boxed_pair {
    use super::Mesh;

    /// Two inline values of one type, in one chunk: what `Pair` was.
    #[derive(strata::Persist)]
    pub struct Pair {
        pub a: Box<Mesh>,
        pub b: Box<Mesh>,
        pub title: String,
    }
}

mod shared_pair {
    use super::Mesh;
    use std::sync::Arc;

    fn first() -> Arc<Mesh> {
        Arc::new(Mesh { name: "first".into(), vertices: vec![[1.0; 3]] })
    }
    fn second() -> Arc<Mesh> {
        Arc::new(Mesh { name: "secnd".into(), vertices: vec![[2.0; 3]] })
    }

    /// `Pair` with its values shared, and two added shared fields whose defaults have
    /// the same length.
    #[derive(strata::Persist, Debug)]
    pub struct Pair {
        pub a: Arc<Mesh>,
        pub b: Arc<Mesh>,
        pub title: String,
        #[strata(default = "first")]
        pub c: Arc<Mesh>,
        #[strata(default = "second")]
        pub d: Arc<Mesh>,
    }
}

#[test]
fn values_made_from_one_chunk_by_evolution_load_as_values_of_their_own() -> strata::Result<()> {
    let old = boxed_pair::Pair {
        a: Box::new(Mesh { name: "a".into(), vertices: vec![[0.0; 3]] }),
        b: Box::new(Mesh { name: "b".into(), vertices: vec![[9.0; 3]] }),
        title: "t".into(),
    };
    let archive = Archive::from_bytes(strata::to_bytes(&old)?)?;
    let new: shared_pair::Pair = archive.load()?;
    assert_eq!((&*new.a, &*new.b), (&*old.a, &*old.b));
    assert!(!Arc::ptr_eq(&new.a, &new.b));
    assert_eq!((new.c.name.as_str(), new.d.name.as_str()), ("first", "secnd"));
    let root = archive.root::<shared_pair::Pair>()?;
    assert_eq!(root.b.load_shared()?.name, "b");
    assert_eq!(root.d.load_shared()?.name, "secnd");
    Ok(())
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Catalog {
    hero: Arc<Mesh>,
    /// The `Arc`s are the map's values: each allocation is still stored once.
    #[strata(map)]
    by_name: HashMap<String, Arc<Mesh>>,
    #[strata(map)]
    ordered: std::collections::BTreeMap<u32, Arc<Mesh>>,
}

#[test]
fn a_bucketed_map_of_arcs_stores_each_allocation_once_across_its_buckets() -> strata::Result<()> {
    let Gallery { hero, meshes } = gallery();
    let by_name: HashMap<String, Arc<Mesh>> =
        meshes.iter().enumerate().map(|(i, m)| (format!("m{i}"), Arc::clone(m))).collect();
    let ordered = meshes.iter().take(300).enumerate().map(|(i, m)| (i as u32, Arc::clone(m))).collect();
    let catalog = Catalog { hero, by_name, ordered };
    let bytes = strata::to_bytes(&catalog)?;
    assert!(bytes.len() < 2 * 2_000 * 12 + 1300 * 100 + 64 * 1024, "{} bytes", bytes.len());
    assert_eq!(SaveOptions::new().threads(1).to_bytes(&catalog)?, bytes);
    let archive = Archive::from_bytes(bytes)?;
    assert!(archive.schema_text()?.contains("map HashMap<String, lazy Mesh>"), "{}", archive.schema_text()?);
    let root = archive.root::<Catalog>()?;
    let rock = root.by_name.get("m0")?.ok_or(strata::Error::Detached)?;
    let rock: &strata::Promise<Mesh> = &rock;
    let tree = root.by_name.get("m1")?.ok_or(strata::Error::Detached)?;
    let tree: &strata::Promise<Mesh> = &tree;
    assert!(std::ptr::eq(&*tree.view()?, &*root.hero.view()?), "one archived mesh");
    assert_eq!(rock.view()?.name.as_str(), "rock");

    let loaded: Catalog = archive.load()?;
    assert_eq!(loaded, catalog);
    let (tree, rock) = (&loaded.hero, &loaded.by_name["m0"]);
    for (name, m) in &loaded.by_name {
        let i: usize = name[1..].parse().map_err(|_| strata::Error::Detached)?;
        assert!(Arc::ptr_eq(m, if i.is_multiple_of(4) { rock } else { tree }), "entry {name}");
    }
    assert!(loaded.ordered.values().all(|m| Arc::ptr_eq(m, tree) || Arc::ptr_eq(m, rock)));
    assert_eq!(Arc::strong_count(tree), 1 + 750 + 225);

    // Compaction walks the shared references of shards and buckets without the types.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("catalog.strata");
    strata::save(&path, &gallery())?;
    strata::compact(&path)?;
    let compacted: Gallery = Archive::open(&path)?.load()?;
    assert_eq!(compacted.meshes.len(), 1000);
    assert!(Arc::ptr_eq(&compacted.hero, &compacted.meshes[1]));
    strata::save(&path, &catalog)?;
    strata::compact(&path)?;
    let compacted: Catalog = Archive::open(&path)?.load()?;
    assert_eq!(compacted, catalog);
    assert!(Arc::ptr_eq(&compacted.hero, &compacted.by_name["m1"]));
    Ok(())
}

mod inline_catalog {
    use super::Mesh;
    use std::collections::{BTreeMap, HashMap};
    use strata::Persist;

    /// `Catalog` as files before shared values stored it: each entry holds its mesh.
    #[derive(Persist, Debug, Clone, PartialEq)]
    pub struct Catalog {
        pub hero: std::sync::Arc<Mesh>,
        #[strata(map)]
        pub by_name: HashMap<String, Box<Mesh>>,
        #[strata(map)]
        pub ordered: BTreeMap<u32, Box<Mesh>>,
    }
}

#[test]
fn a_bucketed_map_of_inline_values_reads_as_shared_values() -> strata::Result<()> {
    let Gallery { hero, meshes } = gallery();
    let old = inline_catalog::Catalog {
        hero,
        by_name: meshes.iter().take(30).enumerate().map(|(i, m)| (format!("m{i}"), Box::new((**m).clone()))).collect(),
        ordered: meshes.iter().take(5).enumerate().map(|(i, m)| (i as u32, Box::new((**m).clone()))).collect(),
    };
    let loaded: Catalog = Archive::from_bytes(strata::to_bytes(&old)?)?.load()?;
    assert_eq!(loaded.by_name.len(), 30);
    assert!(old.by_name.iter().all(|(k, v)| loaded.by_name.get(k).is_some_and(|m| **m == **v)));
    assert!(old.ordered.iter().all(|(k, v)| loaded.ordered.get(k).is_some_and(|m| **m == **v)));
    Ok(())
}
