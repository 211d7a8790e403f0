//! The identity of `Rc` values during one load.
//!
//! An `Rc` cannot cross threads, so the map that makes every reference to one shared
//! chunk load as one `Rc` lives on the loading thread, for as long as its outermost
//! deserialization runs (every deserialization enters a [`Loads`]; nested ones, such as
//! the chunks of shared fields, share the outermost's map). Values holding an `Rc` are
//! deserialized on the calling thread only: their types are not `Send`.

use crate::format::ChunkRef;
use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// What identifies a shared chunk during one load: the store (its address), the whole
/// chunk reference (a damaged reference to the same place is another chunk).
pub(crate) type Key = (usize, ChunkRef);

/// The `Rc`s one load made so far, by chunk and type.
type Loaded = HashMap<(Key, TypeId), Box<dyn Any>>;

thread_local! {
    /// How many deserializations are under way on this thread, and the `Rc`s they made.
    static LOADS: RefCell<(usize, Option<Loaded>)> = const { RefCell::new((0, None)) };
}

/// One deserialization on this thread. Made by every deserialization.
pub(crate) struct Loads {
    /// Whether the deserialization succeeded: then the value it made holds every `Rc`
    /// in the map, and dropping the map only counts them down.
    ok: bool,
}

impl Loads {
    /// Enters a deserialization.
    pub(crate) fn enter() -> Self {
        LOADS.with(|l| l.borrow_mut().0 += 1);
        Self { ok: false }
    }

    /// Leaves the deserialization, which succeeded when `ok`.
    pub(crate) fn leave(mut self, ok: bool) {
        self.ok = ok;
    }
}

impl Drop for Loads {
    fn drop(&mut self) {
        // The map is taken out before it is dropped, not under the borrow.
        let done = LOADS.with(|l| {
            let mut l = l.borrow_mut();
            l.0 = l.0.saturating_sub(1);
            if l.0 == 0 { l.1.take() } else { None }
        });
        match done {
            Some(done) if !self.ok => {
                // A failed load: the map may hold the last references to values that
                // nest deep.
                crate::deep::discard(done);
            }
            _ => drop(done),
        }
    }
}

/// The `Rc<T>` the current load made for the chunk `key`, if any.
pub(crate) fn found<T: 'static>(key: Key) -> Option<Rc<T>> {
    LOADS.with(|l| {
        let l = l.borrow();
        l.1.as_ref()?.get(&(key, TypeId::of::<T>()))?.downcast_ref::<Rc<T>>().map(Rc::clone)
    })
}

/// Keeps `value`, loaded from the chunk `key`, for the rest of the current load (none
/// outside a load).
pub(crate) fn keep<T: 'static>(key: Key, value: &Rc<T>) {
    LOADS.with(|l| {
        let mut l = l.borrow_mut();
        if l.0 > 0 {
            l.1.get_or_insert_with(HashMap::new).insert((key, TypeId::of::<T>()), Box::new(Rc::clone(value)));
        }
    });
}
