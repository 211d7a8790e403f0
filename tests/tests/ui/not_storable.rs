use std::time::Duration;

// rkyv can archive `Duration`, but strata does not know it as a `Persist` type: the
// error says how to store it anyway (`#[strata(rkyv)]`).
#[derive(strata::Persist)]
struct Timing {
    ok: u32,
    elapsed: Duration,
}
fn main() {}
