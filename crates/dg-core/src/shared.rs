//! References shared across deltaspaces: a back-pointer for every delta made against another
//! deltaspace's reference, so that no delete removes a reference a delta still needs.
//!
//! A delta at `rel/1.1/app.zip.delta` made against `rel/1.0/reference.bin` has the marker
//! `.deltaglider/refs/<digest of rel/1.0/reference.bin>/rel/1.1/app.zip.delta` (an empty object,
//! hidden from listings like all of `.deltaglider/`). The marker is written before the delta, so
//! a reader of markers never misses a delta that exists. A marker whose delta is gone or now
//! names another reference is stale: it is removed when it is next looked at.

use dg_ports::{
    BytesBlob, Error, ListRequest, Location, ObjectStorageExt, PutMode, PutOptions, Result,
};
use tracing::debug;

use crate::digest::short_digest;
use crate::keys::INTERNAL_PREFIX;
use crate::meta::{self, field};
use crate::service::DeltaGlider;

/// Where the markers live.
pub const SHARED_PREFIX: &str = ".deltaglider/refs/";

/// Longest key S3 accepts: a delta whose marker key would be longer is not shared.
const MAX_KEY: usize = 1024;

/// The prefix of the markers of the reference at `reference_key`.
fn users_prefix(reference_key: &str) -> String {
    format!("{SHARED_PREFIX}{}/", short_digest(reference_key))
}

/// The marker of the delta at `delta_key` against the reference at `reference_key`, when its
/// key fits in S3's limit.
pub(crate) fn marker_key(reference_key: &str, delta_key: &str) -> Option<String> {
    let key = format!("{}{delta_key}", users_prefix(reference_key));
    (key.len() <= MAX_KEY).then_some(key)
}

impl DeltaGlider {
    /// Records that the delta at `delta` is made against `reference` (in another deltaspace).
    pub(crate) async fn mark_shared(&self, reference: &Location, delta: &Location) -> Result<()> {
        let key = marker_key(&reference.key, &delta.key).ok_or_else(|| {
            Error::InvalidInput(format!("{delta}: key too long to share a reference"))
        })?;
        debug_assert!(key.starts_with(INTERNAL_PREFIX));
        self.storage()
            .put(
                &reference.with_key(key),
                BytesBlob::shared(bytes::Bytes::new()),
                PutOptions {
                    metadata: meta::build([
                        (field::TOOL, self.config().tool.clone()),
                        (field::REF_KEY, reference.key.clone()),
                    ]),
                    mode: PutMode::Overwrite,
                },
            )
            .await
    }

    /// Removes the marker of the delta at `delta` against `reference`, if there is one.
    pub(crate) async fn unmark_shared(&self, reference: &Location, delta: &Location) -> Result<()> {
        match marker_key(&reference.key, &delta.key) {
            Some(key) => match self.storage().delete(&reference.with_key(key)).await {
                Ok(()) | Err(Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            },
            None => Ok(()),
        }
    }

    /// Deltas in other deltaspaces that `reference` still serves, at most `limit` of them;
    /// stale markers met on the way are removed.
    pub(crate) async fn shared_users(
        &self,
        reference: &Location,
        limit: usize,
    ) -> Result<Vec<Location>> {
        let prefix = users_prefix(&reference.key);
        let mut request = ListRequest {
            bucket: reference.bucket.clone(),
            prefix: prefix.clone(),
            ..ListRequest::default()
        };
        let mut users = Vec::new();
        loop {
            let page = self.storage().list(&request).await?;
            for marker in page.objects {
                let Some(delta_key) = marker.location.key.strip_prefix(&prefix) else {
                    continue;
                };
                let delta = reference.with_key(delta_key.to_string());
                if self.still_uses(&delta, reference).await? {
                    users.push(delta);
                    if users.len() >= limit {
                        return Ok(users);
                    }
                } else {
                    debug!(marker = %marker.location, "removing a stale shared-reference marker");
                    match self.storage().delete(&marker.location).await {
                        Ok(()) | Err(Error::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            match page.next {
                Some(next) => request.start_after = Some(next),
                None => return Ok(users),
            }
        }
    }

    /// True while another deltaspace's delta needs `reference`.
    pub(crate) async fn is_shared(&self, reference: &Location) -> Result<bool> {
        Ok(!self.shared_users(reference, 1).await?.is_empty())
    }

    /// True when the object at `delta` is a delta made against `reference`.
    async fn still_uses(&self, delta: &Location, reference: &Location) -> Result<bool> {
        let Some(info) = self.storage().head_opt(delta).await? else {
            return Ok(false);
        };
        Ok(match meta::classify(&delta.key, &info.metadata) {
            Ok(meta::ObjectKind::Delta(d)) => d.ref_key == reference.key,
            // unreadable metadata: keep the reference (never shorter than needed)
            Err(_) => true,
            Ok(_) => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_internal_and_bounded() {
        let key = marker_key("rel/1.0/reference.bin", "rel/1.1/app.zip.delta").unwrap_or_default();
        assert!(key.starts_with(SHARED_PREFIX));
        assert!(key.ends_with("/rel/1.1/app.zip.delta"));
        assert_ne!(
            users_prefix("rel/1.0/reference.bin"),
            users_prefix("rel/1.1/reference.bin")
        );
        assert_eq!(marker_key("reference.bin", &"x".repeat(1000)), None);
    }
}
