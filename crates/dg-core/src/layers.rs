//! Series that drift (native format): when a file's delta against its deltaspace's newest
//! reference has grown past 1/[`DRIFT_SHARE`] of the file and past half of what the newest
//! layer cost, the file becomes a newer reference — a *layer*, stored as its delta against the
//! deltaspace's `reference.bin` — and later files are deltas against it. (Layers cost more the
//! further the series has drifted from `reference.bin`; waiting until the files' deltas reach
//! half that cost keeps the total near its least: a 30-day dump series stores at 7.6% instead
//! of 15.2%.)
//!
//! Layers are always deltas against `reference.bin`, never against each other, so a download
//! reads at most three objects: the file's delta, a layer and `reference.bin`. They live under
//! `.deltaglider/layers/<digest of the deltaspace>/<number>/reference.bin` (hidden like all of
//! `.deltaglider/`), numbered in order, at most [`MAX_LAYERS`] per deltaspace; an upload takes
//! the newest. They go with the deltaspace: deleting its last file deletes its layers, then its
//! `reference.bin`.

use dg_ports::{
    Error, ListRequest, Location, ObjectInfo, ObjectStorageExt, PutMode, PutOptions, Result,
};
use tracing::{debug, info};

use crate::digest::short_digest;
use crate::format::{native, Native, StorageFormat};
use crate::keys::{DeltaSpace, REFERENCE_NAME};
use crate::meta::{self, field};
use crate::put::PutRequest;
use crate::service::{DeltaGlider, Format};
use crate::stored::PutOutcome;
use crate::upload::Upload;

/// Where layers live.
pub const LAYERS_PREFIX: &str = ".deltaglider/layers/";

/// A delta larger than 1/`DRIFT_SHARE` of its file makes the file a new layer.
pub const DRIFT_SHARE: u64 = 25;

/// Layers a deltaspace gets at most (then files stay deltas against the newest).
pub const MAX_LAYERS: usize = 64;

/// The listing prefix of the layers of `space`.
pub(crate) fn layers_prefix(space: &DeltaSpace) -> String {
    format!("{LAYERS_PREFIX}{}/", short_digest(&space.reference().key))
}

/// Where layer number `n` of `space` lives.
pub(crate) fn layer_location(space: &DeltaSpace, n: u32) -> Location {
    Location::new(
        space.bucket.clone(),
        format!("{}{n:06}/{REFERENCE_NAME}", layers_prefix(space)),
    )
}

/// True when the deltaspace whose reference is `base` may gain layers: not with the `prefix`
/// scope (every DeltaGlider before: one reference per prefix), and only for files with at most
/// one compressed stream (dumps, images, checkpoints, `.sql.gz`). Archives of many streams keep
/// one reference: their downloads copy the streams they share with it from its whole file,
/// which a layer would forgo.
pub(crate) fn may_layer(base: &ObjectInfo, scope: crate::nearby::ReferenceScope) -> bool {
    scope == crate::nearby::ReferenceScope::Siblings
        && meta::get(&base.metadata, field::STREAM_COUNT)
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n <= 1)
}

/// True for the key of a layer (of any deltaspace).
pub fn is_layer_key(key: &str) -> bool {
    key.starts_with(LAYERS_PREFIX)
}

/// True when the delta at `delta_key` is made against a layer of its own deltaspace.
pub(crate) fn is_own_layer(delta_key: &str, ref_key: &str) -> bool {
    let space = DeltaSpace::of(&Location::new("", delta_key));
    ref_key.starts_with(&layers_prefix(&space))
}

impl DeltaGlider {
    /// The layers of `space`, oldest first, by number (as listed: no metadata).
    pub(crate) async fn layers(&self, space: &DeltaSpace) -> Result<Vec<(u32, ObjectInfo)>> {
        let prefix = layers_prefix(space);
        let mut request = ListRequest {
            bucket: space.bucket.clone(),
            prefix: prefix.clone(),
            ..ListRequest::default()
        };
        let suffix = format!("/{REFERENCE_NAME}");
        let mut found = Vec::new();
        loop {
            let page = self.storage().list(&request).await?;
            for object in page.objects {
                let number = object
                    .location
                    .key
                    .strip_prefix(&prefix)
                    .and_then(|rest| rest.strip_suffix(&suffix))
                    .and_then(|n| n.parse::<u32>().ok());
                if let Some(n) = number {
                    found.push((n, object));
                }
            }
            match page.next {
                Some(next) if found.len() <= MAX_LAYERS => request.start_after = Some(next),
                _ => break,
            }
        }
        found.sort_by_key(|(n, _)| *n);
        Ok(found)
    }

    /// Writes `body` as layer number `n` of `space` (only if absent); false when another
    /// writer made that layer first.
    pub(crate) async fn create_layer(
        &self,
        space: &DeltaSpace,
        n: u32,
        body: dg_ports::BlobRef,
        metadata: dg_ports::Metadata,
    ) -> Result<Option<Location>> {
        let location = layer_location(space, n);
        match self
            .storage()
            .put(
                &location,
                body,
                PutOptions {
                    metadata,
                    mode: PutMode::Create,
                },
            )
            .await
        {
            Ok(()) => {
                info!(layer = %location, "the series drifted: a newer reference");
                Ok(Some(location))
            }
            Err(Error::AlreadyExists { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores a file of a native deltaspace whose reference is `base`: a delta against its
    /// newest layer (or `base`); when that delta has drifted (see the module's text), the file
    /// becomes the deltaspace's next layer and its own object says "identical".
    pub(crate) async fn put_native(
        &self,
        mut up: Upload,
        base: &ObjectInfo,
        request: &PutRequest,
    ) -> Result<PutOutcome> {
        let native = Native(self);
        let layers = self.layers(up.space()).await?;
        let newest = match layers.last() {
            Some((_, layer)) => self.storage().head_opt(&layer.location).await?,
            None => None,
        };
        let basis = newest.as_ref().unwrap_or(base);
        let delta = match native
            .delta(&mut up, basis, request)
            .await?
            .or_whole(self.max_ratio(request))
        {
            Ok(delta) => delta,
            Err(reason) => return self.put_direct(&up, reason, &request.metadata).await,
        };
        // A newer layer pays once its files' deltas outgrow half of what the newest layer cost.
        let newest_cost = newest.as_ref().map_or(0, |layer| layer.size);
        let drifted = delta.engine != "identical"
            && delta.body.len().saturating_mul(DRIFT_SHARE) > up.size()
            && delta.body.len().saturating_mul(2) > newest_cost
            && layers.len() < MAX_LAYERS;
        if !drifted {
            return self
                .write_delta(&up, delta, Format::Native, false, &request.metadata)
                .await;
        }
        // The layer is the file against reference.bin: the delta just made, when that was
        // its basis.
        let against_base = match newest {
            None => Some(delta.clone()),
            Some(_) => match native.delta(&mut up, base, request).await? {
                crate::format::Made::Object(made) => Some(made),
                _ => None,
            },
        };
        let plain = up.plain().cloned().filter(|p| p.streams <= 1);
        let (Some(layer), Some(plain)) = (against_base, plain) else {
            return self
                .write_delta(&up, delta, Format::Native, false, &request.metadata)
                .await;
        };
        let (layer_engine, layer_size) = (layer.engine, layer.body.len());
        let mut metadata = layer.metadata;
        metadata.insert(field::NOTE.into(), "layer".into());
        // uploads against the layer reuse the streams of reference.bin, as they would against it
        if let Some(streams) = meta::get(&base.metadata, field::STREAMS_SHA256) {
            metadata.insert(field::STREAMS_SHA256.into(), streams.to_string());
        }
        let number = layers.last().map_or(1, |(n, _)| n.saturating_add(1));
        let Some(location) = self
            .create_layer(up.space(), number, layer.body, metadata)
            .await?
        else {
            // another writer made that layer first: keep the delta already made
            return self
                .write_delta(&up, delta, Format::Native, false, &request.metadata)
                .await;
        };
        up.note([format!(
            "its delta had grown to {} bytes: the file is now the deltaspace's newer reference {location}",
            delta.body.len()
        )]);
        let own = native::identical(self, &up, &plain, &location.key)?;
        let mut outcome = self
            .write_delta(&up, own, Format::Native, false, &request.metadata)
            .await?;
        // what the upload cost: the layer (made by this engine) and its own small object
        outcome.stored = crate::stored::Stored::Delta {
            engine: layer_engine,
            created_reference: false,
            format: Format::Native,
        };
        outcome.stored_size = outcome.stored_size.saturating_add(layer_size);
        Ok(outcome)
    }

    /// Deletes every layer of `space` (once it holds no delta); returns what went.
    pub(crate) async fn drop_layers(&self, space: &DeltaSpace) -> Result<Vec<Location>> {
        let mut removed = Vec::new();
        for (_, ObjectInfo { location, .. }) in self.layers(space).await? {
            match self.storage().delete(&location).await {
                Ok(()) | Err(Error::NotFound { .. }) => {
                    debug!(layer = %location, "deleted with its deltaspace");
                    removed.push(location);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_numbered_under_their_deltaspace() {
        let space = DeltaSpace::of(&Location::new("b", "db/dump.sql.gz"));
        let first = layer_location(&space, 1);
        assert!(first.key.starts_with(&layers_prefix(&space)));
        assert!(first.key.ends_with("/000001/reference.bin"));
        assert!(is_layer_key(&first.key));
        assert!(is_own_layer("db/day-2.sql.gz.delta", &first.key));
        assert!(!is_own_layer("other/day-2.sql.gz.delta", &first.key));
        assert!(!is_own_layer("db/day-2.sql.gz.delta", "db/reference.bin"));
        let root = DeltaSpace::of(&Location::new("b", "dump.sql.gz"));
        assert_ne!(layers_prefix(&root), layers_prefix(&space));
    }
}
