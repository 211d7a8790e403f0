//! The chunk tree of a file, from its directory: `inspect` and `stat`.

use serde_json::{Value, json};
use strata::Archive;
use strata::raw::format::meta::ChunkKind;

/// One chunk in the tree.
pub struct Node {
    pub path: String,
    pub kind: Option<ChunkKind>,
    pub offset: u64,
    pub stored: u64,
    pub raw: u64,
    pub encoding: &'static str,
    pub index: u64,
    pub children: Vec<usize>,
    pub parent: Option<usize>,
}

/// The directory as a tree; `roots` are the entries without a valid parent (the root).
pub struct Tree {
    pub nodes: Vec<Node>,
    pub roots: Vec<usize>,
}

impl Tree {
    pub fn read(archive: &Archive) -> Result<Self, String> {
        let meta = archive.meta().map_err(|e| e.to_string())?;
        let n = meta.chunks.len();
        let mut nodes: Vec<Node> = meta
            .chunks
            .iter()
            .enumerate()
            .map(|(i, e)| Node {
                path: meta.path(i),
                kind: e.chunk_kind(),
                offset: e.chunk.offset(),
                stored: e.chunk.stored_len(),
                raw: e.chunk.raw_len(),
                encoding: match e.chunk.encoding() {
                    Some(strata::raw::format::Encoding::None) => "none",
                    Some(strata::raw::format::Encoding::Zstd) => "zstd",
                    _ => "?",
                },
                index: e.index.to_native(),
                children: Vec::new(),
                parent: None,
            })
            .collect();
        let mut roots = Vec::new();
        for i in 0..n {
            let parent = meta.chunks.get(i).map(|e| e.parent.to_native() as usize).filter(|&p| p < n && p != i);
            match parent {
                Some(p) => {
                    if let Some(node) = nodes.get_mut(p) {
                        node.children.push(i);
                    }
                    if let Some(node) = nodes.get_mut(i) {
                        node.parent = Some(p);
                    }
                }
                None => roots.push(i),
            }
        }
        Ok(Self { nodes, roots })
    }

    /// Stored and raw bytes of a node and everything below it.
    pub fn totals(&self, i: usize) -> (u64, u64, u64) {
        let mut stack = vec![i];
        let (mut stored, mut raw, mut chunks) = (0, 0, 0);
        let mut seen = 0usize;
        while let Some(j) = stack.pop() {
            seen += 1;
            if seen > self.nodes.len() {
                break; // a damaged directory with a cycle
            }
            if let Some(n) = self.nodes.get(j) {
                stored += n.stored;
                raw += n.raw;
                chunks += 1;
                stack.extend(&n.children);
            }
        }
        (stored, raw, chunks)
    }

    /// How many children of node `i` are of `kind`.
    pub fn count(&self, i: usize, kind: ChunkKind) -> usize {
        self.nodes.get(i).map_or(0, |n| {
            n.children.iter().filter(|&&c| self.nodes.get(c).is_some_and(|c| c.kind == Some(kind))).count()
        })
    }

    /// The node's kind, with counts for vectors and maps.
    pub fn describe(&self, i: usize) -> String {
        let Some(n) = self.nodes.get(i) else { return String::new() };
        match n.kind {
            Some(ChunkKind::Vector) => {
                format!("vector, {} elements in {} shards", n.index, self.count(i, ChunkKind::Shard))
            }
            Some(ChunkKind::Map) => format!("map, {} entries in {} buckets", n.index, self.count(i, ChunkKind::Bucket)),
            Some(ChunkKind::Lazy) => String::from("promise"),
            Some(k) => k.name().to_owned(),
            None => String::from("unknown"),
        }
    }

    pub fn json(&self, archive: &Archive) -> Value {
        let footer = archive.footer();
        let chunks: Vec<Value> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let (stored_total, raw_total, chunks_total) = self.totals(i);
                let mut v = json!({
                    "path": n.path,
                    "kind": n.kind.map_or("unknown", ChunkKind::name),
                    "offset": n.offset,
                    "stored": n.stored,
                    "raw": n.raw,
                    "codec": n.encoding,
                    "parent": n.parent,
                    "children": n.children.len(),
                    "total_stored": stored_total,
                    "total_raw": raw_total,
                    "total_chunks": chunks_total,
                });
                if let Some(obj) = v.as_object_mut() {
                    match n.kind {
                        Some(ChunkKind::Vector) => {
                            obj.insert(String::from("elements"), json!(n.index));
                            obj.insert(String::from("shards"), json!(self.count(i, ChunkKind::Shard)));
                        }
                        Some(ChunkKind::Map) => {
                            obj.insert(String::from("entries"), json!(n.index));
                            obj.insert(String::from("buckets"), json!(self.count(i, ChunkKind::Bucket)));
                        }
                        Some(ChunkKind::Shard | ChunkKind::Bucket) => {
                            obj.insert(String::from("number"), json!(n.index));
                        }
                        _ => {}
                    }
                }
                v
            })
            .collect();
        json!({
            "file_len": footer.file_len,
            "version": footer.version,
            "root_type": archive.schema_text().ok().and_then(|t| strata::schema::root_name(&t).map(str::to_owned)),
            "type_fingerprint": format!("{:#018x}", footer.type_fingerprint),
            "layout_fingerprint": format!("{:#018x}", footer.layout_fingerprint),
            "meta": { "offset": footer.meta.offset(), "stored": footer.meta.stored_len() },
            "chunks": chunks,
        })
    }
}

/// `1.2 MiB`-style sizes.
pub fn size(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", units.get(u).copied().unwrap_or("B")) }
}
