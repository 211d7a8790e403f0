//! Which open archive owns a given address.
//!
//! A [`crate::Promise`] is a 40-byte reference stored inside a chunk: it has no pointer
//! to the archive it came from, yet `promise.load()` takes no argument. The promise's
//! own address answers the question: it lies inside memory that an open archive holds
//! (a chunk it read, a block of a bulk read, or its source's bytes), and every such
//! range is registered here while it is alive, together with the store that read it.
//!
//! Ranges are disjoint, except that one shared buffer opened as several archives is
//! registered once per archive: any of them that is still open serves (they hold the
//! same bytes).

use super::Store;
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, Weak};

/// What a layer above the store attaches to a range: for bytes the store made rather
/// than read (a chunk transcoded by schema evolution), how the lazy fields inside them
/// are to be read.
pub(crate) type Note = Arc<dyn Any + Send + Sync>;

struct Range {
    end: usize,
    owner: Weak<Store>,
    note: Option<Note>,
}

/// Registered ranges by (start, owner id).
static RANGES: RwLock<BTreeMap<(usize, usize), Range>> = RwLock::new(BTreeMap::new());

/// A registered range; dropping it unregisters the range. Dropped before the memory it
/// names is released (it is a field of the value that owns the memory, declared after
/// it is not enough: see [`super::chunk::Chunk`]).
#[derive(Debug)]
pub(crate) struct Registration {
    key: (usize, usize),
}

impl Registration {
    /// Registers `bytes` as held by `owner`. `None` for an empty range.
    pub(crate) fn new(bytes: &[u8], owner: &Weak<Store>) -> Option<Self> {
        Self::with_note(bytes, owner, None)
    }

    /// Registers `bytes` as held by `owner`, with a note for whoever finds them.
    pub(crate) fn with_note(bytes: &[u8], owner: &Weak<Store>, note: Option<Note>) -> Option<Self> {
        if bytes.is_empty() {
            return None;
        }
        let start = bytes.as_ptr() as usize;
        let key = (start, owner.as_ptr() as usize);
        let range = Range { end: start.saturating_add(bytes.len()), owner: owner.clone(), note };
        RANGES.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, range);
        Some(Self { key })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        RANGES.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.key);
    }
}

/// A note found for an address: the note, and the address's offset in the range.
pub(crate) type NoteAt = (Note, usize);

/// Where `value` lives: the open store holding its memory, and the note registered
/// with that memory, if any, with `value`'s offset in it.
pub(crate) fn origin_of<T: ?Sized>(value: &T) -> Option<(Arc<Store>, Option<NoteAt>)> {
    let addr = std::ptr::from_ref(value).cast::<u8>() as usize;
    let map = RANGES.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut region = None;
    for (&(start, _), range) in map.range(..=(addr, usize::MAX)).rev() {
        // Ranges are disjoint or identical: the greatest start at or below `addr` is the
        // only region that can hold it; entries with that same start are its owners.
        if *region.get_or_insert(start) != start || addr >= range.end {
            return None;
        }
        if let Some(owner) = range.owner.upgrade() {
            return Some((owner, range.note.as_ref().map(|n| (Arc::clone(n), addr - start))));
        }
    }
    None
}
