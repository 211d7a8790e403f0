#[derive(strata::Persist)]
enum Empty {}

#[derive(strata::Persist)]
enum Explicit {
    A = 1,
    #[strata(lazy)]
    B,
}
#[derive(strata::Persist)]
enum Tag {
    A,
}

fn main() {}
