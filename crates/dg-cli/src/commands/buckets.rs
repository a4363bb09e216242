//! `dg mb` and `dg rb`.

use anyhow::Result;

use crate::args::BucketArgs;
use crate::context::Context;
use crate::url::Target;

fn bucket_name(args: &BucketArgs) -> Result<String> {
    let target = Target::parse(&args.bucket)?;
    let (bucket, key) = target.s3("the bucket")?;
    if !key.is_empty() {
        crate::exit::usage!("name only a bucket (s3://BUCKET), not a key");
    }
    Ok(bucket.to_string())
}

pub async fn make(ctx: &Context, args: &BucketArgs) -> Result<()> {
    let name = bucket_name(args)?;
    ctx.buckets.create_bucket(&name).await?;
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"action": "make_bucket", "bucket": name, "ok": true})
        );
    } else if !ctx.quiet {
        println!("make_bucket: {name}");
    }
    Ok(())
}

pub async fn remove(ctx: &Context, args: &BucketArgs) -> Result<()> {
    let name = bucket_name(args)?;
    ctx.buckets.delete_bucket(&name).await?;
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"action": "remove_bucket", "bucket": name, "ok": true})
        );
    } else if !ctx.quiet {
        println!("remove_bucket: {name}");
    }
    Ok(())
}
