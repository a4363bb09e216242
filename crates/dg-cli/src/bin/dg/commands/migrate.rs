//! `dg migrate`: copy every file under a plain prefix (or a local directory) into dg storage,
//! skipping what an earlier run already copied, so an interrupted migration is run again.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{bail, Result};
use dg_ports::Location;

use crate::args::MigrateArgs;
use crate::commands::bulk::{self, Bulk};
use crate::commands::cp::put_request;
use crate::context::Context;
use crate::exit::usage;
use crate::filters::Filters;
use crate::format::human_size;
use crate::transfer::{Job, Plan};
use crate::tree::{dir_prefix, local_files, remote_files, Links};
use crate::url::Target;

/// A source file: its path below the source, its size, and the job that copies it.
struct Candidate {
    relative: String,
    size: u64,
    job: Job,
}

pub async fn run(ctx: &Context, args: &MigrateArgs) -> Result<()> {
    let put = put_request(&args.put)?;
    let filters = bulk::filters(&args.filters.ordered)?;
    let source = Target::parse(&args.source)?;
    let (bucket, key) = match Target::parse(&args.destination)? {
        Target::S3 { bucket, key } => (bucket, key),
        Target::Local(p) => usage!(
            "the destination must be an s3://BUCKET/PREFIX/ URL, not the local path `{}`",
            p.display()
        ),
    };
    let mut prefix = dir_prefix(&key);
    if !args.no_preserve_prefix {
        if let Some(name) = source_name(&source)? {
            prefix = format!("{prefix}{name}/");
        }
    }
    let shown_destination = format!("s3://{bucket}/{prefix}");
    let problems;
    let candidates = match &source {
        Target::S3 {
            bucket: src_bucket,
            key: src_key,
        } => {
            let src_prefix = dir_prefix(src_key);
            if *src_bucket == bucket
                && (src_prefix.starts_with(&prefix) || prefix.starts_with(&src_prefix))
            {
                usage!(
                    "s3://{src_bucket}/{src_prefix} and {shown_destination} overlap; migrate into another prefix or bucket"
                );
            }
            // original sizes: a source already in dg storage reports its files' sizes
            let scan = remote_files(&ctx.client, src_bucket, &src_prefix, true, &filters).await?;
            problems = scan.problems;
            scan.files
                .into_iter()
                .map(|f| Candidate {
                    job: Job::Copy {
                        source: Location::new(src_bucket, f.key.clone()),
                        destination: Location::new(&bucket, format!("{prefix}{}", f.relative)),
                        size: f.size,
                    },
                    relative: f.relative,
                    size: f.size,
                })
                .collect::<Vec<_>>()
        }
        Target::Local(dir) => {
            if !dir.is_dir() {
                usage!("{} is not a directory", dir.display());
            }
            let scan = local_files(dir, &filters, Links::Follow)?;
            problems = scan.problems;
            scan.files
                .into_iter()
                .map(|f| Candidate {
                    job: Job::Upload {
                        source: f.path,
                        destination: Location::new(&bucket, format!("{prefix}{}", f.relative)),
                        size: f.size,
                    },
                    relative: f.relative,
                    size: f.size,
                })
                .collect()
        }
    };
    ctx.client.check_bucket(&bucket, &prefix).await?;
    // What earlier runs copied: every write is atomic, so a file that is listed is complete.
    let there: HashMap<String, u64> =
        remote_files(&ctx.client, &bucket, &prefix, true, &Filters::default())
            .await?
            .files
            .into_iter()
            .map(|f| (f.relative, f.size))
            .collect();
    let (mut jobs, mut skipped) = (Vec::new(), 0u64);
    for c in candidates {
        if there.get(&c.relative) == Some(&c.size) {
            skipped += 1;
        } else {
            jobs.push(c.job);
        }
    }
    let policy = (!put.no_delta).then(|| ctx.client.policy());
    let plan = Plan::uploads(jobs, policy);
    if !ctx.quiet && !ctx.json {
        let line = if plan.is_empty() {
            format!(
                "migrate: nothing to copy; all {skipped} files are already in {shown_destination}"
            )
        } else {
            format!(
                "migrate: {} files ({}) to copy from {} to {shown_destination}; {skipped} already there",
                plan.len(),
                human_size(plan.bytes()),
                args.source
            )
        };
        out!("{line}");
    }
    if !plan.is_empty() && !args.dryrun && !args.yes && std::io::stdin().is_terminal() {
        confirm()?;
    }
    let mut run = Bulk::new(ctx, put, args.dryrun, std::slice::from_ref(&plan), skipped);
    run.problems(&problems, "copy");
    run.run(plan).await;
    run.finish("migrate")
}

/// The last segment of the source (kept in the destination unless --no-preserve-prefix): the
/// prefix's last part, or the directory's name. `None` for a whole bucket.
fn source_name(source: &Target) -> Result<Option<String>> {
    match source {
        Target::S3 { key, .. } => Ok(key
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_string)),
        Target::Local(dir) => {
            let full = if dir == Path::new(".") || dir.file_name().is_none() {
                dir.canonicalize()?
            } else {
                dir.clone()
            };
            Ok(full
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string))
        }
    }
}

/// Asks on the terminal; anything but yes stops before a file is copied.
fn confirm() -> Result<()> {
    eprint!("Proceed? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    match answer.trim() {
        "y" | "Y" | "yes" | "YES" | "Yes" => Ok(()),
        _ => bail!("migration cancelled; nothing was copied"),
    }
}
