//! Schema evolution: reading a file with types that differ from the ones that wrote it.
//!
//! A file records its schema (names, types, archived layouts). When a reader type's
//! fingerprint differs from the file's, the archive builds a [`Plan`] from the two
//! schemas once, checks it fully (an incompatibility is an [`Error::Incompatible`]
//! naming the field path), and reads through it: a chunk whose layout equals the
//! reader's, here and below, is read in place as always; any other chunk is
//! transcoded into the reader's layout when first touched (the root when the root is
//! asked for, a lazy field's chunk, a shard, a map entry) and kept in the archive's
//! cache. Lazy fields inside a transcoded chunk carry a tag (kept beside the chunk's
//! bytes, found by address like the archive itself) saying how their chunk is read.
//! `docs/EVOLUTION.md` gives the rules.

mod build;
mod make;
mod plan;
mod shift;
mod transcode;

use crate::Persist;
use crate::error::{Error, Result};
use crate::format::ChunkRef;
use crate::schema::{Schema, Ty, TypeSchema, root_name, schema_of};
use crate::store::chunk::Chunk;
use crate::store::registry::Note;
use crate::store::{Holds, Keep, Key, Store};
use make::{Root, transcode, transcode_each, transcode_into};
pub(crate) use plan::NodeId;
pub(crate) use plan::Tag;
use plan::{Made, Op, Plan};
use rkyv::Portable;
use rkyv::bytecheck::CheckBytes;
use std::any::TypeId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Reads of single elements of a shard transcoded one by one before the whole shard is
/// transcoded (once, and cached).
const ELEMENT_READS_BEFORE_WHOLE: u32 = 8;

/// Distinct numbers for the evolutions of all archives: a part of the cache keys of
/// what they make.
static VIEWS: AtomicU64 = AtomicU64::new(1);

/// How an open archive reads one reader type whose schema differs from the file's.
pub(crate) struct Evolution {
    plan: Arc<Plan>,
    view: u64,
    /// The root chunk transcoded, when the root's layout changed.
    root: OnceLock<Arc<Chunk>>,
}

/// The note registered with a transcoded chunk's bytes: the tags of the lazy fields
/// inside, by position.
pub(crate) struct Tags {
    plan: Arc<Plan>,
    view: u64,
    at: Vec<(u64, Tag)>,
}

/// How reading `T` from `store` works: `None` when the file was written by `T` itself
/// (the fingerprints match), else the evolution, built on first use.
///
/// # Errors
/// [`Error::TypeMismatch`] when the file holds another type altogether;
/// [`Error::Incompatible`] when it holds a version of `T` that `T` cannot read; errors
/// reading the file's schema.
pub(crate) fn evolution<T: Persist>(store: &Store) -> Result<Option<&Evolution>> {
    let schema = schema_of::<T>();
    if schema.fingerprint == store.footer().type_fingerprint {
        return Ok(None);
    }
    store.attached(TypeId::of::<T>(), || Evolution::new(store, schema, TypeId::of::<T>())).map(Some)
}

/// Plans already built, by the file's schema fingerprint and the reading type: a plan
/// depends on nothing else, so the archives of files with one schema share it (an
/// open then reads no schema). The fingerprint is trusted as the native path trusts
/// it: a file claiming another file's fingerprint reads through that file's plan, every
/// read of it bounds-checked and every chunk made validated.
static PLANS: Mutex<Option<Plans>> = Mutex::new(None);

/// Plans by the file's schema fingerprint and the reading type.
type Plans = HashMap<(u64, TypeId), Arc<Plan>>;

/// Plans kept at most; past it the cache starts again empty.
const MAX_PLANS: usize = 256;

impl Evolution {
    fn new(store: &Store, schema: &TypeSchema, reader: TypeId) -> Result<Self> {
        let key = (store.footer().type_fingerprint, reader);
        let cached = PLANS.lock().unwrap_or_else(PoisonError::into_inner).as_ref().and_then(|m| m.get(&key).cloned());
        let plan = match cached {
            Some(plan) => plan,
            None => {
                let plan = Arc::new(Self::plan(store, schema)?);
                let mut plans = PLANS.lock().unwrap_or_else(PoisonError::into_inner);
                let plans = plans.get_or_insert_with(HashMap::new);
                if plans.len() >= MAX_PLANS {
                    plans.clear();
                }
                plans.insert(key, Arc::clone(&plan));
                plan
            }
        };
        Ok(Self { plan, view: VIEWS.fetch_add(1, Ordering::Relaxed), root: OnceLock::new() })
    }

    /// Reads the file's schema and plans reading it as the reader's.
    fn plan(store: &Store, schema: &TypeSchema) -> Result<Plan> {
        let text = crate::directory::schema_text(store)?;
        let mismatch = |found: String| Error::TypeMismatch {
            expected: schema.name.clone(),
            expected_fingerprint: schema.fingerprint,
            found,
            found_fingerprint: store.footer().type_fingerprint,
        };
        let file =
            Schema::parse(&text).map_err(|_| mismatch(root_name(&text).unwrap_or("<unreadable schema>").to_owned()))?;
        let reader = Schema::parse(&schema.text)?;
        if !same_kind(&file, &reader) {
            return Err(mismatch(root_name(&text).unwrap_or("<unreadable schema>").to_owned()));
        }
        Plan::build(&file, &reader, &schema.defaults, &schema.relocators)
    }

    /// The root as the reader's archived type `A`: the file's root chunk read in place
    /// when its layout is the reader's, else transcoded once.
    pub(crate) fn root<'s, A>(&'s self, store: &'s Store) -> Result<&'s A>
    where
        A: Portable + for<'a> CheckBytes<crate::Validator<'a>> + 'static,
    {
        let root = self.plan.node(self.plan.root)?;
        if root.same {
            return store.root_as::<A>();
        }
        if self.root.get().is_none() {
            let file = Arc::clone(store.root()?);
            let at = store.footer().root;
            let made = transcode(&self.plan, store, file, self.plan.root, Root::End, &[&root.path])?;
            let _ = self.root.set(adopt(store, &self.plan, self.view, made, at, None));
        }
        store.root_of::<A>(self.root.get().ok_or(Error::Detached)?)
    }
}

/// Checks whether a file whose schema text is `file` can be read by types whose schema
/// text is `reader` (see `docs/EVOLUTION.md`), without those types: the defaults
/// `reader` marks are taken as given. What `strata schema --check-against` runs.
///
/// # Errors
/// [`Error::Schema`] when a text does not parse; [`Error::TypeMismatch`] when the
/// roots are different types; [`Error::Incompatible`] naming the first field path the
/// rules refuse.
pub fn check_readable(file: &str, reader: &str) -> Result<()> {
    let (f, r) = (Schema::parse(file)?, Schema::parse(reader)?);
    if !same_kind(&f, &r) {
        return Err(Error::TypeMismatch {
            expected: crate::schema::render(&r.root),
            expected_fingerprint: crate::format::checksum(reader.as_bytes()),
            found: crate::schema::render(&f.root),
            found_fingerprint: crate::format::checksum(file.as_bytes()),
        });
    }
    Plan::check(&f, &r)
}

/// Whether the file's root and the reader's are versions of one type (else the file
/// holds another type altogether: a type mismatch, as without evolution).
fn same_kind(file: &Schema, reader: &Schema) -> bool {
    let base = |n: &str| n.split('<').next().unwrap_or(n).to_owned();
    match (&file.root, &reader.root) {
        (Ty::Named(f, _), Ty::Named(r, _)) => {
            let aliases = match reader.types.get(r) {
                Some(crate::schema::Def::Struct { aliases, .. } | crate::schema::Def::Enum { aliases, .. }) => {
                    aliases.as_slice()
                }
                None => &[],
            };
            base(f) == base(r) || aliases.iter().any(|a| *a == base(f))
        }
        (Ty::Named(..), _) | (_, Ty::Named(..)) => false,
        (f, r) => std::mem::discriminant(f) == std::mem::discriminant(r),
    }
}

/// A chunk of made bytes, registered with its tags, kept under `keep` when given.
fn adopt(store: &Store, plan: &Arc<Plan>, view: u64, made: Made, at: ChunkRef, keep: Option<Key>) -> Arc<Chunk> {
    let note = (!made.tags.is_empty()).then(|| Arc::new(Tags { plan: Arc::clone(plan), view, at: made.tags }) as Note);
    store.adopt(made.bytes, at, note, keep)
}

/// Where a lazy field (promise, sharded vector, map) in a view was read from: a chunk
/// of the file read as it is, or a transcoded chunk that tags the field.
pub(crate) enum Origin {
    /// Read as the file stores it.
    Native(Arc<Store>),
    /// Read through a plan: the field's chunk (or table) is transcoded by `tag`.
    Evolved(Arc<Store>, Evolved),
}

/// A tagged lazy field of a transcoded chunk.
pub(crate) struct Evolved {
    tags: Arc<Tags>,
    tag: Tag,
}

/// Where `field` (inside a view) was read from.
///
/// # Errors
/// [`Error::Detached`] when it is not inside an open archive.
pub(crate) fn origin<F: ?Sized>(field: &F) -> Result<Origin> {
    let (store, note) = crate::store::registry::origin_of(field).ok_or(Error::Detached)?;
    if let Some((note, offset)) = note
        && let Ok(tags) = note.downcast::<Tags>()
        && let Ok(i) = tags.at.binary_search_by_key(&(offset as u64), |(p, _)| *p)
        && let Some((_, tag)) = tags.at.get(i)
    {
        let tag = tag.clone();
        return Ok(Origin::Evolved(store, Evolved { tags, tag }));
    }
    Ok(Origin::Native(store))
}

impl Evolved {
    fn key(&self, r: ChunkRef, node: NodeId, pos: u64) -> Key {
        Key { r, view: (self.tags.view << 32) | u64::from(node), pos }
    }

    /// The node of a tag that names a file chunk (a lazy field's, a table's).
    pub(crate) fn node(&self) -> Result<NodeId> {
        match self.tag {
            Tag::Chunk { node, .. } => Ok(node),
            _ => Err(Error::Message(String::from("internal: a table tagged as a lazy value"))),
        }
    }

    /// The chunk a tagged lazy field reads, in the reader's layout: made once and kept
    /// when `keep` says so.
    ///
    /// # Errors
    /// When the file chunk is damaged or does not hold what its schema says.
    pub(crate) fn chunk(&self, store: &Store, r: &ChunkRef, keep: Keep) -> Result<Arc<Chunk>> {
        let plan = &self.tags.plan;
        let (key, source, node, root) = match self.tag {
            Tag::Chunk { node, .. } => (self.key(*r, node, 0), *r, node, Root::End),
            Tag::Inline { src, pos, node, .. } => {
                (self.key(src, node, pos.saturating_add(1)), src, node, Root::At(pos))
            }
            Tag::Default(id) => {
                return plan
                    .defaults
                    .get(id)
                    .cloned()
                    .ok_or_else(|| Error::Message(String::from("internal: no default")));
            }
        };
        if let Some(chunk) = store.made(&key) {
            return Ok(chunk);
        }
        let file = store.chunk(&source, Keep::No, Holds::Nothing)?;
        self.make(store, file, node, root, (keep == Keep::Yes).then_some(key), &[self.place()])
    }

    /// A file chunk `file` (of the table this field tags) transcoded whole, not kept.
    ///
    /// # Errors
    /// As [`chunk`](Self::chunk).
    pub(crate) fn whole(&self, store: &Store, file: Arc<Chunk>) -> Result<Arc<Chunk>> {
        self.make(store, file, self.node()?, Root::End, None, &[self.place()])
    }

    /// A file chunk `file` of the table this field tags transcoded whole into a buffer
    /// of this thread's (reused), handed to `f`: for values whose types hold no chunk
    /// (their bytes need not be a chunk of the archive, which lazy fields find it
    /// through).
    ///
    /// # Errors
    /// As [`chunk`](Self::chunk), and `f`'s.
    pub(crate) fn with_whole<R>(
        &self,
        store: &Store,
        file: Arc<Chunk>,
        f: impl FnOnce(&[u8]) -> Result<R>,
    ) -> Result<R> {
        thread_local! {
            static SPARE: std::cell::Cell<Option<rkyv::util::AlignedVec<16>>> = const { std::cell::Cell::new(None) };
        }
        /// The largest buffer a thread keeps.
        const KEEP_AT_MOST: usize = 4 << 20;
        let spare = SPARE.take().unwrap_or_default();
        let made = transcode_into(&self.tags.plan, store, file, self.node()?, Root::End, &[self.place()], spare)?;
        if !made.tags.is_empty() {
            return Err(Error::Message(String::from("internal: a chunk reference in a value that holds no chunk")));
        }
        let out = f(&made.bytes);
        if made.bytes.capacity() <= KEEP_AT_MOST {
            SPARE.set(Some(made.bytes));
        }
        out
    }

    /// The path of the tagged field (`Shop.items`).
    fn place(&self) -> &str {
        match &self.tag {
            Tag::Chunk { place, .. } | Tag::Inline { place, .. } => place,
            Tag::Default(_) => "",
        }
    }

    fn make(
        &self,
        store: &Store,
        file: Arc<Chunk>,
        node: NodeId,
        root: Root,
        keep: Option<Key>,
        place: &[&str],
    ) -> Result<Arc<Chunk>> {
        let at = *file.at();
        let made = transcode(&self.tags.plan, store, file, node, root, place)?;
        Ok(adopt(store, &self.tags.plan, self.tags.view, made, at, keep))
    }

    /// Element `k` of the shard `r` of a tagged sharded vector: the shard transcoded
    /// whole (and kept) once it has been read often, else the one element.
    ///
    /// # Errors
    /// As [`chunk`](Self::chunk).
    pub(crate) fn element(&self, store: &Store, r: &ChunkRef, k: u64) -> Result<Option<Element>> {
        let vec = self.node()?;
        let key = self.key(*r, vec, 0);
        if let Some(chunk) = store.made(&key) {
            return Ok(Some(Element::Whole(chunk)));
        }
        let file = store.chunk(r, Keep::Yes, Holds::Nothing)?;
        let reads = file.count_element_read();
        // Past the first reads, the whole shard is transcoded; a shard holding a value
        // the reader cannot represent (a variant it lacks) cannot be, and is tried
        // again only now and then while its elements are read one by one.
        if reads > ELEMENT_READS_BEFORE_WHOLE && (reads - ELEMENT_READS_BEFORE_WHOLE - 1).is_multiple_of(64) {
            match self.make(store, Arc::clone(&file), vec, Root::End, Some(key), &[self.place()]) {
                Ok(chunk) => return Ok(Some(Element::Whole(chunk))),
                Err(Error::UnknownVariant { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let plan = &self.tags.plan;
        let Op::Vec(elem) = plan.node(vec)?.op else {
            return Err(Error::Message(String::from("internal: a sharded vector's node is not a vector")));
        };
        let size = plan.node(elem)?.file_size;
        let at = r.location();
        let bytes = crate::format::archived::Bytes::new(file.bytes());
        let header = bytes.len().checked_sub(8).ok_or_else(|| bad_shard(at, "shorter than a vector header"))?;
        let (start, len) = bytes.vec(header, size).map_err(|d| bad_shard(at, d))?;
        if k >= len {
            return Ok(None);
        }
        self.make(store, file, elem, Root::At(start + k * size), None, &[self.place(), "[]"])
            .map(|c| Some(Element::One(c)))
    }

    /// The file's size of one element of a tagged sharded vector, or of one entry of a
    /// tagged map.
    ///
    /// # Errors
    /// When the tag is not a table's.
    pub(crate) fn file_size(&self) -> Result<u64> {
        let plan = &self.tags.plan;
        let node = plan.node(self.node()?)?;
        match node.op {
            Op::Vec(elem) => Ok(plan.node(elem)?.file_size),
            _ => Ok(node.file_size),
        }
    }

    /// The entry of a tagged map's bucket `file` whose root object is at `pos`,
    /// transcoded into a chunk of its own.
    ///
    /// # Errors
    /// As [`chunk`](Self::chunk).
    pub(crate) fn entry(&self, store: &Store, file: Arc<Chunk>, pos: u64) -> Result<Arc<Chunk>> {
        self.make(store, file, self.node()?, Root::At(pos), None, &[self.place(), "[]"])
    }

    /// The entries of a tagged map's bucket `file` given by their `spans` (where each
    /// entry's bytes start, and its root object), transcoded one after the other into
    /// bytes handed to `each`, not made chunks of the archive: for entries deserialized
    /// at once that hold no chunk reference (nothing inside looks for its archive).
    ///
    /// # Errors
    /// As [`chunk`](Self::chunk), and `each`'s.
    pub(crate) fn each_entry(
        &self,
        store: &Store,
        file: Arc<Chunk>,
        spans: impl IntoIterator<Item = Result<(u64, u64)>>,
        each: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        transcode_each(&self.tags.plan, store, file, self.node()?, spans, &[self.place(), "[]"], each)
    }
}

/// An element of a shard read through a plan.
pub(crate) enum Element {
    /// The whole shard, transcoded: a `Vec` of the reader's elements.
    Whole(Arc<Chunk>),
    /// The element alone, transcoded: its root ends the chunk.
    One(Arc<Chunk>),
}

fn bad_shard(at: crate::error::Location, detail: impl Into<String>) -> Error {
    Error::InvalidData { at, ty: "sharded vector", detail: detail.into() }
}
