//! The meta chunk: the schema and the chunk directory.
//!
//! ## Format
//! A raw chunk, written after every chunk but the tail copies and the root, which follow
//! it (so that the root ends right before the footer). In versions 1 to 3 it holds an
//! rkyv archive of [`Meta`]: the schema text and one [`DirEntry`] per chunk of the file
//! (except the meta chunk itself, referenced by the footer). In version 4 it holds a
//! [`PagedMeta`]: the schema text, the entry count and the references of the directory's
//! **pages**, raw chunks written before it, each an rkyv `Vec<DirEntry>` of
//! [`PAGE_ENTRIES`] entries (the last may hold fewer); the root's and the tail copies'
//! entries hold the all-zero reference there (the footer holds theirs), so that a page
//! whose chunks did not change has the same bytes from one version to the next, and an
//! incremental save reuses it. Entries are numbered in the order the writer
//! starts their chunks (the root is entry 0), and each names its parent entry: the chunk
//! whose bytes hold its reference, or for shards, buckets and index nodes, the vector or
//! map they belong to. With the field names they carry, entries give every chunk a path
//! in the value (`region.tiles`, `players[bucket 17]`), without the Rust types.
//!
//! `open` never reads this chunk: it serves errors, [`crate::Archive::verify`] and tools.

use super::chunk_ref::ChunkRef;

/// What a chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ChunkKind {
    /// The root value.
    Root = 0,
    /// A `#[strata(lazy)]` field's value.
    Lazy = 1,
    /// A sharded vector; the entry's chunk is the root node of its shard table and its
    /// `index` is the element count.
    Vector = 2,
    /// One shard of a vector; `index` is the shard's number.
    Shard = 3,
    /// A bucketed map; the entry's chunk is the root node of its bucket table and its
    /// `index` is the entry count.
    Map = 4,
    /// One bucket of a map; `index` is the bucket's number.
    Bucket = 5,
    /// An index node of a vector's or map's table below its root; `index` is
    /// `level << 48 | node number`.
    IndexNode = 6,
    /// The copies of the top index nodes read with the root ([`super::copies`]);
    /// `index` is the number of copies (version 3).
    TailCopies = 7,
}

impl ChunkKind {
    /// The kind for a byte, or `None` for an unknown one.
    #[must_use]
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Root,
            1 => Self::Lazy,
            2 => Self::Vector,
            3 => Self::Shard,
            4 => Self::Map,
            5 => Self::Bucket,
            6 => Self::IndexNode,
            7 => Self::TailCopies,
            _ => return None,
        })
    }

    /// A short lowercase name: `root`, `lazy`, `vector`, `shard`, `map`, `bucket`,
    /// `index node`, `tail copies`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Lazy => "lazy",
            Self::Vector => "vector",
            Self::Shard => "shard",
            Self::Map => "map",
            Self::Bucket => "bucket",
            Self::IndexNode => "index node",
            Self::TailCopies => "tail copies",
        }
    }
}

/// The parent of the root entry.
pub const NO_PARENT: u32 = u32::MAX;

/// One chunk of the file, in the directory.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Eq)]
#[rkyv(crate = rkyv, derive(Debug))]
pub struct DirEntry {
    /// The chunk (for a vector or a map: its table's root node).
    pub chunk: ChunkRef,
    /// The parent entry's number, or [`NO_PARENT`] for the root.
    pub parent: u32,
    /// A [`ChunkKind`] byte.
    pub kind: u8,
    /// Element count, entry count, shard, bucket or node number (see [`ChunkKind`]).
    pub index: u64,
    /// The field's name for lazy fields, vectors and maps (`history`, `Variant.0`);
    /// empty otherwise.
    pub name: String,
}

/// The meta chunk's value.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Eq)]
#[rkyv(crate = rkyv, derive(Debug))]
pub struct Meta {
    /// The schema text (see [`crate::schema`]).
    pub schema: String,
    /// Every chunk but this one, numbered by position.
    pub chunks: Vec<DirEntry>,
}

/// Directory entries per page (version 4).
pub const PAGE_ENTRIES: usize = 512;

/// The meta chunk's value in version 4.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Eq)]
#[rkyv(crate = rkyv, derive(Debug))]
pub struct PagedMeta {
    /// The schema text (see [`crate::schema`]).
    pub schema: String,
    /// Directory entries in all.
    pub entries: u64,
    /// The pages, in order: page `p` holds entries `p * PAGE_ENTRIES ..`.
    pub pages: Vec<ChunkRef>,
}

/// The chunk directory of a file, whatever its version: the schema text and one entry
/// per chunk but the meta chunk (and, in version 4, the directory's pages). See
/// [`Archive::directory`](crate::Archive::directory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    /// The schema text.
    pub schema: String,
    /// The entries, numbered by position (the root is entry 0).
    pub chunks: Vec<DirEntry>,
    /// The chunks of the directory itself beyond the meta chunk: its pages (version 4).
    pub pages: Vec<ChunkRef>,
}

impl DirEntry {
    /// The entry's kind, or `None` for an unknown byte.
    #[must_use]
    pub fn chunk_kind(&self) -> Option<ChunkKind> {
        ChunkKind::from_byte(self.kind)
    }
}

impl Directory {
    /// The path of entry `i` in the value: field names joined by `.`, with
    /// `[shard N]`, `[bucket N]` and `[node L/N]` for the parts of collections. The root
    /// is `<root>`. Cycles and bad parents (a damaged directory) end the path with `?`.
    #[must_use]
    pub fn path(&self, i: usize) -> String {
        let mut parts = Vec::new();
        let mut at = Some(i);
        let mut steps = 0;
        while let Some(j) = at {
            let Some(e) = self.chunks.get(j) else {
                parts.push(String::from("?"));
                break;
            };
            steps += 1;
            if steps > self.chunks.len() + 1 {
                parts.push(String::from("?"));
                break;
            }
            match e.chunk_kind() {
                Some(ChunkKind::Root) => {}
                Some(ChunkKind::TailCopies) => parts.push(String::from("(tail copies)")),
                Some(ChunkKind::Shard) => parts.push(format!("[shard {}]", e.index)),
                Some(ChunkKind::Bucket) => parts.push(format!("[bucket {}]", e.index)),
                Some(ChunkKind::IndexNode) => {
                    parts.push(format!("[node {}/{}]", e.index >> 48, e.index & ((1 << 48) - 1)));
                }
                _ => parts.push(format!(".{}", e.name)),
            }
            at = (e.parent != NO_PARENT).then_some(e.parent as usize);
        }
        parts.reverse();
        let path: String = parts.concat();
        match path.strip_prefix('.') {
            Some(p) => p.to_owned(),
            None if path.is_empty() => String::from("<root>"),
            None => path,
        }
    }
}

impl From<&ArchivedDirEntry> for DirEntry {
    fn from(e: &ArchivedDirEntry) -> Self {
        Self {
            chunk: e.chunk,
            parent: e.parent.to_native(),
            kind: e.kind,
            index: e.index.to_native(),
            name: e.name.as_str().to_owned(),
        }
    }
}

impl ArchivedDirEntry {
    /// The entry's kind, or `None` for an unknown byte.
    #[must_use]
    pub fn chunk_kind(&self) -> Option<ChunkKind> {
        ChunkKind::from_byte(self.kind)
    }
}
