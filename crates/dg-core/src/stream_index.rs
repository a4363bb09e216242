//! References' indexes of compressed streams: kept in the reference, this process and the cache, so that uploads reuse the reference's see-through work.

use std::sync::Arc;

use dg_ports::{BytesBlob, ObjectInfo};
use tracing::{debug, warn};

use crate::digest::{sha256_blob, sha256_hex};
use crate::meta::{self, field};
use crate::service::{DeltaGlider, VERIFIED_KEEP};
use crate::transfer::blocking;

impl DeltaGlider {
    /// Keeps a reference's index in this process and offers it to the cache.
    pub(crate) async fn remember_index(&self, index: Arc<Vec<u8>>) {
        let sha = self.keep_index(index.clone());
        let blob = BytesBlob::shared(index.as_ref().clone());
        if let Err(e) = self.cache().put(&sha, blob).await {
            warn!(error = %e, "could not cache a reference's stream index");
        }
    }

    /// Keeps a reference's index in this process; returns its SHA-256.
    fn keep_index(&self, index: Arc<Vec<u8>>) -> String {
        let sha = sha256_hex(&index);
        if let Ok(mut kept) = self.inner.indexes.lock() {
            kept.retain(|(s, _)| *s != sha);
            kept.push((sha.clone(), index));
            while kept.len() > VERIFIED_KEEP {
                kept.remove(0);
            }
        }
        sha
    }

    /// The index of compressed streams of `reference` (a native reference's HEAD), from this
    /// process or the cache, checked against its `dg-streams-sha256`; `None` when it has none
    /// or it is not at hand (the upload then works every stream out, as it always can).
    pub(crate) async fn stream_index(&self, reference: &ObjectInfo) -> Option<Arc<Vec<u8>>> {
        let sha = meta::get(&reference.metadata, field::STREAMS_SHA256)?.to_ascii_lowercase();
        if let Ok(kept) = self.inner.indexes.lock() {
            if let Some((_, index)) = kept.iter().find(|(s, _)| *s == sha) {
                return Some(index.clone());
            }
        }
        let blob = match self.cache().get(&sha).await {
            Ok(Some(blob)) => blob,
            Ok(None) => {
                debug!(reference = %reference.location, "its stream index is not at hand");
                return None;
            }
            Err(e) => {
                warn!(error = %e, "reference cache failed");
                return None;
            }
        };
        let check = blob.clone();
        let got = blocking(move || {
            let actual = sha256_blob(check.as_ref(), "a cached stream index")?;
            Ok((actual, check.map()?.to_vec()))
        })
        .await;
        match got {
            Ok((actual, bytes)) if actual == sha => {
                let index = Arc::new(bytes);
                self.keep_index(index.clone());
                Some(index)
            }
            Ok(_) => {
                warn!(sha256 = %sha, "a cached stream index is damaged; removing it");
                let _ = self.cache().remove(&sha).await;
                None
            }
            Err(e) => {
                warn!(error = %e, "could not read a cached stream index");
                None
            }
        }
    }
}
