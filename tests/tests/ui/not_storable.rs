// rkyv can archive `CString`, but strata does not know it as a `Persist` type: the
// error says how to store it anyway (`#[strata(via = "...")]` or `#[strata(rkyv)]`).
#[derive(strata::Persist)]
struct Label {
    ok: u32,
    text: std::ffi::CString,
}
fn main() {}
