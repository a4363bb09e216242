//! `dg stats`: what a prefix costs (original vs stored bytes, savings, deltaspaces, objects by
//! kind); computed and cached by the library's [`dg::Client::stats`].

use anyhow::Result;
use dg::{StatsCache, StatsMode, StatsOptions};
use serde_json::{json, Value};

use crate::args::StatsArgs;
use crate::context::Context;
use crate::exit::usage;
use crate::format::{human_size, savings};
use crate::url::Target;

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
        (true, _) => StatsMode::Sampled,
        (_, true) => StatsMode::Detailed,
        _ => StatsMode::Quick,
    };
    let cache = match (args.no_cache, args.refresh) {
        (true, _) => StatsCache::Off,
        (_, true) => StatsCache::Refresh,
        _ => StatsCache::Use,
    };
    let stats = ctx
        .client
        .stats(&bucket, &prefix, StatsOptions { mode, cache })
        .await?;
    let mut value = serde_json::to_value(&stats)?;
    value["type"] = json!("stats");
    show(ctx, &value);
    Ok(())
}

fn show(ctx: &Context, stats: &Value) {
    if ctx.json {
        json_out!("{stats}");
        return;
    }
    let n = |k: &str| stats[k].as_u64().unwrap_or(0);
    let size = |k: &str| human_size(n(k));
    out!(
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
    out!(
        "  files:          {} ({} deltas, {} whole)",
        n("files"),
        n("deltas"),
        n("direct")
    );
    out!(
        "  deltaspaces:    {} (references: {}, {})",
        n("deltaspaces"),
        n("references"),
        size("reference_bytes")
    );
    if n("shared_references") > 0 {
        out!(
            "  shared:         {} references in other prefixes that deltas here are made against ({}, not in the stored size)",
            n("shared_references"),
            size("shared_reference_bytes")
        );
    }
    let approx = if stats["estimated"] == true { "~" } else { "" };
    let unknown = n("deltas_of_unknown_size");
    if unknown > 0 {
        out!(
            "  original size:  at least {} (+ {unknown} deltas of unknown size)",
            size("original_size")
        );
    } else {
        out!("  original size:  {approx}{}", size("original_size"));
    }
    out!(
        "  stored size:    {} (references included)",
        size("stored_size")
    );
    if unknown > 0 {
        out!("  savings:        unknown (use --sampled or --detailed)");
    } else {
        out!(
            "  savings:        {approx}{}",
            savings(n("original_size"), n("stored_size"))
        );
    }
}
