//! `dg delta` and `dg rsync`: the diff engines on plain local files.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result};
use dg_adapters::engine::rsync::{self, RsyncOptions};
use dg_adapters::{DestinationFile, FileBlob};
use dg_ports::StagedBlob;

use crate::args::{DeltaCommand, RsyncCommand};
use crate::format::human_size;
use dg::engines;

/// Writes `path` atomically from what `fill` writes.
fn write_atomically(path: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<u64> {
    let mut out = Box::new(DestinationFile::create(path)?);
    fill(&mut out)?;
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(out.finish()?.len())
}

pub fn delta(command: &DeltaCommand, quiet: bool) -> Result<()> {
    let engines = engines();
    match command {
        DeltaCommand::Encode {
            engine,
            reference,
            target,
            delta,
        } => {
            let reference_blob = FileBlob::open(reference)?;
            let target_blob = FileBlob::open(target)?;
            let choice = engines.choose(
                Some(engine.as_str()),
                reference_blob.len(),
                target_blob.len(),
            )?;
            let reference_bytes = reference_blob.map()?;
            let mut reader = target_blob.reader()?;
            let size = write_atomically(delta, |out| {
                Ok(choice.engine.encode(&reference_bytes, &mut reader, out)?)
            })?;
            if !quiet {
                out!(
                    "{} delta {}: {} for a {} file",
                    choice.engine.name(),
                    delta.display(),
                    human_size(size),
                    human_size(target_blob.len())
                );
            }
        }
        DeltaCommand::Decode {
            engine: wanted,
            reference,
            delta,
            out,
        } => {
            let reference_bytes = FileBlob::open(reference)?.map()?;
            let delta_blob = FileBlob::open(delta)?;
            let head = delta_blob
                .map()?
                .get(..16.min(delta_blob.len() as usize))
                .unwrap_or_default()
                .to_vec();
            let engine = match wanted {
                Some(name) => engines.by_name(name).with_context(|| {
                    format!(
                        "unknown engine `{name}`; available: {}",
                        engines.names().join(", ")
                    )
                })?,
                None => engines.for_delta(&head).with_context(|| {
                    format!(
                        "{} is not a delta in a format dg reads ({})",
                        delta.display(),
                        engines.names().join(", ")
                    )
                })?,
            }
            .clone();
            let mut reader = delta_blob.reader()?;
            let size = write_atomically(out, |w| {
                engine.decode(&reference_bytes, &mut reader, w, u64::MAX)?;
                Ok(())
            })?;
            if !quiet {
                out!(
                    "{} decoded {} ({})",
                    engine.name(),
                    out.display(),
                    human_size(size)
                );
            }
        }
    }
    Ok(())
}

pub fn rsync(command: &RsyncCommand, quiet: bool) -> Result<()> {
    let (what, path, size) = match command {
        RsyncCommand::Signature {
            block_size,
            strong_len,
            basis,
            signature,
        } => {
            let bytes = FileBlob::open(basis)?.map()?;
            let options = RsyncOptions {
                block_size: *block_size,
                strong_len: *strong_len,
            };
            let n = write_atomically(signature, |out| Ok(rsync::signature(&bytes, out, options)?))?;
            ("signature", signature, n)
        }
        RsyncCommand::Delta {
            signature,
            new,
            delta,
        } => {
            let mut sig = FileBlob::open(signature)?.reader()?;
            let mut data = FileBlob::open(new)?.reader()?;
            let n = write_atomically(delta, |out| Ok(rsync::delta(&mut sig, &mut data, out)?))?;
            ("delta", delta, n)
        }
        RsyncCommand::Patch { basis, delta, out } => {
            let bytes = FileBlob::open(basis)?.map()?;
            let mut d = FileBlob::open(delta)?.reader()?;
            let n = write_atomically(out, |w| {
                rsync::patch(&bytes, &mut d, w, u64::MAX)?;
                Ok(())
            })?;
            ("patched file", out, n)
        }
    };
    if !quiet {
        out!("{what} {}: {}", path.display(), human_size(size));
    }
    Ok(())
}
