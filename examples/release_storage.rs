//! Release storage: a CI pipeline publishes each build's archive with dg, then a deploy job
//! lists the releases and fetches one, rebuilt and checked.
//!
//! ```sh
//! cargo run -p dg-cli --example release_storage                       # generated releases
//! cargo run -p dg-cli --example release_storage -- corpus/pip/*.whl   # your files, oldest first
//! ```
//!
//! Everything happens in a temporary local store (no network, no S3 account).

use std::path::PathBuf;

use dg::{Client, ListObjects, StatsMode, StatsOptions};

/// Five releases of an "application": a tarball whose sources change a little each time.
fn generated_releases(dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    let mut source: Vec<u8> = (0..60_000u32)
        .flat_map(|i| format!("fn item_{i}() -> u32 {{ {} }}\n", i * 31 % 997).into_bytes())
        .collect();
    let mut paths = Vec::new();
    for minor in 0..5 {
        // each release edits a few lines
        for k in 0..4 {
            let at = (minor * 7919 + k * 104_729) % (source.len() - 16);
            source[at..at + 16].copy_from_slice(b"/* changed! */\n ");
        }
        let path = dir.join(format!("app-1.{minor}.0.tar"));
        std::fs::write(&path, &source)?;
        paths.push(path);
    }
    Ok(paths)
}

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

fn main() -> Result<()> {
    let files = std::env::args_os().skip(1).map(PathBuf::from).collect();
    tokio::runtime::Runtime::new()?.block_on(run(files))
}

async fn run(mut files: Vec<PathBuf>) -> Result<()> {
    let store = tempfile::tempdir()?;
    let work = tempfile::tempdir()?;
    let client = Client::builder().local_dir(store.path()).build()?;
    client.create_bucket("releases").await?;

    if files.is_empty() {
        files = generated_releases(work.path())?;
    }

    // CI: publish every build into one prefix (one deltaspace).
    println!("publishing {} releases", files.len());
    for file in &files {
        let summary = client.upload(file, "s3://releases/app/").await?;
        println!(
            "  {:<40} {:>10} bytes -> {:>9} stored ({}, {:.1}% saved)",
            summary.key,
            summary.original_size,
            summary.stored_size,
            match (summary.is_delta, summary.reference_size) {
                (true, _) => "delta",
                (false, Some(_)) => "the deltaspace's reference",
                (false, None) => "whole",
            },
            100.0 * summary.savings
        );
    }

    // Deploy: list the releases, two per page, as an S3 client would page through them.
    let mut request = ListObjects::new("releases").prefix("app/").max_keys(2);
    let mut keys = Vec::new();
    loop {
        let page = client.list_objects(&request).await?;
        keys.extend(page.objects.iter().map(|o| o.key.clone()));
        if !page.is_truncated() {
            break;
        }
        request = request.continuation_token(page.next_continuation_token);
    }
    println!("listed: {keys:?}");
    assert_eq!(keys.len(), files.len());

    // Fetch the newest one: rebuilt from its delta, SHA-256 checked before the file appears.
    let newest = keys.last().ok_or("no releases")?;
    let head = client.head_object("releases", newest).await?;
    let target = work.path().join("deploy");
    std::fs::create_dir_all(&target)?;
    let got = client
        .download(&format!("s3://releases/{newest}"), &target)
        .await?;
    let original = files.last().ok_or("no files")?;
    assert_eq!(std::fs::read(&got.path)?, std::fs::read(original)?);
    println!(
        "deployed {} ({} bytes, sha256 {}…, {:?})",
        got.path.display(),
        got.size,
        &head.sha256.unwrap_or_default()[..12],
        got.served
    );

    let report = client.verify("releases", "app/").await?;
    assert!(report.is_ok());
    let stats = client
        .stats(
            "releases",
            "app/",
            StatsOptions {
                mode: StatsMode::Detailed,
                ..StatsOptions::default()
            },
        )
        .await?;
    println!(
        "verified {} objects; {} bytes of releases stored as {} ({:.1}% saved)",
        report.passed,
        stats.original_size,
        stats.stored_size,
        100.0 * stats.savings.unwrap_or(0.0)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_to_the_end() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(super::run(Vec::new())).unwrap();
    }
}
