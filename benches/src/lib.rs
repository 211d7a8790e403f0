//! Benchmarks of strata. `cargo bench -p strata-benches` runs the criterion
//! micro-benches of the hot paths (`benches/hot_paths.rs`).
