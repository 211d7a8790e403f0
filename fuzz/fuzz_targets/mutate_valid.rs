//! Fuzz target `mutate_valid`: see `strata_tests::hostile::fuzz_mutate_valid`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_tests::hostile::fuzz_mutate_valid(data);
});
