//! [`Archive::verify`]: check every chunk of a file and report all the damage.

use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::format::ChunkRef;
use crate::format::bucket::Bucket;
use crate::format::meta::ChunkKind;
use crate::format::table::TableEntry;
use crate::store::Holds;
use std::sync::Arc;

/// One damaged chunk found by [`Archive::verify`].
#[derive(Debug)]
pub struct Damage {
    /// The chunk's path in the value (`region.tiles`, `players[bucket 17]`).
    pub path: String,
    /// What the chunk holds.
    pub kind: Option<ChunkKind>,
    /// The chunk's reference.
    pub chunk: ChunkRef,
    /// What is wrong with it.
    pub error: Error,
}

/// The result of [`Archive::verify`].
#[derive(Debug, Default)]
pub struct Report {
    /// Chunks checked (the meta chunk included).
    pub chunks: u64,
    /// Stored bytes checked.
    pub bytes: u64,
    /// Every damaged chunk, in directory order.
    pub damaged: Vec<Damage>,
}

impl Report {
    /// Whether no damage was found.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.damaged.is_empty()
    }
}

impl Archive {
    /// Checks every chunk of the file, in parallel, and reports every damaged one with
    /// its path in the value, not only the first.
    ///
    /// The file header, which [`Archive::open`] does not read, is checked (a damaged
    /// one is reported with the path `(file header)`). Each chunk listed in the meta
    /// chunk's directory is bounds-checked, checksum-verified and decompressed (within
    /// the limits of [`crate::OpenOptions`]); index nodes are validated; buckets'
    /// framing (hash order, entry bounds) is checked. Chunks are read in file order, a
    /// few MiB at a time, and not kept. Values are checked against their Rust types by
    /// reading them ([`Archive::load`] reads everything); `verify` needs no types, so
    /// the command-line tool can run it on any file.
    ///
    /// # Errors
    /// Only when the meta chunk, which lists the others, is unreadable; the root chunk
    /// is then still verified and reported in the error.
    pub fn verify(&self) -> Result<Report> {
        self.verify_with(|_| {})
    }

    /// [`verify`](Self::verify), calling `progress` with each chunk's stored length as
    /// it is checked (from several threads).
    ///
    /// # Errors
    /// See [`verify`](Self::verify).
    pub fn verify_with(&self, progress: impl Fn(u64) + Sync) -> Result<Report> {
        crate::threads::run(self.store().limits().threads, || self.verify_all(&progress))
    }

    fn verify_all(&self, progress: &(impl Fn(u64) + Sync)) -> Result<Report> {
        let meta = self.directory()?;
        let store = self.store();
        store.will_need(0, self.footer().file_len);
        // Directory entries in file order, so that adjacent chunks are read together.
        let mut order: Vec<usize> = (0..meta.chunks.len()).collect();
        order.sort_by_key(|&i| meta.chunks.get(i).map_or(0, |e| e.chunk.offset()));
        let by_offset: std::collections::HashMap<u64, ChunkRef> =
            meta.chunks.iter().map(|e| (e.chunk.offset(), e.chunk)).collect();
        let mut damaged: Vec<(usize, Damage)> = Vec::new();
        let refs: Vec<ChunkRef> = order.iter().filter_map(|&i| meta.chunks.get(i).map(|e| e.chunk)).collect();
        let mut done = 0;
        let buffers = Arc::default();
        for window in crate::store::windows(&refs, store.bulk_window()) {
            let ids = order.get(done..done + window.len()).unwrap_or_default();
            done += window.len();
            // Read the window in bulk; a chunk that fails then is read alone, so that its
            // own error is reported and its neighbours are still checked.
            let chunks = store.chunks(window, Holds::Nothing, &buffers).ok();
            let bytes: u64 = window.iter().map(|r| r.stored_len().max(r.raw_len())).sum();
            let parallel = bytes >= crate::store::PARALLEL_MIN;
            let positions: Vec<(usize, usize)> = ids.iter().copied().enumerate().collect();
            let found: Vec<(usize, Damage)> = crate::store::map_items(&positions, parallel, |&(j, i)| {
                let e = meta.chunks.get(i)?;
                let kind = e.chunk_kind();
                let chunk = match chunks.as_ref().and_then(|c| c.get(j)) {
                    Some(c) => Ok(Arc::clone(c)),
                    None => store.chunk(&e.chunk, crate::store::Keep::No, Holds::Nothing),
                };
                let result = chunk.and_then(|chunk| match kind {
                    Some(ChunkKind::Vector | ChunkKind::Map | ChunkKind::IndexNode) => {
                        store.view_of::<rkyv::vec::ArchivedVec<TableEntry>>(chunk).map(|_| ())
                    }
                    Some(ChunkKind::Bucket) => check_bucket(chunk.bytes(), &e.chunk),
                    Some(ChunkKind::TailCopies) => check_copies(chunk.bytes(), &e.chunk, &by_offset),
                    Some(_) => Ok(()),
                    None => Err(Error::InvalidData {
                        at: e.chunk.location(),
                        ty: "chunk directory",
                        detail: format!("unknown chunk kind {}", e.kind),
                    }),
                });
                progress(e.chunk.stored_len());
                result.err().map(|error| (i, Damage { path: meta.path(i), kind, chunk: e.chunk, error }))
            })
            .into_iter()
            .flatten()
            .collect();
            damaged.extend(found);
        }
        damaged.sort_by_key(|(i, _)| *i);
        let footer = self.footer();
        // The header, which `open` does not read: the magic, zero flags, and the
        // footer's version.
        let header = store.head().and_then(|head| match crate::format::header::decode(&head)? {
            v if v == footer.version => Ok(()),
            v => Err(Error::InvalidData {
                at: crate::error::Location { offset: 0, len: crate::format::header::HEADER_LEN },
                ty: "file header",
                detail: format!("version {v} where the footer says {}", footer.version),
            }),
        });
        let header_len = crate::format::header::HEADER_LEN;
        let header_damage = header.err().map(|error| Damage {
            path: String::from("(file header)"),
            kind: None,
            chunk: ChunkRef::new(0, header_len, header_len, 0, crate::format::Encoding::None),
            error,
        });
        Ok(Report {
            chunks: (meta.chunks.len() + meta.pages.len()) as u64 + 1,
            bytes: meta
                .chunks
                .iter()
                .map(|e| e.chunk)
                .chain(meta.pages.iter().copied())
                .map(|r| r.stored_len())
                .sum::<u64>()
                + footer.meta.stored_len(),
            damaged: header_damage.into_iter().chain(damaged.into_iter().map(|(_, d)| d)).collect(),
        })
    }
}

/// Each tail copy is a byte-for-byte copy of a chunk of the directory.
fn check_copies(bytes: &[u8], r: &ChunkRef, chunks: &std::collections::HashMap<u64, ChunkRef>) -> Result<()> {
    let bad = |detail: String| Error::InvalidData { at: r.location(), ty: "tail copies", detail };
    for copy in crate::format::copies::decode(bytes).map_err(|d| bad(d.to_owned()))? {
        let copied = usize::try_from(copy.len).ok().and_then(|len| bytes.get(copy.at..copy.at.checked_add(len)?));
        let original = chunks.get(&copy.offset).filter(|o| o.stored_len() == copy.len);
        match (copied, original) {
            (Some(c), Some(o)) if crate::format::checksum(c) == o.checksum() => {}
            _ => return Err(bad(format!("the copy of the chunk at offset {} does not match it", copy.offset))),
        }
    }
    Ok(())
}

fn check_bucket(bytes: &[u8], r: &ChunkRef) -> Result<()> {
    let bad = |detail: &str| Error::InvalidData { at: r.location(), ty: "map bucket", detail: detail.to_owned() };
    let bucket = Bucket::parse(bytes).map_err(bad)?;
    let mut previous = None;
    for j in 0..bucket.len() {
        // A wide bucket's lookups binary search its hashes; a compact one's scan them.
        if !bucket.is_compact() {
            let hash = bucket.hash(j).ok_or_else(|| bad("hash missing"))?;
            if previous.is_some_and(|p| p > hash) {
                return Err(bad("hashes out of order"));
            }
            previous = Some(hash);
        }
        bucket.entry(j).map_err(bad)?;
    }
    Ok(())
}
