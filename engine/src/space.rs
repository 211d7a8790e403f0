//! Where a file's bytes go ([`Archive::space`](crate::Archive::space)): values, and the bytes strata's own
//! layout adds around them (chunk padding, index nodes, bucket headers and entry
//! alignment, the meta chunk, the tail copies, header and footer), per top-level field.

use crate::error::Result;
use crate::format::bucket::Bucket;
use crate::format::meta::ChunkKind;
use crate::inspect::Bytes;
use crate::store::Holds;
use std::fmt;

/// A file's bytes by what they hold; see [`Archive::space`](crate::Archive::space).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Space {
    /// The file's length.
    pub file_len: u64,
    /// Header and footer.
    pub header_footer: u64,
    /// The meta chunk: schema text and chunk directory.
    pub meta: u64,
    /// The tail copies of the top index nodes.
    pub tail_copies: u64,
    /// Zero bytes between chunks (each chunk starts at a multiple of 16).
    pub chunk_padding: u64,
    /// Bytes of earlier versions that this one no longer uses (see [`Stats::dead`]).
    pub dead: u64,
    /// The root chunk.
    pub root: u64,
    /// Each field of the root stored in chunks of its own (lazy, sharded, bucketed),
    /// largest first.
    pub fields: Vec<FieldSpace>,
}

/// The stored bytes of one field's chunks, by what they hold. For compressed chunks,
/// the parts are of the raw (decompressed) bytes and `stored` is smaller than their
/// sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSpace {
    /// The field's path (`users`, `by_name`).
    pub path: String,
    /// Its kind: lazy, vector or map.
    pub kind: Option<ChunkKind>,
    /// Bytes in the file of all its chunks (index nodes included).
    pub stored: u64,
    /// Chunks.
    pub chunks: u64,
    /// Archived values: shards, lazy values, bucket entries (raw bytes).
    pub values: u64,
    /// Index nodes of its chunk tables (and of tables nested in it).
    pub index_nodes: u64,
    /// Bucket headers: entry count, the hash and end arrays, and their padding to 16.
    pub bucket_headers: u64,
    /// Zero bytes between bucket entries (each entry starts at a multiple of its
    /// alignment: the bucket's, 16 in the wide buckets of versions 1 to 5).
    pub entry_padding: u64,
    /// Of [`values`](Self::values), the zero bytes rkyv's layout leaves inside the
    /// elements of a top-level vector or map: the element count times the padding of
    /// one element's fixed part, at every inline level ([`Schema::padding`]; a map's
    /// element is its key and value). 0 for other fields, and where the file's schema
    /// does not describe the element.
    ///
    /// [`Schema::padding`]: crate::schema::Schema::padding
    pub value_padding: u64,
}

impl FieldSpace {
    /// What the layout adds to the values: index nodes, bucket headers, entry padding.
    #[must_use]
    pub fn overhead(&self) -> u64 {
        self.index_nodes + self.bucket_headers + self.entry_padding
    }
}

/// A file's live and dead bytes; see [`Archive::stats`](crate::Archive::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// The length of the version read (the file's length, unless an incremental save is
    /// appending a version past it).
    pub file_len: u64,
    /// Bytes the version uses: header, footer, its chunks (each with its padding to 16)
    /// and the meta chunk with the directory's pages.
    pub live: u64,
    /// Bytes of earlier versions that this one no longer uses (incremental saves leave
    /// them; a whole save or a compaction drops them).
    pub dead: u64,
    /// Chunks of the version, the meta chunk and the directory's pages included.
    pub chunks: u64,
}

impl Stats {
    /// Dead bytes as a fraction of the file (0 when the file is empty).
    #[must_use]
    pub fn dead_ratio(&self) -> f64 {
        if self.file_len == 0 { 0.0 } else { self.dead as f64 / self.file_len as f64 }
    }
}

/// The live bytes of a version whose chunks (offset, stored length) are `extents`
/// (in any order; a chunk listed twice counts once): each chunk and its padding to 16,
/// plus header and footer.
fn live_bytes(mut extents: Vec<(u64, u64)>, header: u64, footer: u64) -> u64 {
    extents.sort_unstable();
    let mut live = header.saturating_add(footer);
    let mut at = header;
    for (offset, len) in extents {
        let end = crate::format::align_up(offset.saturating_add(len)).unwrap_or(u64::MAX);
        if end > at {
            live = live.saturating_add(end - offset.max(at));
            at = end;
        }
    }
    live
}

impl crate::Archive {
    /// The file's live and dead bytes ([`Stats`]): what the version read uses, and what
    /// earlier versions left (see [`SaveOptions::incremental`](crate::SaveOptions::incremental)).
    /// Reads the chunk directory, no other chunk.
    ///
    /// # Errors
    /// A damaged meta chunk.
    pub fn stats(&self) -> Result<Stats> {
        Ok(self.stats_of(&self.directory()?))
    }

    /// [`stats`](Self::stats) from the directory, already read.
    pub(crate) fn stats_of(&self, directory: &crate::format::meta::Directory) -> Stats {
        let footer = self.footer();
        let extents: Vec<(u64, u64)> = directory
            .chunks
            .iter()
            .map(|e| e.chunk)
            .chain(directory.pages.iter().copied())
            .chain([footer.meta])
            .map(|r| (r.offset(), r.stored_len()))
            .collect();
        let chunks = extents.len() as u64;
        let live = live_bytes(extents, crate::format::header::len_of(footer.version), footer.encoded_len())
            .min(footer.file_len);
        Stats { file_len: footer.file_len, live, dead: footer.file_len - live, chunks }
    }

    /// Where the file's bytes go: [`Space`]. Reads the chunk directory and every
    /// bucket (their headers and entry offsets; in bulk, as [`verify`](Self::verify)
    /// reads, without keeping them); no other chunk.
    ///
    /// # Errors
    /// A damaged meta chunk or bucket.
    pub fn space(&self) -> Result<Space> {
        let tree = self.inspect()?;
        let footer = self.footer();
        let chunks = tree.chunks();
        let mut space = Space {
            file_len: footer.file_len,
            header_footer: crate::format::header::len_of(footer.version) + footer.encoded_len(),
            meta: footer.meta.stored_len() + tree.pages().iter().map(|r| r.stored_len()).sum::<u64>(),
            ..Space::default()
        };
        // Padding: the gaps between chunks in file order.
        let mut extents: Vec<(u64, u64)> = chunks
            .iter()
            .map(|c| (c.chunk.offset(), c.chunk.stored_len()))
            .chain(tree.pages().iter().chain([&footer.meta]).map(|r| (r.offset(), r.stored_len())))
            .collect();
        extents.sort_unstable();
        let mut at = crate::format::header::len_of(footer.version);
        let mut gap = |at: u64, next: u64| {
            let gap = next.saturating_sub(at);
            let padding = gap.min(crate::format::align_up(at).unwrap_or(at) - at);
            space.chunk_padding += padding;
            space.dead += gap - padding;
        };
        for (offset, len) in extents {
            gap(at, offset);
            at = at.max(offset.saturating_add(len));
        }
        gap(at, footer.file_len.saturating_sub(footer.encoded_len()));

        // Each chunk's top-level field: the ancestor just below the root.
        let top = |mut i: usize| -> Option<usize> {
            for _ in 0..chunks.len() {
                let c = chunks.get(i)?;
                match c.parent {
                    Some(p) if chunks.get(p).is_some_and(|pc| pc.parent.is_none()) => return Some(i),
                    Some(p) => i = p,
                    None => return None,
                }
            }
            None
        };
        let mut fields: Vec<FieldSpace> = Vec::new();
        let mut field_of = vec![None; chunks.len()];
        let mut buckets = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            match c.kind {
                Some(ChunkKind::Root) => space.root += c.chunk.stored_len(),
                Some(ChunkKind::TailCopies) => space.tail_copies += c.chunk.stored_len(),
                _ => {
                    let Some(t) = top(i) else { continue };
                    let slot = *field_of.get(t).and_then(Option::as_ref).unwrap_or(&fields.len());
                    if slot == fields.len() {
                        let head = chunks.get(t);
                        fields.push(FieldSpace {
                            path: head.map(|h| h.path.clone()).unwrap_or_default(),
                            kind: head.and_then(|h| h.kind),
                            ..FieldSpace::default()
                        });
                        if let Some(f) = field_of.get_mut(t) {
                            *f = Some(slot);
                        }
                    }
                    let Some(f) = fields.get_mut(slot) else { continue };
                    f.stored += c.chunk.stored_len();
                    f.chunks += 1;
                    match c.kind {
                        Some(ChunkKind::Vector | ChunkKind::Map | ChunkKind::IndexNode) => {
                            f.index_nodes += c.chunk.stored_len();
                        }
                        Some(ChunkKind::Bucket) => buckets.push((slot, c.chunk)),
                        _ => f.values += c.chunk.raw_len(),
                    }
                }
            }
        }
        let refs: Vec<_> = buckets.iter().map(|(_, r)| *r).collect();
        self.store().windowed(&refs, Holds::Nothing, |first, read| {
            for (j, chunk) in read.iter().enumerate() {
                let Some(&(slot, r)) = buckets.get(first + j) else { continue };
                let bucket = Bucket::parse(chunk.bytes()).map_err(|d| crate::Error::InvalidData {
                    at: r.location(),
                    ty: "map bucket",
                    detail: d.to_owned(),
                })?;
                let mut entries = 0u64;
                for k in 0..bucket.len() {
                    entries += bucket.entry(k).map_or(0, |e| e.len() as u64);
                }
                let data_start = chunk.bytes().len().saturating_sub(bucket.data_len()) as u64;
                if let Some(f) = fields.get_mut(slot) {
                    f.values += entries;
                    f.bucket_headers += data_start;
                    f.entry_padding += (bucket.data_len() as u64).saturating_sub(entries);
                }
            }
            Ok(())
        })?;
        // Padding inside the elements of the collections just below the root, as far as
        // the file's schema describes them (the rest of the accounting needs no schema).
        let schema = crate::schema::Schema::parse(&self.schema_text()?).ok();
        for (i, c) in chunks.iter().enumerate() {
            let top_level = c.parent.and_then(|p| chunks.get(p)).is_some_and(|p| p.parent.is_none());
            if !top_level || !matches!(c.kind, Some(ChunkKind::Vector | ChunkKind::Map)) {
                continue;
            }
            let Some(each) = schema.as_ref().and_then(|s| element_padding(s, &c.path)) else { continue };
            if let Some(f) = field_of.get(i).copied().flatten().and_then(|slot| fields.get_mut(slot)) {
                f.value_padding = c.index.saturating_mul(each);
            }
        }
        fields.sort_by(|a, b| b.stored.cmp(&a.stored).then_with(|| a.path.cmp(&b.path)));
        space.fields = fields;
        Ok(space)
    }
}

/// The padding of one element of the root's sharded vector or bucketed map `field`
/// (a map's element: its key and value, laid out as a tuple); `None` when the root
/// has no such field or the schema does not define the element's types.
fn element_padding(schema: &crate::schema::Schema, field: &str) -> Option<u64> {
    use crate::schema::{Def, Storage, Ty};
    let Ty::Named(root, _) = &schema.root else { return None };
    let Some(Def::Struct { fields, .. }) = schema.types.get(root) else { return None };
    let f = fields.iter().find(|f| f.name == field)?;
    let element = match (f.storage, &f.ty) {
        (Storage::Shard, Ty::Vec(t)) => (**t).clone(),
        (Storage::Map, ty) => {
            let (k, v) = crate::value::refs::map_types(ty)?;
            Ty::Tuple(vec![k, v])
        }
        _ => return None,
    };
    schema.padding(&element).ok()
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |n: u64| if self.file_len == 0 { 0.0 } else { n as f64 * 100.0 / self.file_len as f64 };
        writeln!(f, "where the bytes go ({} in all):", Bytes(self.file_len))?;
        for (what, n) in [
            ("root chunk", self.root),
            ("meta chunk (schema, directory)", self.meta),
            ("tail copies", self.tail_copies),
            ("padding between chunks", self.chunk_padding),
            ("header and footer", self.header_footer),
            ("earlier versions (dead)", self.dead),
        ] {
            if what.starts_with("earlier") && n == 0 {
                continue;
            }
            writeln!(f, "  {what:<34} {:>12}  {:>5.1}%", Bytes(n).to_string(), pct(n))?;
        }
        for field in &self.fields {
            writeln!(f, "  {:<34} {:>12}  {:>5.1}%", field.path, Bytes(field.stored).to_string(), pct(field.stored))?;
            for (what, n) in [
                ("values", field.values),
                ("  of which padding inside them", field.value_padding),
                ("index nodes", field.index_nodes),
                ("bucket headers (hashes, ends)", field.bucket_headers),
                ("padding between entries", field.entry_padding),
            ] {
                if n > 0 {
                    writeln!(f, "    {what:<32} {:>12}  {:>5.1}%", Bytes(n).to_string(), pct(n))?;
                }
            }
        }
        Ok(())
    }
}
