//! Files read through schema evolution whose recorded layouts lie: an older version of
//! the hostile model ([`crate::hostile::Model`]) is written, its schema text (sizes,
//! offsets, alignments, names) is altered and resealed so that the checksums pass, and
//! the file is read with today's types, which transcode every chunk the old layouts
//! describe. Nothing may panic or read out of bounds.

use crate::hostile::{Input, Key, Seals, Shape, open_and_walk};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use strata::raw::format::ChunkRef;
use strata::{Archive, Codec, Persist, SaveOptions};

/// The version of [`crate::hostile::Item`] an older program wrote: a narrower id.
#[derive(Persist, Debug, PartialEq, Clone)]
pub struct Item {
    pub id: u16,
    pub label: String,
    #[strata(lazy)]
    pub notes: Vec<String>,
}

/// The version of [`crate::hostile::Model`] an older program wrote: its items have a
/// narrower id, and it has a field today's model dropped. Reading it as today's model
/// transcodes the root, the lazy item, every shard of items, every entry of `by_key`
/// and the shared items.
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
    pub retired: u8,
    pub shared: Arc<Item>,
    pub shared_list: Vec<Arc<Item>>,
    pub maybe_shared: Option<Arc<Item>>,
    #[strata(shard, shard_bytes = 1024)]
    pub shared_shards: Vec<Arc<Item>>,
    #[strata(map)]
    pub shared_map: HashMap<u32, Arc<Item>>,
}

/// The older model holding what [`crate::hostile::model`] holds.
#[must_use]
pub fn model() -> Model {
    let item = |i: &crate::hostile::Item| Item { id: i.id as u16, label: i.label.clone(), notes: i.notes.clone() };
    let m = crate::hostile::model();
    let shared = Arc::new(item(&m.shared));
    let again =
        |a: &Arc<crate::hostile::Item>| if Arc::ptr_eq(a, &m.shared) { Arc::clone(&shared) } else { Arc::new(item(a)) };
    Model {
        id: m.id,
        title: m.title,
        shapes: m.shapes,
        settings: m.settings,
        history: m.history,
        blob: m.blob,
        item: item(&m.item),
        numbers: m.numbers,
        items: m.items.iter().map(item).collect(),
        by_name: m.by_name,
        by_key: m.by_key.iter().map(|(k, v)| (k.clone(), item(v))).collect(),
        retired: 9,
        // The same sharing: one allocation per allocation of today's model.
        shared_list: m.shared_list.iter().map(&again).collect(),
        maybe_shared: m.maybe_shared.as_ref().map(|_| Arc::clone(&shared)),
        shared_shards: m.shared_shards.iter().map(&again).collect(),
        shared_map: m.shared_map.iter().map(|(k, a)| (*k, again(a))).collect(),
        shared,
    }
}

/// The older model's file image, its chunks (the directory's, then the meta chunk),
/// where their references are, and the schema text's span in the image.
pub struct Image {
    pub bytes: Vec<u8>,
    pub chunks: Vec<ChunkRef>,
    pub seals: Seals,
    pub schema: std::ops::Range<usize>,
    /// The spans of the schema text's numbers (sizes, offsets, alignments), in the
    /// image.
    pub numbers: Vec<std::ops::Range<usize>>,
}

/// [`Image`], computed once.
pub fn image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let bytes = SaveOptions::new().compression(Codec::None).to_bytes(&model()).unwrap_or_default();
        let (mut chunks, mut text) = (Vec::new(), String::new());
        if let Ok(archive) = Archive::from_bytes(bytes.clone()) {
            chunks = archive.directory().map(|m| m.chunks.iter().map(|e| e.chunk).collect()).unwrap_or_default();
            chunks.push(archive.footer().meta);
            text = archive.schema_text().unwrap_or_default();
        }
        let start = bytes.windows(text.len().max(1)).position(|w| w == text.as_bytes()).unwrap_or(0);
        let schema = start..start + text.len();
        let mut numbers = Vec::new();
        let mut run: Option<usize> = None;
        for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
            match (c.is_ascii_digit(), run) {
                (true, None) => run = Some(i),
                (false, Some(s)) => {
                    numbers.push(start + s..start + i);
                    run = None;
                }
                _ => {}
            }
        }
        let seals = Seals::of(&bytes, &chunks);
        Image { bytes, chunks, seals, schema, numbers }
    })
}

/// `image` with `lie` applied to its bytes, the meta chunk (and every chunk above it)
/// resealed, and the footer's type fingerprint made the altered schema text's.
#[must_use]
pub fn lie(image: &Image, lie: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut bytes = image.bytes.clone();
    let mut chunks = image.chunks.clone();
    lie(&mut bytes);
    seal(image, &mut bytes, &mut chunks);
    bytes
}

/// Reseals the meta chunk and writes the schema text's fingerprint into the footer:
/// a file consistent with its (lying) schema.
fn seal(image: &Image, bytes: &mut [u8], chunks: &mut [ChunkRef]) {
    let meta = chunks.len().saturating_sub(1);
    image.seals.reseal(bytes, chunks, meta);
    let fingerprint = strata::raw::format::checksum(bytes.get(image.schema.clone()).unwrap_or_default());
    let at = bytes.len().saturating_sub(128) + 80;
    if let Some(dst) = bytes.get_mut(at..at + 8) {
        dst.copy_from_slice(&fingerprint.to_le_bytes());
    }
    crate::hostile::refresh_footer(bytes);
}

/// Fuzz target `evolve`: the older model's file, its schema text altered by the
/// input's instructions (and its chunks' bytes too, resealed), read with today's model
/// through every API. Instructions: `0` write digits over a number of the schema
/// (sizes, offsets, alignments), `1` overwrite a byte of the schema text, `2` swap two
/// numbers of the same length, `3` overwrite a byte inside a chunk and reseal it.
pub fn fuzz_evolve(data: &[u8]) {
    let image = image();
    let mut bytes = image.bytes.clone();
    let mut chunks = image.chunks.clone();
    let mut input = Input(data);
    let mut ops = 0;
    while let Some(op) = input.byte() {
        ops += 1;
        if ops > 32 {
            break;
        }
        match op % 4 {
            0 => {
                let Some(span) = image.numbers.get(input.u32() as usize % image.numbers.len().max(1)) else {
                    continue;
                };
                for b in bytes.get_mut(span.clone()).unwrap_or_default() {
                    *b = b'0' + input.byte().unwrap_or(0) % 10;
                }
            }
            1 => {
                let at = image.schema.start + input.u32() as usize % image.schema.len().max(1);
                let v = input.byte().unwrap_or(0);
                if let Some(b) = bytes.get_mut(at) {
                    *b = v;
                }
            }
            2 => {
                let n = image.numbers.len().max(1);
                let (a, b) = (input.u32() as usize % n, input.u32() as usize % n);
                if let (Some(a), Some(b)) = (image.numbers.get(a), image.numbers.get(b))
                    && a.len() == b.len()
                    && let (Some(x), Some(y)) = (bytes.get(a.clone()).map(<[u8]>::to_vec), bytes.get(b.clone()))
                {
                    let y = y.to_vec();
                    if let Some(dst) = bytes.get_mut(a.clone()) {
                        dst.copy_from_slice(&y);
                    }
                    if let Some(dst) = bytes.get_mut(b.clone()) {
                        dst.copy_from_slice(&x);
                    }
                }
            }
            _ => {
                let c = input.u32() as usize % chunks.len().max(1);
                let within = u64::from(input.u32());
                let v = input.byte().unwrap_or(0);
                if let Some(r) = chunks.get(c).copied() {
                    let pos = (r.offset() + within % r.stored_len().max(1)) as usize;
                    if let Some(b) = bytes.get_mut(pos) {
                        *b = v;
                    }
                    image.seals.reseal(&mut bytes, &mut chunks, c);
                }
            }
        }
    }
    seal(image, &mut bytes, &mut chunks);
    open_and_walk(bytes);
}
