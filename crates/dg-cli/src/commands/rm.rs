//! `dg rm`: delete a file, and its deltaspace's reference once no delta needs it.

use anyhow::{bail, Result};
use dg_ports::Location;

use crate::args::RmArgs;
use crate::context::Context;
use crate::url::Target;

pub async fn run(ctx: &Context, args: &RmArgs) -> Result<()> {
    let target = Target::parse(&args.target)?;
    let (bucket, key) = target.s3("the file to delete")?;
    if key.is_empty() || key.ends_with('/') {
        bail!("s3://{bucket}/{key} is a prefix; name a file to delete");
    }
    let outcome = ctx
        .dg
        .delete(&Location::new(bucket, key), args.force)
        .await?;
    if !ctx.quiet {
        for removed in &outcome.removed {
            println!("delete: {removed}");
        }
    }
    Ok(())
}
