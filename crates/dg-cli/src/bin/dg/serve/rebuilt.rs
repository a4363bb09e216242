//! Files rebuilt for reads, kept a little while: clients fetch a large file as many ranged
//! GETs at once (the aws CLI in 8 MiB pieces), and each must not rebuild the whole file again.
//! Concurrent reads of one file share one rebuild; a file is found again only while its stored
//! object is unchanged (same stored key and SHA-256 or ETag); the kept files are bounded in
//! total size and age.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dg::{Client, Location, ObjectHead};
use dg_core::GetOutcome;
use tokio::sync::{OnceCell, Semaphore};

use super::metrics::Metrics;

/// Which stored object a rebuild is of.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    bucket: String,
    key: String,
    stored_key: String,
    version: String,
}

#[derive(Debug)]
struct Slot {
    cell: Arc<OnceCell<GetOutcome>>,
    /// When a read last asked for it.
    used: Instant,
}

/// A kept file read this recently is never dropped to make room: a client reading a large
/// file range by range comes back within this time.
const IN_USE: Duration = Duration::from_secs(30);

impl Slot {
    fn size(&self) -> u64 {
        self.cell.get().map_or(0, |g| g.size)
    }

    /// Whether dropping it would free its disk space: nobody reads it now or soon.
    fn idle(&self) -> bool {
        self.cell
            .get()
            .is_some_and(|g| Arc::strong_count(&g.blob) == 1 && self.used.elapsed() > IN_USE)
    }
}

/// Recently rebuilt files.
#[derive(Debug)]
pub struct Rebuilt {
    slots: Mutex<HashMap<Key, Slot>>,
    max_bytes: u64,
    max_age: Duration,
}

impl Rebuilt {
    /// Keeps at most `max_bytes` of rebuilt files, each at most `max_age`.
    pub fn new(max_bytes: u64, max_age: Duration) -> Self {
        Rebuilt {
            slots: Mutex::new(HashMap::new()),
            max_bytes,
            max_age,
        }
    }

    /// The file `head` describes, rebuilt and checked: a kept one, the one another request is
    /// rebuilding, or a new rebuild.
    pub async fn get(
        &self,
        client: &Client,
        bucket: &str,
        head: &ObjectHead,
        metrics: &Metrics,
        slots: &Semaphore,
    ) -> dg::Result<GetOutcome> {
        let location = Location::new(bucket, head.key.clone());
        let rebuild = || async {
            let _slot = slots.acquire().await.map_err(|_| dg::Error::Unsupported {
                what: "reads while the server stops".into(),
            })?;
            client.get_staged(&location).await
        };
        let version = head.sha256.clone().or_else(|| head.etag.clone());
        let Some(version) = version.filter(|_| self.max_bytes > 0) else {
            return rebuild().await;
        };
        let key = Key {
            bucket: bucket.to_string(),
            key: head.key.clone(),
            stored_key: head.stored_key.clone(),
            version,
        };
        let cell = {
            let Ok(mut slots) = self.slots.lock() else {
                return rebuild().await;
            };
            self.evict(&mut slots);
            let slot = slots.entry(key.clone()).or_insert_with(|| Slot {
                cell: Arc::new(OnceCell::new()),
                used: Instant::now(),
            });
            slot.used = Instant::now();
            slot.cell.clone()
        };
        let rebuilt_here = std::sync::atomic::AtomicBool::new(false);
        let got = cell
            .get_or_try_init(|| async {
                rebuilt_here.store(true, std::sync::atomic::Ordering::Relaxed);
                rebuild().await
            })
            .await?
            .clone();
        metrics.rebuilt_cache(!rebuilt_here.load(std::sync::atomic::Ordering::Relaxed));
        if got.source.key != head.stored_key
            || head.sha256.as_ref().is_some_and(|s| *s != got.sha256)
        {
            // Replaced between the HEAD and the read: serve it, but do not keep it under the
            // old version.
            if let Ok(mut slots) = self.slots.lock() {
                slots.remove(&key);
            }
        }
        Ok(got)
    }

    /// Drops kept files unused for longer than their age, then the least recently used idle
    /// ones until the rest fit the size bound (files being read are kept: dropping them would
    /// free nothing).
    fn evict(&self, slots: &mut HashMap<Key, Slot>) {
        slots.retain(|_, s| s.used.elapsed() < self.max_age || s.cell.get().is_none());
        let mut total: u64 = slots.values().map(Slot::size).sum();
        while total > self.max_bytes {
            let oldest = slots
                .iter()
                .filter(|(_, s)| s.idle())
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone());
            let Some(k) = oldest else { break };
            if let Some(s) = slots.remove(&k) {
                total -= s.size();
            }
        }
    }
}
