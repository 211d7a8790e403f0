//! Fuzz target `decompress`: see `strata_tests::hostile::fuzz_decompress`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_tests::hostile::fuzz_decompress(data);
});
