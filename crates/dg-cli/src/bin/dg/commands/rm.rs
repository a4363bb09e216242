//! `dg rm`: delete a file, and its deltaspace's reference once no delta needs it; with -r,
//! every file under a prefix.

use anyhow::Result;
use dg_ports::{Error, Location};

use crate::args::RmArgs;
use crate::commands::bulk::{self, Bulk};
use crate::context::Context;
use crate::exit::usage;
use crate::transfer::{Done, Job, Plan, Reporter};
use crate::tree::{dir_prefix, remote_files};
use crate::url::Target;

pub async fn run(ctx: &Context, args: &RmArgs) -> Result<()> {
    let target = Target::parse(&args.target)?;
    let (bucket, key) = target.s3("the file to delete")?;
    if args.recursive {
        return recursive(ctx, args, bucket, key).await;
    }
    if !args.filters.ordered.is_empty() {
        usage!("--exclude/--include need -r/--recursive");
    }
    let location = Location::new(bucket, key);
    let exact_object = || async { ctx.client.stored_object(&location).await };
    if key.is_empty() || (key.ends_with('/') && exact_object().await?.is_none()) {
        usage!("s3://{bucket}/{key} is a prefix; name a file to delete, or use `dg rm -r`");
    }
    let job = Job::Delete {
        target: location.clone(),
    };
    let mut reporter = Reporter::without_progress(ctx.json, ctx.quiet, args.dryrun)
        .with_retries(ctx.client.retry_counter());
    if args.dryrun {
        reporter.planned(&job);
        return Ok(());
    }
    let outcome = ctx.client.delete(&location, args.force).await?;
    reporter.print(&job, &Done::Deleted(outcome));
    Ok(())
}

async fn recursive(ctx: &Context, args: &RmArgs, bucket: &str, key: &str) -> Result<()> {
    let filters = bulk::filters(&args.filters.ordered)?;
    let prefix = dir_prefix(key);
    let jobs = remote_files(&ctx.client, bucket, &prefix, false, &filters)
        .await?
        .files
        .into_iter()
        .map(|f| Job::Delete {
            target: Location::new(bucket, f.stored_key),
        })
        .collect();
    let plan = Plan::deletes(jobs);
    let mut run = Bulk::new(
        ctx,
        Default::default(),
        args.dryrun,
        std::slice::from_ref(&plan),
        0,
    );
    run.run(plan).await;
    if filters.is_empty() && !args.dryrun {
        // References no delta needs any more (orphans); those still needed are refused and kept.
        let left = ctx.client.list_all(bucket, &prefix, false).await?;
        for reference in left.references {
            let job = Job::Delete {
                target: reference.location.clone(),
            };
            match ctx.client.delete_stored(&reference.location, false).await {
                Ok(_) => run.reporter.reference_removed(&reference.location),
                Err(Error::Precondition { .. } | Error::NotFound { .. }) => {}
                Err(e) => run.reporter.done(&job, Err(e.into())),
            }
        }
    }
    run.finish("rm")
}
