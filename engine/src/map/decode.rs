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
    let root = evolved_root(evolved, &chunk, j)?;
    evolved.entry(store, chunk, root)
}

/// Where entry `j` of the bucket `chunk` of a map read through a plan has its root.
pub(super) fn evolved_root(evolved: &Evolved, chunk: &Chunk, j: usize) -> Result<u64> {
    let r = *chunk.at();
    let span = Bucket::parse(chunk.bytes()).and_then(|b| b.entry_span(j)).map_err(|d| bad_bucket(&r, d))?;
    let root = span.end.checked_sub(usize::try_from(evolved.file_size()?).unwrap_or(usize::MAX));
    let root = root.filter(|&p| p >= span.start).ok_or_else(|| bad_bucket(&r, "entry shorter than its type"))?;
    Ok(root as u64)
}

/// The entry for `key` of a map read through a plan: the bucket `r` read as the file
/// stores it, the candidates' keys (whose layout is the reader's) compared in place,
/// and the matching entry transcoded.
pub(super) fn get_evolved<K: Persist, V: Persist, Q>(
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
    let size = usize::try_from(evolved.file_size()?).unwrap_or(usize::MAX);
    let bucket = Bucket::parse(chunk.bytes()).map_err(|d| bad_bucket(r, d))?;
    for j in bucket.find(hash) {
        let span = bucket.entry_span(j).map_err(|d| bad_bucket(r, d))?;
        let entry = chunk.bytes().get(span.clone()).ok_or_else(|| bad_bucket(r, "entry outside the bucket"))?;
        let root = entry.len().checked_sub(size).ok_or_else(|| bad_bucket(r, "entry shorter than its type"))?;
        // The key starts the entry, in the reader's layout (keys do not change).
        let found = validate::<Archived<K>>(entry, Some(root), r.location(), max_depth)?;
        if *found == *key {
            let made = evolved.entry(store, Arc::clone(&chunk), (span.start + root) as u64)?;
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
pub(super) fn decode_bucket<K: Persist, V: Persist>(
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
            let positions = (0..bucket.len()).map(|j| evolved_root(evolved, chunk, j));
            evolved.each_entry(store, Arc::clone(chunk), positions, push)
        }
        Some(evolved) => {
            (0..bucket.len()).try_for_each(|j| push(evolved_entry(store, evolved, Arc::clone(chunk), j)?.bytes()))
        }
    }
}
