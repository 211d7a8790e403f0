//! Benchmarks of strata.
//!
//! - `cargo bench -p strata-benches --bench hot_paths`: criterion micro-benches of the
//!   hot paths.
//! - `cargo run --release -p strata-benches --bin compare -- [--scale 1|10|100]`: the
//!   whitepaper's dataset in every format, write and read times warm and cold, checked
//!   answers, Markdown tables and JSON.

#![allow(missing_docs, reason = "benchmark models mirror the dataset's plain fields")]

pub mod dataset;
pub mod formats;
pub mod os;
