//! A lazy value's reference is typed (format version 5): a reference that a hostile or
//! broken writer points at a chunk written as a value of another type is an error for
//! every reader (typed loads and views, shared `Arc`s, reads through schema
//! evolution, and reads without the Rust types), even where the chunk's bytes happen
//! to validate as the type the reference is read as.

use std::sync::Arc;
use strata::raw::format::ChunkRef;
use strata::{Archive, Persist};

#[derive(Persist, Debug, Clone, PartialEq)]
struct Mesh {
    name: String,
    vertices: Vec<[f32; 3]>,
}

/// Laid out as a [`Mesh`] is (a string, then a vector of larger elements): its chunk
/// validates as a mesh.
#[derive(Persist, Debug, Clone, PartialEq)]
struct Group {
    label: Box<str>,
    meshes: Vec<Arc<Mesh>>,
}

#[derive(Persist, Debug, Clone, PartialEq)]
struct Scene {
    hero: Arc<Mesh>,
    group: Arc<Group>,
    #[strata(lazy)]
    notes: Vec<String>,
    #[strata(lazy)]
    counts: Vec<u32>,
}

/// The same scene with a field added: read through schema evolution.
mod later {
    use super::{Group, Mesh};
    use std::sync::Arc;
    use strata::Persist;

    #[derive(Persist, Debug, Clone, PartialEq)]
    #[strata(alias = "Scene")]
    pub struct Scene {
        pub hero: Arc<Mesh>,
        pub group: Arc<Group>,
        #[strata(lazy)]
        pub notes: Vec<String>,
        #[strata(lazy)]
        pub counts: Vec<u32>,
        #[strata(default)]
        pub added: u32,
    }
}

fn scene() -> Scene {
    let tree = Arc::new(Mesh { name: "tree".into(), vertices: vec![[1.0, 2.0, 3.0]; 3] });
    Scene {
        hero: Arc::clone(&tree),
        group: Arc::new(Group { label: "a group label".into(), meshes: vec![tree; 4] }),
        notes: vec!["a note longer than eight bytes".into(); 3],
        counts: vec![7, 8, 9],
    }
}

/// The scene's bytes with the root's reference `from` replaced by `to`, the root
/// resealed: what a writer can do while keeping every checksum valid.
fn pointed(pick: impl Fn(&ArchivedScene) -> (ChunkRef, ChunkRef)) -> strata::Result<Vec<u8>> {
    let bytes = strata::to_bytes(&scene())?;
    let archive = Archive::from_bytes(bytes.clone())?;
    let (from, to) = pick(archive.root::<Scene>()?);
    strata_tests::hostile::replaced_in_root(&bytes, &from, &to).ok_or(strata::Error::Detached)
}

fn hero_at_group(s: &ArchivedScene) -> (ChunkRef, ChunkRef) {
    (*s.hero.chunk(), *s.group.chunk())
}

fn counts_at_notes(s: &ArchivedScene) -> (ChunkRef, ChunkRef) {
    (*s.counts.chunk(), *s.notes.chunk())
}

#[test]
fn the_chunks_validate_as_the_other_type_so_only_the_type_tag_tells_them_apart() -> strata::Result<()> {
    // What makes the redirections below dangerous: the group's chunk is a valid
    // archived mesh, and the notes' chunk valid `u32`s. A writer that retypes a
    // reference (its checksum's tag changed to the type it is read as) declares the
    // chunk to be of that type, and it reads as one: the type tag binds a reference
    // to the type it was written for, it does not authenticate the writer.
    let tag = strata::raw::format::type_tag;
    let retyped = |r: ChunkRef, from: &str, to: &str| r.tagged(tag(from)).tagged(tag(to));
    let bytes = pointed(|s| (*s.hero.chunk(), retyped(*s.group.chunk(), "Group", "Mesh")))?;
    let hero = Archive::from_bytes(bytes)?.load::<Scene>()?.hero;
    assert_ne!(*hero, *scene().hero, "the group read as a mesh");
    let bytes = pointed(|s| (*s.counts.chunk(), retyped(*s.notes.chunk(), "Vec<String>", "Vec<u32>")))?;
    let counts = Archive::from_bytes(bytes)?.load::<Scene>()?.counts;
    assert!(counts.len() == 3 && counts != scene().counts, "three strings read as {counts:?}");
    Ok(())
}

#[test]
fn a_shared_reference_at_a_value_of_another_type_is_an_error() -> strata::Result<()> {
    let bytes = pointed(hero_at_group)?;
    let archive = Archive::from_bytes(bytes.clone())?;
    let loaded = archive.load::<Scene>();
    assert!(matches!(loaded, Err(strata::Error::ChecksumMismatch { .. })), "loaded {loaded:?}");
    let root = archive.root::<Scene>()?;
    assert!(root.hero.view().is_err());
    assert!(root.hero.load_shared().is_err());
    // The group itself, through its own reference, still reads.
    assert_eq!(root.group.load()?.label.as_ref(), "a group label");
    let evolved = Archive::from_bytes(bytes.clone())?.load::<later::Scene>();
    assert!(evolved.is_err(), "read through evolution: {evolved:?}");
    let untyped = Archive::from_bytes(bytes)?.value();
    assert!(untyped.is_err(), "read without the types: {untyped:?}");
    Ok(())
}

#[test]
fn a_lazy_field_at_a_value_of_another_type_is_an_error() -> strata::Result<()> {
    let bytes = pointed(counts_at_notes)?;
    let archive = Archive::from_bytes(bytes.clone())?;
    assert!(archive.load::<Scene>().is_err());
    let root = archive.root::<Scene>()?;
    assert!(root.counts.view().is_err());
    assert!(root.counts.load().is_err());
    assert_eq!(root.notes.load()?, scene().notes);
    assert!(Archive::from_bytes(bytes.clone())?.load::<later::Scene>().is_err());
    assert!(Archive::from_bytes(bytes.clone())?.value_at("counts").is_err());
    Ok(())
}

#[test]
fn references_typed_alike_still_read_and_evolution_retypes_nothing_it_should_not() -> strata::Result<()> {
    // The control: the unchanged file reads every way the damaged ones fail.
    let bytes = strata::to_bytes(&scene())?;
    assert_eq!(Archive::from_bytes(bytes.clone())?.load::<Scene>()?, scene());
    let evolved = Archive::from_bytes(bytes.clone())?.load::<later::Scene>()?;
    assert_eq!((evolved.hero, evolved.notes, evolved.added), (scene().hero, scene().notes, 0));
    assert!(Archive::from_bytes(bytes.clone())?.value().is_ok());
    // A reference moved to another value of its own type reads that value.
    let bytes = pointed(|s| (*s.hero.chunk(), *s.group.view().unwrap().meshes[0].chunk()))?;
    assert_eq!(Archive::from_bytes(bytes)?.load::<Scene>()?.hero.name, "tree");
    Ok(())
}

#[test]
fn compaction_keeps_references_typed_and_refuses_mistyped_ones() -> strata::Result<()> {
    let dir = tempfile::tempdir().map_err(strata::Error::Io)?;
    let good = dir.path().join("good.strata");
    strata::save(&good, &scene())?;
    strata::compact(&good)?;
    let archive = Archive::open(&good)?;
    assert_eq!(archive.load::<Scene>()?, scene());
    let bad = dir.path().join("bad.strata");
    std::fs::write(&bad, pointed(hero_at_group)?).map_err(strata::Error::Io)?;
    assert!(strata::compact(&bad).is_err());
    Ok(())
}

/// The scene's types after a rename: `Mesh` is now `Model` (its old name an alias), so
/// every typed reference to a mesh names another type than the reader's.
mod renamed {
    use std::sync::Arc;
    use strata::Persist;

    #[derive(Persist, Debug, Clone, PartialEq)]
    #[strata(alias = "Mesh")]
    pub struct Model {
        pub name: String,
        pub vertices: Vec<[f32; 3]>,
    }

    #[derive(Persist, Debug, Clone, PartialEq)]
    pub struct Group {
        pub label: Box<str>,
        pub meshes: Vec<Arc<Model>>,
    }

    #[derive(Persist, Debug, Clone, PartialEq)]
    pub struct Scene {
        pub hero: Arc<Model>,
        pub group: Arc<Group>,
        #[strata(lazy)]
        pub notes: Vec<String>,
        #[strata(lazy)]
        pub counts: Vec<u32>,
    }
}

#[test]
fn a_renamed_type_reads_through_evolution_which_retypes_its_references() -> strata::Result<()> {
    let bytes = strata::to_bytes(&scene())?;
    let archive = Archive::from_bytes(bytes.clone())?;
    let back = archive.load::<renamed::Scene>()?;
    assert_eq!((back.hero.name.as_str(), back.group.meshes.len()), ("tree", 4));
    assert!(back.group.meshes.iter().all(|m| Arc::ptr_eq(m, &back.hero)), "sharing kept through the plan");
    let root = archive.root::<renamed::Scene>()?;
    assert_eq!(root.hero.view()?.vertices.len(), 3);
    assert_eq!(root.group.view()?.meshes[2].load()?.name, "tree");
    // A mistyped reference stays an error through the rename.
    let bad = Archive::from_bytes(pointed(hero_at_group)?)?;
    assert!(bad.load::<renamed::Scene>().is_err());
    Ok(())
}

#[test]
fn lazy_values_of_every_type_expression_read_without_their_types_and_compact() -> strata::Result<()> {
    // The type tag is of the type expression as the schema writes it, whatever its
    // form: generic, tuple, array, an inline map (whose schema carries its layout),
    // a boxed slice; read by the typeless decoder and compaction from the schema text.
    #[derive(Persist, Debug, Clone, PartialEq)]
    struct Pair<A, B> {
        a: A,
        b: B,
    }
    #[derive(Persist, Debug, Clone, PartialEq)]
    struct Shapes {
        #[strata(lazy)]
        map: std::collections::HashMap<u16, String>,
        #[strata(lazy)]
        tree: std::collections::BTreeMap<String, (u8, i64)>,
        #[strata(lazy)]
        tuple: (u32, String, [u16; 3]),
        #[strata(lazy)]
        pair: Pair<u64, Vec<Option<String>>>,
        #[strata(lazy)]
        boxed: Box<[u8]>,
        shared: Arc<Pair<String, (u8,)>>,
    }
    let value = Shapes {
        map: (0..20).map(|i| (i, format!("v{i}"))).collect(),
        tree: (0..5).map(|i| (format!("k{i}"), (i as u8, -i64::from(i)))).collect(),
        tuple: (7, "seven".into(), [1, 2, 3]),
        pair: Pair { a: 9, b: vec![Some("x".into()), None] },
        boxed: vec![1, 2, 3].into_boxed_slice(),
        shared: Arc::new(Pair { a: "s".into(), b: (1,) }),
    };
    let bytes = strata::to_bytes(&value)?;
    let archive = Archive::from_bytes(bytes.clone())?;
    assert_eq!(archive.load::<Shapes>()?, value);
    archive.value()?;
    let dir = tempfile::tempdir().map_err(strata::Error::Io)?;
    let path = dir.path().join("shapes.strata");
    std::fs::write(&path, &bytes).map_err(strata::Error::Io)?;
    strata::compact(&path)?;
    assert_eq!(strata::load::<Shapes>(&path)?, value);
    Ok(())
}
