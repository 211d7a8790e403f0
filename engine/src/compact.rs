//! Compaction: a file rewritten, atomically and without its Rust types, with only the
//! chunks its current version uses.
//!
//! The chunks move, so every reference to a moved chunk is rewritten: the schema's
//! layouts locate the references inside values ([`crate::value::refs`]), chunk tables
//! locate theirs. The value is walked from the root (every live chunk is reached, and
//! its type learned), then the chunks are copied in file order (children before
//! parents in every version): a chunk that holds no reference is copied byte for byte,
//! one that does is decoded, patched and encoded again. The directory, its pages, the
//! meta chunk, the tail copies, the root and the footer are written as a save writes
//! them. A file whose directory lists a chunk the walk does not reach (a damaged
//! directory, or a lazy field inside an opaque value) is refused, never half-copied.

use crate::archive::Archive;
use crate::codec::Codec;
use crate::destination::Destination;
use crate::error::{Error, Result};
use crate::format::meta::{ChunkKind, NO_PARENT};
use crate::format::table::{ENTRY_LEN, Node};
use crate::format::{self, ChunkRef, Encoding, Footer, header};
use crate::schema::{Schema, Storage, Ty, round_up};
use crate::store::sink::{Sink, Writeback};
use crate::value::refs::{Site, Sites};
use crate::write::SaveCtx;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// What a compaction did; see [`compact`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactStats {
    /// The file's length before.
    pub before: u64,
    /// Its length after.
    pub after: u64,
    /// Chunks copied (the directory's pages, the meta chunk, the tail copies and the
    /// root included).
    pub chunks: u64,
    /// Chunks rewritten because they hold references to chunks that moved.
    pub patched: u64,
    /// Wall-clock time.
    pub elapsed: std::time::Duration,
}

/// Rewrites the file at `path` with only the chunks its current version uses, dropping
/// what earlier versions left (see
/// [`SaveOptions::incremental`](crate::SaveOptions::incremental)), atomically as a save
/// replaces a file and taking the save lock. Needs no Rust types: the file's schema
/// locates every reference. The result is a file of this format version holding the
/// same value (a file of an earlier version is upgraded).
///
/// Chunks are copied byte for byte, but for those holding references to other chunks
/// (the root, index nodes, lazy values and shards holding lazy fields), which are
/// rewritten; compressed ones among them are compressed again with zstd level 3.
///
/// ```
/// # #[derive(strata::Persist)] struct Log { n: u64, #[strata(shard)] lines: Vec<String> }
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("log.strata");
/// let mut log = Log { n: 0, lines: (0..10_000).map(|i| format!("line {i}")).collect() };
/// let incremental = strata::SaveOptions::new().incremental(true).compact_above(1.0);
/// for n in 0..5 {
///     log.n = n;
///     log.lines.iter_mut().for_each(|l| l.push('!'));
///     incremental.save(&path, &log)?;
/// }
/// assert!(strata::Archive::open(&path)?.stats()?.dead > 0);
/// let stats = strata::compact(&path)?;
/// assert!(stats.after < stats.before);
/// let archive = strata::Archive::open(&path)?;
/// assert_eq!(archive.stats()?.dead, 0);
/// assert_eq!(archive.load::<Log>()?.lines[7], "line 7!!!!!");
/// # Ok::<(), strata::Error>(())
/// ```
///
/// # Errors
/// A file that does not open, whose schema, directory or chunks are damaged, whose
/// directory lists chunks the value does not reach, or that holds lazy fields inside
/// opaque values; I/O errors ([`Error::Save`]: the file is then untouched).
pub fn compact(path: impl AsRef<Path>) -> Result<CompactStats> {
    crate::SaveOptions::new().compact(path)
}

/// A live chunk: what it holds, and where the references inside its raw bytes lie.
struct Live {
    old: ChunkRef,
    /// Positions in the raw bytes of 40-byte references (lazy values, table roots,
    /// index node entries), each with its type tag (zero: an untyped reference).
    refs: Vec<(u64, u64)>,
    /// For the root node of a table: its directory entry, for the tail copies.
    table: bool,
}

/// What a chunk holds, as the walk from the root learns it.
enum Holds {
    /// A value of this type, whose root object ends the chunk.
    Value(Ty),
    /// A shard: a `Vec` of these elements.
    Shard(Ty),
    /// A bucket of entries of these key and value types.
    Bucket(Ty, Ty),
    /// An index node at this level (0: its entries reference shards or buckets).
    Node { level: u32, leaf: Leaf, top: bool },
}

#[derive(Clone)]
enum Leaf {
    Shard(Ty),
    Bucket(Ty, Ty),
}

/// The walk from the root: every live chunk, with the positions of its references.
fn walk(archive: &Archive, schema: &Schema) -> Result<HashMap<u64, Live>> {
    let sites = Sites::new(schema);
    let typed = archive.footer().version >= format::TYPED_VERSION;
    let mut live: HashMap<u64, Live> = HashMap::new();
    let mut todo = vec![(archive.footer().root, Holds::Value(schema.root.clone()))];
    while let Some((r, holds)) = todo.pop() {
        if let Some(seen) = live.get(&r.offset()) {
            if !same_chunk(&seen.old, &r) {
                return Err(bad(&r, "two references to one offset name different chunks"));
            }
            continue;
        }
        let at = r.location();
        let table = matches!(holds, Holds::Node { top: true, .. });
        let mut refs = Vec::new();
        let mut found = Vec::new();
        let mut bytes = None;
        match holds {
            Holds::Value(ty) if sites.holds(&ty)? => {
                let raw = crate::raw::chunk(archive, &r)?;
                let (size, _) = schema.layout(&ty)?;
                let pos = (raw.len() as u64).checked_sub(size).ok_or_else(|| bad(&r, "smaller than its value"))?;
                sites.find(&raw, at, pos, &ty, Storage::Inline, &mut found)?;
                bytes = Some(raw);
            }
            Holds::Shard(elem) if sites.holds(&elem)? => {
                let raw = crate::raw::chunk(archive, &r)?;
                let pos = (raw.len() as u64).checked_sub(8).ok_or_else(|| bad(&r, "smaller than a vector"))?;
                sites.find(&raw, at, pos, &Ty::Vec(Box::new(elem)), Storage::Inline, &mut found)?;
                bytes = Some(raw);
            }
            Holds::Bucket(k, v) if sites.holds(&k)? || sites.holds(&v)? => {
                let raw = crate::raw::chunk(archive, &r)?;
                let bucket = format::bucket::Bucket::parse(&raw).map_err(|d| bad(&r, d))?;
                let (ks, ka) = schema.layout(&k)?;
                let (vs, va) = schema.layout(&v)?;
                let voff = round_up(ks, va);
                let size = round_up(voff + vs, ka.max(va));
                for j in 0..bucket.len() {
                    let span = bucket.entry_span(j).map_err(|d| bad(&r, d))?;
                    let pos = (span.end as u64).checked_sub(size).ok_or_else(|| bad(&r, "entry too short"))?;
                    sites.find(&raw, at, pos, &k, Storage::Inline, &mut found)?;
                    sites.find(&raw, at, pos + voff, &v, Storage::Inline, &mut found)?;
                }
                bytes = Some(raw);
            }
            Holds::Node { level, leaf, .. } => {
                let raw = crate::raw::chunk(archive, &r)?;
                let (start, len) = Node::span(&raw).map_err(|d| bad(&r, d))?;
                let node = Node::new(&raw, start, len);
                for j in 0..node.len() {
                    let entry = node.get(j).ok_or_else(|| bad(&r, "index node entry out of range"))?;
                    refs.push(((start + j * ENTRY_LEN + 8) as u64, 0));
                    let next = match (level, &leaf) {
                        (0, Leaf::Shard(t)) => Holds::Shard(t.clone()),
                        (0, Leaf::Bucket(k, v)) => Holds::Bucket(k.clone(), v.clone()),
                        _ => Holds::Node { level: level - 1, leaf: leaf.clone(), top: false },
                    };
                    todo.push((*entry.chunk(), next));
                }
            }
            _ => {}
        }
        for (pos, site) in found {
            let raw = bytes.as_deref().ok_or_else(|| bad(&r, "internal: references found in a chunk not read"))?;
            let len = if matches!(site, Site::Lazy(_)) { 40 } else { 64 };
            let mut head = [0u8; 64];
            let src = usize::try_from(pos).ok().and_then(|p| raw.get(p..p.checked_add(len)?));
            head.get_mut(..len)
                .zip(src)
                .map(|(dst, src)| dst.copy_from_slice(src))
                .ok_or_else(|| bad(&r, "reference outside the chunk"))?;
            let child = ChunkRef::from_bytes(head.first_chunk::<40>().unwrap_or(&[0; 40]));
            if child == ChunkRef::none() {
                continue;
            }
            let tag = match &site {
                Site::Lazy(ty) => format::type_tag(&crate::schema::render(ty)),
                Site::Shard(_) | Site::Map(..) => 0,
            };
            refs.push((pos, tag));
            // The chunk's own reference: a typed one with its tag undone.
            let child = if typed { child.tagged(tag) } else { child };
            let next = match site {
                Site::Lazy(ty) => Holds::Value(ty),
                Site::Shard(elem) => node_of(&head, Leaf::Shard(elem))?,
                Site::Map(k, v) => node_of(&head, Leaf::Bucket(k, v))?,
            };
            todo.push((child, next));
        }
        refs.sort_unstable();
        live.insert(r.offset(), Live { old: r, refs, table });
    }
    Ok(live)
}

/// The root node of the table whose 64-byte header is `head`.
fn node_of(head: &[u8; 64], leaf: Leaf) -> Result<Holds> {
    let header = crate::format::table::TableHeader::from_bytes(head);
    header.table().check()?;
    Ok(Holds::Node { level: header.table().depth().saturating_sub(1), leaf, top: true })
}

fn bad(r: &ChunkRef, detail: impl Into<String>) -> Error {
    Error::InvalidData { at: r.location(), ty: "chunk (compaction)", detail: detail.into() }
}

/// Whether two references name the same chunk (their element counts aside).
fn same_chunk(a: &ChunkRef, b: &ChunkRef) -> bool {
    a.to_bytes().get(..33) == b.to_bytes().get(..33)
}

/// `old` pointed at `new`: the same reference (element count included), at the new place.
fn moved(old: &ChunkRef, new: &ChunkRef) -> ChunkRef {
    let encoding = new.encoding().unwrap_or(Encoding::None);
    let r = ChunkRef::new(new.offset(), new.stored_len(), new.raw_len(), new.checksum(), encoding);
    match old.count() {
        Some(n) => r.with_count(n),
        None => r,
    }
}

impl crate::SaveOptions {
    /// [`compact`] with these options' lock timeout and threads.
    ///
    /// # Errors
    /// As [`compact`].
    pub fn compact(&self, path: impl AsRef<Path>) -> Result<CompactStats> {
        let started = Instant::now();
        let path = path.as_ref();
        let destination = Destination::lock(path, self.lock_timeout_value())?;
        let archive = Archive::open(path)?;
        let footer = *archive.footer();
        let directory = archive.directory()?;
        let schema = Schema::parse(&directory.schema)?;
        let live = crate::threads::run(self.threads_value(), || walk(&archive, &schema))?;
        // The directory and the walk must agree: a chunk the walk does not reach holds a
        // reference the schema cannot locate, and would be lost.
        let listed: Vec<&crate::format::meta::DirEntry> =
            directory.chunks.iter().filter(|e| e.chunk_kind() != Some(ChunkKind::TailCopies)).collect();
        for e in &listed {
            if !live.get(&e.chunk.offset()).is_some_and(|l| same_chunk(&l.old, &e.chunk)) {
                return Err(Error::InvalidData {
                    at: e.chunk.location(),
                    ty: "chunk directory (compaction)",
                    detail: format!("`{}` is listed but not reached from the root through the schema", e.name),
                });
            }
        }
        let tmp = destination.temporary()?;
        let sink = Writeback::new(tmp.as_file());
        let stats = crate::threads::run(self.threads_value(), || {
            copy(&archive, &footer, &directory, &live, &sink, self.max_depth_value())
        })
        .map_err(|e| match e {
            Error::Io(source) => Error::Save { step: "write", path: tmp.path().to_path_buf(), source },
            other => other,
        })?;
        drop(archive);
        destination.replace_with(tmp)?;
        Ok(CompactStats { before: footer.file_len, elapsed: started.elapsed(), ..stats })
    }
}

/// Writes the compacted file to `sink`.
fn copy(
    archive: &Archive,
    footer: &Footer,
    directory: &crate::format::meta::Directory,
    live: &HashMap<u64, Live>,
    sink: &dyn Sink,
    max_depth: u32,
) -> Result<CompactStats> {
    sink.write_at(0, &header::encode(format::VERSION))?;
    let ctx = SaveCtx::new(sink, Codec::None, max_depth, header::len_of(format::VERSION));
    // The directory, renumbered without the old tail copies' entry (the new one is
    // added after the others, as a save adds it).
    let mut number: Vec<Option<u32>> = vec![None; directory.chunks.len()];
    let mut entries = Vec::with_capacity(directory.chunks.len());
    for (i, e) in directory.chunks.iter().enumerate() {
        if e.chunk_kind() == Some(ChunkKind::TailCopies) {
            continue;
        }
        if let Some(n) = number.get_mut(i) {
            *n = Some(entries.len() as u32);
        }
        entries.push(e);
    }
    let root_id = ctx.root_entry();
    for e in entries.iter().skip(1) {
        let parent = number.get(e.parent as usize).copied().flatten().unwrap_or(NO_PARENT);
        ctx.alloc(if e.parent == NO_PARENT { NO_PARENT } else { parent }, kind_of(e), e.index, &e.name);
    }
    let ids: HashMap<u64, u32> =
        entries.iter().enumerate().map(|(n, e)| (e.chunk.offset(), if n == 0 { root_id } else { n as u32 })).collect();
    let mut order: Vec<&Live> = live.values().collect();
    order.sort_unstable_by_key(|l| l.old.offset());
    let mut moved_to: HashMap<u64, ChunkRef> = HashMap::with_capacity(order.len());
    let mut patched = 0u64;
    let mut root = None;
    for l in order {
        if l.refs.is_empty() && l.old.offset() != footer.root.offset() {
            let new = copy_bytes(archive, &ctx, &l.old)?;
            moved_to.insert(l.old.offset(), new);
            if let Some(&id) = ids.get(&l.old.offset()) {
                ctx.set(id, moved(&l.old, &new));
                if l.table {
                    ctx.offer_top(id, new, &crate::raw::chunk(archive, &l.old)?);
                }
            }
            continue;
        }
        let mut raw = crate::raw::chunk(archive, &l.old)?.to_vec();
        for &(pos, tag) in &l.refs {
            let at = usize::try_from(pos).map_err(|_| bad(&l.old, "reference outside the chunk"))?;
            let slot = raw.get_mut(at..at + 40).ok_or_else(|| bad(&l.old, "reference outside the chunk"))?;
            let old = ChunkRef::from_bytes(slot.first_chunk::<40>().unwrap_or(&[0; 40]));
            if old == ChunkRef::none() {
                continue;
            }
            let new =
                moved_to.get(&old.offset()).ok_or_else(|| bad(&old, "a reference to a chunk written after it"))?;
            // Typed as this version types it, whatever the old file's version.
            slot.copy_from_slice(&moved(&old, new).tagged(tag).to_bytes());
        }
        patched += 1;
        if l.old.offset() == footer.root.offset() {
            root = Some(raw);
            continue;
        }
        let codec = if l.old.encoding() == Some(Encoding::Zstd) { Codec::Zstd(3) } else { Codec::None };
        let new = ctx.write_raw(&raw, codec)?;
        moved_to.insert(l.old.offset(), new);
        if let Some(&id) = ids.get(&l.old.offset()) {
            ctx.set(id, moved(&l.old, &new));
            if l.table {
                ctx.offer_top(id, new, &raw);
            }
        }
    }
    let root = root.ok_or_else(|| bad(&footer.root, "the root was not copied"))?;
    let written = ctx.finish(&root, &directory.schema)?;
    let footer_at = ctx.end()?;
    let new = written.footer(footer_at, footer.type_fingerprint);
    let file_len = new.file_len;
    sink.write_at(footer_at, &new.encode())?;
    let stats = ctx.stats(file_len, std::time::Duration::ZERO);
    Ok(CompactStats { before: 0, after: file_len, chunks: stats.chunks, patched, elapsed: stats.elapsed })
}

fn kind_of(e: &crate::format::meta::DirEntry) -> ChunkKind {
    e.chunk_kind().unwrap_or(ChunkKind::Lazy)
}

/// Copies one chunk's stored bytes to the next place, a MiB at a time, checking its
/// checksum on the way; its reference there.
fn copy_bytes(archive: &Archive, ctx: &SaveCtx<'_>, r: &ChunkRef) -> Result<ChunkRef> {
    const PIECE: u64 = 1 << 20;
    let offset = ctx.reserve(r.stored_len())?;
    let mut buf = Vec::new();
    let mut done = 0;
    let mut checksum = xxhash_rust::xxh3::Xxh3::new();
    while done < r.stored_len() {
        let n = (r.stored_len() - done).min(PIECE);
        buf.resize(usize::try_from(n).unwrap_or(0), 0);
        archive.store().read_stored(r, done, &mut buf)?;
        checksum.update(&buf);
        ctx.write_at(offset + done, &buf)?;
        done += n;
    }
    if checksum.digest() != r.checksum() {
        return Err(Error::ChecksumMismatch { at: r.location(), expected: r.checksum(), found: checksum.digest() });
    }
    ctx.count(r.raw_len(), r.stored_len());
    let encoding = r.encoding().unwrap_or(Encoding::None);
    Ok(ChunkRef::new(offset, r.stored_len(), r.raw_len(), r.checksum(), encoding))
}
