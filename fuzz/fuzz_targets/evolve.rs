//! Fuzz target `evolve`: see `strata_tests::lying::fuzz_evolve`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_tests::lying::fuzz_evolve(data);
});
