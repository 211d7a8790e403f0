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
    /// zstd at the given level (1..=22; 3 is a good default).
    Zstd(i32),
}

/// Compresses `raw` per `codec`; returns the codec actually used and the stored
/// bytes. Compression that does not shrink a chunk is dropped, so that the chunk stays
/// readable in place.
pub(crate) fn encode(raw: &[u8], codec: Codec) -> Result<(Encoding, Option<Vec<u8>>)> {
    match codec {
        Codec::None => Ok((Encoding::None, None)),
        Codec::Zstd(level) => {
            let packed = zstd::bulk::compress(raw, level).map_err(|e| Error::Compression(e.to_string()))?;
            if packed.len() < raw.len() { Ok((Encoding::Zstd, Some(packed))) } else { Ok((Encoding::None, None)) }
        }
    }
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
