//! A bounded in-memory reference cache, least recently used entries evicted first.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use dg_ports::{BlobRef, BytesBlob, Error, ReferenceCache, Result};

/// Keeps references in memory up to a byte budget. Entries larger than the budget are not kept.
#[derive(Debug)]
pub struct MemoryCache {
    budget: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, (Bytes, u64)>,
    used: u64,
    tick: u64,
}

impl MemoryCache {
    /// A cache holding at most `budget` bytes.
    pub fn new(budget: u64) -> Self {
        MemoryCache {
            budget,
            state: Mutex::new(State::default()),
        }
    }

    /// Bytes held now.
    pub fn used(&self) -> u64 {
        self.state.lock().map(|s| s.used).unwrap_or(0)
    }
}

fn poisoned() -> Error {
    Error::Io {
        context: "memory cache lock poisoned".into(),
        source: std::io::Error::other("poisoned"),
    }
}

#[async_trait]
impl ReferenceCache for MemoryCache {
    async fn get(&self, sha256: &str) -> Result<Option<BlobRef>> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        state.tick += 1;
        let tick = state.tick;
        Ok(state.entries.get_mut(sha256).map(|(bytes, used)| {
            *used = tick;
            BytesBlob::shared(bytes.clone())
        }))
    }

    async fn put(&self, sha256: &str, blob: BlobRef) -> Result<()> {
        if blob.len() > self.budget {
            return Ok(());
        }
        let mut data = Vec::with_capacity(usize::try_from(blob.len()).unwrap_or(0));
        blob.reader()?
            .read_to_end(&mut data)
            .map_err(|e| Error::io("reading a reference into the memory cache", e))?;
        let size = data.len() as u64;
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        if let Some((old, _)) = state.entries.remove(sha256) {
            state.used -= old.len() as u64;
        }
        while state.used + size > self.budget {
            let Some(oldest) = state
                .entries
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((old, _)) = state.entries.remove(&oldest) {
                state.used -= old.len() as u64;
            }
        }
        state.tick += 1;
        let tick = state.tick;
        state.used += size;
        state
            .entries
            .insert(sha256.to_string(), (Bytes::from(data), tick));
        Ok(())
    }

    async fn remove(&self, sha256: &str) -> Result<()> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        if let Some((old, _)) = state.entries.remove(sha256) {
            state.used -= old.len() as u64;
        }
        Ok(())
    }
}
