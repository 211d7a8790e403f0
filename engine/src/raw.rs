//! Low-level access for tools that read strata files without their Rust types, such as
//! the `strata` command-line tool: the byte format, raw chunks, chunk tables. Typed
//! code uses views ([`crate::Archive::root`], promises, sharded vectors, maps) instead.
//!
//! Everything here checks what it reads (bounds, checksums, decompression limits,
//! table shapes) as the typed API does; it only stops short of validating values,
//! whose types it does not know.

use crate::archive::Archive;
use crate::error::Result;
use crate::format::ChunkRef;
use crate::format::table::{ChunkTable, TableEntry};
use crate::store::{Holds, Keep, View};

#[path = "format/mod.rs"]
pub mod format;

/// The bytes of any chunk of `archive`, bounds-checked, checksum-verified and
/// decompressed (within the limits of [`crate::OpenOptions`]): the archived value, its
/// root object at the end.
///
/// # Errors
/// When the chunk is out of bounds, damaged or too large to decompress.
pub fn chunk(archive: &Archive, r: &ChunkRef) -> Result<View<[u8]>> {
    let chunk = archive.store().chunk(r, Keep::Yes, Holds::Chunks)?;
    View::new(chunk, |bytes| Ok(bytes))
}

/// Leaf `s` of a chunk table (shard or bucket `s`), reading the index nodes on its path.
///
/// # Errors
/// When the table is damaged or `s` is out of range.
pub fn table_leaf(archive: &Archive, table: &ChunkTable, s: u64) -> Result<TableEntry> {
    archive.store().table_leaf(table, s)
}

/// The leaf of a vector's chunk table whose range holds element `i`: its number and
/// entry.
///
/// # Errors
/// When the table is damaged.
pub fn table_find(archive: &Archive, table: &ChunkTable, i: u64) -> Result<(u64, TableEntry)> {
    archive.store().table_find(table, i)
}

/// Every leaf entry of a chunk table, in order.
///
/// # Errors
/// When the table is damaged.
pub fn table_leaves(archive: &Archive, table: &ChunkTable) -> Result<Vec<TableEntry>> {
    archive.store().table_leaves(table)
}
