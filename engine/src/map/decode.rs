//! Reading a map's entries out of its buckets beyond a lookup in place: full loads,
//! bucket by bucket, and the entries of a map read through a plan (schema evolution).

use super::{ArchivedEntry, Entry, bad_bucket};
use crate::error::{Error, Result};
use crate::evolve::Evolved;
use crate::format::ChunkRef;
use crate::format::bucket::Bucket;
use crate::store::chunk::Chunk;
use crate::store::{Holds, Keep, Store, validate};
use crate::{Persist, persist};
use rkyv::Archived;
use std::sync::Arc;

/// Entry `j` of the bucket `chunk` of a map read through a plan, transcoded into a
/// chunk of its own.
pub(super) fn evolved_entry(store: &Store, evolved: &Evolved, chunk: Arc<Chunk>, j: usize) -> Result<Arc<Chunk>> {
    let r = *chunk.at();
    let bucket = Bucket::parse(chunk.bytes()).map_err(|d| bad_bucket(&r, d))?;
    let root = entry_root(&bucket, j, file_size(evolved)?, &r)?;
    evolved.entry(store, chunk, root as u64)
}

/// The size of one entry in the file's layout, for a map read through a plan.
fn file_size(evolved: &Evolved) -> Result<usize> {
    Ok(usize::try_from(evolved.file_size()?).unwrap_or(usize::MAX))
}

/// Where the root object of entry `j` (of `size` bytes in the file's layout) lies in
/// the bucket's chunk `r`: it ends the entry.
fn entry_root(bucket: &Bucket<'_>, j: usize, size: usize, r: &ChunkRef) -> Result<usize> {
    let span = bucket.entry_span(j).map_err(|d| bad_bucket(r, d))?;
    span.end.checked_sub(size).filter(|&p| p >= span.start).ok_or_else(|| bad_bucket(r, "entry shorter than its type"))
}

/// The entry for `key` of a map read through a plan: the bucket `r` read as the file
/// stores it, the candidates' keys (whose layout is the reader's) compared in place,
/// and the matching entry transcoded.
pub(super) fn get_evolved<K: Persist + Send + Sync, V: Persist + Send + Sync, Q>(
    store: &Store,
    evolved: &Evolved,
    r: &ChunkRef,
    hash: u64,
    key: &Q,
    max_depth: u32,
) -> Result<Option<Entry<K, V>>>
where
    Q: ?Sized,
    Archived<K>: PartialEq<Q> + 'static,
    ArchivedEntry<Archived<K>, Archived<V>>: for<'a> bytecheck::CheckBytes<crate::Validator<'a>>,
{
    let chunk = store.chunk(r, Keep::Yes, Holds::Nothing)?;
    let size = file_size(evolved)?;
    let bucket = Bucket::parse(chunk.bytes()).map_err(|d| bad_bucket(r, d))?;
    for j in bucket.find(hash) {
        let root = entry_root(&bucket, j, size, r)?;
        let span = bucket.entry_span(j).map_err(|d| bad_bucket(r, d))?;
        let entry = chunk.bytes().get(span.start..span.end).ok_or_else(|| bad_bucket(r, "entry outside the bucket"))?;
        // The key starts the entry's root object, in the reader's layout (keys do not
        // change); validated within the entry.
        let found = validate::<Archived<K>>(entry, Some(root - span.start), r.location(), max_depth)?;
        if *found == *key {
            let made = evolved.entry(store, Arc::clone(&chunk), root as u64)?;
            return store.view_of::<ArchivedEntry<Archived<K>, Archived<V>>>(made).map(|v| Some(Entry::new(v)));
        }
    }
    Ok(None)
}

/// Entries per batch of a map's full load (see [`BucketMap::load_as`]).
pub(super) const LOAD_BATCH_ENTRIES: u64 = 4096;

/// Consecutive runs of `items` holding at least `entries` entries each (by `count`),
/// the last run possibly fewer; an item is never split.
pub(super) fn batches<'s, X>(
    items: &'s [X],
    count: impl Fn(&X) -> u64 + 's,
    entries: u64,
) -> impl Iterator<Item = &'s [X]> + 's {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut n = 0u64;
        let cut = rest
            .iter()
            .position(|x| {
                n = n.saturating_add(count(x));
                n >= entries
            })
            .map_or(rest.len(), |i| i + 1);
        let (head, tail) = rest.split_at(cut);
        rest = tail;
        Some(head)
    })
}

/// Validates and deserializes every entry of one bucket into `out` (emptied first),
/// each transcoded first when the map is read through a plan.
pub(super) fn decode_bucket<K: Persist + Send + Sync, V: Persist + Send + Sync>(
    out: &mut Vec<(K, V)>,
    chunk: &Arc<Chunk>,
    store: &Store,
    evolved: Option<&Evolved>,
) -> Result<()>
where
    ArchivedEntry<Archived<K>, Archived<V>>: for<'v> bytecheck::CheckBytes<crate::Validator<'v>>,
{
    let r = chunk.at();
    let bucket = Bucket::parse(chunk.bytes()).map_err(|d| bad_bucket(r, d))?;
    out.clear();
    out.reserve(bucket.len());
    let mut pool = rkyv::de::Pool::new();
    let max_depth = crate::deep::limit();
    let mut push = |bytes: &[u8]| -> Result<()> {
        let entry = validate::<ArchivedEntry<Archived<K>, Archived<V>>>(bytes, None, r.location(), max_depth)?;
        let k = rkyv::api::deserialize_using::<K, _, Error>(&entry.key, &mut pool)?;
        let v = rkyv::api::deserialize_using::<V, _, Error>(&entry.value, &mut pool)?;
        out.push((k, v));
        Ok(())
    };
    match evolved {
        None => (0..bucket.len()).try_for_each(|j| push(bucket.entry(j).map_err(|d| bad_bucket(r, d))?)),
        // Entries whose types hold no chunk are transcoded into reused buffers; others
        // become chunks of the archive, which their lazy fields find it through.
        Some(evolved) if persist::is_leaf::<K>() && persist::is_leaf::<V>() => {
            let size = file_size(evolved)?;
            let spans = (0..bucket.len()).map(|j| {
                let start = bucket.entry_span(j).map_err(|d| bad_bucket(r, d))?.start;
                entry_root(&bucket, j, size, r).map(|p| (start as u64, p as u64))
            });
            evolved.each_entry(store, Arc::clone(chunk), spans, push)
        }
        Some(evolved) => {
            (0..bucket.len()).try_for_each(|j| push(evolved_entry(store, evolved, Arc::clone(chunk), j)?.bytes()))
        }
    }
}
