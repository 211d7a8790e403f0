//! Writing a map's entries as buckets (see [`crate::format::bucket`]).
//!
//! Each entry is an rkyv archive of its own, `{ key, value }`, starting at a multiple
//! of the map's [`entry_align`]. Entries are ordered by (stable hash, archived bytes),
//! so that a file does not depend on the map's iteration order.
//!
//! A map whose entries hold no chunks of their own is archived in the order the map
//! gives its entries: runs of [`ENTRIES_PER_ARENA`] entries, each into one buffer, in
//! parallel. The archived entries are then sorted and copied into their buckets. The
//! map's memory is read front to back, not in hash order: a key, its value and the
//! strings and vectors they point to lie wherever the allocator put them, and walking
//! them in hash order waits on a cache miss at each step. A pass holds about
//! [`PASS_BYTES`] (the archived entries and [`PASS_ENTRY_BYTES`] for each); a larger
//! map is archived in passes, each over a range of buckets, with its keys hashed up
//! front (8 bytes an entry, held through the passes).
//!
//! A map whose entries hold chunks (lazy fields, sharded vectors, maps) is archived
//! bucket by bucket in hash order on one thread, as its chunks are written when they
//! are met.

use super::SaveCtx;
use super::collections::window;
use super::serializer::{ChunkBuf, SaveSerializer, unpanicked};
use crate::Persist;
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::format::bucket::MAX_ENTRY_ALIGN;
use crate::format::meta::{ChunkKind, NO_PARENT};
use crate::format::table::{ChunkTable, TableEntry};
use crate::hash::StableHash;
use crate::map::{ArchivedEntry, BUCKET_BYTES, EntryRef, bucket_of};
use rayon::prelude::*;
use rkyv::ser::Serializer;
use rkyv::ser::sharing::Share;
use rkyv::util::AlignedVec;
use std::ops::Range;

/// How many entries one task archives into one buffer.
const ENTRIES_PER_ARENA: usize = 1024;

/// About how many bytes a pass holds: the archived entries (by their estimated sizes)
/// and [`PASS_ENTRY_BYTES`] for each.
const PASS_BYTES: usize = 32 << 20;

/// What a pass holds for each entry beside its bytes: its hash and place in its buffer,
/// then its hash and bytes to sort.
const PASS_ENTRY_BYTES: usize = 40;

/// Each archived entry's key hash and place (start, end) in its buffer.
type Places = Vec<(u64, u32, u32)>;

/// Archived entries in one buffer, and their places in it.
type Arena = (AlignedVec<16>, Places);

/// A map's entries in the order its iterator gave them and, unless they are archived in
/// one pass, each key's stable hash.
struct MapEntries<'e, K, V> {
    entries: &'e [(&'e K, &'e V)],
    /// Empty, or one per entry.
    hashes: Vec<u64>,
    buckets: u64,
}

/// The estimated archived size of an entry (what buffers are sized for, and what the
/// bucket count is computed from; it must not change, or the files would).
fn entry_size<K: Persist, V: Persist>(k: &K, v: &V) -> usize {
    let fixed = size_of::<ArchivedEntry<K::Archived, V::Archived>>() + 12;
    fixed.saturating_add(k.__out_of_line()).saturating_add(v.__out_of_line())
}

impl SaveCtx<'_> {
    /// Writes `entries` as buckets, then their table. `map` is the map's directory
    /// entry. See the [module docs](self).
    pub(crate) fn write_buckets<K: Persist + Send + Sync + StableHash, V: Persist + Send + Sync>(
        &self,
        entries: &[(&K, &V)],
        codec: Option<Codec>,
        map: u32,
    ) -> Result<ChunkTable> {
        let codec = self.codec(codec);
        let estimate = crate::threads::par(|| {
            entries.par_iter().map(|(k, v)| entry_size(*k, *v)).reduce(|| 0, usize::saturating_add)
        });
        let buckets = (estimate.div_ceil(BUCKET_BYTES) as u64).max(1);
        let leaf = crate::persist::is_leaf::<K>() && crate::persist::is_leaf::<V>();
        let held = estimate.saturating_add(entries.len().saturating_mul(PASS_ENTRY_BYTES));
        let passes = if leaf { (held.div_ceil(PASS_BYTES) as u64).clamp(1, buckets) } else { 1 };
        // Hashed up front unless one pass archives every entry: it hashes each key as it
        // archives it, reading the key once.
        let hashes = if leaf && passes == 1 {
            Vec::new()
        } else {
            crate::threads::par(|| entries.par_iter().map(|(k, _)| crate::hash::stable_hash(*k)).collect())
        };
        let map_of = MapEntries { entries, hashes, buckets };
        let table = if leaf {
            self.leaf_buckets(&map_of, passes, codec, map)?
        } else {
            self.owning_buckets(&map_of, codec, map)?
        };
        self.write_table(table, map)
    }

    /// The buckets of a map of leaves, archived in `passes` passes over ranges of
    /// buckets, each pass's buckets encoded in parallel windows.
    fn leaf_buckets<K: Persist + Send + Sync + StableHash, V: Persist + Send + Sync>(
        &self,
        map_of: &MapEntries<'_, K, V>,
        passes: u64,
        codec: Codec,
        map: u32,
    ) -> Result<Vec<TableEntry>> {
        let align = entry_align::<K, V>();
        let buckets = map_of.buckets;
        let passes = passes.clamp(1, buckets);
        let mut table = Vec::with_capacity(usize::try_from(buckets).unwrap_or(0));
        let window = window(BUCKET_BYTES as u64);
        for p in 0..passes {
            let edge =
                |p: u64| u64::try_from(u128::from(p) * u128::from(buckets) / u128::from(passes)).unwrap_or(buckets);
            let range = edge(p)..edge(p + 1);
            let (buffers, lists): (Vec<AlignedVec<16>>, Vec<Places>) =
                self.archive_entries(map_of, &range, align)?.into_iter().unzip();
            let mut sorted: Vec<(u64, &[u8])> = Vec::with_capacity(lists.iter().map(Vec::len).sum());
            for (bytes, placed) in buffers.iter().zip(lists) {
                for (hash, start, end) in placed {
                    let entry = bytes
                        .get(start as usize..end as usize)
                        .ok_or_else(|| Error::Serialize(String::from("internal: an entry outside its buffer")))?;
                    sorted.push((hash, entry));
                }
            }
            crate::threads::par(|| sorted.par_sort_unstable());
            let runs = runs(&sorted, range.clone(), buckets);
            let windows = runs.chunks(window).enumerate().map(|(g, group)| {
                let first = range.start + (g * window) as u64;
                let ids: Vec<u32> =
                    (0..group.len()).map(|j| self.alloc(map, ChunkKind::Bucket, first + j as u64, "")).collect();
                (group, first, ids)
            });
            self.write_windows(
                windows,
                |(group, _, _)| {
                    group
                        .par_iter()
                        .map(|run| {
                            Self::encode(bucket_bytes(sorted.get(run.clone()).unwrap_or_default(), align)?, codec)
                        })
                        .collect()
                },
                |(_, first, ids), refs| {
                    for ((j, c), id) in refs.into_iter().enumerate().zip(ids) {
                        table.push(TableEntry::new(first + j as u64, self.set(id, c)));
                    }
                },
            )?;
        }
        Ok(table)
    }

    /// The entries whose buckets are in `range`, archived in the map's order: per run
    /// of [`ENTRIES_PER_ARENA`] entries, a buffer and each entry's hash and place in it.
    /// Without hashes in `map_of`, every entry is archived and its key hashed here.
    fn archive_entries<K: Persist + Send + Sync + StableHash, V: Persist + Send + Sync>(
        &self,
        map_of: &MapEntries<'_, K, V>,
        range: &Range<u64>,
        align: usize,
    ) -> Result<Vec<Arena>> {
        let MapEntries { entries, hashes, buckets } = map_of;
        let wanted = |h: &u64| range.contains(&bucket_of(*h, *buckets));
        let missing = || Error::Serialize(String::from("internal: a map entry without its hash"));
        let too_large = || Error::Serialize(String::from("1,024 map entries archived to more than 4 GiB"));
        crate::threads::par(|| {
            entries
                .par_chunks(ENTRIES_PER_ARENA)
                .enumerate()
                .map(|(c, entries)| {
                    let at = c * ENTRIES_PER_ARENA;
                    let hashes = if hashes.is_empty() {
                        None
                    } else {
                        Some(hashes.get(at..at + entries.len()).ok_or_else(missing)?)
                    };
                    let capacity = entries
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| hashes.is_none_or(|h| h.get(*i).is_some_and(wanted)))
                        .fold(0usize, |n, (_, (k, v))| n.saturating_add(entry_size(*k, *v)).saturating_add(align));
                    crate::deep::with_limit(self.max_depth(), || {
                        unpanicked::<(K, V), _>(|| {
                            rkyv::util::with_arena(|arena| {
                                let bytes = AlignedVec::<16>::with_capacity(capacity);
                                let mut ser = Serializer::new(
                                    ChunkBuf::new(bytes, None, NO_PARENT),
                                    arena.acquire(),
                                    Share::new(),
                                );
                                let mut placed = Vec::with_capacity(entries.len());
                                for (i, (k, v)) in entries.iter().enumerate() {
                                    let hash = match hashes {
                                        None => crate::hash::stable_hash(*k),
                                        Some(h) => match h.get(i) {
                                            Some(h) if wanted(h) => *h,
                                            Some(_) => continue,
                                            None => return Err(missing()),
                                        },
                                    };
                                    let Range { start, end } = archive_entry(&mut ser, *k, *v, align)?;
                                    let place = u32::try_from(start).and_then(|s| Ok((s, u32::try_from(end)?)));
                                    let (start, end) = place.map_err(|_| too_large())?;
                                    placed.push((hash, start, end));
                                }
                                Ok((ser.into_writer().bytes, placed))
                            })
                        })
                    })
                })
                .collect()
        })
    }

    /// The buckets of a map whose entries hold chunks, each archived in place in hash
    /// order on this thread.
    fn owning_buckets<K: Persist + Send + Sync, V: Persist + Send + Sync>(
        &self,
        map_of: &MapEntries<'_, K, V>,
        codec: Codec,
        map: u32,
    ) -> Result<Vec<TableEntry>> {
        let mut hashed: Vec<(u64, usize)> = map_of.hashes.iter().enumerate().map(|(i, h)| (*h, i)).collect();
        crate::threads::par(|| hashed.par_sort_unstable());
        let runs = runs(&hashed, 0..map_of.buckets, map_of.buckets);
        let mut table = Vec::with_capacity(runs.len());
        for (b, run) in runs.into_iter().enumerate() {
            let id = self.alloc(map, ChunkKind::Bucket, b as u64, "");
            let bytes = self.build_bucket(hashed.get(run).unwrap_or_default(), map_of.entries, Some(self), id)?;
            table.push(TableEntry::new(b as u64, self.set(id, self.write_raw(&bytes, codec)?)));
        }
        Ok(table)
    }

    /// One bucket's bytes: the header, then every entry serialized straight into the
    /// same buffer, each starting at a multiple of [`entry_align`] and ending with its
    /// own root. `items` are (hash, index into `entries`), sorted by hash; `ctx` writes
    /// the entries' chunks, as children of directory entry `id`.
    pub(super) fn build_bucket<K: Persist + Send + Sync, V: Persist + Send + Sync>(
        &self,
        items: &[(u64, usize)],
        entries: &[(&K, &V)],
        ctx: Option<&SaveCtx<'_>>,
        id: u32,
    ) -> Result<AlignedVec<16>> {
        let order = if items.windows(2).any(|w| w.first().map(|a| a.0) == w.get(1).map(|b| b.0)) {
            // Equal hashes (collisions): order those entries by their archived bytes, so
            // that the file does not depend on the map's iteration order. Rare.
            let mut keyed: Vec<(u64, AlignedVec<16>, usize)> = Vec::with_capacity(items.len());
            for &(hash, i) in items {
                let Some((k, v)) = entries.get(i) else { continue };
                keyed.push((hash, self.serialize_root(&EntryRef(*k, *v), None, NO_PARENT, 0)?, i));
            }
            keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.as_slice().cmp(b.1.as_slice())));
            keyed.into_iter().map(|(h, _, i)| (h, i)).collect()
        } else {
            items.to_vec()
        };
        let bad = |e: &str| Error::Serialize(e.to_owned());
        let header = crate::format::bucket::header_len(order.len()).ok_or_else(|| bad("bucket too large"))?;
        let align = entry_align::<K, V>();
        // Sized for the entries (each at most `align` bytes from the previous one's end),
        // so that it does not grow (and copy itself) entry by entry.
        let capacity = order.iter().fold(header, |n, &(_, i)| {
            entries.get(i).map_or(n, |(k, v)| n.saturating_add(entry_size(*k, *v)).saturating_add(align))
        });
        let mut bytes = AlignedVec::<16>::with_capacity(capacity);
        bytes.resize(header, 0);
        let (mut bytes, ends) = crate::deep::with_limit(self.max_depth(), || {
            unpanicked::<(K, V), _>(|| {
                rkyv::util::with_arena(|arena| -> Result<(AlignedVec<16>, Vec<u32>)> {
                    let mut ser = Serializer::new(ChunkBuf::new(bytes, ctx, id), arena.acquire(), Share::new());
                    let mut ends = Vec::with_capacity(order.len());
                    for &(_, i) in &order {
                        let Some((k, v)) = entries.get(i) else { continue };
                        let end = archive_entry(&mut ser, *k, *v, align)?.end - header;
                        ends.push(u32::try_from(end).map_err(|_| bad("bucket larger than 4 GiB"))?);
                    }
                    Ok((ser.into_writer().bytes, ends))
                })
            })
        })?;
        let hashes: Vec<u64> = order.iter().map(|&(h, _)| h).collect();
        crate::format::bucket::write_header(bytes.get_mut(..header).unwrap_or_default(), &hashes, &ends, align)
            .map_err(bad)?;
        Ok(bytes)
    }
}

/// Archives one entry as an archive of its own at the next multiple of `align` in
/// `ser`'s buffer; returns where it starts and ends there.
fn archive_entry<K: Persist, V: Persist>(
    ser: &mut SaveSerializer<'_>,
    k: &K,
    v: &V,
    align: usize,
) -> Result<Range<usize>> {
    let start = ser.writer.bytes.len().next_multiple_of(align);
    ser.writer.bytes.resize(start, 0);
    // Nothing may point into another entry.
    ser.sharing = Share::new();
    rkyv::api::serialize_using::<_, Error>(&EntryRef(k, v), ser)?;
    Ok(start..ser.writer.bytes.len())
}

/// The contiguous runs of `sorted` (sorted by hash) that fall in each bucket of
/// `range`, out of `buckets`: a bucket is a range of hashes ([`bucket_of`] is
/// monotonic), so each bucket's entries follow each other.
fn runs<X>(sorted: &[(u64, X)], range: Range<u64>, buckets: u64) -> Vec<Range<usize>> {
    let mut runs = Vec::with_capacity(usize::try_from(range.end - range.start).unwrap_or(0));
    let mut at = 0;
    for b in range {
        let start = at;
        while sorted.get(at).is_some_and(|(h, _)| bucket_of(*h, buckets) == b) {
            at += 1;
        }
        runs.push(start..at);
    }
    runs
}

/// A bucket's bytes from its entries' archived bytes, in order: the header, then each
/// entry at a multiple of `align`, the map's [`entry_align`]. An entry archived on its
/// own at offset 0 has there the bytes it has at such a place, as nothing in it is
/// aligned to more than `align`.
pub(super) fn bucket_bytes<E: AsRef<[u8]>>(entries: &[(u64, E)], align: usize) -> Result<AlignedVec<16>> {
    let bad = |e: &str| Error::Serialize(e.to_owned());
    let header = crate::format::bucket::header_len(entries.len()).ok_or_else(|| bad("bucket too large"))?;
    let size = entries.iter().fold(header, |n, (_, e)| n.next_multiple_of(align).saturating_add(e.as_ref().len()));
    let mut bytes = AlignedVec::<16>::with_capacity(size);
    bytes.resize(header, 0);
    let mut ends = Vec::with_capacity(entries.len());
    for (_, e) in entries {
        let start = bytes.len().next_multiple_of(align);
        bytes.resize(start, 0);
        bytes.extend_from_slice(e.as_ref());
        ends.push(u32::try_from(bytes.len() - header).map_err(|_| bad("bucket larger than 4 GiB"))?);
    }
    let hashes: Vec<u64> = entries.iter().map(|(h, _)| *h).collect();
    crate::format::bucket::write_header(bytes.get_mut(..header).unwrap_or_default(), &hashes, &ends, align)
        .map_err(bad)?;
    Ok(bytes)
}

/// The alignment of the entries of a map of `K` to `V` in a compact bucket: the
/// largest alignment of any byte an entry holds, so that an entry archived on its own
/// (a streamed save's) has the same bytes wherever it is placed.
pub(super) fn entry_align<K: Persist, V: Persist>() -> usize {
    let entry = align_of::<ArchivedEntry<K::Archived, V::Archived>>() as u64;
    let most = crate::schema::schema_of::<K>().max_align.max(crate::schema::schema_of::<V>().max_align).max(entry);
    let most = usize::try_from(most.clamp(1, MAX_ENTRY_ALIGN as u64)).unwrap_or(MAX_ENTRY_ALIGN);
    most.next_power_of_two().min(MAX_ENTRY_ALIGN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sink::MemorySink;

    /// The bytes a leaf map's buckets are written as, archived in `passes` passes
    /// (hashing up front when `hashed`), and the table's entries.
    fn written(entries: &[(&String, &Vec<u32>)], passes: u64, hashed: bool) -> Result<(Vec<u8>, Vec<TableEntry>)> {
        let sink = MemorySink::new();
        let ctx = SaveCtx::new(&sink, Codec::None, crate::deep::DEFAULT_MAX_DEPTH, 0);
        let hashes =
            if hashed { entries.iter().map(|(k, _)| crate::hash::stable_hash(*k)).collect() } else { Vec::new() };
        let estimate: usize = entries.iter().map(|(k, v)| entry_size(*k, *v)).sum();
        let buckets = (estimate.div_ceil(BUCKET_BYTES) as u64).max(1);
        let map_of = MapEntries { entries, hashes, buckets };
        let table = ctx.leaf_buckets(&map_of, passes, Codec::None, NO_PARENT)?;
        Ok((sink.into_inner(), table))
    }

    /// Passes over ranges of buckets write what one pass writes, and the order the map
    /// gives its entries does not matter.
    #[test]
    fn passes_and_order_do_not_change_the_bytes() -> Result<()> {
        let map: Vec<(String, Vec<u32>)> =
            (0..20_000u32).map(|i| (format!("key {i}"), (0..i % 9).map(|j| i ^ j).collect())).collect();
        let entries: Vec<(&String, &Vec<u32>)> = map.iter().map(|(k, v)| (k, v)).collect();
        let (one, table) = written(&entries, 1, false)?;
        assert!(table.len() > 20, "{} buckets", table.len());
        for (passes, hashed) in [(1, true), (2, true), (7, true), (u64::MAX, true)] {
            let (bytes, t) = written(&entries, passes, hashed)?;
            assert_eq!(t.len(), table.len(), "{passes} passes");
            assert!(bytes == one, "{passes} passes write other bytes");
        }
        let reversed: Vec<(&String, &Vec<u32>)> = entries.iter().rev().copied().collect();
        assert!(written(&reversed, 3, true)?.0 == one, "reversed order");
        Ok(())
    }
}
