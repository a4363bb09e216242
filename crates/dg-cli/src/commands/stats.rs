//! `dg stats`: what a prefix costs (original vs stored bytes, savings, deltaspaces, objects by
//! kind), computed from the raw listing and, in the sampled and detailed modes, the deltas'
//! recorded original sizes; cached in the bucket while the listing is unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use dg_core::keys::{is_internal_key, is_reference_key, DeltaSpace, DELTA_SUFFIX};
use dg_core::meta::{self, field};
use dg_ports::{BytesBlob, Location, ObjectInfo, ObjectStorageExt, PutOptions};
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use tracing::{debug, warn};

use crate::args::StatsArgs;
use crate::context::Context;
use crate::exit::usage;
use crate::format::{human_size, savings};
use crate::url::Target;

/// Version of the cached result's layout.
const CACHE_VERSION: &str = "dg-stats-1";

/// How much the stats read beyond the listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Quick,
    Sampled,
    Detailed,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Quick => "quick",
            Mode::Sampled => "sampled",
            Mode::Detailed => "detailed",
        }
    }
}

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
fn cache_location(bucket: &str, prefix: &str, mode: Mode) -> Location {
    Location::new(
        bucket,
        format!(".deltaglider/dg-stats/{}/{prefix}_stats.json", mode.name()),
    )
}

pub async fn run(ctx: &Context, args: &StatsArgs) -> Result<()> {
    let (bucket, prefix) = match Target::parse(&args.target)? {
        Target::S3 { bucket, key } => (bucket, key),
        Target::Local(p) => {
            let text = p.to_string_lossy().into_owned();
            match text.split_once('/') {
                Some((b, k)) if !b.is_empty() => (b.to_string(), k.to_string()),
                None if !text.is_empty() => (text, String::new()),
                _ => usage!("name a bucket: s3://BUCKET[/PREFIX]"),
            }
        }
    };
    let mode = match (args.sampled, args.detailed) {
        (true, _) => Mode::Sampled,
        (_, true) => Mode::Detailed,
        _ => Mode::Quick,
    };
    let storage = ctx.dg.storage().clone();
    let objects: Vec<ObjectInfo> = storage
        .list_all(&bucket, &prefix)
        .await?
        .into_iter()
        .filter(|o| !is_internal_key(&o.location.key))
        .collect();
    let print = fingerprint(&objects);
    let cache = cache_location(&bucket, &prefix, mode);
    if !args.no_cache && !args.refresh {
        if let Some(mut cached) = read_cache(ctx, &cache, &print).await {
            cached["cached"] = json!(true);
            show(ctx, &cached);
            return Ok(());
        }
    }
    let mut stats = compute(ctx, &bucket, &prefix, mode, &objects).await?;
    if !args.no_cache {
        let entry = json!({"version": CACHE_VERSION, "listing": print, "stats": stats});
        let body = BytesBlob::shared(entry.to_string().into_bytes());
        if let Err(e) = storage.put(&cache, body, PutOptions::default()).await {
            warn!("could not cache the stats at {cache}: {e}");
        }
    }
    stats["cached"] = json!(false);
    show(ctx, &stats);
    Ok(())
}

/// The cached result, when it was computed from the same listing.
async fn read_cache(ctx: &Context, at: &Location, listing: &Value) -> Option<Value> {
    let got = match ctx.dg.storage().get(at).await {
        Ok(got) => got,
        Err(e) => {
            debug!("no cached stats at {at}: {e}");
            return None;
        }
    };
    let chunks: Vec<bytes::Bytes> = got.body.try_collect().await.ok()?;
    let entry: Value = serde_json::from_slice(&chunks.concat()).ok()?;
    (entry["version"] == CACHE_VERSION && entry["listing"] == *listing)
        .then(|| entry["stats"].clone())
}

/// The original size recorded on a delta, if any.
async fn original_size(ctx: &Context, object: &ObjectInfo) -> Option<u64> {
    let info = ctx.dg.storage().head(&object.location).await.ok()?;
    meta::get_u64(&info.metadata, field::FILE_SIZE, &object.location.key)
        .ok()
        .flatten()
}

async fn compute(
    ctx: &Context,
    bucket: &str,
    prefix: &str,
    mode: Mode,
    objects: &[ObjectInfo],
) -> Result<Value> {
    let (mut deltas, mut direct, mut references) = (Vec::new(), 0u64, 0u64);
    let (mut direct_bytes, mut delta_bytes, mut reference_bytes) = (0u64, 0u64, 0u64);
    let mut spaces = BTreeSet::new();
    for o in objects {
        let key = &o.location.key;
        if is_reference_key(key) {
            references += 1;
            reference_bytes += o.size;
            spaces.insert(DeltaSpace::of(&o.location).prefix);
        } else if key.ends_with(DELTA_SUFFIX) {
            delta_bytes += o.size;
            deltas.push(o);
        } else {
            direct += 1;
            direct_bytes += o.size;
        }
    }
    // The deltas whose original size is read: all, one per deltaspace, or none.
    let sample: Vec<&ObjectInfo> = match mode {
        Mode::Quick => Vec::new(),
        Mode::Detailed => deltas.clone(),
        Mode::Sampled => {
            let mut first = BTreeMap::new();
            for d in &deltas {
                first
                    .entry(DeltaSpace::of(&d.location).prefix)
                    .or_insert(*d);
            }
            first.into_values().collect()
        }
    };
    let read: Vec<(String, Option<u64>)> = futures::stream::iter(sample)
        .map(|d| async move { (d.location.key.clone(), original_size(ctx, d).await) })
        .buffered(16)
        .collect()
        .await;
    let read: BTreeMap<String, Option<u64>> = read.into_iter().collect();
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
            Mode::Quick => None,
            Mode::Detailed => read.get(&d.location.key).copied().flatten(),
            Mode::Sampled => per_space.get(&DeltaSpace::of(&d.location).prefix).copied(),
        };
        match known {
            Some(size) => delta_original += size,
            None => unknown += 1,
        }
    }
    let original = direct_bytes + delta_original;
    let stored = direct_bytes + delta_bytes + reference_bytes;
    let computed_at = dg_core::timestamp::iso8601(SystemTime::now());
    Ok(json!({
        "type": "stats",
        "bucket": bucket,
        "prefix": prefix,
        "mode": mode.name(),
        "files": direct + deltas.len() as u64,
        "deltas": deltas.len(),
        "direct": direct,
        "references": references,
        "deltaspaces": spaces.len(),
        "original_size": original,
        "stored_size": stored,
        "delta_bytes": delta_bytes,
        "direct_bytes": direct_bytes,
        "reference_bytes": reference_bytes,
        "deltas_of_unknown_size": unknown,
        "estimated": mode == Mode::Sampled,
        "savings": (unknown == 0 && original > 0).then(|| 1.0 - stored as f64 / original as f64),
        "computed_at": computed_at,
    }))
}

fn show(ctx: &Context, stats: &Value) {
    if ctx.json {
        println!("{stats}");
        return;
    }
    let n = |k: &str| stats[k].as_u64().unwrap_or(0);
    let size = |k: &str| human_size(n(k));
    println!(
        "s3://{}/{} ({} mode{})",
        stats["bucket"].as_str().unwrap_or_default(),
        stats["prefix"].as_str().unwrap_or_default(),
        stats["mode"].as_str().unwrap_or_default(),
        if stats["cached"] == true {
            format!(
                ", cached from {}",
                stats["computed_at"].as_str().unwrap_or_default()
            )
        } else {
            String::new()
        }
    );
    println!(
        "  files:          {} ({} deltas, {} whole)",
        n("files"),
        n("deltas"),
        n("direct")
    );
    println!(
        "  deltaspaces:    {} (references: {}, {})",
        n("deltaspaces"),
        n("references"),
        size("reference_bytes")
    );
    let approx = if stats["estimated"] == true { "~" } else { "" };
    let unknown = n("deltas_of_unknown_size");
    if unknown > 0 {
        println!(
            "  original size:  at least {} (+ {unknown} deltas of unknown size)",
            size("original_size")
        );
    } else {
        println!("  original size:  {approx}{}", size("original_size"));
    }
    println!(
        "  stored size:    {} (references included)",
        size("stored_size")
    );
    if unknown > 0 {
        println!("  savings:        unknown (use --sampled or --detailed)");
    } else {
        println!(
            "  savings:        {approx}{}",
            savings(n("original_size"), n("stored_size"))
        );
    }
}
