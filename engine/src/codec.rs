//! Chunk encodings: compression on save, bounded decompression on read.

use crate::error::{Error, Location, Result};
use crate::format::Encoding;
use rkyv::util::AlignedVec;

/// Compression applied to chunks when saving.
///
/// Set globally with [`crate::SaveOptions::compression`] or per field with
/// `#[strata(compress = "zstd")]` / `#[strata(compress = "zstd(9)")]` /
/// `#[strata(compress = "none")]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Codec {
    /// Store chunks as they are, readable in place from the memory map.
    #[default]
    None,
    /// zstd at the given level: 1..=22 (3 is zstd's default), or the faster negative
    /// levels (-1 down to -131072), which trade ratio for speed.
    Zstd(i32),
}

impl Codec {
    /// The compression preset for files read cold, from slow disks or over a network:
    /// zstd at level -1, the fastest level that still stores a strata file in about
    /// 0.6 of its bytes. Saves take longer than uncompressed ones (1.2-2.0x in the
    /// measurements) and cold reads about as long; a point read of a file in the page
    /// cache takes two to three times as long, because the shard or bucket that holds
    /// the value is decompressed whole (compressed shards hold 8 KiB unless the field
    /// sets `shard_bytes`). Level 3 (`Codec::Zstd(3)`) stores a little less and saves
    /// much more slowly. The measurements behind this choice:
    /// `benches/results/compression/` and `benches/results/compressed-shards/`.
    ///
    /// ```
    /// # #[derive(strata::Persist)] struct Log { #[strata(shard)] lines: Vec<String> }
    /// # let log = Log { lines: (0..10_000).map(|i| format!("line {}", i % 100)).collect() };
    /// let small = strata::SaveOptions::new().compression(strata::Codec::FAST).to_bytes(&log)?;
    /// assert!(small.len() < strata::to_bytes(&log)?.len() / 2);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub const FAST: Codec = Codec::Zstd(-1);
}

/// Compresses `raw` per `codec`; returns the codec actually used and the stored
/// bytes. Compression that does not shrink a chunk is dropped, so that the chunk stays
/// readable in place.
pub(crate) fn encode(raw: &[u8], codec: Codec) -> Result<(Encoding, Option<Vec<u8>>)> {
    match codec {
        Codec::None => Ok((Encoding::None, None)),
        Codec::Zstd(level) => {
            let packed = compress(raw, level).map_err(|e| Error::Compression(e.to_string()))?;
            if packed.len() < raw.len() { Ok((Encoding::Zstd, Some(packed))) } else { Ok((Encoding::None, None)) }
        }
    }
}

thread_local! {
    /// One compression context per thread and its level, reused: creating one costs
    /// more than compressing a small chunk.
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

/// `raw` compressed at `level` with this thread's context.
fn compress(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|slot| {
        let mut slot = slot.try_borrow_mut().map_err(std::io::Error::other)?;
        let c = match slot.as_mut() {
            Some((at, c)) if *at == level => c,
            _ => &mut slot.insert((level, zstd::bulk::Compressor::new(level)?)).1,
        };
        c.compress(raw)
    })
}

thread_local! {
    /// One decompression context per thread, reused: creating one costs more than
    /// decompressing a small chunk.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Decompresses a zstd chunk into a fresh 16-byte-aligned buffer of exactly
/// `raw_len` bytes. `raw_len` must already have been checked against the limit.
pub(crate) fn decode_zstd(stored: &[u8], raw_len: usize, at: Location) -> Result<AlignedVec<16>> {
    let mut out = AlignedVec::<16>::with_capacity(raw_len);
    out.resize(raw_len, 0);
    decode_zstd_into(stored, &mut out, at)?;
    Ok(out)
}

/// Decompresses a zstd chunk into `out`, which must be filled exactly.
pub(crate) fn decode_zstd_into(stored: &[u8], out: &mut [u8], at: Location) -> Result<()> {
    let raw_len = out.len();
    let written = DECOMPRESSOR
        .with(|slot| {
            let mut slot = slot.try_borrow_mut().map_err(std::io::Error::other)?;
            let d = match slot.as_mut() {
                Some(d) => d,
                None => slot.insert(zstd::bulk::Decompressor::new()?),
            };
            d.decompress_to_buffer(stored, out)
        })
        .map_err(|e| Error::Decompression { at, detail: e.to_string() })?;
    if written != raw_len {
        return Err(Error::Decompression {
            at,
            detail: format!("decompressed to {written} bytes, the reference declares {raw_len}"),
        });
    }
    Ok(())
}
