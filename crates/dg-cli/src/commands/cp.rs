//! `dg cp`: upload a file as a delta (or whole), or download and rebuild one.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use dg_adapters::{DestinationFile, FileBlob};
use dg_core::{keys::file_name, PutOutcome, PutRequest, Served, Stored};
use dg_ports::{BlobRef, Location};

use crate::args::CpArgs;
use crate::context::Context;
use crate::format::{human_size, savings};
use crate::url::{upload_location, Target};

pub async fn run(ctx: &Context, args: &CpArgs) -> Result<()> {
    if !(args.max_ratio > 0.0 && args.max_ratio <= 1.0) {
        bail!("--max-ratio must be in (0, 1], got {}", args.max_ratio);
    }
    match (
        Target::parse(&args.source)?,
        Target::parse(&args.destination)?,
    ) {
        (Target::Local(src), Target::S3 { bucket, key }) => {
            upload(ctx, args, &src, &bucket, &key).await
        }
        (Target::S3 { bucket, key }, Target::Local(dst)) => {
            download(ctx, &bucket, &key, &dst).await
        }
        (Target::S3 { .. }, Target::S3 { .. }) => bail!(
            "copies between two s3:// locations are not supported yet; download and upload instead"
        ),
        (Target::Local(_), Target::Local(_)) => bail!("one side of dg cp must be an s3:// URL"),
    }
}

async fn upload(ctx: &Context, args: &CpArgs, src: &Path, bucket: &str, key: &str) -> Result<()> {
    let (blob, name) = if src == Path::new("-") {
        if key.is_empty() || key.ends_with('/') {
            bail!("uploading standard input needs a full key, e.g. s3://{bucket}/{key}name.zip");
        }
        (stdin_blob(ctx)?, file_name(key).to_string())
    } else {
        if src.is_dir() {
            bail!("{} is a directory; copy files one at a time", src.display());
        }
        let name = src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("{} has no file name", src.display()))?;
        (FileBlob::open(src)?, name)
    };
    let location = upload_location(bucket, key, &name);
    let request = PutRequest {
        no_delta: args.no_delta,
        max_ratio: Some(args.max_ratio),
        engine: args.engine.clone(),
        format: args.format,
    };
    let outcome = ctx.dg.put(blob, &location, &request).await?;
    if !ctx.quiet {
        println!(
            "upload: {} to {location}  ({})",
            src.display(),
            describe(&outcome)
        );
        for note in &outcome.notes {
            println!("  note: {note}");
        }
    }
    Ok(())
}

/// One line on how a file was stored.
pub fn describe(outcome: &PutOutcome) -> String {
    match &outcome.stored {
        Stored::Delta {
            created_reference: true,
            format,
            ..
        } => format!(
            "new {} reference: {} stored as {} in reference.bin",
            format.name(),
            human_size(outcome.original_size),
            human_size(outcome.reference_size.unwrap_or(outcome.original_size)),
        ),
        Stored::Delta { engine, format, .. } => format!(
            "{} {engine} delta {} of {}, {} saved",
            format.name(),
            human_size(outcome.stored_size),
            human_size(outcome.original_size),
            savings(outcome.original_size, outcome.stored_size)
        ),
        Stored::Direct { reason } => format!(
            "stored whole, {}: {reason}",
            human_size(outcome.original_size)
        ),
    }
}

fn stdin_blob(ctx: &Context) -> Result<BlobRef> {
    let mut staged = ctx.staging.create()?;
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

async fn download(ctx: &Context, bucket: &str, key: &str, dst: &Path) -> Result<()> {
    if key.is_empty() || key.ends_with('/') {
        bail!("s3://{bucket}/{key} is a prefix; name a file to download");
    }
    let location = Location::new(bucket, key);
    if dst == Path::new("-") {
        let staged = ctx.staging.create()?;
        let outcome = ctx.dg.get(&location, staged).await?;
        let mut reader = outcome.blob.reader()?;
        let mut stdout = std::io::stdout().lock();
        std::io::copy(&mut reader, &mut stdout).context("writing to standard output")?;
        stdout.flush().context("writing to standard output")?;
        return Ok(());
    }
    let path = destination_path(dst, file_name(key));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let out = DestinationFile::create(&path)?;
    let outcome = ctx.dg.get(&location, Box::new(out)).await?;
    if !ctx.quiet {
        let how = match outcome.served {
            Served::Delta => format!(
                "rebuilt from a {} delta, SHA-256 verified",
                human_size(outcome.stored_size)
            ),
            Served::Direct => "stored whole, SHA-256 verified".to_string(),
            Served::Plain => "plain object without dg metadata, not verified".to_string(),
        };
        println!("download: {location} to {}  ({how})", path.display());
    }
    Ok(())
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
