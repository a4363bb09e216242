//! Helpers for tests of this and other crates: [`memory_ports`], every port in memory in one
//! set-up; [`FaultyStorage`], a decorator that makes any storage misbehave on cue; and (feature `s3-test-server`) [`S3TestServer`], a real S3 server
//! in-process, optionally throttling.

mod faulty;
#[cfg(feature = "s3-test-server")]
pub mod memory_s3;
mod ports;
#[cfg(feature = "s3-test-server")]
mod server;

pub use faulty::{Fault, FaultyStorage, Op, When};
pub use ports::{memory_ports, memory_ports_over, MemoryPorts, MEMORY_CACHE_BYTES};
#[cfg(feature = "s3-test-server")]
pub use server::{S3TestServer, ServerFaults, SharedServer, ACCESS_KEY, SECRET_KEY};
