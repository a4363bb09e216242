//! Reference caches.

mod memory;

pub use memory::MemoryCache;
