//! Getting what deltas are made against — a reference's stored bytes, or the plain form of a
//! native reference — from this process, the cache or storage, always verified.

use std::sync::Arc;

use dg_ports::{BlobRef, Error, Location, Result};
use tracing::{debug, warn};

use crate::container::{self, Kind};
use crate::digest::{sha256_blob, HashingWriter};
use crate::meta::{self, field};
use crate::service::{DeltaGlider, VERIFIED_KEEP};
use crate::transfer::{blocking, spool};

/// A reference (or a native reference's plain form) whose bytes hash to `sha256`.
#[derive(Clone, Debug)]
pub struct LoadedRef {
    /// The bytes.
    pub blob: BlobRef,
    /// Their SHA-256.
    pub sha256: String,
}

impl DeltaGlider {
    /// The stored bytes of the reference at `location`, checked against `expected` (a delta's
    /// `dg-ref-sha256`) or, without one, against the reference's own `dg-file-sha256`.
    pub(crate) async fn load_reference(
        &self,
        location: &Location,
        expected: Option<&str>,
    ) -> Result<LoadedRef> {
        self.gated(location, expected, |this| async move {
            this.download_reference(location, expected).await
        })
        .await
    }

    /// The plain form of the native reference at `location` whose SHA-256 is `basis`.
    pub(crate) async fn native_basis(&self, location: &Location, basis: &str) -> Result<LoadedRef> {
        self.gated(location, Some(basis), |this| async move {
            this.download_native_basis(location, basis).await
        })
        .await
    }

    /// Looks in this process and in the cache for `expected`, then runs `fetch` — one fetch
    /// per reference location at a time, so concurrent downloads fetch a reference once.
    async fn gated<'a, F, Fut>(
        &'a self,
        location: &Location,
        expected: Option<&str>,
        fetch: F,
    ) -> Result<LoadedRef>
    where
        F: FnOnce(&'a DeltaGlider) -> Fut,
        Fut: std::future::Future<Output = Result<LoadedRef>>,
    {
        if let Some(found) = expected.and_then(|sha| self.verified_ref(sha)) {
            return Ok(found);
        }
        let gate = self.fetch_gate(location);
        let _held = gate.lock().await;
        if let Some(sha) = expected {
            if let Some(found) = self.verified_ref(sha) {
                return Ok(found);
            }
            if let Some(found) = self.cached_ref(sha).await? {
                return Ok(found);
            }
        }
        fetch(self).await
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

    /// Downloads `location` into staging; returns the blob, its SHA-256 and its metadata.
    async fn fetch_stored(
        &self,
        location: &Location,
    ) -> Result<(BlobRef, String, dg_ports::Metadata)> {
        let got = self.storage().get(location).await.map_err(|e| match e {
            Error::NotFound { .. } => Error::NotFound {
                what: format!("reference {location}"),
            },
            other => other,
        })?;
        let out = self.staging().create()?;
        let spooled = spool(got.body, out, got.info.size, &location.to_string()).await?;
        if spooled.len != got.info.size {
            return Err(Error::Corrupt {
                what: location.to_string(),
                check: "size",
                expected: got.info.size.to_string(),
                actual: spooled.len.to_string(),
            });
        }
        Ok((spooled.writer.finish()?, spooled.sha256, got.info.metadata))
    }

    async fn download_reference(
        &self,
        location: &Location,
        expected: Option<&str>,
    ) -> Result<LoadedRef> {
        let (blob, actual, metadata) = self.fetch_stored(location).await?;
        if let meta::ObjectKind::Delta(_) = meta::classify(&location.key, &metadata)? {
            return Err(Error::invalid(
                location,
                "it is a delta, not a reference (its metadata names a reference of its own)",
            ));
        }
        // A native reference records its original file's hash, not its stored bytes'.
        let recorded = (!meta::is_native(&metadata))
            .then(|| meta::get(&metadata, field::FILE_SHA256).map(str::to_ascii_lowercase))
            .flatten();
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
        if let Some(want) = expected.or(recorded.as_deref()) {
            if want != actual {
                return Err(Error::Corrupt {
                    what: location.to_string(),
                    check: "SHA-256",
                    expected: want.to_string(),
                    actual,
                });
            }
        }
        let loaded = LoadedRef {
            blob,
            sha256: actual,
        };
        self.offer_to_cache(&loaded).await;
        self.remember_ref(&loaded);
        debug!(%location, "reference downloaded and verified");
        Ok(loaded)
    }

    async fn download_native_basis(&self, location: &Location, basis: &str) -> Result<LoadedRef> {
        let (stored, _, metadata) = self.fetch_stored(location).await?;
        let loaded = if crate::layers::is_layer_key(&location.key) {
            self.unpack_layer(location, stored, &metadata).await?
        } else {
            self.unpack_native_reference(location, stored).await?
        };
        if loaded.sha256 != basis {
            return Err(Error::Corrupt {
                what: format!(
                    "{location} (it was replaced after the delta was written against it)"
                ),
                check: "SHA-256 of the plain form",
                expected: basis.to_string(),
                actual: loaded.sha256,
            });
        }
        self.offer_to_cache(&loaded).await;
        self.remember_ref(&loaded);
        debug!(%location, "native reference downloaded, unpacked and verified");
        Ok(loaded)
    }

    /// Decompresses a native reference's plain form and checks it against its header.
    pub(crate) async fn unpack_native_reference(
        &self,
        location: &Location,
        stored: BlobRef,
    ) -> Result<LoadedRef> {
        let compressor = self.compressor()?.clone();
        let staging = self.staging().clone();
        let what = location.to_string();
        let unpacked = blocking(move || {
            let mut reader = stored.reader()?;
            let header = container::read_header(&mut reader).map_err(|e| rename(e, &what))?;
            if header.kind != Kind::Reference {
                return Err(Error::invalid(
                    &what,
                    "a native delta where a reference belongs",
                ));
            }
            let mut staged = staging.create()?;
            staged.reserve(header.plain.size, &what)?;
            let mut out = HashingWriter::new(staged);
            compressor
                .decompress(&mut reader, &mut out, header.plain.size)
                .map_err(|e| rename(e, &what))?;
            let (writer, sha, len) = out.finish();
            if len != header.plain.size || sha != header.plain.sha256 {
                return Err(Error::Corrupt {
                    what: what.clone(),
                    check: "SHA-256 of the plain form",
                    expected: header.plain.sha256,
                    actual: sha,
                });
            }
            let loaded = LoadedRef {
                blob: writer.finish()?,
                sha256: sha,
            };
            Ok((loaded, header.streams))
        })
        .await?;
        let (loaded, streams) = unpacked;
        if let Some(index) = streams {
            self.remember_index(Arc::new(index)).await;
        }
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

/// Names the object in format errors and in limits its decoding reached.
pub(crate) fn rename(e: Error, what: &str) -> Error {
    match e {
        Error::InvalidData { reason, source, .. } => Error::InvalidData {
            what: what.to_string(),
            reason,
            source,
        },
        Error::LimitExceeded { limit, .. } => Error::LimitExceeded {
            what: format!("the file rebuilt from {what}"),
            limit,
        },
        other => other,
    }
}

/// Names the file being rebuilt in an error about the reference it needs, which may be in
/// another deltaspace than the file.
pub(crate) fn of_file(e: Error, file: &Location) -> Error {
    let named = |what: String| format!("{what} (the reference {file} is a delta against)");
    match e {
        Error::Corrupt {
            what,
            check,
            expected,
            actual,
        } => Error::Corrupt {
            what: named(what),
            check,
            expected,
            actual,
        },
        Error::NotFound { what } => Error::NotFound { what: named(what) },
        Error::InvalidData {
            what,
            reason,
            source,
        } => Error::InvalidData {
            what: named(what),
            reason,
            source,
        },
        other => other,
    }
}
