//! `dg purge`: delete expired temporary files under `.deltaglider/tmp/`, as Python
//! deltaglider's `purge` does (its rehydration writes them with a `dg-expires-at` time).

use std::time::SystemTime;

use anyhow::Result;
use chrono::{DateTime, NaiveDateTime, Utc};
use dg_ports::{ObjectInfo, ObjectStorageExt};
use futures::StreamExt;
use serde_json::json;

use crate::args::PurgeArgs;
use crate::context::Context;
use crate::exit::{usage, SomeFailed};
use crate::format::human_size;
use crate::url::Target;

/// Where temporary files live.
const TMP_PREFIX: &str = ".deltaglider/tmp/";

/// What became of one temporary file.
enum Fate {
    Deleted { expires: String },
    Kept,
    Failed(String),
}

/// Parses Python's `datetime.isoformat()` output (with or without an offset; naive is UTC).
pub fn parse_expiry(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(&text.replace(' ', "T")) {
        return Some(t.with_timezone(&Utc).into());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().into());
        }
    }
    None
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
    let storage = ctx.dg.storage().clone();
    let objects = storage.list_all(&bucket, TMP_PREFIX).await?;
    let now = SystemTime::now();
    let dryrun = args.dryrun;
    let fates: Vec<(ObjectInfo, Fate)> = futures::stream::iter(objects)
        .map(|object| {
            let storage = storage.clone();
            async move {
                let info = match storage.head_opt(&object.location).await {
                    Ok(Some(info)) => info,
                    Ok(None) => return (object, Fate::Kept),
                    Err(e) => return (object, Fate::Failed(e.to_string())),
                };
                let Some(text) = info.metadata.get("dg-expires-at").cloned() else {
                    return (object, Fate::Kept);
                };
                match parse_expiry(&text) {
                    Some(at) if at <= now => {
                        if !dryrun {
                            if let Err(e) = storage.delete(&object.location).await {
                                return (object, Fate::Failed(e.to_string()));
                            }
                        }
                        (object, Fate::Deleted { expires: text })
                    }
                    Some(_) => (object, Fate::Kept),
                    None => {
                        tracing::warn!(object = %object.location, "unreadable dg-expires-at {text:?}; kept");
                        (object, Fate::Kept)
                    }
                }
            }
        })
        .buffered(ctx.jobs.max(1))
        .collect()
        .await;

    let (mut deleted, mut kept, mut failed, mut freed) = (0u64, 0u64, 0u64, 0u64);
    for (object, fate) in &fates {
        let target = object.location.to_string();
        match fate {
            Fate::Deleted { expires } => {
                deleted += 1;
                freed += object.size;
                if ctx.json {
                    let record = json!({"action": "delete", "target": target, "expired": expires,
                                        "size": object.size, "dryrun": dryrun, "ok": true});
                    println!("{record}");
                } else if !ctx.quiet {
                    let dry = if dryrun { "(dryrun) " } else { "" };
                    println!("{dry}delete: {target}  (expired {expires})");
                }
            }
            Fate::Kept => kept += 1,
            Fate::Failed(e) => {
                failed += 1;
                eprintln!("dg: failed: purge {target}: {e}");
                if ctx.json {
                    let record =
                        json!({"action": "delete", "target": target, "ok": false, "error": e});
                    println!("{record}");
                }
            }
        }
    }
    if ctx.json {
        let summary = json!({"action": "summary", "command": "purge", "bucket": bucket,
                             "dryrun": dryrun, "deleted": deleted, "kept": kept,
                             "failed": failed, "bytes_freed": freed});
        println!("{summary}");
    } else if !ctx.quiet {
        let verb = if dryrun { "would delete" } else { "deleted" };
        println!(
            "purge: {verb} {deleted} expired temporary files ({}), {kept} kept, {failed} failed",
            human_size(freed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reads_python_isoformat() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_566_600);
        assert_eq!(parse_expiry("2024-05-01T12:30:00+00:00"), Some(t));
        assert_eq!(parse_expiry("2024-05-01T12:30:00Z"), Some(t));
        assert_eq!(parse_expiry("2024-05-01T14:30:00+02:00"), Some(t));
        assert_eq!(parse_expiry("2024-05-01T12:30:00"), Some(t));
        assert_eq!(
            parse_expiry("2024-05-01T12:30:00.250000+00:00"),
            Some(t + Duration::from_millis(250))
        );
        assert_eq!(parse_expiry("yesterday"), None);
    }
}
