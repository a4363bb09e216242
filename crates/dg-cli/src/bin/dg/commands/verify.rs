//! `dg verify`: rebuild and check every object under a prefix.

use anyhow::{bail, Result};
use serde_json::json;

use crate::args::VerifyArgs;
use crate::context::Context;
use crate::url::Target;

pub async fn run(ctx: &Context, args: &VerifyArgs) -> Result<()> {
    let target = Target::parse(&args.target)?;
    let (bucket, prefix) = target.s3("the prefix to verify")?;
    let (quiet, json) = (ctx.quiet, ctx.json);
    let report = ctx
        .client
        .verify_with(bucket, prefix, ctx.jobs, &|checked| {
            let location = checked.location.to_string();
            match &checked.result {
                Ok(served) if json => json_out!(
                    "{}",
                    json!({"action": "verify", "object": location, "ok": true,
                           "stored_as": format!("{served:?}").to_lowercase()})
                ),
                Ok(served) if !quiet => out!("ok      {location} ({served:?})"),
                Ok(_) => {}
                Err(e) => {
                    err!("FAILED  {location}: {e}");
                    if json {
                        let error = e.to_string();
                        json_out!(
                            "{}",
                            json!({"action": "verify", "object": location, "ok": false, "error": error})
                        );
                    }
                }
            }
        })
        .await?;
    let failed = report.failed.len();
    let (orphans, temps) = (&report.orphan_references, &report.temp_files);
    if json {
        for orphan in orphans {
            json_out!(
                "{}",
                json!({"action": "orphan", "object": orphan.to_string()})
            );
        }
        for temp in temps {
            json_out!("{}", json!({"action": "temp", "object": temp.to_string()}));
        }
        let summary = json!({"action": "summary", "command": "verify",
                             "checked": report.passed + failed, "ok": report.passed, "failed": failed,
                             "orphan_references": orphans.len(), "temp_files": temps.len()});
        json_out!("{summary}");
    } else if !quiet {
        for orphan in orphans {
            out!("orphan  {orphan} (no delta uses this reference)");
        }
        for temp in temps {
            out!("temp    {temp} (temporary file)");
        }
        if !orphans.is_empty() || !temps.is_empty() {
            out!(
                "{} leftover(s) no file needs: `dg purge s3://{bucket}` deletes them",
                orphans.len() + temps.len()
            );
        }
    }
    if !quiet && !json {
        out!(
            "verified {} objects: {} ok, {failed} failed",
            report.passed + failed,
            report.passed
        );
    }
    if failed > 0 {
        bail!("{failed} object(s) failed verification");
    }
    Ok(())
}
