//! Hostile files: a rich model, a walk that reads everything, mutations that get past
//! the checksums (`reseal`), and the bodies of the fuzz targets.
//!
//! Each `fuzz_*` function is the whole body of a cargo-fuzz target in `fuzz/`; the stable
//! test `tests/hostile.rs` runs the same functions over the checked-in corpus and
//! thousands of generated inputs. They must never panic, whatever the bytes.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
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
}

/// A deterministic value of the model: a few dozen chunks of every kind.
#[must_use]
pub fn model() -> Model {
    let item =
        |i: u32| Item { id: i, label: format!("item-{i}"), notes: (0..i % 3).map(|n| format!("n{n}")).collect() };
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
    }
}

/// The model's file image (computed once).
pub fn image() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| SaveOptions::new().compression(Codec::None).to_bytes(&model()).unwrap_or_default())
}

/// Every chunk of [`image`]: the directory's chunks, then the meta chunk.
pub fn chunks() -> &'static [ChunkRef] {
    static CHUNKS: OnceLock<Vec<ChunkRef>> = OnceLock::new();
    CHUNKS.get_or_init(|| {
        let Ok(archive) = Archive::from_bytes(image().to_vec()) else { return Vec::new() };
        let mut out: Vec<ChunkRef> =
            archive.meta().map(|m| m.chunks.iter().map(|e| e.chunk).collect()).unwrap_or_default();
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
    count(archive.load::<Model>().is_ok());
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
/// footer. `chunks` is updated. Holders that are compressed are not found (their bytes do
/// not contain the plain reference); the chain stops there.
pub fn reseal(bytes: &mut [u8], chunks: &mut [ChunkRef], target: usize) {
    let mut work = vec![target];
    let mut steps = 0;
    while let Some(t) = work.pop() {
        steps += 1;
        if steps > 10_000 {
            return;
        }
        let Some(&old) = chunks.get(t) else { continue };
        let (o, l) = (old.offset() as usize, old.stored_len() as usize);
        let Some(stored) = bytes.get(o..o.saturating_add(l)) else { continue };
        let Some(encoding) = old.encoding() else { continue };
        let new = ChunkRef::new(
            old.offset(),
            old.stored_len(),
            old.raw_len(),
            strata::raw::format::checksum(stored),
            encoding,
        );
        if new == old {
            continue;
        }
        if let Some(slot) = chunks.get_mut(t) {
            *slot = new;
        }
        let (from, to) = (old.to_bytes(), new.to_bytes());
        let mut at = 0;
        while let Some(pos) = find(bytes.get(at..).unwrap_or_default(), &from).map(|p| p + at) {
            if let Some(dst) = bytes.get_mut(pos..pos + 40) {
                dst.copy_from_slice(&to);
            }
            at = pos + 40;
            let footer_start = bytes.len().saturating_sub(128);
            if pos >= footer_start {
                refresh_footer(bytes);
            } else if let Some(holder) =
                chunks.iter().position(|c| (c.offset() as usize..(c.offset() + c.stored_len()) as usize).contains(&pos))
            {
                work.push(holder);
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Recomputes the footer's checksum after its bytes changed.
pub fn refresh_footer(bytes: &mut [u8]) {
    let start = bytes.len().saturating_sub(128);
    let sum = strata::raw::format::checksum(bytes.get(start..start + 112).unwrap_or_default());
    if let Some(dst) = bytes.get_mut(start + 112..start + 120) {
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
/// checksum matches again, `5` overwrite a byte inside a chunk and reseal it.
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
        match op % 6 {
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
                reseal(&mut bytes, &mut chunks, c);
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
                    reseal(&mut bytes, &mut chunks, c);
                }
            }
        }
    }
    open_and_walk(bytes);
}

/// Fuzz target `map_lookup`: a valid file whose bucket region is damaged (and resealed,
/// so that the damage reaches the bucket parser), looked up with arbitrary keys.
pub fn fuzz_map_lookup(data: &[u8]) {
    static BUCKETS: OnceLock<Vec<usize>> = OnceLock::new();
    let buckets = BUCKETS.get_or_init(|| {
        let Ok(archive) = Archive::from_bytes(image().to_vec()) else { return Vec::new() };
        let Ok(meta) = archive.meta() else { return Vec::new() };
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
            reseal(&mut bytes, &mut chunks, b);
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
    // The compressed image, its chunks and the blob's reference, computed once.
    type Setup = Option<(Vec<u8>, Vec<ChunkRef>, ChunkRef)>;
    static SETUP: OnceLock<Setup> = OnceLock::new();
    let Some((image, chunks, blob)) = SETUP.get_or_init(|| {
        let bytes = SaveOptions::new().compression(Codec::Zstd(3)).to_bytes(&model()).ok()?;
        let archive = Archive::from_bytes(bytes.clone()).ok()?;
        let mut chunks: Vec<ChunkRef> = archive.meta().ok()?.chunks.iter().map(|e| e.chunk).collect();
        chunks.push(archive.footer().meta);
        let blob = *archive.root::<Model>().ok()?.blob.chunk();
        Some((bytes, chunks, blob))
    }) else {
        return;
    };
    let (mut bytes, mut chunks, blob) = (image.clone(), chunks.clone(), *blob);
    let Some(target) = chunks.iter().position(|c| *c == blob) else { return };
    let mut input = Input(data);
    let lie = input.u64();
    // Replace the compressed stream's bytes with the input, as far as it goes.
    let (o, l) = (blob.offset() as usize, blob.stored_len() as usize);
    for (dst, src) in bytes.get_mut(o..o + l).unwrap_or_default().iter_mut().zip(input.0) {
        *dst = *src;
    }
    // Declare another raw length: rewrite the reference wherever it is stored.
    let liar =
        ChunkRef::new(blob.offset(), blob.stored_len(), lie, blob.checksum(), strata::raw::format::Encoding::Zstd);
    let (from, to) = (blob.to_bytes(), liar.to_bytes());
    let mut at = 0;
    while let Some(pos) = find(bytes.get(at..).unwrap_or_default(), &from).map(|p| p + at) {
        if let Some(dst) = bytes.get_mut(pos..pos + 40) {
            dst.copy_from_slice(&to);
        }
        at = pos + 40;
    }
    if let Some(slot) = chunks.get_mut(target) {
        *slot = liar;
    }
    reseal(&mut bytes, &mut chunks, target);
    // Reseal every holder of the lying reference.
    for c in 0..chunks.len() {
        reseal(&mut bytes, &mut chunks, c);
    }
    open_and_walk(bytes);
}
