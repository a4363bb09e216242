//! Object-storage adapters: in memory, a local directory, and (with the `s3` feature) S3.

mod backoff;
mod counting;
mod listing;
mod local;
mod local_keys;
mod memory;
mod retry;
mod retry_buckets;
#[cfg(feature = "s3")]
pub mod s3;

pub use backoff::{Backoff, RetryCounter};
pub use counting::CountingStorage;
pub use listing::paginate;
pub use local::LocalStorage;
pub use memory::MemoryStorage;
pub use retry::{RetryPolicy, RetryingStorage};
pub use retry_buckets::RetryingBuckets;
#[cfg(feature = "s3")]
pub use s3::{S3Config, S3Credentials, S3Storage};

/// Validates a bucket name the way S3 does (3–63 characters of `a-z 0-9 . -`, starting and
/// ending with a letter or digit).
pub fn validate_bucket_name(name: &str) -> dg_ports::Result<()> {
    let ok_len = (3..=63).contains(&name.len());
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ok_ends = name
        .bytes()
        .next()
        .zip(name.bytes().last())
        .is_some_and(|(a, z)| a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_ends && !name.contains("..") {
        Ok(())
    } else {
        Err(dg_ports::Error::InvalidInput(format!(
            "`{name}` is not a valid bucket name (3-63 characters: lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit)"
        )))
    }
}
