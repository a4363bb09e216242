//! A storage decorator that counts calls, per operation and key: for tests and for reporting
//! how many requests a command made.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dg_ports::{
    BlobRef, GetResult, ListPage, ListRequest, Location, ObjectInfo, ObjectStorage, PutOptions,
    Result,
};

/// Wraps a storage and counts each call by `(operation, key)`.
#[derive(Clone, Debug)]
pub struct CountingStorage {
    inner: Arc<dyn ObjectStorage>,
    counts: Arc<Mutex<BTreeMap<(&'static str, String), u64>>>,
}

impl CountingStorage {
    /// Counts calls made to `inner`.
    pub fn new(inner: Arc<dyn ObjectStorage>) -> Self {
        CountingStorage {
            inner,
            counts: Arc::default(),
        }
    }

    fn count(&self, op: &'static str, key: &str) {
        if let Ok(mut c) = self.counts.lock() {
            *c.entry((op, key.to_string())).or_default() += 1;
        }
    }

    /// Calls of `op` (`head`, `get`, `put`, `list`, `delete`, `copy`) on `key`.
    pub fn calls(&self, op: &str, key: &str) -> u64 {
        self.counts
            .lock()
            .map(|c| {
                c.iter()
                    .filter(|((o, k), _)| *o == op && k == key)
                    .map(|(_, n)| n)
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Calls of `op` on any key.
    pub fn total(&self, op: &str) -> u64 {
        self.counts
            .lock()
            .map(|c| {
                c.iter()
                    .filter(|((o, _), _)| *o == op)
                    .map(|(_, n)| n)
                    .sum()
            })
            .unwrap_or(0)
    }
}

#[async_trait]
impl ObjectStorage for CountingStorage {
    async fn head(&self, location: &Location) -> Result<ObjectInfo> {
        self.count("head", &location.key);
        self.inner.head(location).await
    }
    async fn get(&self, location: &Location) -> Result<GetResult> {
        self.count("get", &location.key);
        self.inner.get(location).await
    }
    async fn get_from(&self, location: &Location, offset: u64) -> Result<GetResult> {
        self.count("get", &location.key);
        self.inner.get_from(location, offset).await
    }
    async fn put(&self, location: &Location, body: BlobRef, options: PutOptions) -> Result<()> {
        self.count("put", &location.key);
        self.inner.put(location, body, options).await
    }
    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        self.count("list", &request.prefix);
        self.inner.list(request).await
    }
    async fn delete(&self, location: &Location) -> Result<()> {
        self.count("delete", &location.key);
        self.inner.delete(location).await
    }
    async fn copy(&self, from: &Location, to: &Location) -> Result<()> {
        self.count("copy", &from.key);
        self.inner.copy(from, to).await
    }
}
