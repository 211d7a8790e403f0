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
    /// Zero bytes between bucket entries (each entry starts at a multiple of 16).
    pub entry_padding: u64,
}

impl FieldSpace {
    /// What the layout adds to the values: index nodes, bucket headers, entry padding.
    #[must_use]
    pub fn overhead(&self) -> u64 {
        self.index_nodes + self.bucket_headers + self.entry_padding
    }
}

impl crate::Archive {
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
            header_footer: crate::format::header::HEADER_LEN + footer.encoded_len(),
            meta: footer.meta.stored_len(),
            ..Space::default()
        };
        // Padding: the gaps between chunks in file order.
        let mut extents: Vec<(u64, u64)> = chunks
            .iter()
            .map(|c| (c.chunk.offset(), c.chunk.stored_len()))
            .chain([(footer.meta.offset(), footer.meta.stored_len())])
            .collect();
        extents.sort_unstable();
        let mut at = crate::format::header::HEADER_LEN;
        for (offset, len) in extents {
            space.chunk_padding += offset.saturating_sub(at);
            at = at.max(offset.saturating_add(len));
        }
        space.chunk_padding += footer.file_len.saturating_sub(footer.encoded_len()).saturating_sub(at);

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
        fields.sort_by(|a, b| b.stored.cmp(&a.stored).then_with(|| a.path.cmp(&b.path)));
        space.fields = fields;
        Ok(space)
    }
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
        ] {
            writeln!(f, "  {what:<34} {:>12}  {:>5.1}%", Bytes(n).to_string(), pct(n))?;
        }
        for field in &self.fields {
            writeln!(f, "  {:<34} {:>12}  {:>5.1}%", field.path, Bytes(field.stored).to_string(), pct(field.stored))?;
            for (what, n) in [
                ("values", field.values),
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
