#[derive(strata::Persist)]
struct Borrowed<'a> {
    name: String,
    other: std::marker::PhantomData<&'a ()>,
}
fn main() {}
