//! `dg purge`: delete what no file needs: expired temporary files under `.deltaglider/tmp/`
//! (Python deltaglider's rehydration writes them with a `dg-expires-at` time) and references
//! whose deltaspace holds no delta, each after a grace period.

use std::time::{Duration, SystemTime};

use anyhow::Result;
use dg_ports::ObjectInfo;
use futures::StreamExt;
use serde_json::json;

use dg_core::housekeeping::{verdict, LeftoverKind as Kind};

use crate::args::PurgeArgs;
use crate::context::Context;
use crate::exit::{usage, SomeFailed};
use crate::format::human_size;
use crate::url::Target;

/// What became of one object.
enum Fate {
    Deleted { why: String },
    Kept,
    Failed(String),
}

pub async fn run(ctx: &Context, args: &PurgeArgs) -> Result<()> {
    let bucket = match Target::parse(&args.bucket)? {
        Target::S3 { bucket, key } if key.is_empty() => bucket,
        Target::S3 { .. } => usage!("name only a bucket (s3://BUCKET)"),
        Target::Local(p) => match p.to_str() {
            Some(name) if !name.is_empty() && !name.contains('/') => name.to_string(),
            _ => usage!("name a bucket: s3://BUCKET"),
        },
    };
    let client = &ctx.client;
    let leftovers = ctx.client.leftovers(&bucket, "").await?;
    let now = SystemTime::now();
    let (dryrun, grace) = (args.dryrun, args.older_than);
    let candidates = leftovers
        .temp_files
        .into_iter()
        .map(|o| (o, Kind::Temp))
        .chain(
            leftovers
                .orphan_references
                .into_iter()
                .map(|o| (o, Kind::Orphan)),
        );
    let fates: Vec<(ObjectInfo, Kind, Fate)> = futures::stream::iter(candidates)
        .map(|(object, kind)| {
            async move {
                // Listings carry no metadata (and the object may have changed): look again.
                let info = match client.stored_object(&object.location).await {
                    Ok(Some(info)) => info,
                    Ok(None) => return (object, kind, Fate::Kept),
                    Err(e) => return (object, kind, Fate::Failed(e.to_string())),
                };
                let why = verdict(kind, &info, grace, now);
                let Some(why) = why else {
                    return (object, kind, Fate::Kept);
                };
                if !dryrun {
                    if let Err(e) = client.delete_raw(&object.location).await {
                        return (object, kind, Fate::Failed(e.to_string()));
                    }
                }
                (object, kind, Fate::Deleted { why })
            }
        })
        .buffered(ctx.jobs.max(1))
        .collect()
        .await;

    let (mut deleted, mut kept, mut failed, mut freed) = (0u64, 0u64, 0u64, 0u64);
    for (object, kind, fate) in &fates {
        let target = object.location.to_string();
        match fate {
            Fate::Deleted { why } => {
                deleted += 1;
                freed = freed.saturating_add(object.size);
                if ctx.json {
                    let record = json!({"action": "delete", "target": target, "kind": kind.name(),
                                        "why": why, "size": object.size, "dryrun": dryrun, "ok": true});
                    json_out!("{record}");
                } else if !ctx.quiet {
                    let dry = if dryrun { "(dryrun) " } else { "" };
                    out!("{dry}delete: {target}  ({}: {why})", kind.name());
                }
            }
            Fate::Kept => kept += 1,
            Fate::Failed(e) => {
                failed += 1;
                err!("dg: failed: purge {target}: {e}");
                if ctx.json {
                    let record =
                        json!({"action": "delete", "target": target, "ok": false, "error": e});
                    json_out!("{record}");
                }
            }
        }
    }
    if ctx.json {
        let summary = json!({"action": "summary", "command": "purge", "bucket": bucket,
                             "dryrun": dryrun, "older_than_secs": grace.as_secs(), "deleted": deleted, "kept": kept,
                             "failed": failed, "bytes_freed": freed});
        json_out!("{summary}");
    } else if !ctx.quiet {
        let verb = if dryrun { "would delete" } else { "deleted" };
        out!(
            "purge: {verb} {deleted} leftovers ({}), {kept} kept (grace period {}), {failed} failed",
            human_size(freed),
            humanise(grace)
        );
    }
    if failed > 0 {
        return Err(SomeFailed {
            failed,
            total: fates.len() as u64,
        }
        .into());
    }
    Ok(())
}

/// `3600s` as `1h`, for messages.
fn humanise(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".to_string(),
        _ if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}
