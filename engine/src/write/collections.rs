//! Writing sharded vectors, bucketed maps, and the chunk tables that list their shards
//! and buckets.

use super::serializer::SliceRoot;
use super::{Encoded, SaveCtx};
use crate::Persist;
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::format::meta::{ChunkKind, NO_PARENT};
use crate::format::table::{self, ChunkTable, Node, TableEntry};
use crate::hash::StableHash;
use crate::kept::Kept;
use crate::kept_buckets::KeptBuckets;
use rayon::prelude::*;

/// How many chunks of about `chunk_bytes` to encode in parallel before writing them:
/// at least two per thread (every core busy) and about 4 MiB (few writes, and a bound
/// on the memory held between encoding and writing).
pub(super) fn window(chunk_bytes: u64) -> usize {
    let by_size = usize::try_from((4u64 << 20) / chunk_bytes.max(1)).unwrap_or(1);
    by_size.max(rayon::current_num_threads().max(1) * 2)
}

/// `items` in groups of `size` (the last may be shorter), taken as they are asked for,
/// up to the first error, which is left in `failed`.
pub(super) fn groups<'f, X>(
    items: impl Iterator<Item = Result<X>> + 'f,
    size: usize,
    failed: &'f mut Option<Error>,
) -> impl Iterator<Item = Vec<X>> + 'f {
    let mut items = items.peekable();
    std::iter::from_fn(move || {
        let mut group = Vec::with_capacity(size);
        while group.len() < size {
            match items.next()? {
                Ok(x) => group.push(x),
                Err(e) => {
                    *failed = Some(e);
                    return None;
                }
            }
            if items.peek().is_none() {
                break;
            }
        }
        Some(group)
    })
}

/// Where to cut `items` into shards of about `target` serialized bytes, with each
/// shard's estimated size (what its buffer is sized for). Depends only on the values
/// (never on the thread count), so files stay deterministic.
fn shard_bounds<T: Persist + Send + Sync>(items: &[T], target: u64) -> Vec<(std::ops::Range<usize>, usize)> {
    let target = usize::try_from(target.max(1)).unwrap_or(usize::MAX);
    let elem = size_of::<T::Archived>().max(1);
    let mut out = Vec::new();
    if crate::persist::is_flat::<T>() {
        let per = (target / elem).max(1);
        let mut start = 0;
        while start < items.len() {
            let end = start.saturating_add(per).min(items.len());
            out.push((start..end, (end - start).saturating_mul(elem)));
            start = end;
        }
        return out;
    }
    let sizes: Vec<usize> =
        crate::threads::par(|| items.par_iter().map(|v| elem.saturating_add(v.__out_of_line())).collect());
    let (mut start, mut acc) = (0, 0usize);
    for (i, size) in sizes.into_iter().enumerate() {
        acc = acc.saturating_add(size);
        if acc >= target {
            out.push((start..i + 1, acc));
            start = i + 1;
            acc = 0;
        }
    }
    if start < items.len() {
        out.push((start..items.len(), acc));
    }
    out
}

impl SaveCtx<'_> {
    /// Writes `items` as shards, in parallel windows when the elements are leaves, and
    /// their table; `vector` is the vector's directory entry.
    pub(crate) fn write_sharded<T: Persist + Send + Sync>(
        &self,
        items: &[T],
        shard_bytes: u64,
        codec: Option<Codec>,
        vector: u32,
    ) -> Result<ChunkTable> {
        let shard_bytes = self.shard_bytes(shard_bytes, codec);
        let shards = shard_bounds(items, shard_bytes)
            .into_iter()
            .map(|(r, bytes)| Ok((r.start as u64, items.get(r).unwrap_or_default(), bytes)));
        self.write_shards(shards, shard_bytes, codec, vector)
    }

    /// Writes shards (each its first element's index, its elements and their estimated
    /// size), in parallel windows when the elements are leaves, and their table. The
    /// shards are taken from `shards` a window at a time: a streamed vector is never
    /// held whole.
    pub(crate) fn write_shards<T: Persist + Send + Sync, S: AsRef<[T]> + Send + Sync>(
        &self,
        shards: impl Iterator<Item = Result<(u64, S, usize)>>,
        shard_bytes: u64,
        codec: Option<Codec>,
        vector: u32,
    ) -> Result<ChunkTable> {
        let codec = self.codec(codec);
        let mut entries = Vec::new();
        if crate::persist::is_leaf::<T>() {
            let window = window(shard_bytes);
            let mut failed = None;
            let mut first = 0u64;
            let windows = groups(shards, window, &mut failed).map(|group| {
                let ids: Vec<u32> =
                    (0..group.len()).map(|j| self.alloc(vector, ChunkKind::Shard, first + j as u64, "")).collect();
                first += group.len() as u64;
                (group, ids)
            });
            self.write_windows(
                windows,
                |(group, _)| {
                    group
                        .par_iter()
                        .map(|(_, items, bytes)| {
                            let raw = self.serialize_root(&SliceRoot(items.as_ref()), None, NO_PARENT, bytes + 64)?;
                            Self::encode(raw, codec)
                        })
                        .collect()
                },
                |(group, ids), refs| {
                    for (((start, _, _), c), id) in group.iter().zip(refs).zip(ids) {
                        entries.push(TableEntry::new(*start, self.set(id, c)));
                    }
                },
            )?;
            if let Some(e) = failed {
                return Err(e);
            }
        } else {
            for (s, shard) in shards.enumerate() {
                let (start, items, bytes) = shard?;
                let id = self.alloc(vector, ChunkKind::Shard, s as u64, "");
                let raw = self.serialize_root(&SliceRoot(items.as_ref()), Some(self), id, bytes + 64)?;
                entries.push(TableEntry::new(start, self.set(id, self.write_raw(&raw, codec)?)));
            }
        }
        self.write_table(entries, vector)
    }

    /// Writes a sharded vector left in its archive ([`Kept`]): its changed shards and
    /// pushed elements are written; each unchanged shard is referred to where it is
    /// when this save appends to the file the vector was read from and its elements
    /// hold no chunks of their own, and read and written again otherwise. `vector` is
    /// the vector's directory entry.
    pub(crate) fn write_kept<T: Persist + Send + Sync>(
        &self,
        kept: &Kept<T>,
        shard_bytes: u64,
        codec: Option<Codec>,
        vector: u32,
    ) -> Result<ChunkTable> {
        let shard_bytes = self.shard_bytes(shard_bytes, codec);
        let codec = self.codec(codec);
        let crate::kept::Parts { store, leaves, dirty, tail } = kept.parts()?;
        let file = store.file_id();
        let leaf = crate::persist::is_leaf::<T>();
        let write = |items: &[T], id: u32| -> Result<crate::format::ChunkRef> {
            let raw = self.serialize_root(&SliceRoot(items), Some(self), id, 0)?;
            self.write_raw(&raw, codec)
        };
        let keep = leaf.then_some(file);
        let mut entries =
            self.kept_leaves(&leaves, (vector, ChunkKind::Shard), dirty, keep, write, |s| kept.clean_shard(s))?;
        let base = kept.len() - tail.len() as u64;
        for (range, _) in shard_bounds(tail, shard_bytes) {
            let id = self.alloc(vector, ChunkKind::Shard, entries.len() as u64, "");
            let start = base + range.start as u64;
            let items = tail
                .get(range)
                .ok_or_else(|| Error::Serialize(String::from("internal: a shard outside the pushed elements")))?;
            let r = write(items, id)?;
            entries.push(TableEntry::new(start, self.set(id, r)));
        }
        self.write_table(entries, vector)
    }

    /// Writes a bucketed map left in its archive ([`KeptBuckets`]), bucket by bucket with
    /// its bucket count: changed buckets are built from their entries; each unchanged
    /// bucket is referred to where it is when this save appends to the file the map
    /// was read from and its entries hold no chunks of their own, and read and written
    /// again otherwise. `map` is the map's directory entry.
    pub(crate) fn write_kept_map<K: Persist + Send + Sync + StableHash, V: Persist + Send + Sync>(
        &self,
        kept: &dyn KeptBuckets<K, V>,
        codec: Option<Codec>,
        map: u32,
    ) -> Result<ChunkTable> {
        let codec = self.codec(codec);
        let (leaves, dirty, file) = (kept.stored()?, kept.dirty(), kept.file_id());
        let leaf = crate::persist::is_leaf::<K>() && crate::persist::is_leaf::<V>();
        let write = |entries: &[(K, V)], id: u32| -> Result<crate::format::ChunkRef> {
            let refs: Vec<(&K, &V)> = entries.iter().map(|(k, v)| (k, v)).collect();
            let mut hashed: Vec<(u64, usize)> =
                refs.iter().enumerate().map(|(i, (k, _))| (crate::hash::stable_hash(*k), i)).collect();
            hashed.sort_unstable();
            let bytes = self.build_bucket(&hashed, &refs, Some(self), id)?;
            self.write_raw(&bytes, codec)
        };
        let keep = leaf.then_some(file);
        let table =
            self.kept_leaves(&leaves, (map, ChunkKind::Bucket), dirty, keep, write, |b| kept.clean_bucket(b))?;
        self.write_table(table, map)
    }

    /// The leaves of a table left in its archive (`old`), as the new version lists
    /// them: leaf `i` changed (`dirty`) is written; unchanged, it is referred to where it
    /// is when `keep` names the file this save appends to (`Some(file)`: its contents
    /// hold no chunks of their own), and read (`clean`) and written again otherwise.
    /// Each gets a directory entry of `kind` under `owner`.
    fn kept_leaves<I>(
        &self,
        old: &[TableEntry],
        (owner, kind): (u32, ChunkKind),
        dirty: &std::collections::BTreeMap<u64, Vec<I>>,
        keep: Option<Option<(u64, u64)>>,
        write: impl Fn(&[I], u32) -> Result<crate::format::ChunkRef>,
        clean: impl Fn(u64) -> Result<Vec<I>>,
    ) -> Result<Vec<TableEntry>> {
        let mut out = Vec::with_capacity(old.len());
        for (i, leaf) in old.iter().enumerate() {
            let i = i as u64;
            let id = self.alloc(owner, kind, i, "");
            let r = match (dirty.get(&i), keep) {
                (Some(items), _) => write(items, id)?,
                (None, Some(file)) if self.keep_old(file, leaf.chunk()) => *leaf.chunk(),
                (None, _) => write(&clean(i)?, id)?,
            };
            out.push(TableEntry::new(leaf.first(), self.set(id, r)));
        }
        Ok(out)
    }

    /// Writes the index nodes of a chunk table over `leaves` (see
    /// [`table::build`]). The root node is the chunk of directory entry `owner` (the
    /// vector or map); the others get entries of their own.
    pub(super) fn write_table(&self, leaves: Vec<TableEntry>, owner: u32) -> Result<ChunkTable> {
        table::build(leaves, |level, first, nodes, top| {
            let encoded: Vec<Encoded> = nodes
                .iter()
                .map(|entries| {
                    Node::encode(entries)
                        .map(Encoded::plain)
                        .ok_or_else(|| Error::Serialize(String::from("index node too large")))
                })
                .collect::<Result<_>>()?;
            let refs = self.place_all(&encoded)?;
            if let (true, Some(node), Some(e)) = (top, refs.first(), encoded.first()) {
                self.offer_top(owner, *node, e.stored_bytes());
            }
            Ok(refs
                .into_iter()
                .enumerate()
                .map(|(j, node)| {
                    let id = if top {
                        owner
                    } else {
                        self.alloc(owner, ChunkKind::IndexNode, (u64::from(level) << 48) | (first + j as u64), "")
                    };
                    self.set(id, node)
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sink::MemorySink;

    /// Index nodes written by hand are what rkyv archives a `Vec<TableEntry>` to.
    #[test]
    fn an_index_node_is_the_archived_vector() -> Result<()> {
        let sink = MemorySink::new();
        let ctx = SaveCtx::new(&sink, Codec::None, crate::deep::DEFAULT_MAX_DEPTH, 0);
        for n in [0usize, 1, 2, 511, 512] {
            let entries: Vec<TableEntry> = (0..n as u64)
                .map(|i| {
                    let r = crate::format::ChunkRef::new(i * 16, i + 1, i + 1, i * 31, crate::format::Encoding::None);
                    TableEntry::new(i * 1000, r)
                })
                .collect();
            let by_rkyv = ctx.serialize_root(&SliceRoot(&entries), None, NO_PARENT, 0)?;
            let by_hand = Node::encode(&entries).ok_or(Error::Detached)?;
            assert_eq!(by_hand.as_slice(), by_rkyv.as_slice(), "{n} entries");
        }
        Ok(())
    }
}
