//! Reading the meta chunk in every version's layout: the schema text, and the chunk
//! directory (whole in versions 1 to 3, in pages in version 4; see
//! [`crate::format::meta`]).

use crate::error::{Error, Result};
use crate::format::ChunkRef;
use crate::format::meta::{
    ArchivedDirEntry, ArchivedMeta, ArchivedPagedMeta, ChunkKind, DirEntry, Directory, PAGE_ENTRIES,
};
use crate::store::{Holds, Keep, Store};

/// The first version whose directory is paged.
const PAGED_VERSION: u32 = 4;

fn bad(r: &ChunkRef, detail: String) -> Error {
    Error::InvalidData { at: r.location(), ty: "meta chunk", detail }
}

/// The directory of the version `store` reads.
pub(crate) fn read(store: &Store) -> Result<Directory> {
    let footer = *store.footer();
    if footer.version < PAGED_VERSION {
        let meta = store.view::<ArchivedMeta>(&footer.meta, Keep::No, Holds::Nothing)?;
        return Ok(Directory {
            schema: meta.schema.as_str().to_owned(),
            chunks: meta.chunks.iter().map(DirEntry::from).collect(),
            pages: Vec::new(),
        });
    }
    let meta = store.view::<ArchivedPagedMeta>(&footer.meta, Keep::No, Holds::Nothing)?;
    let entries = meta.entries.to_native();
    let pages: Vec<ChunkRef> = meta.pages.iter().copied().collect();
    if pages.len() as u64 != entries.div_ceil(PAGE_ENTRIES as u64) {
        return Err(bad(&footer.meta, format!("{} directory pages for {entries} entries", pages.len())));
    }
    let mut chunks = Vec::new();
    let read = store.chunks(&pages, Holds::Nothing, &std::sync::Arc::default())?;
    for (p, (chunk, r)) in read.into_iter().zip(&pages).enumerate() {
        let page = store.view_of::<rkyv::vec::ArchivedVec<ArchivedDirEntry>>(chunk)?;
        let want = (entries - (p * PAGE_ENTRIES) as u64).min(PAGE_ENTRIES as u64);
        if page.len() as u64 != want {
            return Err(bad(r, format!("directory page {p} holds {} entries, not {want}", page.len())));
        }
        chunks.extend(page.iter().map(DirEntry::from));
    }
    for e in &mut chunks {
        match e.chunk_kind() {
            Some(ChunkKind::Root) => e.chunk = footer.root,
            Some(ChunkKind::TailCopies) => e.chunk = footer.copies.unwrap_or_else(ChunkRef::none),
            _ => {}
        }
    }
    Ok(Directory { schema: meta.schema.as_str().to_owned(), chunks, pages })
}

/// The file's schema text: the meta chunk read and verified like any chunk, and only
/// its schema string validated (the directory beside it, thousands of entries in a
/// large file of versions 1 to 3, is not needed to plan).
pub(crate) fn schema_text(store: &Store) -> Result<String> {
    let r = store.footer().meta;
    let (size, offset) = if store.footer().version < PAGED_VERSION {
        (size_of::<ArchivedMeta>(), std::mem::offset_of!(ArchivedMeta, schema))
    } else {
        (size_of::<ArchivedPagedMeta>(), std::mem::offset_of!(ArchivedPagedMeta, schema))
    };
    let chunk = store.chunk(&r, Keep::No, Holds::Nothing)?;
    let bytes = chunk.bytes();
    let root = bytes.len().checked_sub(size).ok_or_else(|| bad(&r, String::from("shorter than its root value")))?;
    let text = crate::store::validate::<rkyv::string::ArchivedString>(
        bytes,
        Some(root + offset),
        r.location(),
        store.limits().max_depth,
    )?;
    Ok(text.as_str().to_owned())
}
