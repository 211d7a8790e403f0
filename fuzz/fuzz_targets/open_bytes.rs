//! Fuzz target `open_bytes`: see `strata_tests::hostile::fuzz_open_bytes`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_tests::hostile::fuzz_open_bytes(data);
});
