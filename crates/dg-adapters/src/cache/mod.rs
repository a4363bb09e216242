//! Reference caches: in memory, in a directory, and AES-256-GCM encryption around either.

mod counting;
mod encrypted;
mod fs;
mod memory;

pub use counting::{CacheCounts, CountingCache};
pub use encrypted::{random_key, EncryptedCache};
pub use fs::{CacheEntry, FsCache};
pub use memory::MemoryCache;
