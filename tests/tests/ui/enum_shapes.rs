#[derive(strata::Persist)]
enum Empty {}

#[derive(strata::Persist)]
enum Explicit {
    A = 1,
    #[strata(lazy)]
    B,
}
fn main() {}
