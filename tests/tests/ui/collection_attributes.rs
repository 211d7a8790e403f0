use std::collections::HashMap;

#[derive(strata::Persist)]
struct Misplaced {
    #[strata(shard)]
    not_a_vec: HashMap<u32, u32>,
    #[strata(map)]
    not_a_map: Vec<u32>,
    #[strata(shard_bytes = 4096)]
    size_without_shard: Vec<u32>,
    #[strata(shard, shard_bytes = 12)]
    tiny_shards: Vec<u32>,
    #[strata(shard, map)]
    both: Vec<u32>,
}
fn main() {}
