//! Fuzz target `cache_views`: see `strata_tests::hostile::fuzz_cache_views`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_tests::hostile::fuzz_cache_views(data);
});
