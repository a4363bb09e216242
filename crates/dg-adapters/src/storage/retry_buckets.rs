//! The retrying decorator of bucket administration.

use std::sync::Arc;

use async_trait::async_trait;
use dg_ports::{BucketInfo, Buckets, Result};

use super::backoff::Backoff;

/// Wraps bucket administration and repeats its calls that fail with transient errors. A create
/// or delete whose answer was lost may then report that the bucket exists or is missing.
#[derive(Clone, Debug)]
pub struct RetryingBuckets {
    inner: Arc<dyn Buckets>,
    backoff: Backoff,
}

impl RetryingBuckets {
    /// `inner`'s calls retried on `backoff`'s schedule, counted in its counter.
    pub fn new(inner: Arc<dyn Buckets>, backoff: Backoff) -> Self {
        RetryingBuckets { inner, backoff }
    }
}

#[async_trait]
impl Buckets for RetryingBuckets {
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.backoff
            .repeat("list_buckets", &"buckets", || self.inner.list_buckets())
            .await
    }

    async fn create_bucket(&self, name: &str) -> Result<()> {
        self.backoff
            .repeat("create_bucket", &name, || self.inner.create_bucket(name))
            .await
    }

    async fn delete_bucket(&self, name: &str) -> Result<()> {
        self.backoff
            .repeat("delete_bucket", &name, || self.inner.delete_bucket(name))
            .await
    }
}
