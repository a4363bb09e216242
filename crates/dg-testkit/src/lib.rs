//! Test set-ups of dg's domain: [`dg_core::Ports`] made of in-memory adapters in one call.
//!
//! The adapters come from [`dg_adapters::testing::memory_ports`] (dg-adapters cannot depend on
//! dg-core); this crate, above both, turns them into [`Ports`]. Change what a test needs with
//! struct update syntax on either:
//!
//! ```
//! use std::sync::Arc;
//! use dg_adapters::MemoryStorage;
//! use dg_core::Ports;
//!
//! let memory = MemoryStorage::new();
//! let ports = Ports {
//!     storage: Arc::new(memory.clone()),
//!     cache: Arc::new(dg_ports::NoCache),
//!     ..dg_testkit::memory_ports()
//! };
//! assert_eq!(ports.engines.native_default(), Some("zstd"));
//! ```

use dg_adapters::testing::MemoryPorts;
use dg_core::{EngineSet, Ports};

pub use dg_adapters::testing::{memory_ports_over, MEMORY_CACHE_BYTES};

/// `parts` as [`Ports`] (the engines in their order, the first one preferred).
pub fn ports(parts: MemoryPorts) -> Ports {
    Ports {
        storage: parts.storage,
        cache: parts.cache,
        staging: parts.staging,
        engines: EngineSet::new(parts.engines),
        clock: parts.clock,
        compressor: parts.compressor,
        expander: parts.expander,
    }
}

/// Every port in memory ([`dg_adapters::testing::memory_ports`]) as [`Ports`], over a fresh
/// store with no buckets.
pub fn memory_ports() -> Ports {
    ports(dg_adapters::testing::memory_ports())
}

/// Generates one test per storage format, `name::native` and `name::compat`, each running the
/// async test body `name(format)` (an `async fn name(format: dg_core::Format)` beside the
/// macro call) under the given test attribute, e.g. `per_format!(#[tokio::test] uploads);`.
#[macro_export]
macro_rules! per_format {
    ($(#[$test:meta])* $name:ident) => {
        mod $name {
            $(#[$test])*
            async fn native() {
                super::$name(dg_core::Format::Native).await
            }
            $(#[$test])*
            async fn compat() {
                super::$name(dg_core::Format::Compat).await
            }
        }
    };
}
