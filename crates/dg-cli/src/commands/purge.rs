//! `dg purge`: delete what no file needs: expired temporary files under `.deltaglider/tmp/`
//! (Python deltaglider's rehydration writes them with a `dg-expires-at` time) and references
//! whose deltaspace holds no delta, each after a grace period.

use std::time::{Duration, SystemTime};

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

/// What an object is to purge.
#[derive(Clone, Copy)]
enum Kind {
    Temp,
    Orphan,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Temp => "temporary file",
            Kind::Orphan => "orphan reference",
        }
    }
}

/// What became of one object.
enum Fate {
    Deleted { why: String },
    Kept,
    Failed(String),
}

/// True when `info` was last written more than `grace` before `now`. A store that gives no
/// time could be holding a reference an upload is writing its first delta against: such an
/// object counts as old only when no grace period was asked for.
fn older_than(info: &ObjectInfo, grace: Duration, now: SystemTime) -> bool {
    match info.last_modified {
        Some(t) => now
            .duration_since(t)
            .map(|age| age >= grace)
            .unwrap_or(false),
        None => grace.is_zero(),
    }
}

/// Why a temporary file may go, or `None` to keep it.
fn temp_verdict(info: &ObjectInfo, grace: Duration, now: SystemTime) -> Option<String> {
    match info.metadata.get("dg-expires-at") {
        Some(text) => match parse_expiry(text) {
            Some(at) if at <= now => Some(format!("expired {text}")),
            Some(_) => None,
            None => {
                tracing::warn!(object = %info.location, "unreadable dg-expires-at {text:?}");
                older_than(info, grace, now).then(|| "no readable expiry, old".to_string())
            }
        },
        None => older_than(info, grace, now).then(|| "no expiry, old".to_string()),
    }
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
    let leftovers = ctx.dg.leftovers(&bucket, "").await?;
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
            let storage = storage.clone();
            async move {
                // Listings carry no metadata (and the object may have changed): look again.
                let info = match storage.head_opt(&object.location).await {
                    Ok(Some(info)) => info,
                    Ok(None) => return (object, kind, Fate::Kept),
                    Err(e) => return (object, kind, Fate::Failed(e.to_string())),
                };
                let why = match kind {
                    Kind::Temp => temp_verdict(&info, grace, now),
                    Kind::Orphan => {
                        older_than(&info, grace, now).then(|| "no delta uses it".to_string())
                    }
                };
                let Some(why) = why else {
                    return (object, kind, Fate::Kept);
                };
                if !dryrun {
                    if let Err(e) = storage.delete(&object.location).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_object_without_a_time_is_old_only_without_a_grace_period() {
        let now = SystemTime::now();
        let mut info = ObjectInfo {
            location: dg_ports::Location::new("b", "s/reference.bin"),
            size: 1,
            last_modified: None,
            etag: None,
            metadata: Default::default(),
        };
        assert!(!older_than(&info, Duration::from_secs(3600), now));
        assert!(older_than(&info, Duration::ZERO, now));
        info.last_modified = Some(now - Duration::from_secs(7200));
        assert!(older_than(&info, Duration::from_secs(3600), now));
        info.last_modified = Some(now - Duration::from_secs(60));
        assert!(!older_than(&info, Duration::from_secs(3600), now));
    }

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
