#[derive(strata::Persist)]
struct Refs {
    name: &'static str,
    ok: u32,
    ptr: *const u8,
}
fn main() {}
