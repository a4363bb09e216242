//! `dg analyze`: estimate what dg would save on a local directory or a prefix, by storing the
//! would-be reference and a few files of each would-be deltaspace in a scratch store in memory
//! and extrapolating their stored/original ratio to the files not sampled.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context as _, Result};
use dg::{CacheConfig, Client};
use dg_adapters::FileBlob;
use dg_core::policy::SNIFF_LEN;
use dg_core::PutRequest;
use dg_ports::{BlobRef, Location};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::args::AnalyzeArgs;
use crate::commands::bulk;
use crate::commands::cp::delta_request;
use crate::context::Context;
use crate::exit::usage;
use crate::format::{human_size, savings};
use crate::transfer::Progress;
use crate::tree::{dir_prefix, local_files, remote_files, Links, Problem};
use crate::url::Target;

/// The scratch bucket.
const SCRATCH: &str = "analyze";

/// Where a file's bytes are.
#[derive(Clone, Debug)]
enum Origin {
    Local(PathBuf),
    Stored(Location),
}

/// One file to judge.
#[derive(Clone, Debug)]
struct File {
    /// Path below the analysed root.
    relative: String,
    size: u64,
    origin: Origin,
    eligible: bool,
}

/// A would-be deltaspace and what it would cost.
#[derive(Debug, Default)]
struct Space {
    /// Directory below the root, with trailing `/` (empty at the root).
    name: String,
    files: Vec<File>,
    /// Bytes of every file.
    original: u64,
    /// Bytes of files stored whole because they are not delta-eligible.
    ineligible: u64,
    /// The reference file's size and its cost (reference.bin + its own small delta).
    reference: Option<(u64, u64)>,
    /// Sampled files: original and stored bytes.
    sampled: u64,
    sampled_original: u64,
    sampled_stored: u64,
    /// Eligible files neither reference nor sampled: their bytes.
    unsampled_original: u64,
}

impl Space {
    /// The stored bytes: exact where files were encoded, extrapolated elsewhere.
    fn estimated_stored(&self) -> u64 {
        let reference = self.reference.map_or(0, |(_, cost)| cost);
        let ratio = if self.sampled_original > 0 {
            self.sampled_stored as f64 / self.sampled_original as f64
        } else {
            1.0
        };
        let extrapolated = (self.unsampled_original as f64 * ratio).round() as u64;
        reference + self.sampled_stored + extrapolated + self.ineligible
    }

    /// True when every eligible file was encoded.
    fn exact(&self) -> bool {
        self.unsampled_original == 0
    }

    fn record(&self) -> Value {
        let stored = self.estimated_stored();
        json!({
            "type": "deltaspace",
            "deltaspace": self.name,
            "files": self.files.len(),
            "eligible": self.files.iter().filter(|f| f.eligible).count(),
            "original_size": self.original,
            "estimated_stored_size": stored,
            "savings": (self.original > 0).then(|| 1.0 - stored as f64 / self.original as f64),
            "reference_size": self.reference.map(|(size, _)| size),
            "reference_stored_size": self.reference.map(|(_, cost)| cost),
            "sampled": self.sampled,
            "sampled_original_size": self.sampled_original,
            "sampled_stored_size": self.sampled_stored,
            "exact": self.exact(),
        })
    }
}

pub async fn run(ctx: &Context, args: &AnalyzeArgs) -> Result<()> {
    let request = delta_request(&args.delta, false)?;
    let filters = bulk::filters(&args.filters.ordered)?;
    let policy = ctx.client.policy().clone();
    let files: Vec<File> = match Target::parse(&args.target)? {
        Target::Local(dir) => {
            if !dir.is_dir() {
                usage!("{} is not a directory", dir.display());
            }
            let scan = local_files(&dir, &filters, Links::Follow)?;
            warn_problems(&scan.problems);
            scan.files
                .into_iter()
                .map(|f| File {
                    eligible: policy
                        .judge(dg_core::keys::file_name(&f.relative), &head(&f.path))
                        .is_eligible(),
                    relative: f.relative,
                    size: f.size,
                    origin: Origin::Local(f.path),
                })
                .collect()
        }
        Target::S3 { bucket, key } => {
            let prefix = dir_prefix(&key);
            // judged by name: reading every file's first bytes would cost a request each
            let scan = remote_files(&ctx.client, &bucket, &prefix, true, &filters).await?;
            warn_problems(&scan.problems);
            scan.files
                .into_iter()
                .map(|f| File {
                    eligible: policy
                        .judge(dg_core::keys::file_name(&f.relative), &[])
                        .is_eligible(),
                    relative: f.relative,
                    size: f.size,
                    origin: Origin::Stored(Location::new(&bucket, f.key)),
                })
                .collect()
        }
    };
    let mut spaces: BTreeMap<String, Space> = BTreeMap::new();
    for f in files {
        let name = match f.relative.rfind('/') {
            Some(i) => f.relative[..=i].to_string(),
            None => String::new(),
        };
        let space = spaces.entry(name.clone()).or_insert_with(|| Space {
            name,
            ..Space::default()
        });
        space.original = space.original.saturating_add(f.size);
        space.files.push(f);
    }
    let samples = if args.all { usize::MAX } else { args.samples };
    let plans: Vec<(Space, Vec<File>)> = spaces
        .into_values()
        .map(|space| {
            let chosen = choose(&space.files, samples);
            (space, chosen)
        })
        .collect();
    let encoded_files = plans.iter().map(|(_, c)| c.len() as u64).sum();
    let encoded_bytes = plans
        .iter()
        .flat_map(|(_, c)| c.iter().map(|f| f.size))
        .fold(0, u64::saturating_add);
    let progress = Progress::new(
        !(ctx.json || ctx.quiet) && bulk::progress_visible(ctx),
        encoded_files,
        encoded_bytes,
    );
    let started = Instant::now();
    let done = AtomicU64::new(0);
    let results: Vec<Result<Space>> = futures::stream::iter(plans)
        .map(|(space, chosen)| {
            let shown = Shown {
                progress: &progress,
                done: &done,
            };
            estimate(ctx, space, chosen, &request, shown)
        })
        .buffered(ctx.jobs.max(1))
        .collect()
        .await;
    progress.finish();
    let spaces: Vec<Space> = results.into_iter().collect::<Result<_>>()?;
    show(ctx, &args.target, &spaces, started.elapsed().as_secs_f64());
    Ok(())
}

/// The files of a deltaspace to encode: its reference (the first eligible file by path, as
/// `dg cp -r` would upload it) and up to `samples` others spread evenly over the rest.
fn choose(files: &[File], samples: usize) -> Vec<File> {
    let eligible: Vec<&File> = files.iter().filter(|f| f.eligible).collect();
    let Some((reference, rest)) = eligible.split_first() else {
        return Vec::new();
    };
    let mut chosen = vec![(*reference).clone()];
    if samples >= rest.len() {
        chosen.extend(rest.iter().map(|f| (*f).clone()));
    } else if samples > 0 {
        // the middle of each of `samples` equal slices
        for k in 0..samples {
            let i = (2 * k + 1) * rest.len() / (2 * samples);
            if let Some(f) = rest.get(i) {
                chosen.push((*f).clone());
            }
        }
    }
    chosen
}

/// The progress bar and the count of files encoded so far.
#[derive(Clone, Copy)]
struct Shown<'a> {
    progress: &'a Progress,
    done: &'a AtomicU64,
}

/// Stores the chosen files of `space` in a scratch store and fills in its figures.
async fn estimate(
    ctx: &Context,
    mut space: Space,
    chosen: Vec<File>,
    request: &PutRequest,
    shown: Shown<'_>,
) -> Result<Space> {
    space.ineligible = space
        .files
        .iter()
        .filter(|f| !f.eligible)
        .map(|f| f.size)
        .fold(0, u64::saturating_add);
    let eligible: u64 = space
        .files
        .iter()
        .filter(|f| f.eligible)
        .map(|f| f.size)
        .fold(0, u64::saturating_add);
    // An estimate: the chosen files stored in memory, as an upload would store them.
    let scratch = Client::builder()
        .in_memory()
        .cache(CacheConfig::Memory {
            max_bytes: 64 << 20,
        })
        .staging(ctx.client.staging().clone())
        .build()?;
    scratch.create_bucket(SCRATCH).await?;
    let mut encoded = 0u64;
    for (i, file) in chosen.iter().enumerate() {
        let blob = read(ctx, file).await?;
        let at = Location::new(SCRATCH, file.relative.clone());
        let outcome = scratch
            .put(blob, &at, request)
            .await
            .with_context(|| format!("encoding {}", file.relative))?;
        encoded = encoded.saturating_add(file.size);
        shown.progress.add_bytes(file.size);
        shown
            .progress
            .files_done(shown.done.fetch_add(1, Ordering::Relaxed) + 1);
        if i == 0 {
            let cost = outcome.stored_size + outcome.reference_size.unwrap_or(0);
            space.reference = Some((file.size, cost));
        } else {
            space.sampled += 1;
            space.sampled_original = space.sampled_original.saturating_add(file.size);
            space.sampled_stored += outcome.stored_size;
        }
    }
    space.unsampled_original = eligible - encoded;
    Ok(space)
}

/// The file's content: the local file, or the stored file downloaded to staging.
async fn read(ctx: &Context, file: &File) -> Result<BlobRef> {
    match &file.origin {
        Origin::Local(path) => Ok(FileBlob::open(path)?),
        Origin::Stored(location) => {
            let got = ctx
                .client
                .get_staged(location)
                .await
                .with_context(|| format!("reading {location}"))?;
            Ok(got.blob)
        }
    }
}

/// The first bytes of a local file, for the delta policy.
fn head(path: &std::path::Path) -> Vec<u8> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(SNIFF_LEN as u64).read_to_end(&mut head);
    }
    head
}

fn show(ctx: &Context, target: &str, spaces: &[Space], seconds: f64) {
    let original: u64 = spaces
        .iter()
        .map(|s| s.original)
        .fold(0, u64::saturating_add);
    let stored: u64 = spaces.iter().map(Space::estimated_stored).sum();
    let files: usize = spaces.iter().map(|s| s.files.len()).sum();
    let encoded: u64 = spaces
        .iter()
        .map(|s| s.sampled + u64::from(s.reference.is_some()))
        .sum();
    let exact = spaces.iter().all(Space::exact);
    if ctx.json {
        for s in spaces {
            json_out!("{}", s.record());
        }
        let summary = json!({
            "type": "summary",
            "target": target,
            "deltaspaces": spaces.len(),
            "files": files,
            "encoded": encoded,
            "original_size": original,
            "estimated_stored_size": stored,
            "savings": (original > 0).then(|| 1.0 - stored as f64 / original as f64),
            "exact": exact,
            "seconds": (seconds * 1000.0).round() / 1000.0,
        });
        json_out!("{summary}");
        return;
    }
    if ctx.quiet {
        return;
    }
    let width = spaces
        .iter()
        .map(|s| shown(&s.name).len())
        .max()
        .unwrap_or(0)
        .max(10);
    out!(
        "{:<width$}  {:>6}  {:>11}  {:>11}  {:>8}  {:>8}",
        "deltaspace",
        "files",
        "original",
        "stored",
        "savings",
        "encoded"
    );
    for s in spaces {
        let mark = if s.exact() { " " } else { "~" };
        out!(
            "{:<width$}  {:>6}  {:>11}  {mark}{:>10}  {mark}{:>7}  {:>8}",
            shown(&s.name),
            s.files.len(),
            human_size(s.original),
            human_size(s.estimated_stored()),
            savings(s.original, s.estimated_stored()),
            s.sampled + u64::from(s.reference.is_some()),
        );
    }
    let mark = if exact { " " } else { "~" };
    out!(
        "{:<width$}  {:>6}  {:>11}  {mark}{:>10}  {mark}{:>7}  {:>8}",
        "total",
        files,
        human_size(original),
        human_size(stored),
        savings(original, stored),
        encoded,
    );
    out!(
        "{} files in {} would-be deltaspaces; {encoded} encoded in {seconds:.1} s{}",
        files,
        spaces.len(),
        if exact {
            ""
        } else {
            "; ~ marks figures extrapolated from the encoded files"
        }
    );
}

/// A deltaspace's name for the table.
fn shown(name: &str) -> &str {
    if name.is_empty() {
        "./"
    } else {
        name
    }
}

/// Files an estimate leaves out, named on standard error (the estimate covers the others).
fn warn_problems(problems: &[Problem]) {
    for p in problems {
        err!(
            "dg: warning: left out of the estimate: {}: {}",
            p.what,
            p.reason
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(n: usize) -> Vec<File> {
        (0..n)
            .map(|i| File {
                relative: format!("a/f{i:02}.zip"),
                size: 10,
                origin: Origin::Local(PathBuf::from("x")),
                eligible: i != 1,
            })
            .collect()
    }

    #[test]
    fn the_reference_and_evenly_spread_samples() {
        let all = files(12);
        let names = |c: Vec<File>| c.into_iter().map(|f| f.relative).collect::<Vec<_>>();
        // eligible: 0, 2..=11 → reference f00, then 3 of the 10 others
        assert_eq!(
            names(choose(&all, 3)),
            ["a/f00.zip", "a/f03.zip", "a/f07.zip", "a/f10.zip"]
        );
        assert_eq!(names(choose(&all, 0)), ["a/f00.zip"]);
        assert_eq!(choose(&all, usize::MAX).len(), 11);
        assert!(choose(&files(0), 3).is_empty());
    }

    #[test]
    fn extrapolates_the_sampled_ratio() {
        let space = Space {
            original: 1000,
            ineligible: 100,
            reference: Some((100, 40)),
            sampled: 2,
            sampled_original: 200,
            sampled_stored: 20,
            unsampled_original: 600,
            ..Space::default()
        };
        assert_eq!(space.estimated_stored(), 40 + 20 + 60 + 100);
        assert!(!space.exact());
    }
}
