//! [`Archive::verify`]: check every chunk of a file and report all the damage.

use crate::archive::{Archive, Reach};
use crate::error::{Error, Result};
use crate::format::ChunkRef;
use crate::format::bucket::Bucket;
use crate::format::meta::ChunkKind;
use crate::format::table::TableEntry;
use rayon::prelude::*;

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
    /// framing (hash order, entry bounds) is checked. Values are checked against their
    /// Rust types by reading them ([`Archive::load`] reads everything); `verify` needs
    /// no types, so the command-line tool can run it on any file.
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
        let meta = self.meta()?;
        let inner = self.inner();
        inner.will_need_range(0, self.footer().file_len);
        let checked: Vec<Option<Damage>> = meta
            .chunks
            .par_iter()
            .enumerate()
            .map(|(i, e)| {
                let kind = e.chunk_kind();
                let result = match kind {
                    Some(ChunkKind::Vector | ChunkKind::Map | ChunkKind::IndexNode) => {
                        inner.view_chunk::<rkyv::vec::ArchivedVec<TableEntry>>(&e.chunk, Reach::Bulk).map(|_| ())
                    }
                    Some(ChunkKind::Bucket) => inner.check_chunk(&e.chunk, |bytes| check_bucket(bytes, &e.chunk)),
                    Some(_) => inner.check_chunk(&e.chunk, |_| Ok(())),
                    None => Err(Error::InvalidData {
                        at: e.chunk.location(),
                        ty: "chunk directory",
                        detail: format!("unknown chunk kind {}", e.kind),
                    }),
                };
                progress(e.chunk.stored_len());
                result.err().map(|error| Damage { path: meta.path(i), kind, chunk: e.chunk, error })
            })
            .collect();
        let footer = self.footer();
        // The header, which `open` does not read: the magic, zero flags, and the
        // footer's version.
        let header = inner.head().and_then(|head| match crate::format::header::decode(&head)? {
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
            chunks: meta.chunks.len() as u64 + 1,
            bytes: meta.chunks.iter().map(|e| e.chunk.stored_len()).sum::<u64>() + footer.meta.stored_len(),
            damaged: header_damage.into_iter().chain(checked.into_iter().flatten()).collect(),
        })
    }
}

fn check_bucket(bytes: &[u8], r: &ChunkRef) -> Result<()> {
    let bad = |detail: &str| Error::InvalidData { at: r.location(), ty: "map bucket", detail: detail.to_owned() };
    let bucket = Bucket::parse(bytes).map_err(bad)?;
    let mut previous = None;
    for j in 0..bucket.len() {
        let hash = bucket.hash(j).ok_or_else(|| bad("hash missing"))?;
        if previous.is_some_and(|p| p > hash) {
            return Err(bad("hashes out of order"));
        }
        previous = Some(hash);
        bucket.entry(j).map_err(bad)?;
    }
    Ok(())
}
