//! `dg mb`, `dg rb` and `dg settings`.

use anyhow::{Context as _, Result};
use dg_core::BucketSettings;

use crate::args::{BucketArgs, MbArgs, SettingsArgs};
use crate::context::Context;
use crate::url::Target;

fn bucket_name(url: &str) -> Result<String> {
    let target = Target::parse(url)?;
    let (bucket, key) = target.s3("the bucket")?;
    if !key.is_empty() {
        crate::exit::usage!("name only a bucket (s3://BUCKET), not a key");
    }
    Ok(bucket.to_string())
}

fn say(ctx: &Context, action: &str, bucket: &str, text: &str) {
    if ctx.json {
        json_out!(
            "{}",
            serde_json::json!({"action": action, "bucket": bucket, "ok": true})
        );
    } else if !ctx.quiet {
        out!("{text}");
    }
}

pub async fn make(ctx: &Context, args: &MbArgs) -> Result<()> {
    let name = bucket_name(&args.bucket)?;
    ctx.client.create_bucket(&name).await?;
    if args.format.is_some() || args.level.is_some() || args.reference_scope.is_some() {
        let settings = BucketSettings {
            format: args.format,
            level: args.level,
            reference_scope: args.reference_scope,
        };
        ctx.client
            .set_bucket_settings(&name, &settings)
            .await
            .with_context(|| format!("bucket {name} was made, but its settings were not saved"))?;
    }
    say(ctx, "make_bucket", &name, &format!("make_bucket: {name}"));
    Ok(())
}

/// Removes a bucket that holds nothing but dg's housekeeping, deleting that first.
pub async fn remove(ctx: &Context, args: &BucketArgs) -> Result<()> {
    let name = bucket_name(&args.bucket)?;
    ctx.client.delete_bucket(&name).await?;
    say(
        ctx,
        "remove_bucket",
        &name,
        &format!("remove_bucket: {name}"),
    );
    Ok(())
}

/// Shows the bucket's settings, after changing them when asked.
pub async fn settings(ctx: &Context, args: &SettingsArgs) -> Result<()> {
    let name = bucket_name(&args.bucket)?;
    // a missing bucket is an error here, not a bucket without settings
    ctx.client
        .check_bucket(&name, dg_core::SETTINGS_KEY)
        .await?;
    let mut settings = ctx.client.bucket_settings(&name).await?;
    if args.format.is_some() || args.level.is_some() || args.reference_scope.is_some() {
        settings.format = args.format.or(settings.format);
        settings.level = args.level.or(settings.level);
        settings.reference_scope = args.reference_scope.or(settings.reference_scope);
        ctx.client.set_bucket_settings(&name, &settings).await?;
    }
    let format = settings.format.map(|f| f.name());
    let level = settings.level.map(|l| l.name());
    let scope = settings.reference_scope.map(|s| s.name());
    if ctx.json {
        json_out!(
            "{}",
            serde_json::json!({"action": "settings", "bucket": name, "format": format, "level": level, "reference_scope": scope})
        );
    } else if !ctx.quiet {
        out!("s3://{name}");
        match format {
            Some(f) => out!("  format: {f} (for new deltaspaces)"),
            None => {
                out!("  format: not set (dg's default: native; --format on cp/sync overrides)")
            }
        }
        match level {
            Some(l) => out!("  level:  {l} (for native uploads)"),
            None => out!("  level:  not set (dg's default: default; --level on cp/sync overrides)"),
        }
        match scope {
            Some(s) => out!("  reference-scope: {s} (where a new prefix's first file finds its reference)"),
            None => out!("  reference-scope: not set (dg's default: siblings; --reference-scope on cp/sync overrides)"),
        }
    }
    Ok(())
}
