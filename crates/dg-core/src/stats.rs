//! What a prefix costs: original vs stored bytes, savings, deltaspaces, objects by kind,
//! computed from the raw listing and (sampled, detailed) the deltas' recorded original sizes;
//! cached in the bucket under `.deltaglider/dg-stats/` while the listing is unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::time::UNIX_EPOCH;

use dg_ports::{BytesBlob, Location, ObjectInfo, ObjectStorageExt, PutOptions, Result};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{debug, warn};

use crate::keys::{is_internal_key, is_reference_key, DeltaSpace, DELTA_SUFFIX};
use crate::meta::{self, field};
use crate::DeltaGlider;

/// Version of the cached result's layout.
const CACHE_VERSION: &str = "dg-stats-2";

/// How much the stats read beyond the listing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatsMode {
    /// The listing alone: the original size of deltas stays unknown.
    #[default]
    Quick,
    /// One delta per deltaspace read; its siblings are assumed the same size.
    Sampled,
    /// Every delta read.
    Detailed,
}

impl StatsMode {
    /// `quick`, `sampled` or `detailed`.
    pub fn name(self) -> &'static str {
        match self {
            StatsMode::Quick => "quick",
            StatsMode::Sampled => "sampled",
            StatsMode::Detailed => "detailed",
        }
    }
}

/// How [`DeltaGlider::stats`] uses the cached result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatsCache {
    /// Reuse a result computed from the same listing; store a new one.
    #[default]
    Use,
    /// Recompute, then store.
    Refresh,
    /// Neither read nor write the cache.
    Off,
}

/// Options of [`DeltaGlider::stats`].
#[derive(Clone, Copy, Debug, Default)]
pub struct StatsOptions {
    /// How much is read beyond the listing.
    pub mode: StatsMode,
    /// Whether a cached result is reused and a new one stored.
    pub cache: StatsCache,
}

/// What a prefix costs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub bucket: String,
    pub prefix: String,
    pub mode: StatsMode,
    /// Files (deltas and whole objects).
    pub files: u64,
    pub deltas: u64,
    pub direct: u64,
    pub references: u64,
    pub deltaspaces: u64,
    /// Bytes of the files (deltas of unknown size not counted).
    pub original_size: u64,
    /// Bytes stored, references included.
    pub stored_size: u64,
    pub delta_bytes: u64,
    pub direct_bytes: u64,
    pub reference_bytes: u64,
    /// Deltas whose original size was not read (quick mode) or not recorded.
    pub deltas_of_unknown_size: u64,
    /// True when sizes were extrapolated (sampled mode).
    pub estimated: bool,
    /// References outside the prefix that its deltas are made against (shared with the
    /// prefixes they are in), among the deltas read (sampled, detailed); not in `stored_size`.
    #[serde(default)]
    pub shared_references: u64,
    /// Their bytes.
    #[serde(default)]
    pub shared_reference_bytes: u64,
    /// `1 - stored / original`, when every size is known.
    pub savings: Option<f64>,
    /// When this was computed (ISO 8601).
    pub computed_at: String,
    /// True when this came from the cache.
    #[serde(default)]
    pub cached: bool,
}

/// What the stats read of one delta: its recorded original size, and its reference's key.
type DeltaRead = (Option<u64>, Option<String>);

/// What identifies a listing: a cached result is reused only while it is unchanged.
fn fingerprint(objects: &[ObjectInfo]) -> Value {
    let newest = objects
        .iter()
        .filter_map(|o| o.last_modified)
        .filter_map(|t| t.duration_since(UNIX_EPOCH).ok())
        .max()
        .map_or(0, |d| d.as_nanos());
    json!({
        "objects": objects.len(),
        "stored_bytes": objects.iter().map(|o| o.size).sum::<u64>(),
        "newest": newest.to_string(),
    })
}

/// Where the cached result for `prefix` in `mode` lives.
fn cache_location(bucket: &str, prefix: &str, mode: StatsMode) -> Location {
    Location::new(
        bucket,
        format!(".deltaglider/dg-stats/{}/{prefix}_stats.json", mode.name()),
    )
}

impl DeltaGlider {
    /// Original vs stored bytes under `prefix` of `bucket`.
    pub async fn stats(&self, bucket: &str, prefix: &str, options: StatsOptions) -> Result<Stats> {
        let storage = self.storage().clone();
        let objects: Vec<ObjectInfo> = storage
            .list_all(bucket, prefix)
            .await?
            .into_iter()
            .filter(|o| !is_internal_key(&o.location.key))
            .collect();
        let print = fingerprint(&objects);
        let cache = cache_location(bucket, prefix, options.mode);
        if options.cache == StatsCache::Use {
            if let Some(mut cached) = self.cached_stats(&cache, &print).await {
                cached.cached = true;
                return Ok(cached);
            }
        }
        let stats = self.compute(bucket, prefix, options.mode, &objects).await?;
        if options.cache != StatsCache::Off {
            let entry = json!({"version": CACHE_VERSION, "listing": print, "stats": stats});
            let body = BytesBlob::shared(entry.to_string().into_bytes());
            if let Err(e) = storage.put(&cache, body, PutOptions::default()).await {
                warn!("could not cache the stats at {cache}: {e}");
            }
        }
        Ok(stats)
    }

    /// The cached result, when it was computed from the same listing.
    async fn cached_stats(&self, at: &Location, listing: &Value) -> Option<Stats> {
        let got = match self.storage().get(at).await {
            Ok(got) => got,
            Err(e) => {
                debug!("no cached stats at {at}: {e}");
                return None;
            }
        };
        let chunks: Vec<bytes::Bytes> = got.body.try_collect().await.ok()?;
        let entry: Value = serde_json::from_slice(&chunks.concat()).ok()?;
        if entry["version"] != CACHE_VERSION || entry["listing"] != *listing {
            return None;
        }
        serde_json::from_value(entry["stats"].clone()).ok()
    }

    /// The original size recorded on a delta, if any, and the key of its reference.
    async fn original_size(&self, object: &ObjectInfo) -> DeltaRead {
        let Ok(info) = self.storage().head(&object.location).await else {
            return (None, None);
        };
        let key = &object.location.key;
        let size = meta::get_u64(&info.metadata, field::FILE_SIZE, key)
            .ok()
            .flatten();
        let reference = match meta::classify(key, &info.metadata) {
            Ok(meta::ObjectKind::Delta(delta)) => Some(delta.ref_key),
            _ => None,
        };
        (size, reference)
    }

    /// How many of `used` (reference keys) are not among `objects`, and their bytes.
    async fn outside(
        &self,
        bucket: &str,
        objects: &[ObjectInfo],
        used: BTreeSet<String>,
    ) -> (u64, u64) {
        let listed: BTreeSet<&str> = objects.iter().map(|o| o.location.key.as_str()).collect();
        let (mut count, mut bytes) = (0u64, 0u64);
        for key in used.iter().filter(|k| !listed.contains(k.as_str())) {
            if let Ok(info) = self
                .storage()
                .head(&Location::new(bucket, key.clone()))
                .await
            {
                count += 1;
                bytes = bytes.saturating_add(info.size);
            }
        }
        (count, bytes)
    }

    async fn compute(
        &self,
        bucket: &str,
        prefix: &str,
        mode: StatsMode,
        objects: &[ObjectInfo],
    ) -> Result<Stats> {
        let (mut deltas, mut direct, mut references) = (Vec::new(), 0u64, 0u64);
        let (mut direct_bytes, mut delta_bytes, mut reference_bytes) = (0u64, 0u64, 0u64);
        let mut spaces = BTreeSet::new();
        for o in objects {
            let key = &o.location.key;
            if is_reference_key(key) {
                references += 1;
                reference_bytes = reference_bytes.saturating_add(o.size);
                spaces.insert(DeltaSpace::of(&o.location).prefix);
            } else if key.ends_with(DELTA_SUFFIX) {
                delta_bytes = delta_bytes.saturating_add(o.size);
                deltas.push(o);
            } else {
                direct += 1;
                direct_bytes = direct_bytes.saturating_add(o.size);
            }
        }
        // Layers (newer references of drifting series) live under `.deltaglider/`: count them
        // with their deltaspace's reference.
        for prefix in &spaces {
            let space = DeltaSpace {
                bucket: bucket.to_string(),
                prefix: prefix.clone(),
            };
            for (_, layer) in self.layers(&space).await? {
                references += 1;
                reference_bytes = reference_bytes.saturating_add(layer.size);
            }
        }
        // The deltas whose original size is read: all, one per deltaspace, or none.
        let sample: Vec<&ObjectInfo> = match mode {
            StatsMode::Quick => Vec::new(),
            StatsMode::Detailed => deltas.clone(),
            StatsMode::Sampled => {
                let mut first = BTreeMap::new();
                for d in &deltas {
                    first
                        .entry(DeltaSpace::of(&d.location).prefix)
                        .or_insert(*d);
                }
                first.into_values().collect()
            }
        };
        let read: Vec<(String, DeltaRead)> = futures::stream::iter(sample)
            .map(|d| async move { (d.location.key.clone(), self.original_size(d).await) })
            .buffered(16)
            .collect()
            .await;
        let used: BTreeSet<String> = read.iter().filter_map(|(_, (_, r))| r.clone()).collect();
        let (shared_references, shared_reference_bytes) = self.outside(bucket, objects, used).await;
        let read: BTreeMap<String, Option<u64>> =
            read.into_iter().map(|(k, (size, _))| (k, size)).collect();
        let per_space: BTreeMap<String, u64> = read
            .iter()
            .filter_map(|(k, size)| {
                let space = DeltaSpace::of(&Location::new(bucket, k.clone())).prefix;
                size.map(|s| (space, s))
            })
            .collect();
        let (mut delta_original, mut unknown) = (0u64, 0u64);
        for d in &deltas {
            let known = match mode {
                StatsMode::Quick => None,
                StatsMode::Detailed => read.get(&d.location.key).copied().flatten(),
                StatsMode::Sampled => per_space.get(&DeltaSpace::of(&d.location).prefix).copied(),
            };
            match known {
                Some(size) => delta_original = delta_original.saturating_add(size),
                None => unknown += 1,
            }
        }
        let original = direct_bytes + delta_original;
        let stored = direct_bytes + delta_bytes + reference_bytes;
        Ok(Stats {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            mode,
            files: direct + deltas.len() as u64,
            deltas: deltas.len() as u64,
            direct,
            references,
            deltaspaces: spaces.len() as u64,
            original_size: original,
            stored_size: stored,
            delta_bytes,
            direct_bytes,
            reference_bytes,
            deltas_of_unknown_size: unknown,
            estimated: mode == StatsMode::Sampled,
            shared_references,
            shared_reference_bytes,
            savings: (unknown == 0 && original > 0).then(|| 1.0 - stored as f64 / original as f64),
            computed_at: self.now_iso(),
            cached: false,
        })
    }
}
