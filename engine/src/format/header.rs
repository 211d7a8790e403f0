//! The file header: what a file starts with, and (version 4) the commit record.
//!
//! ## Format
//! 16 bytes at offset 0 in versions 1 to 3, 64 bytes in version 4:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `89 53 54 52 41 54 41 0A` (`\x89STRATA\n`) |
//! | 8 | 4 | format version, u32 little-endian |
//! | 12 | 4 | flags, u32 little-endian, zero |
//! | 16 | 24 | commit slot A (version 4) |
//! | 40 | 24 | commit slot B (version 4) |
//!
//! The header is written first and not read by `open` when the file ends with a valid
//! footer: the footer repeats the version and has a magic of its own. `open` reads it
//! to tell another kind of file from a truncated strata file, and, in version 4, to
//! find the last committed version when the file's tail is not a valid footer (an
//! incremental save in progress or torn by a crash).
//!
//! ## Commit record (version 4)
//! Two slots of 24 bytes: `sequence` (u64), `length` (u64: the file length of a
//! committed version, its footer's end) and `check` (u64: xxh3-64 of the slot's first
//! 16 bytes). A slot whose sequence is zero is empty; a slot whose check does not match
//! (torn by a crash while being written) is ignored. The record is the valid slot with
//! the higher sequence. Only incremental saves write it, over the slot the record does
//! not use, with the next sequence, before they append anything: the other slot keeps
//! the record whole whatever a crash leaves of the one being written.

use crate::{Error, Result};

/// The magic bytes at offset 0. The high first byte catches 7-bit transfers, the
/// newline catches newline conversion (as in PNG).
pub const MAGIC: [u8; 8] = *b"\x89STRATA\n";

/// Length of the part of the header every version has; the first chunk of a file of
/// versions 1 to 3 starts here.
pub const HEADER_LEN: u64 = 16;

/// The first version whose header holds the commit record.
pub const RECORD_VERSION: u32 = 4;

/// Length of the header of version 4 and later: the first chunk starts here.
pub const RECORD_HEADER_LEN: u64 = 64;

/// Offset of commit slot A; slot B follows it.
const SLOTS_AT: usize = 16;

/// Length of a commit slot.
const SLOT_LEN: usize = 24;

/// The header length of files of `version`.
#[must_use]
pub fn len_of(version: u32) -> u64 {
    if version >= RECORD_VERSION { RECORD_HEADER_LEN } else { HEADER_LEN }
}

/// Encodes the header for `version` (of [`len_of`] bytes), with an empty commit record.
#[must_use]
pub fn encode(version: u32) -> Vec<u8> {
    let mut out = vec![0u8; usize::try_from(len_of(version)).unwrap_or(16)];
    if let Some(magic) = out.get_mut(..8) {
        magic.copy_from_slice(&MAGIC);
    }
    if let Some(ver) = out.get_mut(8..12) {
        ver.copy_from_slice(&version.to_le_bytes());
    }
    out
}

/// Checks that `bytes` start with a strata header with zero flags; returns its version.
///
/// # Errors
/// [`Error::NotStrata`] when the magic is absent, [`Error::Truncated`] when the bytes
/// are shorter than a header.
pub fn decode(bytes: &[u8]) -> Result<u32> {
    let Some(head) = bytes.get(..HEADER_LEN as usize) else {
        return Err(Error::Truncated { what: "header", needed: HEADER_LEN, available: bytes.len() as u64 });
    };
    let (magic, rest) = head.split_at(8);
    if magic != MAGIC {
        return Err(Error::NotStrata { what: "the header magic `\\x89STRATA\\n` at offset 0" });
    }
    let mut ver = [0u8; 4];
    ver.copy_from_slice(rest.get(..4).unwrap_or(&[0; 4]));
    let mut flags = [0u8; 4];
    flags.copy_from_slice(rest.get(4..8).unwrap_or(&[0; 4]));
    if flags != [0; 4] {
        return Err(Error::UnknownFlags { what: "header", flags: u32::from_le_bytes(flags) });
    }
    Ok(u32::from_le_bytes(ver))
}

/// One commit slot's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    /// The slot's sequence number: the higher of two valid slots is the record.
    pub sequence: u64,
    /// The committed version's file length.
    pub length: u64,
}

/// The commit record of a version-4 header: its two slots as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Record {
    slots: [Option<Commit>; 2],
}

impl Record {
    /// Reads the slots of `head` (the header's first [`RECORD_HEADER_LEN`] bytes).
    /// Empty and damaged slots read as `None`.
    #[must_use]
    pub fn decode(head: &[u8]) -> Self {
        let slot = |i: usize| {
            let at = SLOTS_AT + i * SLOT_LEN;
            let bytes = head.get(at..at + SLOT_LEN)?;
            let word = |k: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(bytes.get(k * 8..k * 8 + 8)?);
                Some(u64::from_le_bytes(w))
            };
            let (sequence, length, check) = (word(0)?, word(1)?, word(2)?);
            let valid = sequence != 0 && check == super::checksum(bytes.get(..16)?);
            valid.then_some(Commit { sequence, length })
        };
        Self { slots: [slot(0), slot(1)] }
    }

    /// The committed version the record names: the valid slot with the higher sequence.
    #[must_use]
    pub fn current(&self) -> Option<Commit> {
        self.slots.iter().flatten().copied().max_by_key(|c| c.sequence)
    }

    /// Whether every slot is empty or valid: a damaged slot can only be the one a crash
    /// interrupted, and `verify` reports it.
    #[must_use]
    pub fn damaged_slots(head: &[u8]) -> usize {
        let record = Self::decode(head);
        (0..2)
            .filter(|&i| {
                let at = SLOTS_AT + i * SLOT_LEN;
                let empty = head.get(at..at + SLOT_LEN).is_some_and(|s| s.get(..8) == Some(&[0; 8][..]));
                record.slots.get(i).is_some_and(Option::is_none) && !empty
            })
            .count()
    }

    /// The write that makes `length` the record: the slot to overwrite (the one the
    /// current record does not use) as its file offset, and its bytes.
    #[must_use]
    pub fn next(&self, length: u64) -> (u64, [u8; SLOT_LEN]) {
        let (index, sequence) = match (self.slots[0], self.slots[1]) {
            (Some(a), Some(b)) if a.sequence >= b.sequence => (1, a.sequence + 1),
            (Some(_), Some(b)) => (0, b.sequence + 1),
            (Some(a), None) => (1, a.sequence + 1),
            (None, Some(b)) => (0, b.sequence + 1),
            (None, None) => (0, 1),
        };
        let mut words = [0u8; 16];
        let (seq, len) = words.split_at_mut(8);
        seq.copy_from_slice(&sequence.to_le_bytes());
        len.copy_from_slice(&length.to_le_bytes());
        let mut bytes = [0u8; SLOT_LEN];
        let (head, check) = bytes.split_at_mut(16);
        head.copy_from_slice(&words);
        check.copy_from_slice(&super::checksum(&words).to_le_bytes());
        ((SLOTS_AT + index * SLOT_LEN) as u64, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(head: &mut [u8], at: u64, bytes: &[u8]) {
        let at = at as usize;
        if let Some(slot) = head.get_mut(at..at + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
    }

    #[test]
    fn the_record_alternates_slots_and_survives_a_torn_slot() -> Result<()> {
        let mut head = encode(4);
        assert_eq!(head.len() as u64, RECORD_HEADER_LEN);
        assert_eq!(Record::decode(&head).current(), None);
        for (n, len) in [1000u64, 2000, 3000, 4000].into_iter().enumerate() {
            let (at, bytes) = Record::decode(&head).next(len);
            apply(&mut head, at, &bytes);
            let now = Record::decode(&head).current();
            assert_eq!(now, Some(Commit { sequence: n as u64 + 1, length: len }));
            assert_eq!(Record::damaged_slots(&head), 0);
        }
        // A torn write of the next slot leaves the previous record.
        let (at, bytes) = Record::decode(&head).next(5000);
        apply(&mut head, at, bytes.get(..12).unwrap_or_default());
        assert_eq!(Record::decode(&head).current().map(|c| c.length), Some(4000));
        assert_eq!(Record::damaged_slots(&head), 1);
        assert_eq!(decode(&head)?, 4);
        Ok(())
    }
}
