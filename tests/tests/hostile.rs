//! The fuzz targets' bodies on stable: the checked-in corpus (`fuzz/corpus/<target>`)
//! and thousands of generated inputs. Nothing may panic, and no single allocation may
//! exceed the configured decompression limit (checked by a counting allocator).

use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use strata_tests::hostile::{self, MAX_CHUNK};
use strata_tests::lying;

/// Records the largest single allocation.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments, upholding the
// same contract; the only addition is an atomic maximum.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

fn check_allocations() {
    let largest = LARGEST.load(Ordering::Relaxed) as u64;
    assert!(largest <= MAX_CHUNK + (1 << 20), "an allocation of {largest} bytes exceeded the limit");
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    files.sort();
    files.into_iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

#[test]
fn the_valid_model_reads_completely() {
    // The walk reaches everything on an undamaged file (so the fuzz bodies exercise it).
    let (ok, tried) = hostile::open_and_walk(hostile::image().to_vec());
    assert!(tried > 30);
    assert_eq!(ok, tried, "every read of an undamaged file succeeds");
    let archive = strata::Archive::from_bytes(hostile::image().to_vec()).unwrap();
    let loaded = archive.load::<hostile::Model>().unwrap();
    assert_eq!(loaded, hostile::model());
    // Shared items stay shared through transcoding.
    assert!(std::sync::Arc::ptr_eq(&loaded.shared, &loaded.shared_list[2]));
    assert!(std::sync::Arc::ptr_eq(&loaded.shared, loaded.maybe_shared.as_ref().unwrap()));
    assert!(!std::sync::Arc::ptr_eq(&loaded.shared, &loaded.shared_list[1]));
    assert!(hostile::chunks().len() > 30);
}

#[test]
fn reseal_gets_mutations_past_the_checksums() {
    // A byte changed inside a shard and resealed: the file opens, the shard verifies,
    // and the changed value is what is read (validation passes for plain numbers).
    let mut bytes = hostile::image().to_vec();
    let mut chunks = hostile::chunks().to_vec();
    let archive = strata::Archive::from_bytes(bytes.clone()).unwrap();
    let shard = archive.root::<hostile::Model>().unwrap().numbers.shard_chunk(1).unwrap();
    let c = chunks.iter().position(|r| *r == shard).unwrap();
    bytes[shard.offset() as usize] ^= 0xFF;
    hostile::reseal(&mut bytes, &mut chunks, c);
    let archive = strata::Archive::from_bytes(bytes).unwrap();
    assert!(archive.verify().unwrap().is_ok());
    let first = *archive.root::<hostile::Model>().unwrap().numbers.get(128).unwrap().unwrap();
    assert_eq!(first, (128u64 * 128) ^ 0xFF);
}

#[test]
fn a_reference_pointed_at_a_chunk_of_another_type_is_an_error_wherever_it_is() {
    // Every typed reference of the model (a lazy field, an `Arc`, a shared element or
    // map value) in turn holds every other chunk's reference, its tag included, its
    // holder resealed. Reads never panic; a reference typed for another type (or not
    // typed: a shard's, a bucket's, an index node's) is always an error.
    let n = hostile::chunks().len();
    let (mut mistyped, mut alike) = (0, 0);
    for to in 0..n {
        let Some(target) = hostile::seals().places(to).first().copied() else { continue };
        if target.tag == 0 {
            continue;
        }
        for from in (0..n).filter(|&f| f != to) {
            let Some(source) = hostile::seals().places(from).first().copied() else { continue };
            let mut bytes = hostile::image().to_vec();
            let mut chunks = hostile::chunks().to_vec();
            hostile::redirect(&mut bytes, &mut chunks, from, to);
            let (ok, tried) = hostile::open_and_walk(bytes);
            if source.tag == target.tag {
                alike += 1;
            } else {
                mistyped += 1;
                assert!(ok < tried, "chunk {from}'s reference read in chunk {to}'s place");
            }
        }
    }
    assert!(mistyped > 100 && alike > 0, "{mistyped} mistyped, {alike} alike");
    check_allocations();
}

#[test]
fn corpus_open_bytes() {
    for input in corpus("open_bytes") {
        hostile::fuzz_open_bytes(&input);
    }
    check_allocations();
}

#[test]
fn corpus_mutate_valid() {
    for input in corpus("mutate_valid") {
        hostile::fuzz_mutate_valid(&input);
    }
    check_allocations();
}

#[test]
fn corpus_map_lookup() {
    for input in corpus("map_lookup") {
        hostile::fuzz_map_lookup(&input);
    }
    check_allocations();
}

#[test]
fn corpus_decompress() {
    for input in corpus("decompress") {
        hostile::fuzz_decompress(&input);
    }
    check_allocations();
}

#[test]
fn corpus_cache_views() {
    for input in corpus("cache_views") {
        hostile::fuzz_cache_views(&input);
    }
    check_allocations();
}

#[test]
fn corpus_deep_values() {
    for input in corpus("deep_values") {
        hostile::fuzz_deep_values(&input);
    }
    check_allocations();
}

#[test]
fn corpus_evolve() {
    for input in corpus("evolve") {
        lying::fuzz_evolve(&input);
    }
    check_allocations();
}

#[test]
fn an_older_model_reads_completely_through_evolution() {
    // The evolve fuzz body's file, unaltered: every read succeeds through transcoding,
    // and the values are today's model's.
    let image = lying::image();
    let (ok, tried) = hostile::open_and_walk(image.bytes.clone());
    assert!(tried > 30);
    assert_eq!(ok, tried);
    let archive = strata::Archive::from_bytes(image.bytes.clone()).unwrap();
    assert_eq!(archive.load::<hostile::Model>().unwrap(), hostile::model());
    assert!(image.numbers.len() > 40, "the schema records sizes, offsets and alignments");
    // Resealing the unaltered meta chunk changes nothing.
    assert!(lying::lie(image, |_| ()) == image.bytes);
}

/// A change to a number's digits.
type Edit = dyn Fn(&mut [u8]);

#[test]
fn every_recorded_layout_lying_is_an_error_not_a_panic() {
    // Each number of the schema text (a size, an offset, an alignment, a length) made
    // 0, all nines, and one more in its first and last digit, resealed: the file is
    // read with today's types (a plan, then transcoding) and nothing panics.
    let image = lying::image();
    let (mut lies, mut refused) = (0, 0);
    for span in &image.numbers {
        let edits: [&Edit; 4] =
            [&|d| d.fill(b'0'), &|d| d.fill(b'9'), &|d| d[0] = b'0' + (d[0] - b'0' + 1) % 10, &|d| {
                let last = d.len() - 1;
                d[last] = b'0' + (d[last] - b'0' + 1) % 10;
            }];
        for edit in edits {
            let bytes = lying::lie(image, |b| edit(&mut b[span.clone()]));
            if bytes == image.bytes {
                continue;
            }
            lies += 1;
            let loaded = strata::Archive::from_bytes(bytes.clone()).and_then(|a| a.load::<hostile::Model>());
            refused += usize::from(loaded.is_err());
            hostile::open_and_walk(bytes);
        }
    }
    assert!(lies > 150, "{lies}");
    // Most lies are caught (a schema, plan or validation error); the rest read values
    // the types allow (a hostile file may hold any valid value).
    assert!(refused * 2 > lies, "{refused} of {lies} lies refused");
    check_allocations();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_lying_layouts(data in prop::collection::vec(any::<u8>(), 0..80)) {
        lying::fuzz_evolve(&data);
    }

    #[test]
    fn generated_deep_values(data in prop::collection::vec(any::<u8>(), 0..80)) {
        hostile::fuzz_deep_values(&data);
    }

    #[test]
    fn generated_cache_views(data in prop::collection::vec(any::<u8>(), 0..100)) {
        hostile::fuzz_cache_views(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_mutations_of_a_valid_file(ops in prop::collection::vec(any::<u8>(), 0..120)) {
        hostile::fuzz_mutate_valid(&ops);
    }

    #[test]
    fn generated_bytes_near_a_valid_file(cut in 0usize..4096, noise in prop::collection::vec(any::<u8>(), 0..64)) {
        // The start and end of a real file with noise: reaches deeper than random bytes.
        let image = hostile::image();
        let mut bytes = image[..image.len().saturating_sub(cut)].to_vec();
        bytes.extend_from_slice(&noise);
        bytes.extend_from_slice(&image[image.len() - hostile::footer_len(image)..]);
        hostile::fuzz_open_bytes(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_bucket_damage_and_lookups(data in prop::collection::vec(any::<u8>(), 0..200)) {
        hostile::fuzz_map_lookup(&data);
    }

    #[test]
    fn generated_lying_decompression(data in prop::collection::vec(any::<u8>(), 0..300)) {
        hostile::fuzz_decompress(&data);
    }

    #[test]
    fn generated_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..600)) {
        hostile::fuzz_open_bytes(&data);
    }
}

#[test]
fn allocations_stayed_bounded() {
    hostile::fuzz_decompress(&u64::MAX.to_le_bytes());
    hostile::fuzz_decompress(&(1u64 << 40).to_le_bytes());
    check_allocations();
}

#[test]
fn verify_reports_every_damaged_chunk_by_path() {
    let mut bytes = hostile::image().to_vec();
    let archive = strata::Archive::from_bytes(bytes.clone()).unwrap();
    assert!(archive.verify().unwrap().is_ok());
    let meta = archive.directory().unwrap();
    let wanted = ["history", "numbers[shard 2]", "by_name[bucket 1]", "item.notes"];
    let mut damaged = Vec::new();
    for path in wanted {
        let i = (0..meta.chunks.len()).find(|&i| meta.path(i) == path).unwrap_or_else(|| panic!("{path} not found"));
        let r = meta.chunks[i].chunk;
        bytes[(r.offset() + r.stored_len() / 2) as usize] ^= 0x10;
        damaged.push((path, r.offset()));
    }
    let archive = strata::Archive::from_bytes(bytes).unwrap();
    let report = archive.verify().unwrap();
    assert_eq!(report.damaged.len(), wanted.len(), "{:?}", report.damaged);
    for (path, offset) in damaged {
        let d = report.damaged.iter().find(|d| d.path == path).unwrap_or_else(|| panic!("{path} not reported"));
        assert!(matches!(d.error, strata::Error::ChecksumMismatch { at, .. } if at.offset == offset));
    }
    assert_eq!(report.chunks, hostile::chunks().len() as u64);
}

#[test]
fn schemas_nested_without_end_are_errors_not_stack_overflows() {
    // A type expression nested a hundred thousand deep, as a hostile file's schema
    // could write it: the parser refuses it.
    let deep = format!("strata-schema 1\nroot {}u32{}\n", "Vec<".repeat(100_000), ">".repeat(100_000));
    let reader = strata::schema::schema_of::<u32>().text.as_str();
    assert!(matches!(strata::check_readable(&deep, reader), Err(strata::Error::Schema(_))));
    // Twenty thousand distinct struct types, each holding the next: the plan refuses to
    // follow the chain past its depth limit, on both sides of a check.
    let mut chain = String::from("strata-schema 1\nroot T0\n");
    for i in 0..20_000 {
        chain.push_str(&format!("type T{i} = struct size 4 align 4 {{ f @0: T{} }}\n", i + 1));
    }
    chain.push_str("type T20000 = struct size 4 align 4 { x @0: u32 }\n");
    for (file, reader) in [(&chain, &chain), (&chain, &chain.replace("x @0: u32", "x @0: u64"))] {
        match strata::check_readable(file, reader) {
            Err(strata::Error::Schema(why)) => assert!(why.contains("nested deeper"), "{why}"),
            other => panic!("expected a schema error, got {other:?}"),
        }
    }
    // A short chain plans as usual.
    let short = "strata-schema 1\nroot T0\ntype T0 = struct size 4 align 4 { f @0: T1 }\ntype T1 = struct size 4 align 4 { x @0: u32 }\n";
    assert!(strata::check_readable(short, short).is_ok());
}
