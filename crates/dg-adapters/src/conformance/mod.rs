//! Shared conformance suites: every adapter of a port must pass its port's suite.
//!
//! Call them from each adapter's tests, e.g.
//! `conformance::storage::run(&store, "bucket").await` with an existing, empty bucket.
//! They panic with a message naming the broken rule, like `assert!`. What an adapter may
//! legitimately do differently is a documented parameter of its suite (e.g.
//! [`buckets::BucketRules`], [`staging::StagedIn`]), never a skipped check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod buckets;
pub mod cache;
pub mod compressor;
pub mod engine;
pub mod expander;
pub mod staging;
pub mod storage;
