//! `dg sync`: make a destination like its source, copying only new and changed files.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::SystemTime;

use anyhow::Result;
use dg_adapters::DestinationDir;
use dg_ports::Location;

use crate::args::SyncArgs;
use crate::commands::bulk::{self, Bulk};
use crate::commands::cp::put_request;
use crate::context::Context;
use crate::exit::usage;
use crate::transfer::{Job, Plan};
use crate::tree::{dir_prefix, local_files, local_relative, remote_files, Links, Problem};
use crate::url::Target;

/// What is known about a file on one side.
#[derive(Clone, Copy, Debug)]
struct Seen {
    size: u64,
    modified: Option<SystemTime>,
}

/// True when the source file must be copied over `destination`: missing, another size, or
/// (unless `size_only`) a newer source.
fn changed(source: Seen, destination: Option<Seen>, size_only: bool) -> bool {
    let Some(destination) = destination else {
        return true;
    };
    if source.size != destination.size {
        return true;
    }
    if size_only {
        return false;
    }
    match (source.modified, destination.modified) {
        (Some(s), Some(d)) => s > d,
        _ => false,
    }
}

pub async fn run(ctx: &Context, args: &SyncArgs) -> Result<()> {
    let put = put_request(&args.put)?;
    let filters = bulk::filters(&args.filters.ordered)?;
    match (
        Target::parse(&args.source)?,
        Target::parse(&args.destination)?,
    ) {
        (Target::Local(dir), Target::S3 { bucket, key }) => {
            if !dir.is_dir() {
                usage!(
                    "{} is not a directory (dg sync copies directories)",
                    dir.display()
                );
            }
            let prefix = dir_prefix(&key);
            // original sizes: a delta's stored size says nothing about its file
            // objects whose metadata cannot be read count as missing: the upload replaces them
            let remote = remote_files(&ctx.client, &bucket, &prefix, true, &filters)
                .await?
                .files;
            let scan = local_files(&dir, &filters, Links::Follow)?;
            let local = scan.files;
            let there: HashMap<&str, Seen> = remote
                .iter()
                .map(|r| {
                    let seen = Seen {
                        size: r.size,
                        modified: r.modified,
                    };
                    (r.relative.as_str(), seen)
                })
                .collect();
            let mut uploads = Vec::new();
            let mut skipped = 0;
            for f in &local {
                let seen = Seen {
                    size: f.size,
                    modified: f.modified,
                };
                if changed(
                    seen,
                    there.get(f.relative.as_str()).copied(),
                    args.size_only,
                ) {
                    uploads.push(Job::Upload {
                        source: f.path.clone(),
                        destination: Location::new(&bucket, format!("{prefix}{}", f.relative)),
                        size: f.size,
                    });
                } else {
                    skipped += 1;
                }
            }
            let mut deletes = Vec::new();
            if args.delete {
                let here: HashSet<&str> = local.iter().map(|f| f.relative.as_str()).collect();
                deletes = remote
                    .iter()
                    .filter(|r| !here.contains(r.relative.as_str()))
                    .map(|r| Job::Delete {
                        target: Location::new(&bucket, r.stored_key.clone()),
                    })
                    .collect();
            }
            let policy = (!put.no_delta).then(|| ctx.client.policy());
            let plans = [Plan::uploads(uploads, policy), Plan::deletes(deletes)];
            let mut run = Bulk::new(ctx, put, args.dryrun, &plans, skipped);
            run.problems(&scan.problems, "upload");
            // Copies first: a deltaspace keeps its reference while the new deltas need it.
            for plan in plans {
                run.run(plan).await;
            }
            run.finish("sync")
        }
        (Target::S3 { bucket, key }, Target::Local(dir)) => {
            if dir == Path::new("-") || (dir.exists() && !dir.is_dir()) {
                usage!("{} is not a directory", dir.display());
            }
            let prefix = dir_prefix(&key);
            let scan = remote_files(&ctx.client, &bucket, &prefix, true, &filters).await?;
            let mut problems = scan.problems;
            let remote = scan.files;
            let root = DestinationDir::open(&dir)?;
            // links in the destination are listed, never entered (they are replaced or deleted)
            let local = local_files(&dir, &filters, Links::Keep)?.files;
            let here: HashMap<&str, Seen> = local
                .iter()
                .filter(|f| !f.link)
                .map(|f| {
                    let seen = Seen {
                        size: f.size,
                        modified: f.modified,
                    };
                    (f.relative.as_str(), seen)
                })
                .collect();
            let mut downloads = Vec::new();
            let mut skipped = 0;
            for r in &remote {
                let seen = Seen {
                    size: r.size,
                    modified: r.modified,
                };
                if !changed(seen, here.get(r.relative.as_str()).copied(), args.size_only) {
                    skipped += 1;
                    continue;
                }
                match local_relative(&r.relative) {
                    Ok(relative) => downloads.push(Job::Download {
                        source: Location::new(&bucket, r.key.clone()),
                        root: root.clone(),
                        relative: relative.to_string(),
                        size: r.size,
                        modified: r.modified,
                    }),
                    Err(reason) => problems.push(Problem {
                        what: format!("s3://{bucket}/{}", r.key),
                        reason,
                    }),
                }
            }
            let mut deletes = Vec::new();
            if args.delete {
                let there: HashSet<&str> = remote.iter().map(|r| r.relative.as_str()).collect();
                deletes = local
                    .iter()
                    .filter(|f| !there.contains(f.relative.as_str()))
                    .map(|f| Job::DeleteLocal {
                        root: root.clone(),
                        relative: f.relative.clone(),
                        size: f.size,
                    })
                    .collect();
            }
            let plans = [Plan::parallel(downloads), Plan::parallel(deletes)];
            let mut run = Bulk::new(ctx, put, args.dryrun, &plans, skipped);
            run.problems(&problems, "download");
            for plan in plans {
                run.run(plan).await;
            }
            run.finish("sync")
        }
        (Target::S3 { .. }, Target::S3 { .. }) => {
            usage!("sync between two s3:// locations is not supported yet")
        }
        (Target::Local(_), Target::Local(_)) => usage!("one side of dg sync must be an s3:// URL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn what_counts_as_changed() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |size, secs: u64| Seen {
            size,
            modified: Some(t + Duration::from_secs(secs)),
        };
        assert!(changed(at(1, 0), None, false), "missing");
        assert!(changed(at(2, 0), Some(at(1, 5)), true), "size");
        assert!(changed(at(1, 5), Some(at(1, 0)), false), "newer source");
        assert!(!changed(at(1, 5), Some(at(1, 0)), true), "--size-only");
        assert!(!changed(at(1, 0), Some(at(1, 0)), false), "same time");
        assert!(!changed(at(1, 0), Some(at(1, 5)), false), "older source");
    }
}
