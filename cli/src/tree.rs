//! The chunk tree of a file as JSON (`inspect --json`); the tree itself is
//! [`strata::Inspection`].

use serde_json::{Value, json};
use strata::Inspection;
use strata::raw::format::Encoding;
use strata::raw::format::meta::ChunkKind;

pub fn json(tree: &Inspection, archive: &strata::Archive) -> Value {
    let footer = archive.footer();
    let chunks: Vec<Value> = tree
        .chunks()
        .iter()
        .map(|c| {
            let mut v = json!({
                "path": c.path,
                "kind": c.kind.map_or("unknown", ChunkKind::name),
                "offset": c.chunk.offset(),
                "stored": c.chunk.stored_len(),
                "raw": c.chunk.raw_len(),
                "codec": match c.chunk.encoding() {
                    Some(Encoding::None) => "none",
                    Some(Encoding::Zstd) => "zstd",
                    _ => "?",
                },
                "parent": c.parent,
                "children": c.children.len(),
                "total_stored": c.total.stored,
                "total_raw": c.total.raw,
                "total_chunks": c.total.chunks,
            });
            if let Some(obj) = v.as_object_mut() {
                match c.kind {
                    Some(ChunkKind::Vector) => {
                        obj.insert(String::from("elements"), json!(c.index));
                        obj.insert(String::from("shards"), json!(tree.count(c, ChunkKind::Shard)));
                    }
                    Some(ChunkKind::Map) => {
                        obj.insert(String::from("entries"), json!(c.index));
                        obj.insert(String::from("buckets"), json!(tree.count(c, ChunkKind::Bucket)));
                    }
                    Some(ChunkKind::Shard | ChunkKind::Bucket) => {
                        obj.insert(String::from("number"), json!(c.index));
                    }
                    _ => {}
                }
            }
            v
        })
        .collect();
    json!({
        "file_len": tree.file_len(),
        "version": tree.version(),
        "root_type": tree.root_type(),
        "type_fingerprint": format!("{:#018x}", tree.type_fingerprint()),
        "layout_fingerprint": format!("{:#018x}", footer.layout_fingerprint),
        "meta": { "offset": footer.meta.offset(), "stored": footer.meta.stored_len() },
        "chunks": chunks,
    })
}
