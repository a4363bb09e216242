//! Shared conformance suites: every adapter of a port must pass its port's suite.
//!
//! Call them from each adapter's tests, e.g.
//! `conformance::storage::run(&store, "bucket").await` with an existing, empty bucket.
//! They panic with a message naming the broken rule, like `assert!`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod cache;
pub mod engine;
pub mod storage;
