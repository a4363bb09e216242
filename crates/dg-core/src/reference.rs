//! Getting a deltaspace's reference: from this process, the cache or storage, always verified.

use std::sync::Arc;

use dg_ports::{BlobRef, Error, Location, Result};
use tracing::{debug, warn};

use crate::digest::sha256_blob;
use crate::meta::{self, field};
use crate::service::{DeltaGlider, VERIFIED_KEEP};
use crate::transfer::{blocking, spool};

/// A reference whose bytes hash to `sha256`.
#[derive(Clone, Debug)]
pub struct LoadedRef {
    /// The reference's bytes.
    pub blob: BlobRef,
    /// Its SHA-256.
    pub sha256: String,
}

impl DeltaGlider {
    /// The reference at `location`, checked against `expected` (the delta's `dg-ref-sha256`) or,
    /// without one, against the reference's own `dg-file-sha256`.
    pub(crate) async fn load_reference(
        &self,
        location: &Location,
        expected: Option<&str>,
    ) -> Result<LoadedRef> {
        if let Some(found) = expected.and_then(|sha| self.verified_ref(sha)) {
            return Ok(found);
        }
        // One fetch per reference at a time: later callers find it verified or cached.
        let gate = self.fetch_gate(location);
        let _held = gate.lock().await;
        if let Some(found) = expected.and_then(|sha| self.verified_ref(sha)) {
            return Ok(found);
        }
        if let Some(sha) = expected {
            if let Some(found) = self.cached_ref(sha).await? {
                return Ok(found);
            }
        }
        self.download_reference(location, expected).await
    }

    /// A cache hit whose content still hashes to `sha`; a bad entry is removed.
    async fn cached_ref(&self, sha: &str) -> Result<Option<LoadedRef>> {
        let blob = match self.cache().get(sha).await {
            Ok(Some(blob)) => blob,
            Ok(None) => return Ok(None),
            Err(e) => {
                warn!(sha256 = sha, error = %e, "reference cache failed; fetching from storage");
                return Ok(None);
            }
        };
        let check = blob.clone();
        let actual = blocking(move || sha256_blob(check.as_ref(), "cached reference")).await?;
        if actual != sha {
            warn!(
                expected = sha,
                actual = %actual,
                "cached reference is corrupt; removing it and fetching from storage"
            );
            if let Err(e) = self.cache().remove(sha).await {
                warn!(error = %e, "could not remove the corrupt cache entry");
            }
            return Ok(None);
        }
        debug!(sha256 = sha, "reference from cache");
        let loaded = LoadedRef {
            blob,
            sha256: actual,
        };
        self.remember_ref(&loaded);
        Ok(Some(loaded))
    }

    async fn download_reference(
        &self,
        location: &Location,
        expected: Option<&str>,
    ) -> Result<LoadedRef> {
        let got = self.storage().get(location).await.map_err(|e| match e {
            Error::NotFound { .. } => Error::NotFound {
                what: format!("reference {location}"),
            },
            other => other,
        })?;
        let recorded =
            meta::get(&got.info.metadata, field::FILE_SHA256).map(str::to_ascii_lowercase);
        if let (Some(want), Some(has)) = (expected, recorded.as_deref()) {
            if want != has {
                return Err(Error::Corrupt {
                    what: format!(
                        "{location} (it was replaced after the delta was written against it)"
                    ),
                    check: "SHA-256",
                    expected: want.to_string(),
                    actual: has.to_string(),
                });
            }
        }
        let out = self.staging().create()?;
        let what = location.to_string();
        let spooled = spool(got.body, out, got.info.size, &what).await?;
        if spooled.len != got.info.size {
            return Err(Error::Corrupt {
                what: location.to_string(),
                check: "size",
                expected: got.info.size.to_string(),
                actual: spooled.len.to_string(),
            });
        }
        if let Some(want) = expected.or(recorded.as_deref()) {
            if want != spooled.sha256 {
                return Err(Error::Corrupt {
                    what: location.to_string(),
                    check: "SHA-256",
                    expected: want.to_string(),
                    actual: spooled.sha256,
                });
            }
        }
        let blob = spooled.writer.finish()?;
        let loaded = LoadedRef {
            blob,
            sha256: spooled.sha256,
        };
        self.offer_to_cache(&loaded).await;
        self.remember_ref(&loaded);
        debug!(%location, "reference downloaded and verified");
        Ok(loaded)
    }

    /// Puts a verified reference in the cache; failures only warn.
    pub(crate) async fn offer_to_cache(&self, loaded: &LoadedRef) {
        if let Err(e) = self.cache().put(&loaded.sha256, loaded.blob.clone()).await {
            warn!(error = %e, "could not cache the reference");
        }
    }

    pub(crate) fn remember_ref(&self, loaded: &LoadedRef) {
        if let Ok(mut v) = self.inner.verified.lock() {
            v.retain(|(sha, _)| *sha != loaded.sha256);
            v.push((loaded.sha256.clone(), loaded.blob.clone()));
            while v.len() > VERIFIED_KEEP {
                v.remove(0);
            }
        }
    }

    fn verified_ref(&self, sha: &str) -> Option<LoadedRef> {
        let v = self.inner.verified.lock().ok()?;
        v.iter().find(|(s, _)| s == sha).map(|(s, b)| LoadedRef {
            blob: b.clone(),
            sha256: s.clone(),
        })
    }

    fn fetch_gate(&self, location: &Location) -> Arc<tokio::sync::Mutex<()>> {
        match self.inner.fetching.lock() {
            Ok(mut map) => map.entry(location.to_string()).or_default().clone(),
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        }
    }
}
