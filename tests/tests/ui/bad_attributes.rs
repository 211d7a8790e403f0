#[derive(strata::Persist)]
#[strata(lazy)]
struct Bad {
    #[strata(lazy, rkyv)]
    both: Vec<u8>,
    #[strata(compress = "zstd")]
    not_lazy: Vec<u8>,
    #[strata(lazy, compress = "lz4")]
    unknown_codec: Vec<u8>,
    #[strata(lazy, compress = "zstd(99)")]
    bad_level: Vec<u8>,
    #[strata(lazy, lazy)]
    twice: Vec<u8>,
    #[strata(shiny)]
    unknown: u8,
    #[strata(crate = "x")]
    misplaced: u8,
}
fn main() {}
