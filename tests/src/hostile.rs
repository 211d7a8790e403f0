//! Hostile files: a rich model, a walk that reads everything, mutations that get past
//! the checksums (`reseal`), and the bodies of the fuzz targets.
//!
//! Each `fuzz_*` function is the whole body of a cargo-fuzz target in `fuzz/`; the stable
//! test `tests/hostile.rs` runs the same functions over the checked-in corpus and
//! thousands of generated inputs. They must never panic, whatever the bytes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use strata::raw::format::ChunkRef;
use strata::{Archive, Codec, OpenOptions, Persist, SaveOptions, StableHash};

/// The largest decompressed chunk the fuzz bodies allow (and the allocation bound their
/// tests check).
pub const MAX_CHUNK: u64 = 8 << 20;

/// A map key type of the user's own.
#[derive(Persist, StableHash, Debug, PartialEq, Eq, Hash, Clone, PartialOrd, Ord)]
pub struct Key {
    pub zone: u16,
    pub name: String,
}

/// An item with a lazy field of its own.
#[derive(Persist, Debug, PartialEq, Clone)]
pub struct Item {
    pub id: u32,
    pub label: String,
    #[strata(lazy)]
    pub notes: Vec<String>,
}

/// An enum of every variant shape.
#[derive(Persist, Debug, PartialEq, Clone)]
pub enum Shape {
    Empty,
    Dot(i64),
    Box { w: f32, h: f32, tag: Option<String> },
    Deferred(#[strata(lazy, compress = "zstd(1)")] Vec<u32>),
}

/// The model every hostile input is measured against.
#[derive(Persist, Debug, PartialEq, Clone)]
pub struct Model {
    pub id: u64,
    pub title: String,
    pub shapes: Vec<Shape>,
    pub settings: BTreeMap<u8, String>,
    #[strata(lazy)]
    pub history: Vec<String>,
    #[strata(lazy, compress = "zstd(3)")]
    pub blob: Vec<u8>,
    #[strata(lazy)]
    pub item: Item,
    #[strata(shard, shard_bytes = 1024)]
    pub numbers: Vec<u64>,
    #[strata(shard, shard_bytes = 1024, compress = "zstd(1)")]
    pub items: Vec<Item>,
    #[strata(map)]
    pub by_name: HashMap<String, u32>,
    #[strata(map, compress = "zstd(1)")]
    pub by_key: HashMap<Key, Item>,
    /// Shared across the archive: one chunk, referred to four times.
    pub shared: Arc<Item>,
    pub shared_list: Vec<Arc<Item>>,
    pub maybe_shared: Option<Arc<Item>>,
    /// Shared references in shards and buckets.
    #[strata(shard, shard_bytes = 1024)]
    pub shared_shards: Vec<Arc<Item>>,
    #[strata(map)]
    pub shared_map: HashMap<u32, Arc<Item>>,
}

/// The model with `Rc` for its shared fields: the same schema, so it reads the model's
/// files, loading them on the calling thread.
pub mod rc {
    use super::{Item, Key, Shape};
    use std::collections::{BTreeMap, HashMap};
    use std::rc::Rc;
    use strata::Persist;

    /// [`super::Model`] with `Rc`s.
    #[derive(Persist, Debug, PartialEq, Clone)]
    pub struct Model {
        pub id: u64,
        pub title: String,
        pub shapes: Vec<Shape>,
        pub settings: BTreeMap<u8, String>,
        #[strata(lazy)]
        pub history: Vec<String>,
        #[strata(lazy, compress = "zstd(3)")]
        pub blob: Vec<u8>,
        #[strata(lazy)]
        pub item: Item,
        #[strata(shard, shard_bytes = 1024)]
        pub numbers: Vec<u64>,
        #[strata(shard, shard_bytes = 1024, compress = "zstd(1)")]
        pub items: Vec<Item>,
        #[strata(map)]
        pub by_name: HashMap<String, u32>,
        #[strata(map, compress = "zstd(1)")]
        pub by_key: HashMap<Key, Item>,
        pub shared: Rc<Item>,
        pub shared_list: Vec<Rc<Item>>,
        pub maybe_shared: Option<Rc<Item>>,
        #[strata(shard, shard_bytes = 1024)]
        pub shared_shards: Vec<std::sync::Arc<Item>>,
        #[strata(map)]
        pub shared_map: HashMap<u32, std::sync::Arc<Item>>,
    }
}

/// A deterministic value of the model: a few dozen chunks of every kind.
#[must_use]
pub fn model() -> Model {
    let item =
        |i: u32| Item { id: i, label: format!("item-{i}"), notes: (0..i % 3).map(|n| format!("n{n}")).collect() };
    let shared = Arc::new(item(5));
    Model {
        id: 7,
        title: "hostile".into(),
        shapes: vec![
            Shape::Empty,
            Shape::Dot(-3),
            Shape::Box { w: 1.0, h: 2.0, tag: Some("t".into()) },
            Shape::Deferred((0..300).collect()),
        ],
        settings: [(1, "one".to_string()), (2, "two".to_string())].into(),
        history: (0..40).map(|i| format!("event {i}")).collect(),
        blob: (0..3000u32).map(|i| (i % 13) as u8).collect(),
        item: item(2),
        numbers: (0..600).map(|i| i * i).collect(),
        items: (0..80).map(item).collect(),
        by_name: (0..400).map(|i| (format!("name{i}"), i)).collect(),
        by_key: (0..60u32).map(|i| (Key { zone: (i % 4) as u16, name: format!("k{i}") }, item(i))).collect(),
        shared: Arc::clone(&shared),
        shared_list: vec![Arc::clone(&shared), Arc::new(item(6)), Arc::clone(&shared)],
        shared_shards: (0..60).map(|i| if i % 2 == 0 { Arc::clone(&shared) } else { Arc::new(item(i)) }).collect(),
        shared_map: (0..40).map(|i| (i, if i % 3 == 0 { Arc::clone(&shared) } else { Arc::new(item(i)) })).collect(),
        maybe_shared: Some(shared),
    }
}

/// The model's file image (computed once).
pub fn image() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| SaveOptions::new().compression(Codec::None).to_bytes(&model()).unwrap_or_default())
}

/// Where [`image`]'s references are (computed once).
pub fn seals() -> &'static Seals {
    static SEALS: OnceLock<Seals> = OnceLock::new();
    SEALS.get_or_init(|| Seals::of(image(), chunks()))
}

/// Every chunk of [`image`]: the directory's chunks, its pages, then the meta chunk.
pub fn chunks() -> &'static [ChunkRef] {
    static CHUNKS: OnceLock<Vec<ChunkRef>> = OnceLock::new();
    CHUNKS.get_or_init(|| {
        let Ok(archive) = Archive::from_bytes(image().to_vec()) else { return Vec::new() };
        let mut out: Vec<ChunkRef> = archive
            .directory()
            .map(|m| m.chunks.iter().map(|e| e.chunk).chain(m.pages.iter().copied()).collect())
            .unwrap_or_default();
        out.push(archive.footer().meta);
        out
    })
}

/// The limits the fuzz targets open with.
#[must_use]
pub fn options() -> OpenOptions {
    OpenOptions::new().max_decompressed_chunk(MAX_CHUNK)
}

/// Reads everything the model holds through every API (views, promises, shards,
/// buckets, loads, verify), ignoring errors. Returns (reads that succeeded, reads tried).
pub fn walk(archive: &Archive) -> (usize, usize) {
    let (mut ok, mut tried) = (0, 0);
    let mut count = |r: bool| {
        ok += usize::from(r);
        tried += 1;
    };
    count(archive.verify().is_ok());
    count(archive.schema_text().is_ok());
    let Ok(m) = archive.root::<Model>() else { return (ok, tried) };
    count(m.title.len() < 1 << 20);
    for s in m.shapes.iter() {
        if let ArchivedShape::Deferred(p) = s {
            count(p.load().is_ok());
            count(p.view().is_ok());
        }
    }
    count(m.history.load().is_ok());
    count(m.history.view().is_ok());
    count(m.blob.load().is_ok());
    if let Ok(item) = m.item.view() {
        count(item.notes.load().is_ok());
    }
    for i in [0, 1, 127, 128, 599, 600] {
        count(m.numbers.get(i).is_ok());
    }
    count(m.numbers.iter().take(1000).filter(Result::is_ok).count() > 0);
    count(m.numbers.load().is_ok());
    for i in [0, 40, 79] {
        if let Ok(Some(item)) = m.items.get(i) {
            count(item.notes.load().is_ok());
        }
    }
    count(m.items.load().is_ok());
    for s in 0..m.numbers.shard_count().min(64) {
        count(m.numbers.shard(s).is_ok());
    }
    for k in ["name0", "name399", "missing"] {
        count(m.by_name.get(k).is_ok());
    }
    count(m.by_name.iter().take(1000).filter(Result::is_ok).count() > 0);
    count(m.by_name.load().is_ok());
    for i in [0u32, 59] {
        let key = Key { zone: (i % 4) as u16, name: format!("k{i}") };
        if let Ok(Some(item)) = m.by_key.get(&key) {
            count(item.notes.load().is_ok());
        }
    }
    count(m.by_key.load().is_ok());
    count(m.shared.view().is_ok_and(|item| item.notes.load().is_ok()));
    count(m.shared.load_shared().is_ok());
    for p in m.shared_list.iter().chain(m.maybe_shared.as_ref()) {
        count(p.view().is_ok());
        count(p.load_shared().is_ok());
        count(p.load_rc().is_ok());
    }
    for i in [0, 1, 59] {
        if let Ok(Some(e)) = m.shared_shards.get(i) {
            let p: &strata::Promise<Item> = &e;
            count(p.view().is_ok());
            count(p.load_shared().is_ok());
        }
    }
    for k in [0u32, 1, 39] {
        if let Ok(Some(e)) = m.shared_map.get(&k) {
            let p: &strata::Promise<Item> = &e;
            count(p.view().is_ok());
        }
    }
    count(archive.load::<Model>().is_ok());
    // The same file read with `Rc`s: what loads is the model, shared as it was.
    match archive.load::<rc::Model>() {
        Ok(m) => {
            let shared_kept = m.shared_list.first().is_some_and(|first| std::rc::Rc::ptr_eq(first, &m.shared))
                && m.maybe_shared.as_ref().is_some_and(|s| std::rc::Rc::ptr_eq(s, &m.shared));
            count(shared_kept);
        }
        Err(_) => count(false),
    }
    (ok, tried)
}

/// Opens `bytes` with the fuzz limits and walks it: (reads that succeeded, reads tried).
pub fn open_and_walk(bytes: Vec<u8>) -> (usize, usize) {
    match Archive::from_bytes_with(bytes, &options()) {
        Ok(archive) => walk(&archive),
        Err(_) => (0, 1),
    }
}

/// Makes chunk `target` of `chunks` consistent again after its bytes changed: its new
/// checksum is written wherever its reference is stored (its holder chunk, the meta
/// chunk's directory, the footer), and each holder is resealed in turn, up to the
/// footer. `chunks` is updated. A typed reference (a lazy value's, format version 5)
/// keeps its type tag. Holders that are compressed are not found (their bytes do not
/// contain the plain reference); the chain stops there.
pub fn reseal(bytes: &mut [u8], chunks: &mut [ChunkRef], target: usize) {
    let mut work = vec![target];
    let mut steps = 0;
    while let Some(t) = work.pop() {
        steps += 1;
        if steps > 10_000 {
            return;
        }
        let Some(&old) = chunks.get(t) else { continue };
        let Some(new) = resealed(bytes, old) else { continue };
        if let Some(slot) = chunks.get_mut(t) {
            *slot = new;
        }
        let footer_start = bytes.len().saturating_sub(footer_len(bytes));
        for (pos, tag) in places(bytes, &old) {
            write_ref(bytes, pos, new, tag);
            if pos >= footer_start {
                refresh_footer(bytes);
            } else if let Some(holder) = holder_of(chunks, pos) {
                work.push(holder);
            }
        }
    }
}

/// `old` with the checksum of the bytes it names now, or `None` when unchanged.
fn resealed(bytes: &[u8], old: ChunkRef) -> Option<ChunkRef> {
    let (o, l) = (old.offset() as usize, old.stored_len() as usize);
    let stored = bytes.get(o..o.saturating_add(l))?;
    let new = ChunkRef::new(old.offset(), old.stored_len(), old.raw_len(), checksum(stored), old.encoding()?);
    let new = match old.count() {
        Some(n) => new.with_count(n),
        None => new,
    };
    (new != old).then_some(new)
}

/// Every place in `bytes` that holds a reference to the chunk `r` names, with the type
/// tag its checksum carries (zero: untyped): all of the reference's bytes but the
/// checksum match.
fn places(bytes: &[u8], r: &ChunkRef) -> Vec<(usize, u64)> {
    let needle = r.to_bytes();
    let (head, tail) = (&needle[..24], &needle[32..]);
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = find(bytes.get(at..).unwrap_or_default(), head).map(|p| p + at) {
        at = pos + 1;
        let Some(slot) = bytes.get(pos..pos + 40) else { break };
        if &slot[32..] == tail {
            let stored = u64::from_le_bytes(slot[24..32].try_into().unwrap_or_default());
            found.push((pos, stored ^ r.checksum()));
            at = pos + 40;
        }
    }
    found
}

/// Writes `r` at `pos`, its checksum typed with `tag`.
fn write_ref(bytes: &mut [u8], pos: usize, r: ChunkRef, tag: u64) {
    if let Some(dst) = bytes.get_mut(pos..pos + 40) {
        dst.copy_from_slice(&r.tagged(tag).to_bytes());
    }
}

/// The chunk whose bytes hold position `pos`.
fn holder_of(chunks: &[ChunkRef], pos: usize) -> Option<usize> {
    chunks.iter().position(|h| (h.offset() as usize..(h.offset() + h.stored_len()) as usize).contains(&pos))
}

fn checksum(bytes: &[u8]) -> u64 {
    strata::raw::format::checksum(bytes)
}

/// Where each chunk's reference is stored in an image, found once, so that resealing
/// is a few writes instead of a scan of the whole image per step (what lets the fuzz
/// bodies run thousands of inputs a second). References inside compressed chunks are
/// not found, as with [`reseal`].
pub struct Seals {
    /// For each chunk: the positions of its 40-byte reference, each with the chunk
    /// holding it (`None`: the footer) and the type tag the reference carries there.
    places: Vec<Vec<Place>>,
}

/// Where a chunk's reference is stored.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    /// Its position in the image.
    pub pos: usize,
    /// The chunk holding it (`None`: the footer).
    pub holder: Option<usize>,
    /// The type tag its checksum carries (zero: untyped).
    pub tag: u64,
}

impl Seals {
    /// Finds every chunk's reference in `bytes`.
    #[must_use]
    pub fn of(bytes: &[u8], chunks: &[ChunkRef]) -> Self {
        let footer_start = bytes.len().saturating_sub(footer_len(bytes));
        let places = chunks
            .iter()
            .map(|c| {
                places(bytes, c)
                    .into_iter()
                    .filter_map(|(pos, tag)| {
                        let holder = if pos < footer_start { holder_of(chunks, pos) } else { None };
                        (pos >= footer_start || holder.is_some()).then_some(Place { pos, holder, tag })
                    })
                    .collect()
            })
            .collect();
        Self { places }
    }

    /// The places of chunk `c`'s references.
    #[must_use]
    pub fn places(&self, c: usize) -> &[Place] {
        self.places.get(c).map(Vec::as_slice).unwrap_or_default()
    }

    /// [`reseal`] through the places found: chunk `target`'s new checksum is written
    /// where its reference is, and each holder is resealed in turn, up to the footer.
    pub fn reseal(&self, bytes: &mut [u8], chunks: &mut [ChunkRef], target: usize) {
        let mut work = vec![target];
        let mut steps = 0;
        while let Some(t) = work.pop() {
            steps += 1;
            if steps > 10_000 {
                return;
            }
            let Some(&old) = chunks.get(t) else { continue };
            let Some(new) = resealed(bytes, old) else { continue };
            if let Some(slot) = chunks.get_mut(t) {
                *slot = new;
            }
            for place in self.places(t) {
                write_ref(bytes, place.pos, new, place.tag);
                match place.holder {
                    Some(h) => work.push(h),
                    None => refresh_footer(bytes),
                }
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Makes a file whose root chunk's bytes changed consistent again: the root's new
/// checksum is written into the footer (and wherever else its reference appears), and
/// the footer resealed.
#[must_use]
pub fn reseal_root(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let start = out.len().saturating_sub(128);
    let mut r = [0u8; 40];
    if let Some(src) = out.get(start..start + 40) {
        r.copy_from_slice(src);
    }
    reseal(&mut out, &mut [ChunkRef::from_bytes(&r)], 0);
    out
}

/// `bytes` with the first reference `from` in the root chunk replaced by `to`, the root
/// resealed: what a writer can do while keeping every checksum valid. `None` when the
/// root does not hold `from`.
#[must_use]
pub fn replaced_in_root(bytes: &[u8], from: &ChunkRef, to: &ChunkRef) -> Option<Vec<u8>> {
    let at = bytes.len().saturating_sub(128);
    let root = ChunkRef::from_bytes(bytes.get(at..at + 40)?.try_into().ok()?);
    let (start, end) = (root.offset() as usize, (root.offset() + root.stored_len()) as usize);
    let pos = find(bytes.get(start..end)?, &from.to_bytes())? + start;
    let mut out = bytes.to_vec();
    out.get_mut(pos..pos + 40)?.copy_from_slice(&to.to_bytes());
    Some(reseal_root(&out))
}

/// The length of the footer `bytes` end with, from the version it records (176 bytes
/// from version 3, 128 before).
#[must_use]
pub fn footer_len(bytes: &[u8]) -> usize {
    let at = bytes.len().saturating_sub(24);
    let version = bytes.get(at..at + 4).map_or(0, |v| u32::from_le_bytes([v[0], v[1], v[2], v[3]]));
    strata::raw::format::footer::len_of(version) as usize
}

/// Recomputes the footer's checksum after its bytes changed.
pub fn refresh_footer(bytes: &mut [u8]) {
    let start = bytes.len().saturating_sub(footer_len(bytes));
    let end = bytes.len().saturating_sub(16);
    let sum = strata::raw::format::checksum(bytes.get(start..end).unwrap_or_default());
    if let Some(dst) = bytes.get_mut(end..end + 8) {
        dst.copy_from_slice(&sum.to_le_bytes());
    }
}

/// Reads little-endian integers from fuzz input.
pub struct Input<'a>(pub &'a [u8]);

impl Input<'_> {
    /// The next byte, or `None` when the input is exhausted.
    pub fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    /// The next `u32` (missing bytes read as zero).
    pub fn u32(&mut self) -> u32 {
        let mut w = [0u8; 4];
        for b in &mut w {
            *b = self.byte().unwrap_or(0);
        }
        u32::from_le_bytes(w)
    }
    /// The next `u64` (missing bytes read as zero).
    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
}

/// Fuzz target `open_bytes`: arbitrary bytes as a file.
pub fn fuzz_open_bytes(data: &[u8]) {
    open_and_walk(data.to_vec());
}

/// Fuzz target `mutate_valid`: a valid file of the rich model, mutated by the input's
/// instructions, then walked. Instructions: `0` flip a bit, `1` overwrite a byte, `2`
/// truncate, `3` write a `u64` (offsets, lengths, counts), `4` reseal a chunk so that its
/// checksum matches again, `5` overwrite a byte inside a chunk and reseal it, `6` point
/// one reference at another chunk (another's reference copied over it, its type tag
/// included: a lazy value at a value of another type, a shard at a bucket, a value at
/// its own holder) and reseal its holder.
pub fn fuzz_mutate_valid(data: &[u8]) {
    let mut bytes = image().to_vec();
    let mut chunks = chunks().to_vec();
    let mut input = Input(data);
    let mut ops = 0;
    while let Some(op) = input.byte() {
        ops += 1;
        if ops > 64 || bytes.is_empty() {
            break;
        }
        let len = bytes.len();
        match op % 7 {
            0 => {
                let pos = input.u32() as usize % len;
                let bit = input.byte().unwrap_or(0) % 8;
                if let Some(b) = bytes.get_mut(pos) {
                    *b ^= 1 << bit;
                }
            }
            1 => {
                let pos = input.u32() as usize % len;
                let v = input.byte().unwrap_or(0);
                if let Some(b) = bytes.get_mut(pos) {
                    *b = v;
                }
            }
            2 => {
                let keep = input.u32() as usize % len;
                bytes.truncate(keep);
            }
            3 => {
                let pos = (input.u32() as usize % len) & !7;
                let v = input.u64();
                if let Some(dst) = bytes.get_mut(pos..pos + 8) {
                    dst.copy_from_slice(&v.to_le_bytes());
                }
            }
            4 => {
                let c = input.u32() as usize % chunks.len().max(1);
                seals().reseal(&mut bytes, &mut chunks, c);
            }
            6 => {
                let (from, to) = (input.u32() as usize, input.u32() as usize);
                redirect(&mut bytes, &mut chunks, from, to);
            }
            _ => {
                let c = input.u32() as usize % chunks.len().max(1);
                let within = input.u32() as u64;
                let v = input.byte().unwrap_or(0);
                if let Some(r) = chunks.get(c).copied() {
                    let pos = (r.offset() + within % r.stored_len().max(1)) as usize;
                    if let Some(b) = bytes.get_mut(pos) {
                        *b = v;
                    }
                    seals().reseal(&mut bytes, &mut chunks, c);
                }
            }
        }
    }
    open_and_walk(bytes);
}

/// Copies a reference to chunk `from` (picked among those the image holds) over one to
/// chunk `to`, and reseals the chunk holding it.
pub fn redirect(bytes: &mut [u8], chunks: &mut [ChunkRef], from: usize, to: usize) {
    let n = chunks.len().max(1);
    let (from, to) = (from % n, to % n);
    let (Some(source), Some(target)) = (seals().places(from).first(), seals().places(to).first()) else { return };
    let Some(&a) = chunks.get(from) else { return };
    write_ref(bytes, target.pos, a, source.tag);
    match target.holder {
        Some(h) => seals().reseal(bytes, chunks, h),
        None => refresh_footer(bytes),
    }
}

/// Fuzz target `map_lookup`: a valid file whose bucket region is damaged (and resealed,
/// so that the damage reaches the bucket parser), looked up with arbitrary keys.
pub fn fuzz_map_lookup(data: &[u8]) {
    static BUCKETS: OnceLock<Vec<usize>> = OnceLock::new();
    let buckets = BUCKETS.get_or_init(|| {
        let Ok(archive) = Archive::from_bytes(image().to_vec()) else { return Vec::new() };
        let Ok(meta) = archive.directory() else { return Vec::new() };
        (0..meta.chunks.len())
            .filter(|&i| {
                meta.chunks.get(i).and_then(|e| e.chunk_kind()) == Some(strata::raw::format::meta::ChunkKind::Bucket)
            })
            .collect()
    });
    let mut bytes = image().to_vec();
    let mut chunks = chunks().to_vec();
    let mut input = Input(data);
    let damage = input.byte().unwrap_or(0) % 8;
    for _ in 0..damage {
        let Some(&b) = buckets.get(input.u32() as usize % buckets.len().max(1)) else { break };
        let Some(r) = chunks.get(b).copied() else { break };
        let pos = (r.offset() + u64::from(input.u32()) % r.stored_len().max(1)) as usize;
        let v = input.byte().unwrap_or(0);
        if let Some(x) = bytes.get_mut(pos) {
            *x = v;
        }
        if input.byte().unwrap_or(0) % 4 != 0 {
            seals().reseal(&mut bytes, &mut chunks, b);
        }
    }
    let Ok(archive) = Archive::from_bytes_with(bytes, &options()) else { return };
    let Ok(m) = archive.root::<Model>() else { return };
    while !input.0.is_empty() {
        let n = usize::from(input.byte().unwrap_or(0) % 24);
        let key: String = input.0.iter().take(n).map(|&b| char::from(b'a' + b % 26)).collect();
        input.0 = input.0.get(n..).unwrap_or_default();
        let _ = m.by_name.get(key.as_str());
        let _ = m.by_name.get(format!("name{}", key.len() * 17).as_str());
        let k = Key {
            zone: u16::from(input.byte().unwrap_or(0) % 4),
            name: format!("k{}", input.byte().unwrap_or(0) % 64),
        };
        if let Ok(Some(item)) = m.by_key.get(&k) {
            let _ = item.notes.load();
        }
    }
    let _ = m.by_name.iter().count();
    let _ = m.by_key.load();
}

/// Fuzz target `decompress`: a zstd chunk whose declared raw length lies, or whose
/// compressed bytes are replaced by the input, resealed so that only decompression can
/// notice.
pub fn fuzz_decompress(data: &[u8]) {
    // The compressed image, its chunks, where their references are, and the blob's
    // reference, computed once.
    type Setup = Option<(Vec<u8>, Vec<ChunkRef>, Seals, usize)>;
    static SETUP: OnceLock<Setup> = OnceLock::new();
    let Some((image, chunks, seals, target)) = SETUP.get_or_init(|| {
        let bytes = SaveOptions::new().compression(Codec::Zstd(3)).to_bytes(&model()).ok()?;
        let archive = Archive::from_bytes(bytes.clone()).ok()?;
        let mut chunks: Vec<ChunkRef> = archive.directory().ok()?.chunks.iter().map(|e| e.chunk).collect();
        chunks.push(archive.footer().meta);
        let blob = *archive.root::<Model>().ok()?.blob.chunk();
        let target = chunks.iter().position(|c| *c == blob)?;
        let seals = Seals::of(&bytes, &chunks);
        Some((bytes, chunks, seals, target))
    }) else {
        return;
    };
    let (mut bytes, mut chunks, target) = (image.clone(), chunks.clone(), *target);
    let Some(blob) = chunks.get(target).copied() else { return };
    let mut input = Input(data);
    let lie = input.u64();
    // Replace the compressed stream's bytes with the input, as far as it goes.
    let (o, l) = (blob.offset() as usize, blob.stored_len() as usize);
    for (dst, src) in bytes.get_mut(o..o + l).unwrap_or_default().iter_mut().zip(input.0) {
        *dst = *src;
    }
    // Declare another raw length: rewrite the reference wherever it is stored, then
    // reseal it (its stream changed) and every holder (its reference changed).
    let liar =
        ChunkRef::new(blob.offset(), blob.stored_len(), lie, blob.checksum(), strata::raw::format::Encoding::Zstd);
    for place in seals.places(target) {
        write_ref(&mut bytes, place.pos, liar, place.tag);
    }
    if let Some(slot) = chunks.get_mut(target) {
        *slot = liar;
    }
    seals.reseal(&mut bytes, &mut chunks, target);
    for place in seals.places(target) {
        match place.holder {
            Some(h) => seals.reseal(&mut bytes, &mut chunks, h),
            None => refresh_footer(&mut bytes),
        }
    }
    open_and_walk(bytes);
}

/// A recursive tree of every kind of inline recursion: boxes, options, vectors, enums.
#[derive(Persist, Debug)]
pub enum Tree {
    /// A leaf.
    Leaf(u8),
    /// One level through a box.
    Chain(Box<Tree>),
    /// Two children.
    Pair(Box<Tree>, Box<Tree>),
    /// Children in a vector.
    Many(Vec<Tree>),
    /// An optional child.
    Maybe(Option<Box<Tree>>),
}

impl Drop for Tree {
    /// Drops children iteratively: a deep shape would overflow the stack of a
    /// recursive drop (this is the test's concern, not strata's).
    fn drop(&mut self) {
        let mut stack = Vec::new();
        take_children(self, &mut stack);
        while let Some(mut s) = stack.pop() {
            take_children(&mut s, &mut stack);
        }
    }
}

fn take_children(s: &mut Tree, out: &mut Vec<Tree>) {
    match s {
        Tree::Leaf(_) => {}
        Tree::Chain(b) => out.push(std::mem::replace(&mut **b, Tree::Leaf(0))),
        Tree::Pair(a, b) => {
            out.push(std::mem::replace(&mut **a, Tree::Leaf(0)));
            out.push(std::mem::replace(&mut **b, Tree::Leaf(0)));
        }
        Tree::Many(v) => out.append(v),
        Tree::Maybe(o) => out.extend(o.take().map(|b| *b)),
    }
}

/// Deep trees in a lazy chunk and inline in the root.
#[derive(Persist)]
pub struct DeepModel {
    /// In a chunk of its own.
    #[strata(lazy)]
    pub lazy: Tree,
    /// Inline in the root.
    pub inline: Tree,
}

/// Builds a shape from instructions, without recursion: each byte wraps what was built
/// so far, or starts another branch; long chains come from repeat counts.
fn build_tree(input: &mut Input<'_>) -> Tree {
    let mut current = Tree::Leaf(input.byte().unwrap_or(0));
    let mut parked: Vec<Tree> = Vec::new();
    let mut steps = 0u32;
    while let Some(op) = input.byte() {
        if steps > 5_000 {
            break;
        }
        match op % 8 {
            0 => {
                let n = u32::from(input.byte().unwrap_or(0)) * 8 + 1;
                for _ in 0..n {
                    current = Tree::Chain(Box::new(current));
                }
                steps += n;
            }
            1 => current = Tree::Maybe(Some(Box::new(current))),
            2 => current = Tree::Many(vec![current, Tree::Leaf(op)]),
            3 => {
                parked.push(current);
                current = Tree::Leaf(op);
            }
            4 => {
                let other = parked.pop().unwrap_or(Tree::Maybe(None));
                current = Tree::Pair(Box::new(current), Box::new(other));
            }
            5 => current = Tree::Many(std::mem::take(&mut parked).into_iter().chain([current]).collect()),
            _ => current = Tree::Chain(Box::new(current)),
        }
        steps += 1;
    }
    for p in parked {
        current = Tree::Pair(Box::new(current), Box::new(p));
    }
    current
}

/// Fuzz target `deep_values`: deep shapes built from the input, saved and read back
/// with nesting limits from the input (on both sides), then damaged and read again.
/// Whatever the shape and limits: values equal to what was saved, or errors.
pub fn fuzz_deep_values(data: &[u8]) {
    let mut input = Input(data);
    let save_limit = u32::from(input.byte().unwrap_or(255)) * 8 + 1;
    let read_limit = u32::from(input.byte().unwrap_or(255)) * 8 + 1;
    let flip = input.u32();
    let model = DeepModel { lazy: build_tree(&mut input), inline: build_tree(&mut Input(data)) };
    let Ok(bytes) = SaveOptions::new().max_depth(save_limit).to_bytes(&model) else { return };
    let options = options().max_depth(read_limit);
    let reference = |s: &Tree| SaveOptions::new().max_depth(u32::MAX).to_bytes(s);
    if let Ok(archive) = Archive::from_bytes_with(bytes.clone(), &options) {
        if let Ok(root) = archive.root::<DeepModel>() {
            let _ = root.lazy.view();
            if let Ok(lazy) = root.lazy.load() {
                // Compared through their bytes: a derived comparison of deep values
                // would recurse.
                assert!(reference(&lazy).ok() == reference(&model.lazy).ok(), "a deep value read back differently");
            }
            let _ = format!("{:?}", root.inline);
        }
        let _ = archive.load::<DeepModel>();
        let _ = archive.verify();
    }
    // The same file with one byte changed and every checksum resealed.
    let mut damaged = bytes;
    let mut chunks: Vec<ChunkRef> = Archive::from_bytes(damaged.clone())
        .ok()
        .and_then(|a| a.directory().ok().map(|m| m.chunks.iter().map(|e| e.chunk).collect()))
        .unwrap_or_default();
    if let Some(c) = chunks.len().checked_sub(1).map(|n| flip as usize % (n + 1)) {
        let r = chunks.get(c).copied();
        if let Some(r) = r {
            let pos = (r.offset() + u64::from(flip >> 8) % r.stored_len().max(1)) as usize;
            if let Some(b) = damaged.get_mut(pos) {
                *b ^= 1 << (flip % 8);
            }
            reseal(&mut damaged, &mut chunks, c);
        }
    }
    if let Ok(archive) = Archive::from_bytes_with(damaged, &options) {
        if let Ok(root) = archive.root::<DeepModel>() {
            let _ = root.lazy.load();
            let _ = format!("{:?}", root.inline);
        }
        let _ = archive.load::<DeepModel>();
    }
}

/// A source that holds its bytes in memory one byte off alignment (so every chunk is
/// copied out), or not at all (every chunk read with `read_at`).
#[derive(Debug)]
struct Unaligned {
    bytes: Vec<u8>,
    in_memory: bool,
}

impl strata::source::Source for Unaligned {
    fn size(&self) -> u64 {
        self.bytes.len() as u64 - 1
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).saturating_add(1);
        let src = self
            .bytes
            .get(start..start.saturating_add(buf.len()))
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn bytes(&self) -> Option<&[u8]> {
        if self.in_memory { self.bytes.get(1..) } else { None }
    }
}

/// Fuzz target `cache_views`: the valid model opened from a source chosen by the input
/// (aligned memory, unaligned memory, no memory) with a cache of a size chosen by the
/// input (down to nothing), then reads chosen by the input: elements, lookups, shards,
/// promise views held while others evict them, loads, and reads from two threads at
/// once. Every value read must equal the model's (a differential check, not only "no
/// panic").
pub fn fuzz_cache_views(data: &[u8]) {
    static MODEL: OnceLock<Model> = OnceLock::new();
    let m = MODEL.get_or_init(model);
    let mut input = Input(data);
    let limit = [0u64, 4 << 10, 64 << 10, 1 << 20][usize::from(input.byte().unwrap_or(0) % 4)];
    let options = options().cache_limit(limit);
    let image = image().to_vec();
    let archive = match input.byte().unwrap_or(0) % 3 {
        0 => Archive::from_bytes_with(image, &options),
        kind => {
            let mut bytes = vec![0u8];
            bytes.extend_from_slice(&image);
            Archive::from_source(std::sync::Arc::new(Unaligned { bytes, in_memory: kind == 1 }), &options)
        }
    };
    let Ok(archive) = archive else { panic!("the valid model must open") };
    let Ok(root) = archive.root::<Model>() else { panic!("the valid model's root must validate") };
    let mut held_items: Vec<strata::Elem<Item>> = Vec::new();
    let mut held_views: Vec<strata::View<strata::Archived<Vec<String>>>> = Vec::new();
    // A load and a round of threads (costly under sanitizers) at most once an input.
    let (mut ops, mut loaded, mut threaded) = (0, false, false);
    while let Some(op) = input.byte() {
        ops += 1;
        if ops > 24 {
            break;
        }
        let n = usize::from(input.byte().unwrap_or(0));
        match op % 8 {
            0 => {
                let i = n % m.items.len();
                let Ok(Some(item)) = root.items.get(i) else { panic!("item {i} must read") };
                assert_eq!(item.id, m.items[i].id);
                held_items.push(item);
            }
            1 => {
                let i = (n * 7) % m.numbers.len();
                let got = root.numbers.get(i).ok().flatten().map(|v| v.to_native());
                assert_eq!(got, Some(m.numbers[i]));
            }
            2 => {
                let key = format!("name{}", n * 2);
                let got = root.by_name.get(key.as_str()).ok().flatten().map(|v| v.to_native());
                assert_eq!(got, m.by_name.get(&key).copied(), "{key}");
            }
            3 => {
                let Ok(view) = root.history.view() else { panic!("history must read") };
                assert_eq!(view.len(), m.history.len());
                held_views.push(view);
            }
            4 => {
                held_items.truncate(n % (held_items.len() + 1));
                held_views.truncate(n % (held_views.len() + 1));
            }
            5 => {
                let s = n % root.numbers.shard_count().max(1);
                let Ok((first, shard)) = root.numbers.shard(s) else { panic!("shard {s} must read") };
                for (k, v) in shard.iter().enumerate() {
                    assert_eq!(v.to_native(), m.numbers[first + k]);
                }
            }
            6 if !loaded => {
                let Ok(items) = root.items.load() else { panic!("items must load") };
                assert!(items == m.items);
                loaded = true;
            }
            6 => {}
            7 if threaded => {}
            _ => std::thread::scope(|scope| {
                threaded = true;
                let readers: Vec<_> = (0..2)
                    .map(|t| {
                        let root = &root;
                        scope.spawn(move || {
                            for k in 0..8 {
                                let i = (n + k * 13 + t * 7) % m.items.len();
                                let item = root.items.get(i).ok().flatten().map(|e| e.id.to_native());
                                assert_eq!(item, Some(m.items[i].id));
                                let key = format!("name{}", (n + k + t) % 400);
                                let v = root.by_name.get(key.as_str()).ok().flatten().map(|v| v.to_native());
                                assert_eq!(v, m.by_name.get(&key).copied());
                            }
                        })
                    })
                    .collect();
                for r in readers {
                    assert!(r.join().is_ok(), "a reader thread panicked");
                }
            }),
        }
        let cache = archive.cache_stats();
        // Chunks that views hold are pinned and may exceed the limit, and so may the few
        // that one read held at once (a table path and its leaf: this model's chunks are
        // a few KiB); nothing else may.
        if held_items.is_empty() && held_views.is_empty() {
            assert!(cache.bytes <= cache.limit + (32 << 10), "{cache:?}");
        }
    }
    // Views held until now still read their values, whatever was evicted meanwhile.
    for item in &held_items {
        assert!(m.items.iter().any(|i| i.id == item.id && i.label == item.label.as_str()));
    }
    for view in &held_views {
        assert_eq!(view.len(), m.history.len());
    }
}
