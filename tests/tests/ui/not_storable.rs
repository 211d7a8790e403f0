// rkyv can archive `Box<str>`, but strata does not know it as a `Persist` type (its
// archived form differs from `String`'s): the error says how to store it anyway
// (`#[strata(rkyv)]`).
#[derive(strata::Persist)]
struct Label {
    ok: u32,
    text: Box<str>,
}
fn main() {}
