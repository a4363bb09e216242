//! `dg cp`: upload a file as a delta (or whole), or download and rebuild one; with -r, every
//! file under a directory or prefix.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use dg_adapters::{DestinationDir, FileBlob};
use dg_core::{keys::file_name, PutRequest};
use dg_ports::{BlobRef, Location};

use crate::args::{CpArgs, DeltaArgs, PutArgs};
use crate::commands::bulk::{self, Bulk};
use crate::context::Context;
use crate::exit::usage;
use crate::transfer::{Done, Job, Plan, Reporter, Runner};
use crate::tree::{dir_prefix, local_files, local_relative, remote_files, Links, Problem};
use crate::url::{upload_location, Target};

/// The upload options of the flags.
pub fn put_request(args: &PutArgs) -> Result<PutRequest> {
    delta_request(&args.delta, args.no_delta)
}

/// The delta options of the flags (`--max-ratio` checked), for uploads or their estimate.
pub fn delta_request(args: &DeltaArgs, no_delta: bool) -> Result<PutRequest> {
    if !(args.max_ratio > 0.0 && args.max_ratio <= 1.0) {
        usage!(
            "--max-ratio (or DG_MAX_RATIO) must be in (0, 1], got {}",
            args.max_ratio
        );
    }
    if let Some(engine) = args.engine.as_deref() {
        let names = dg::engines().names();
        if !names.contains(&engine) {
            usage!(
                "--engine (or DG_ENGINE) `{engine}` is not an engine; choose one of {}",
                names.join(", ")
            );
        }
    }
    Ok(PutRequest {
        no_delta,
        max_ratio: Some(args.max_ratio),
        engine: args.engine.clone(),
        format: args.format,
        level: args.level,
        reference_scope: args.reference_scope,
        metadata: Default::default(),
    })
}

pub async fn run(ctx: &Context, args: &CpArgs) -> Result<()> {
    let put = put_request(&args.put)?;
    let source = Target::parse(&args.source)?;
    let destination = Target::parse(&args.destination)?;
    if args.recursive {
        return recursive(ctx, args, put, source, destination).await;
    }
    if !args.filters.ordered.is_empty() {
        usage!("--exclude/--include need -r/--recursive");
    }
    match (source, destination) {
        (Target::Local(src), Target::S3 { bucket, key }) => {
            upload(ctx, args, put, &src, &bucket, &key).await
        }
        (Target::S3 { bucket, key }, Target::Local(dst)) => {
            download(ctx, args, &bucket, &key, &dst).await
        }
        (Target::S3 { .. }, Target::S3 { .. }) => usage!(
            "copies between two s3:// locations are not supported yet; download and upload instead"
        ),
        (Target::Local(_), Target::Local(_)) => usage!("one side of dg cp must be an s3:// URL"),
    }
}

/// A reporter and a runner for one file.
fn single(ctx: &Context, put: PutRequest, dryrun: bool, bytes: u64) -> (Reporter, Runner) {
    let reporter = Reporter::new(ctx.json, ctx.quiet, dryrun, 1, bytes)
        .with_retries(ctx.client.retry_counter());
    let runner = Runner {
        client: ctx.client.clone(),
        put,
        progress: reporter.progress(),
    };
    (reporter, runner)
}

async fn upload(
    ctx: &Context,
    args: &CpArgs,
    put: PutRequest,
    src: &Path,
    bucket: &str,
    key: &str,
) -> Result<()> {
    let (blob, name) = if src == Path::new("-") {
        if key.is_empty() || key.ends_with('/') {
            usage!("uploading standard input needs a full key, e.g. s3://{bucket}/{key}name.zip");
        }
        (stdin_blob(ctx)?, file_name(key).to_string())
    } else {
        if src.is_dir() {
            usage!(
                "{} is a directory; use `dg cp -r` or `dg sync` for directories",
                src.display()
            );
        }
        let name = src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("{} has no file name", src.display()))?;
        (FileBlob::open(src)?, name)
    };
    let location = upload_location(bucket, key, &name);
    let job = Job::Upload {
        source: src.to_path_buf(),
        destination: location.clone(),
        size: blob.len(),
    };
    let (mut reporter, runner) = single(ctx, put, args.dryrun, blob.len());
    if args.dryrun {
        reporter.planned(&job);
        return Ok(());
    }
    runner.progress.set_message(format!("uploading {name}"));
    let outcome = runner.upload(blob, &location).await;
    runner.progress.finish();
    reporter.print(&job, &Done::Uploaded(outcome?));
    Ok(())
}

fn stdin_blob(ctx: &Context) -> Result<BlobRef> {
    let mut staged = ctx.client.staging().create()?;
    let mut buf = vec![0u8; 1 << 20];
    let mut stdin = std::io::stdin().lock();
    loop {
        let n = stdin.read(&mut buf).context("reading standard input")?;
        if n == 0 {
            break;
        }
        staged
            .write_all(&buf[..n])
            .context("staging standard input")?;
    }
    Ok(staged.finish()?)
}

async fn download(ctx: &Context, args: &CpArgs, bucket: &str, key: &str, dst: &Path) -> Result<()> {
    if key.is_empty() || key.ends_with('/') {
        usage!("s3://{bucket}/{key} is a prefix; name a file to download, or use `dg cp -r`");
    }
    let location = Location::new(bucket, key);
    if dst == Path::new("-") {
        if args.dryrun {
            usage!("--dryrun does not apply to writing standard output");
        }
        let staged = ctx.client.staging().create()?;
        let outcome = ctx.client.get(&location, staged).await?;
        let mut reader = outcome.blob.reader()?;
        let mut stdout = std::io::stdout().lock();
        std::io::copy(&mut reader, &mut stdout).context("writing to standard output")?;
        stdout.flush().context("writing to standard output")?;
        return Ok(());
    }
    let path = destination_path(dst, file_name(key));
    let (parent, name) = split_destination(&path)?;
    let root = DestinationDir::open(parent)?;
    let job = Job::Download {
        source: location.clone(),
        root: root.clone(),
        relative: name.clone(),
        size: 0,
        modified: None,
    };
    let (mut reporter, runner) = single(ctx, PutRequest::default(), args.dryrun, 0);
    if args.dryrun {
        reporter.planned(&job);
        return Ok(());
    }
    runner
        .progress
        .set_message(format!("downloading {}", file_name(key)));
    let outcome = runner.download(&location, &root, &name, None).await;
    runner.progress.finish();
    reporter.print(&job, &Done::Downloaded(outcome?));
    Ok(())
}

/// The directory and the file name of a single download's destination (the path as the user
/// named it, links and all).
fn split_destination(path: &Path) -> Result<(PathBuf, String)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .with_context(|| format!("{} names no file", path.display()))?;
    let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok((parent, name))
}

/// Where a download of `name` lands: inside `dst` when it is a directory (or ends with `/`).
fn destination_path(dst: &Path, name: &str) -> PathBuf {
    let as_dir = dst.is_dir() || dst.as_os_str().to_string_lossy().ends_with('/');
    if as_dir {
        dst.join(name)
    } else {
        dst.to_path_buf()
    }
}

/// `dg cp -r`: every file under a local directory or an s3:// prefix.
async fn recursive(
    ctx: &Context,
    args: &CpArgs,
    put: PutRequest,
    source: Target,
    destination: Target,
) -> Result<()> {
    let filters = bulk::filters(&args.filters.ordered)?;
    match (source, destination) {
        (Target::Local(dir), Target::S3 { bucket, key }) => {
            if !dir.is_dir() {
                usage!(
                    "{} is not a directory (cp -r copies directories)",
                    dir.display()
                );
            }
            let prefix = dir_prefix(&key);
            ctx.client.check_bucket(&bucket, &prefix).await?;
            let scan = local_files(&dir, &filters, Links::Follow)?;
            let jobs = scan
                .files
                .into_iter()
                .map(|f| Job::Upload {
                    source: f.path,
                    destination: Location::new(&bucket, format!("{prefix}{}", f.relative)),
                    size: f.size,
                })
                .collect();
            let policy = (!put.no_delta).then(|| ctx.client.policy());
            let plan = Plan::uploads(jobs, policy);
            let mut run = Bulk::new(ctx, put, args.dryrun, std::slice::from_ref(&plan), 0);
            run.problems(&scan.problems, "upload");
            run.run(plan).await;
            run.finish("cp")
        }
        (Target::S3 { bucket, key }, Target::Local(dir)) => {
            if dir == Path::new("-") {
                usage!("cp -r cannot write many files to standard output");
            }
            if dir.exists() && !dir.is_dir() {
                usage!("{} is not a directory", dir.display());
            }
            let prefix = dir_prefix(&key);
            // Sizes read from metadata: a plain object at `x.delta` is then known for the file
            // of its own it is, whatever else the listing holds.
            let scan = remote_files(&ctx.client, &bucket, &prefix, true, &filters).await?;
            let root = DestinationDir::open(&dir)?;
            let mut problems = scan.problems;
            let mut jobs = Vec::new();
            for f in scan.files {
                match local_relative(&f.relative) {
                    Ok(relative) => jobs.push(Job::Download {
                        source: Location::new(&bucket, f.key.clone()),
                        root: root.clone(),
                        relative: relative.to_string(),
                        size: f.size,
                        modified: f.modified,
                    }),
                    Err(reason) => problems.push(Problem {
                        what: format!("s3://{bucket}/{}", f.key),
                        reason,
                    }),
                }
            }
            let plan = Plan::parallel(jobs);
            let mut run = Bulk::new(ctx, put, args.dryrun, std::slice::from_ref(&plan), 0);
            run.problems(&problems, "download");
            run.run(plan).await;
            run.finish("cp")
        }
        (Target::S3 { .. }, Target::S3 { .. }) => usage!(
            "copies between two s3:// locations are not supported yet; download and upload instead"
        ),
        (Target::Local(_), Target::Local(_)) => usage!("one side of dg cp must be an s3:// URL"),
    }
}
