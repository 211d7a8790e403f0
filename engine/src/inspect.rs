//! [`Archive::inspect`](crate::Archive::inspect): the tree of a file's chunks, from the
//! directory in its meta chunk, with sizes and counts. The `strata inspect` and
//! `strata stat` commands print it.

use crate::error::Result;
use crate::format::meta::{ChunkKind, NO_PARENT};
use crate::format::{ChunkRef, Encoding};
use std::fmt;

/// Levels of the tree that [`Tree`] prints; deeper chunks are summarised.
const MAX_PRINTED_LEVELS: usize = 64;

/// Children of a vector or a map that `{}` lists (`{:#}` lists all).
const DEFAULT_MAX_CHILDREN: usize = 8;

/// The chunk tree of an archive; see [`Archive::inspect`](crate::Archive::inspect).
///
/// ```
/// # #[derive(strata::Persist)] struct Log { #[strata(lazy)] note: String, #[strata(shard)] lines: Vec<String> }
/// let log = Log { note: "hi".into(), lines: (0..20_000).map(|i| format!("line {i}")).collect() };
/// let archive = strata::Archive::from_bytes(strata::to_bytes(&log)?)?;
/// let tree = archive.inspect()?;
/// let lines = tree.chunks().iter().find(|c| c.path == "lines").unwrap();
/// assert!(tree.describe(lines).starts_with("vector, 20000 elements in"));
/// println!("{tree}"); // the tree, a few children per vector or map; "{tree:#}" lists all
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Inspection {
    file_len: u64,
    version: u32,
    type_fingerprint: u64,
    root_type: Option<String>,
    chunks: Vec<ChunkInfo>,
    roots: Vec<usize>,
    /// The directory's own pages (version 4).
    pages: Vec<crate::format::ChunkRef>,
}

/// One chunk of an [`Inspection`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChunkInfo {
    /// Its place in the value: `users`, `users[shard 3]`, `by_name[bucket 7].history`;
    /// `<root>` for the root.
    pub path: String,
    /// What it holds (`None`: a kind this version does not know).
    pub kind: Option<ChunkKind>,
    /// Where it is, its lengths, encoding and checksum.
    pub chunk: ChunkRef,
    /// A vector's element count, a map's entry count, a shard's or bucket's number, an
    /// index node's `level << 48 | number`.
    pub index: u64,
    /// The chunk it belongs to (its position in [`Inspection::chunks`]).
    pub parent: Option<usize>,
    /// The chunks that belong to it.
    pub children: Vec<usize>,
    /// This chunk and every chunk below it.
    pub total: Totals,
}

/// Sizes of a chunk and everything below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Bytes in the file.
    pub stored: u64,
    /// Bytes once decompressed.
    pub raw: u64,
    /// Chunks.
    pub chunks: u64,
}

impl crate::Archive {
    /// The tree of the file's chunks with their sizes, read from the meta chunk's
    /// directory (no other chunk is read). `Display` prints it.
    ///
    /// # Errors
    /// When the meta chunk is damaged.
    pub fn inspect(&self) -> Result<Inspection> {
        let meta = self.directory()?;
        let footer = self.footer();
        let n = meta.chunks.len();
        let mut chunks: Vec<ChunkInfo> = meta
            .chunks
            .iter()
            .enumerate()
            .map(|(i, e)| ChunkInfo {
                path: meta.path(i),
                kind: e.chunk_kind(),
                chunk: e.chunk,
                index: e.index,
                parent: None,
                children: Vec::new(),
                total: Totals::default(),
            })
            .collect();
        let mut roots = Vec::new();
        for (i, e) in meta.chunks.iter().enumerate() {
            let parent = e.parent;
            match usize::try_from(parent).ok().filter(|&p| parent != NO_PARENT && p < n && p != i) {
                Some(p) => {
                    if let Some(c) = chunks.get_mut(i) {
                        c.parent = Some(p);
                    }
                    if let Some(c) = chunks.get_mut(p) {
                        c.children.push(i);
                    }
                }
                None => roots.push(i),
            }
        }
        sum_totals(&mut chunks, &roots);
        Ok(Inspection {
            file_len: footer.file_len,
            version: footer.version,
            type_fingerprint: footer.type_fingerprint,
            root_type: crate::schema::root_name(meta.schema.as_str()).map(str::to_owned),
            chunks,
            roots,
            pages: meta.pages,
        })
    }
}

/// Fills every chunk's totals, children before parents, without recursion. Chunks in a
/// loop of parents (a damaged directory) are reached from no root and keep their own
/// sizes only.
fn sum_totals(chunks: &mut [ChunkInfo], roots: &[usize]) {
    for c in chunks.iter_mut() {
        c.total = Totals { stored: c.chunk.stored_len(), raw: c.chunk.raw_len(), chunks: 1 };
    }
    let mut order = Vec::with_capacity(chunks.len());
    let mut stack: Vec<usize> = roots.to_vec();
    while let Some(i) = stack.pop() {
        order.push(i);
        if let Some(c) = chunks.get(i) {
            stack.extend(&c.children);
        }
    }
    for &i in order.iter().rev() {
        let Some(total) = chunks.get(i).map(|c| c.total) else { continue };
        if let Some(p) = chunks.get(i).and_then(|c| c.parent).and_then(|p| chunks.get_mut(p)) {
            p.total.stored = p.total.stored.saturating_add(total.stored);
            p.total.raw = p.total.raw.saturating_add(total.raw);
            p.total.chunks = p.total.chunks.saturating_add(total.chunks);
        }
    }
}

impl Inspection {
    /// The file's length in bytes.
    #[must_use]
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The file's format version.
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The fingerprint of the types that wrote the file.
    #[must_use]
    pub fn type_fingerprint(&self) -> u64 {
        self.type_fingerprint
    }

    /// The name of the root type, as the schema records it.
    #[must_use]
    pub fn root_type(&self) -> Option<&str> {
        self.root_type.as_deref()
    }

    /// Every chunk but the meta chunk, in directory order.
    #[must_use]
    pub fn chunks(&self) -> &[ChunkInfo] {
        &self.chunks
    }

    /// The chunks of the directory's pages (version 4), which the meta chunk lists.
    #[must_use]
    pub fn pages(&self) -> &[crate::format::ChunkRef] {
        &self.pages
    }

    /// The chunks that belong to no other (the root; in a damaged directory, others).
    #[must_use]
    pub fn roots(&self) -> &[usize] {
        &self.roots
    }

    /// How many children of `chunk` are of `kind`.
    #[must_use]
    pub fn count(&self, chunk: &ChunkInfo, kind: ChunkKind) -> usize {
        chunk.children.iter().filter(|&&c| self.chunks.get(c).is_some_and(|c| c.kind == Some(kind))).count()
    }

    /// What `chunk` is, with counts for vectors and maps: `vector, 3000 elements in 12
    /// shards`, `map, 40 entries in 2 buckets`, `promise`, `shard`.
    #[must_use]
    pub fn describe(&self, chunk: &ChunkInfo) -> String {
        match chunk.kind {
            Some(ChunkKind::Vector) => {
                format!("vector, {} elements in {} shards", chunk.index, self.count(chunk, ChunkKind::Shard))
            }
            Some(ChunkKind::Map) => {
                format!("map, {} entries in {} buckets", chunk.index, self.count(chunk, ChunkKind::Bucket))
            }
            Some(ChunkKind::Lazy) => String::from("promise"),
            Some(ChunkKind::TailCopies) => format!("copies of {} index nodes, read with the root", chunk.index),
            Some(k) => k.name().to_owned(),
            None => String::from("unknown"),
        }
    }

    /// The tree down to `depth` levels (1: the root alone), listing at most
    /// `max_children` children of each vector or map.
    #[must_use]
    pub fn tree(&self, depth: usize, max_children: usize) -> Tree<'_> {
        Tree { inspection: self, depth, max_children }
    }
}

impl fmt::Display for Inspection {
    /// A line about the file, then the tree: every level, at most 8 children of each
    /// vector or map (all with `{:#}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max_children = if f.alternate() { usize::MAX } else { DEFAULT_MAX_CHILDREN };
        fmt::Display::fmt(&self.tree(usize::MAX, max_children), f)
    }
}

/// An [`Inspection`] printed to a depth, with a bound on the children listed; see
/// [`Inspection::tree`].
#[derive(Debug, Clone, Copy)]
pub struct Tree<'a> {
    inspection: &'a Inspection,
    depth: usize,
    max_children: usize,
}

impl fmt::Display for Tree<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.inspection;
        writeln!(
            f,
            "{}, format {}, root type {} (fingerprint {:#018x})",
            Bytes(t.file_len),
            t.version,
            t.root_type.as_deref().unwrap_or("?"),
            t.type_fingerprint
        )?;
        // Depth first, without recursion: (chunk, level), or a line that closes a list.
        enum Step {
            Chunk(usize, usize),
            More(usize, usize),
        }
        let mut stack: Vec<Step> = t.roots.iter().rev().map(|&r| Step::Chunk(r, 0)).collect();
        while let Some(step) = stack.pop() {
            let (i, level) = match step {
                Step::Chunk(i, level) => (i, level),
                Step::More(n, level) => {
                    writeln!(f, "{}… {n} more", "  ".repeat(level))?;
                    continue;
                }
            };
            let Some(c) = t.chunks.get(i) else { continue };
            self.line(f, c, level)?;
            if c.children.is_empty() {
                continue;
            }
            let indent = "  ".repeat(level + 1);
            if level + 1 >= self.depth.min(MAX_PRINTED_LEVELS) {
                writeln!(f, "{indent}… {} chunks below", c.total.chunks.saturating_sub(1))?;
                continue;
            }
            let collection = matches!(c.kind, Some(ChunkKind::Vector | ChunkKind::Map));
            let shown = if collection { self.max_children.min(c.children.len()) } else { c.children.len() };
            if shown < c.children.len() {
                stack.push(Step::More(c.children.len() - shown, level + 1));
            }
            stack.extend(c.children.iter().take(shown).rev().map(|&k| Step::Chunk(k, level + 1)));
        }
        Ok(())
    }
}

impl Tree<'_> {
    /// One chunk's line: its name, what it is, where, its sizes and its totals.
    fn line(&self, f: &mut fmt::Formatter<'_>, c: &ChunkInfo, level: usize) -> fmt::Result {
        let name = match c.kind {
            Some(ChunkKind::Shard | ChunkKind::Bucket | ChunkKind::IndexNode) => {
                c.path.rfind('[').and_then(|at| c.path.get(at..)).unwrap_or(&c.path)
            }
            _ if level == 0 => &c.path,
            _ => c.path.rsplit('.').next().unwrap_or(&c.path),
        };
        let (stored, raw) = (c.chunk.stored_len(), c.chunk.raw_len());
        let encoding = match c.chunk.encoding() {
            Some(Encoding::None) => "none",
            Some(Encoding::Zstd) => "zstd",
            None => "?",
        };
        write!(
            f,
            "{}{name} {}  @{}  {} stored, {} raw, {encoding}",
            "  ".repeat(level),
            self.inspection.describe(c),
            c.chunk.offset(),
            Bytes(stored),
            Bytes(raw)
        )?;
        if c.chunk.encoding() == Some(Encoding::Zstd) && stored > 0 {
            write!(f, " {:.1}x", raw as f64 / stored as f64)?;
        }
        if !c.children.is_empty() {
            write!(
                f,
                "  (total {} stored, {} raw, {} chunks)",
                Bytes(c.total.stored),
                Bytes(c.total.raw),
                c.total.chunks
            )?;
        }
        writeln!(f)
    }
}

/// A byte count printed for people: `512 B`, `1.5 KiB`, `53.5 MiB`.
///
/// ```
/// assert_eq!(strata::inspect::Bytes(1536).to_string(), "1.5 KiB");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut v = self.0 as f64;
        let mut unit = 0;
        while v >= 1024.0 && unit + 1 < UNITS.len() {
            v /= 1024.0;
            unit += 1;
        }
        match UNITS.get(unit) {
            Some(&u) if unit > 0 => write!(f, "{v:.1} {u}"),
            _ => write!(f, "{} B", self.0),
        }
    }
}
