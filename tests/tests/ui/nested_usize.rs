#[derive(strata::Persist)]
struct Widths {
    fine: usize,
    also_fine: Vec<Vec<Option<usize>>>,
    not_fine: (u8, usize),
}
fn main() {}
