//! `dg ls`: buckets, or files with original and stored sizes.

use anyhow::Result;
use dg_core::ListQuery;
use serde_json::json;

use crate::args::LsArgs;
use crate::context::Context;
use crate::format::{savings, size, time};
use crate::url::Target;

pub async fn run(ctx: &Context, args: &LsArgs) -> Result<()> {
    let Some(target) = &args.target else {
        for b in ctx.client.list_buckets().await? {
            if ctx.json {
                let created = b.created.map(dg_core::timestamp::iso8601);
                out!(
                    "{}",
                    json!({"type": "bucket", "name": b.name, "created": created})
                );
            } else {
                out!("{} {}", time(b.created), b.name);
            }
        }
        return Ok(());
    };
    let target = Target::parse(target)?;
    let (bucket, prefix) = target.s3("the listing target")?;
    // Shown names are relative to the last `/` of the prefix, as in `aws s3 ls`.
    let shown_from = prefix.rfind('/').map(|i| i + 1).unwrap_or(0);
    let mut query = ListQuery {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        delimiter: (!args.recursive).then(|| "/".to_string()),
        original_sizes: true,
        ..ListQuery::default()
    };
    let human = args.human_readable;
    let (mut files, mut original, mut stored) = (0u64, 0u64, 0u64);
    let mut unreadable = 0u64;
    loop {
        let page = ctx.client.list(&query).await?;
        for s in &page.skipped {
            unreadable += 1;
            err!(
                "dg: failed: list s3://{bucket}/{}: {}",
                s.stored_key,
                s.reason
            );
            if ctx.json {
                json_out!(
                    "{}",
                    json!({"type": "error", "stored_key": s.stored_key, "error": s.reason})
                );
            }
        }
        for p in &page.common_prefixes {
            if ctx.json {
                json_out!("{}", json!({"type": "prefix", "prefix": p}));
                continue;
            }
            out!(
                "{:>19} {:>12} {:>12} {:>7} PRE {}",
                "",
                "",
                "",
                "",
                &p[shown_from.min(p.len())..]
            );
        }
        for e in &page.entries {
            let name = if args.recursive {
                e.key.as_str()
            } else {
                &e.key[shown_from.min(e.key.len())..]
            };
            files += 1;
            original = original.saturating_add(e.size);
            stored = stored.saturating_add(e.stored_size);
            if ctx.json {
                let record = json!({
                    "type": "file",
                    "key": e.key,
                    "stored_key": e.stored_key,
                    "size": e.size,
                    "stored_size": e.stored_size,
                    "stored_as": if e.is_delta { "delta" } else { "direct" },
                    "last_modified": e.last_modified.map(dg_core::timestamp::iso8601),
                });
                json_out!("{record}");
                continue;
            }
            out!(
                "{} {:>12} {:>12} {:>7} {}",
                time(e.last_modified),
                size(e.size, human),
                size(e.stored_size, human),
                savings(e.size, e.stored_size),
                name
            );
        }
        stored += page.references.iter().map(|r| r.size).sum::<u64>();
        match page.next {
            Some(next) => query.start_after = Some(next),
            None => break,
        }
    }
    if args.summarize && ctx.json {
        let record = json!({
            "type": "summary",
            "files": files,
            "size": original,
            "stored_size": stored,
            "references_included": true,
        });
        json_out!("{record}");
    } else if args.summarize {
        out!();
        out!("Total Objects: {files}");
        out!("   Total Size: {}", size(original, human));
        out!(
            "  Stored Size: {} (references included)",
            size(stored, human)
        );
        out!("      Savings: {}", savings(original, stored));
    }
    if unreadable > 0 {
        return Err(crate::exit::SomeFailed {
            failed: unreadable,
            total: files + unreadable,
        }
        .into());
    }
    Ok(())
}
