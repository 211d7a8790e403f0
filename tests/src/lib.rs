//! Shared models and helpers for strata's integration tests.
