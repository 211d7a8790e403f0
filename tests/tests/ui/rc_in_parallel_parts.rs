// Values holding an `Rc` are saved and loaded on the calling thread: they cannot be
// the elements of a sharded vector (nor the entries of a map or a lazy value), whose
// parts are handled in parallel.
use std::rc::Rc;
use strata::Persist;

#[derive(Persist)]
struct Node {
    label: Rc<String>,
}

#[derive(Persist)]
struct Sharded {
    #[strata(shard)]
    nodes: Vec<Node>,
}

fn main() {}
