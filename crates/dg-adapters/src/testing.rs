//! Helpers for tests of this and other crates: [`FaultyStorage`], a decorator that makes any
//! storage misbehave on cue, and (feature `s3-test-server`) [`S3TestServer`], a real S3 server
//! in-process, optionally throttling.

mod faulty;
#[cfg(feature = "s3-test-server")]
pub mod memory_s3;
#[cfg(feature = "s3-test-server")]
mod server;

pub use faulty::{Fault, FaultyStorage, Op, When};
#[cfg(feature = "s3-test-server")]
pub use server::{S3TestServer, ServerFaults, SharedServer, ACCESS_KEY, SECRET_KEY};
