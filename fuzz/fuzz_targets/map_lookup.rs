//! Fuzz target `map_lookup`: see `strata_tests::hostile::fuzz_map_lookup`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_tests::hostile::fuzz_map_lookup(data);
});
