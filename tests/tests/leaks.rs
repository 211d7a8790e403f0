//! Failed loads free what they decoded before failing (found by the `mutate_valid`
//! fuzz target under LeakSanitizer: a sharded vector's load that failed midway leaked
//! the elements already decoded). A test binary of its own, so that nothing else
//! allocates while live heap bytes are counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use strata_tests::hostile;

struct Live;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments; the only
// addition is an atomic count of live bytes.
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Live = Live;

#[test]
fn failed_loads_do_not_leak() {
    let input = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/mutate_valid/regression-leak-sharded-load-error"
    ))
    .unwrap();
    // Warm up caches that live for the process (schemas, rayon's pool, thread-locals).
    for _ in 0..3 {
        hostile::fuzz_mutate_valid(&input);
    }
    let mut rounds = Vec::new();
    for _ in 0..4 {
        let before = LIVE.load(Ordering::Relaxed);
        for _ in 0..50 {
            hostile::fuzz_mutate_valid(&input);
        }
        rounds.push(LIVE.load(Ordering::Relaxed) - before);
    }
    eprintln!("growth per round of 50: {rounds:?}");
    let grown = rounds[3];
    assert!(grown < 4096, "50 failed loads left {grown} bytes allocated");
}
