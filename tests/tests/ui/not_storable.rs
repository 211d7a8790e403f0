use std::path::PathBuf;

#[derive(strata::Persist)]
struct Shared {
    ok: u32,
    path: PathBuf,
}
fn main() {}
