//! The small non-cryptographic random source of backoff jitter and seeded fault injection:
//! dg-retry's SplitMix64 generator.

pub(crate) use dg_retry::Jitter as Rng;
