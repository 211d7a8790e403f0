//! What a save needs from a bucketed map left in the archive it was loaded from
//! ([`crate::Mapped`]): a trait, so that the writer does not depend on the map's reading
//! code.

use crate::error::Result;
use crate::format::table::TableEntry;
use std::collections::BTreeMap;

/// A map left in its archive, as a save reads it. Not part of the public API.
#[doc(hidden)]
pub trait KeptBuckets<K, V> {
    /// Entries in all.
    fn entries(&self) -> u64;
    /// The identity of the file the map was read from.
    fn file_id(&self) -> Option<(u64, u64)>;
    /// The stored buckets' chunks, by bucket number.
    ///
    /// # Errors
    /// Reading the map's table.
    fn stored(&self) -> Result<Vec<TableEntry>>;
    /// The changed buckets' entries, by bucket number.
    fn dirty(&self) -> &BTreeMap<u64, Vec<(K, V)>>;
    /// The entries of unchanged bucket `b`, owned (for a save to another file).
    ///
    /// # Errors
    /// Reading the bucket.
    fn clean_bucket(&self, b: u64) -> Result<Vec<(K, V)>>;
}
