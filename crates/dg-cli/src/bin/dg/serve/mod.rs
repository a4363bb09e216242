//! `dg serve`: an S3 endpoint over [`dg::Client`]. s3s speaks the protocol (routing, XML,
//! SigV4 in headers and presigned URLs, `aws-chunked` bodies); [`s3::DgS3`] maps each
//! operation onto the client; `http` accepts connections (TLS optional), answers `/_/health`
//! and `/_/metrics`, logs and counts each request, and shuts down gracefully.

#[macro_use]
mod wire;
mod http;
mod listing;
mod metrics;
mod multipart;
mod rebuilt;
mod s3;
mod users;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use dg::{Client, ClientBuilder};
use tracing::warn;

use crate::args::{Global, ServeArgs};

/// The client `dg serve` runs on: the store --endpoint-url (or AWS_ENDPOINT_URL) names, else
/// a local directory store in --data.
fn client(global: &Global, args: &ServeArgs) -> anyhow::Result<Client> {
    let named = global.endpoint_url.is_some()
        || std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty());
    if named {
        return crate::context::client(global);
    }
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("cannot create the data directory {}", args.data.display()))?;
    let data = std::fs::canonicalize(&args.data)
        .with_context(|| format!("cannot open the data directory {}", args.data.display()))?;
    Ok(ClientBuilder::from_env().local_dir(data).build()?)
}

/// glibc gives each thread that allocates its own arena, up to 8 per CPU, and each keeps the
/// peak of what was freed in it: with encodes moving between blocking threads, the server's
/// memory would be that peak times the arenas. Two arenas keep it near the peak of the encodes
/// running at once.
fn fewer_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a tunable of the allocator; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Runs the endpoint until SIGTERM or Ctrl-C.
pub async fn run(global: &Global, args: &ServeArgs) -> anyhow::Result<()> {
    fewer_malloc_arenas();
    let users = match (&args.users, args.allow_anonymous) {
        (Some(path), anonymous) => {
            let users = users::Users::load(path)?;
            if anonymous {
                users.allow_anonymous()
            } else {
                users
            }
        }
        (None, true) => users::Users::default().allow_anonymous(),
        (None, false) => bail!(
            "dg serve needs --users FILE (who may read and write what; see `dg serve --help`), \
             or --allow-anonymous to let unsigned requests do anything"
        ),
    };
    let client = client(global, args)?;
    let work: PathBuf = args
        .work_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("dg-serve"));
    let bodies = work.join("bodies");
    std::fs::create_dir_all(&bodies)
        .with_context(|| format!("cannot create the work directory {}", bodies.display()))?;
    remove_older(&bodies, std::time::Duration::from_secs(24 * 3600));
    let uploads = multipart::Uploads::open(work.join("uploads"))
        .with_context(|| format!("cannot create the work directory {}", work.display()))?;
    let metrics = Arc::new(metrics::Metrics::new(client.cache_counts()));
    let dgs3 = s3::DgS3 {
        client,
        work: bodies,
        uploads: Arc::new(uploads),
        metrics: metrics.clone(),
        rebuilt: Arc::new(rebuilt::Rebuilt::new(
            args.rebuilt_cache_mib << 20,
            std::time::Duration::from_secs(300),
        )),
        work_slots: Arc::new(tokio::sync::Semaphore::new(work_slots(global))),
    };
    let service = {
        let mut b = s3s::service::S3ServiceBuilder::new(dgs3);
        // Always set: s3s runs the access checks only with an auth provider.
        b.set_auth(users.clone());
        b.set_access(users.clone());
        b.build()
    };
    if users.len() == 0 {
        warn!(
            "serving without users: unsigned requests may read and write everything \
             (clients send them with e.g. `aws --no-sign-request`)"
        );
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(http::tls_acceptor(cert, key)?),
        _ => None,
    };
    http::serve(
        &args.listen,
        service,
        metrics,
        tls,
        std::time::Duration::from_secs(args.grace),
    )
    .await
}

/// Removes what a stopped process left in `dir` (files and directories older than `age`:
/// other processes sharing the work directory may be writing newer ones).
pub(super) fn remove_older(dir: &std::path::Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|elapsed| elapsed > age);
        if old {
            let _ = if meta.is_dir() {
                std::fs::remove_dir_all(entry.path())
            } else {
                std::fs::remove_file(entry.path())
            };
        }
    }
}

/// How many encodings and rebuilds may run at once: `-j`, else the number of CPUs (at least 2).
fn work_slots(global: &Global) -> usize {
    global.jobs.filter(|&n| n > 0).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2)
    })
}
