//! `dg verify`: rebuild and check every object under a prefix.

use anyhow::{bail, Result};

use crate::args::VerifyArgs;
use crate::context::Context;
use crate::url::Target;

pub async fn run(ctx: &Context, args: &VerifyArgs) -> Result<()> {
    let target = Target::parse(&args.target)?;
    let (bucket, prefix) = target.s3("the prefix to verify")?;
    let quiet = ctx.quiet;
    let report = ctx
        .dg
        .verify(
            bucket,
            prefix,
            args.jobs,
            &|checked| match &checked.result {
                Ok(served) if !quiet => println!("ok      {} ({served:?})", checked.location),
                Ok(_) => {}
                Err(e) => eprintln!("FAILED  {}: {e}", checked.location),
            },
        )
        .await?;
    for orphan in &report.orphan_references {
        println!("orphan  {orphan} (no delta uses this reference; `dg rm --force` removes it)");
    }
    let failed = report.failed.len();
    if !quiet {
        println!(
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
