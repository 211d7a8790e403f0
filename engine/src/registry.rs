//! Which open archive owns a given address.
//!
//! A [`crate::Promise`] is a 40-byte reference stored inside a chunk: it has no pointer
//! to the archive it came from, yet `promise.load()` takes no argument. The promise's
//! own address answers the question: it lies inside memory that exactly one open
//! archive owns (its memory map, its owned buffer, or one of its decompressed chunks),
//! and every such range is registered here while it is alive.

use crate::archive::Inner;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, Weak};

struct Range {
    end: usize,
    owner: Weak<Inner>,
}

static RANGES: RwLock<BTreeMap<usize, Range>> = RwLock::new(BTreeMap::new());

/// Registers `[start, start + len)` as owned by `owner`. Empty ranges are not kept.
pub(crate) fn register(start: *const u8, len: usize, owner: Weak<Inner>) {
    if len == 0 {
        return;
    }
    let start = start as usize;
    let mut map = RANGES.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    map.insert(start, Range { end: start.saturating_add(len), owner });
}

/// Removes the range starting at `start`. Called before the memory is released.
pub(crate) fn unregister(start: *const u8) {
    let mut map = RANGES.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    map.remove(&(start as usize));
}

/// The archive owning the memory at `addr`, if any.
pub(crate) fn owner_of<T: ?Sized>(value: &T) -> Option<Arc<Inner>> {
    let addr = std::ptr::from_ref(value).cast::<u8>() as usize;
    let map = RANGES.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (_, range) = map.range(..=addr).next_back()?;
    if addr < range.end { range.owner.upgrade() } else { None }
}
