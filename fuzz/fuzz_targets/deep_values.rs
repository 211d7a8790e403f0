//! Fuzz target `deep_values`: see `strata_tests::hostile::fuzz_deep_values`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_tests::hostile::fuzz_deep_values(data);
});
