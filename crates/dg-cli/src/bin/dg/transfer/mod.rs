//! Bulk transfers: many files uploaded, downloaded or deleted, a few at a time, each result
//! reported as it arrives.

pub mod plan;
pub mod progress;
pub mod report;

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{anyhow, Context as _, Result};
use dg::Client;
use dg_adapters::{DestinationDir, FileBlob};
use dg_core::{DeleteOutcome, GetOutcome, PutOutcome, PutRequest};
use dg_ports::{BlobRef, Location, StagedBlob};
use tokio::task::JoinSet;

pub use plan::Plan;
pub use progress::Progress;
pub use report::Reporter;

/// One file's work.
#[derive(Clone, Debug)]
pub enum Job {
    /// A local file to `destination`.
    Upload {
        source: PathBuf,
        destination: Location,
        size: u64,
    },
    /// A stored file to `relative` below a local directory, with the object's modification
    /// time.
    Download {
        source: Location,
        root: Arc<DestinationDir>,
        relative: String,
        size: u64,
        modified: Option<SystemTime>,
    },
    /// A stored file (a plain object, or a dg file rebuilt) to `destination` in dg storage.
    Copy {
        source: Location,
        destination: Location,
        size: u64,
    },
    /// A stored object (and its reference, when no delta needs it any more).
    Delete { target: Location },
    /// A local file (or link) below a directory.
    DeleteLocal {
        root: Arc<DestinationDir>,
        relative: String,
        size: u64,
    },
}

impl Job {
    /// `upload`, `download` or `delete`, as the AWS CLI prints them.
    pub fn action(&self) -> &'static str {
        match self {
            Job::Upload { .. } => "upload",
            Job::Download { .. } => "download",
            Job::Copy { .. } => "copy",
            Job::Delete { .. } | Job::DeleteLocal { .. } => "delete",
        }
    }

    /// Where the bytes come from (or what is deleted).
    pub fn source(&self) -> String {
        match self {
            Job::Upload { source, .. } => source.display().to_string(),
            Job::Download { source, .. } | Job::Copy { source, .. } => source.to_string(),
            Job::Delete { target } => target.to_string(),
            Job::DeleteLocal { root, relative, .. } => root.display(relative).display().to_string(),
        }
    }

    /// Where the bytes go (`None` for deletes).
    pub fn destination(&self) -> Option<String> {
        match self {
            Job::Upload { destination, .. } | Job::Copy { destination, .. } => {
                Some(destination.to_string())
            }
            Job::Download { root, relative, .. } => {
                Some(root.display(relative).display().to_string())
            }
            Job::Delete { .. } | Job::DeleteLocal { .. } => None,
        }
    }

    /// The file's size, when known.
    pub fn size(&self) -> u64 {
        match self {
            Job::Upload { size, .. }
            | Job::Download { size, .. }
            | Job::Copy { size, .. }
            | Job::DeleteLocal { size, .. } => *size,
            Job::Delete { .. } => 0,
        }
    }

    /// `upload a to b`, `delete c`: names the job in messages.
    pub fn describe(&self) -> String {
        match self.destination() {
            Some(d) => format!("{} {} to {d}", self.action(), self.source()),
            None => format!("{} {}", self.action(), self.source()),
        }
    }
}

/// What a finished job did.
#[derive(Debug)]
pub enum Done {
    Uploaded(PutOutcome),
    Downloaded(GetOutcome),
    Deleted(DeleteOutcome),
    DeletedLocal,
}

/// What every job needs: the client, how to store uploads, where to show progress.
#[derive(Clone, Debug)]
pub struct Runner {
    pub client: Client,
    pub put: PutRequest,
    pub progress: Progress,
}

impl Runner {
    /// Does one job.
    pub async fn run(&self, job: &Job) -> Result<Done> {
        match job {
            Job::Upload {
                source,
                destination,
                ..
            } => {
                let blob = FileBlob::open(source)?;
                Ok(Done::Uploaded(self.upload(blob, destination).await?))
            }
            Job::Download {
                source,
                root,
                relative,
                modified,
                ..
            } => Ok(Done::Downloaded(
                self.download(source, root, relative, *modified).await?,
            )),
            Job::Copy {
                source,
                destination,
                ..
            } => {
                // whole, for hashing and delta encoding; a plain object is taken as it is
                let got = self.client.get_staged(source).await?;
                Ok(Done::Uploaded(self.upload(got.blob, destination).await?))
            }
            Job::Delete { target } => Ok(Done::Deleted(
                self.client.delete_stored(target, false).await?,
            )),
            Job::DeleteLocal { root, relative, .. } => {
                let (root, relative) = (root.clone(), relative.clone());
                tokio::task::spawn_blocking(move || root.remove(&relative))
                    .await
                    .context("a delete stopped")??;
                Ok(Done::DeletedLocal)
            }
        }
    }

    /// Stores `blob` at `destination`.
    pub async fn upload(&self, blob: BlobRef, destination: &Location) -> Result<PutOutcome> {
        Ok(self.client.put(blob, destination, &self.put).await?)
    }

    /// Rebuilds `source` into the file `relative` below `root` (directories created, never
    /// through a link), renamed into place only after its SHA-256 matched.
    pub async fn download(
        &self,
        source: &Location,
        root: &Arc<DestinationDir>,
        relative: &str,
        modified: Option<SystemTime>,
    ) -> Result<GetOutcome> {
        let out = Counted {
            inner: Box::new(root.create(relative, modified)?),
            progress: self.progress.clone(),
        };
        Ok(self.client.get(source, Box::new(out)).await?)
    }

    /// Runs every job of `plan`, at most `jobs` at once, reporting each result as it arrives.
    pub async fn execute(&self, plan: Plan, jobs: usize, report: &mut Reporter) {
        let Plan {
            jobs: list,
            first,
            mut after,
        } = plan;
        let mut ready: VecDeque<usize> = first.into();
        let mut running = JoinSet::new();
        let mut index_of = HashMap::new();
        loop {
            while running.len() < jobs.max(1) {
                let Some(i) = ready.pop_front() else { break };
                let Some(job) = list.get(i).cloned() else {
                    continue;
                };
                let runner = self.clone();
                let handle = running.spawn(async move {
                    let started = Instant::now();
                    let result = runner.run(&job).await;
                    (result, started.elapsed())
                });
                index_of.insert(handle.id(), i);
            }
            let Some(joined) = running.join_next_with_id().await else {
                break;
            };
            let (id, result, elapsed) = match joined {
                Ok((id, (result, elapsed))) => (id, result, Some(elapsed)),
                Err(e) => (e.id(), Err(anyhow!("the transfer stopped: {e}")), None),
            };
            let Some(i) = index_of.remove(&id) else {
                continue;
            };
            if let Some(job) = list.get(i) {
                report.done_in(job, result, elapsed);
            }
            // Released whether this job succeeded or not: each follower stands on its own.
            if let Some(next) = after.remove(&i) {
                for n in next.into_iter().rev() {
                    ready.push_front(n);
                }
            }
        }
    }
}

/// A download's output that moves the progress bar as bytes arrive.
struct Counted {
    inner: Box<dyn StagedBlob>,
    progress: Progress,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.add_bytes(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl StagedBlob for Counted {
    fn finish(self: Box<Self>) -> dg_ports::Result<BlobRef> {
        self.inner.finish()
    }

    fn path(&self) -> Option<&Path> {
        self.inner.path()
    }

    fn reserve(&mut self, len: u64, what: &str) -> dg_ports::Result<()> {
        self.inner.reserve(len, what)
    }
}
