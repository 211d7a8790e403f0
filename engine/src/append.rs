//! Incremental saves: a new version appended to the file that holds the previous one.
//!
//! The previous version's bytes never change: the new version's chunks that equal one
//! of its chunks are referred to where they are ([`crate::write::reuse`]), the others
//! are appended after its footer, then the meta chunk, tail copies, root and footer,
//! as a whole save writes them. Readers that opened the file before keep reading their
//! version; a reader that opens it after the footer is written reads the new one.
//!
//! The order of writes (with the destination locked, so saves take turns):
//! 1. the header's commit record is made to name the previous version, if it does not
//!    already (one slot written, then `fdatasync`);
//! 2. bytes past the previous version (a save killed while appending) are cut
//!    (`ftruncate`, `fdatasync`);
//! 3. the new chunks, meta chunk, tail copies and root are written, then `fdatasync`;
//! 4. the footer is written, then `fdatasync`: the new version is committed;
//! 5. the commit record is made to name the new version (one slot, `fdatasync`).
//!
//! A crash before step 4 completes leaves a tail that is not a valid footer (or a file
//! that ends at the previous one): `open` reads the commit record and opens the version
//! it names, the previous one. A crash after step 4 leaves the new version, whose
//! footer ends the file. Step 3's sync makes a valid footer imply that everything
//! before it is on disk. Step 5 lets a reader tell a damaged last footer (the record
//! names it: an error) from a torn append (the record names an earlier length).

use crate::error::{Error, Result};
use crate::format::ChunkRef;
use crate::format::header::{self, Record};
use crate::format::meta::ChunkKind;
use crate::store::sink::{Sink, Writeback};
use crate::write::reuse::Reuse;
use std::path::Path;

/// What an incremental save appends to: the destination file, its committed version,
/// and that version's chunks.
pub(crate) struct Previous {
    file: std::fs::File,
    /// The committed version's length: where the new version starts.
    committed: u64,
    /// The file's length now (more than `committed` after a torn append).
    size: u64,
    /// The chunks the new version may refer to.
    chunks: Vec<ChunkRef>,
    #[cfg(feature = "test-hooks")]
    log: Option<crate::testing::IoLog>,
}

/// Why an incremental save writes a whole file instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rewrite {
    /// Nothing to append to: no file, not a strata file, a damaged one, another format
    /// version or another layout.
    NoPrevious,
    /// The file's dead bytes passed the save's `compact_above` ratio.
    Compact,
}

impl Previous {
    /// The previous version of the file at `path`, or why the save rewrites it.
    ///
    /// # Errors
    /// I/O errors other than a missing file.
    pub(crate) fn open(path: &Path, compact_above: f64) -> Result<std::result::Result<Self, Rewrite>> {
        let file = match std::fs::OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Err(Rewrite::NoPrevious)),
            Err(source) => return Err(Error::Save { step: "open for appending", path: path.to_path_buf(), source }),
        };
        let source = crate::store::source::FileSource::new(file.try_clone()?)?;
        let size = crate::store::source::Source::size(&source);
        let Ok(archive) = crate::Archive::from_source(std::sync::Arc::new(source), &crate::OpenOptions::new()) else {
            return Ok(Err(Rewrite::NoPrevious));
        };
        let footer = *archive.footer();
        if footer.version != crate::format::VERSION {
            return Ok(Err(Rewrite::NoPrevious));
        }
        let Ok(meta) = archive.directory() else {
            return Ok(Err(Rewrite::NoPrevious));
        };
        let stats = archive.stats_of(&meta);
        if stats.dead as f64 > compact_above * stats.file_len as f64 {
            return Ok(Err(Rewrite::Compact));
        }
        let chunks = meta
            .chunks
            .iter()
            .filter(|e| !matches!(e.chunk_kind(), Some(ChunkKind::Root | ChunkKind::TailCopies)))
            .map(|e| e.chunk)
            .chain(meta.pages.iter().copied())
            .collect();
        Ok(Ok(Self {
            file,
            committed: footer.file_len,
            size,
            chunks,
            #[cfg(feature = "test-hooks")]
            log: None,
        }))
    }

    /// Records every write, sync and cut of this save in `log` (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn logged(mut self, log: Option<crate::testing::IoLog>) -> Self {
        self.log = log;
        self
    }

    /// Steps 1 and 2: the commit record names the previous version, and the file ends
    /// with it.
    ///
    /// # Errors
    /// I/O errors.
    pub(crate) fn prepare(&self) -> Result<()> {
        self.commit(self.committed)?;
        if self.size > self.committed {
            #[cfg(feature = "test-hooks")]
            self.note(crate::testing::IoOp::SetLen(self.committed));
            self.file.set_len(self.committed)?;
            self.sync()?;
        }
        Ok(())
    }

    /// Makes the commit record name `length`, unless it does already.
    fn commit(&self, length: u64) -> Result<()> {
        let mut head = vec![0u8; header::RECORD_HEADER_LEN as usize];
        crate::store::os::read_exact_at(&self.file, 0, &mut head)?;
        let record = Record::decode(&head);
        if record.current().map(|c| c.length) != Some(length) {
            let (at, slot) = record.next(length);
            self.write_at(at, &slot)?;
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        #[cfg(feature = "test-hooks")]
        self.note(crate::testing::IoOp::Sync);
        Ok(self.file.sync_data()?)
    }

    #[cfg(feature = "test-hooks")]
    fn note(&self, op: crate::testing::IoOp) {
        if let Some(log) = &self.log {
            log.push(op);
        }
    }

    /// Where the new version starts.
    pub(crate) fn start(&self) -> u64 {
        self.committed
    }

    /// The chunks the new version may refer to, compared against this file's bytes.
    pub(crate) fn reuse(&self) -> Reuse<'_> {
        Reuse::new(&self.file, self.chunks.iter().copied())
    }

    /// The sink the new version's chunks go to.
    pub(crate) fn sink(&self) -> Appender<'_> {
        Appender { previous: self, inner: Writeback::new(&self.file) }
    }

    /// Steps 3 to 5: the chunks written, the footer written and the record updated.
    ///
    /// # Errors
    /// I/O errors.
    pub(crate) fn finish(&self, footer_at: u64, footer: &[u8]) -> Result<()> {
        self.sync()?;
        self.write_at(footer_at, footer)?;
        self.sync()?;
        self.commit(footer_at + footer.len() as u64)
    }

    fn write_at(&self, offset: u64, bytes: &[u8]) -> Result<()> {
        #[cfg(feature = "test-hooks")]
        self.note(crate::testing::IoOp::Write { offset, bytes: bytes.to_vec() });
        Ok(crate::store::os::write_all_at(&self.file, offset, bytes)?)
    }
}

/// The sink of an appended version's chunks.
pub(crate) struct Appender<'p> {
    previous: &'p Previous,
    inner: Writeback<'p>,
}

impl Sink for Appender<'_> {
    fn write_at(&self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        #[cfg(feature = "test-hooks")]
        self.previous.note(crate::testing::IoOp::Write { offset, bytes: bytes.to_vec() });
        #[cfg(not(feature = "test-hooks"))]
        let _ = self.previous;
        self.inner.write_at(offset, bytes)
    }
}
