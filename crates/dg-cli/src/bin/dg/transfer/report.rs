//! What bulk commands print: one line (text) or one JSON object per file, failures on stderr,
//! then a summary with counts.

use std::time::{Duration, Instant};

use anyhow::Result;
use dg_adapters::storage::RetryCounter;
use dg_core::keys::{is_reference_key, user_key};
use dg_core::{PutOutcome, Served, Stored};
use serde_json::{json, Value};

use super::{Done, Job, Progress};
use crate::exit::SomeFailed;
use crate::format::{human_size, savings};

/// Counts of a bulk command.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Files planned (transfers and deletes).
    pub planned: u64,
    pub transferred: u64,
    pub deleted: u64,
    /// Files left alone because the destination already has them.
    pub skipped: u64,
    pub failed: u64,
    /// Bytes of the files transferred.
    pub bytes: u64,
    /// Bytes stored for the files uploaded (deltas, whole files, new references).
    pub stored_bytes: u64,
}

/// Prints results as they arrive and keeps the counts.
#[derive(Debug)]
pub struct Reporter {
    json: bool,
    quiet: bool,
    dryrun: bool,
    progress: Progress,
    pub tally: Tally,
    started: Instant,
    /// Storage calls retried, reported as `retries` (zero when not set).
    retries: Option<RetryCounter>,
}

impl Reporter {
    /// A reporter for `files` jobs of `bytes` bytes; the progress bar shows unless `quiet`,
    /// `json` or `dryrun`.
    pub fn new(json: bool, quiet: bool, dryrun: bool, files: u64, bytes: u64) -> Self {
        Reporter {
            json,
            quiet,
            dryrun,
            progress: Progress::new(!(json || quiet || dryrun), files, bytes),
            tally: Tally {
                planned: files,
                ..Tally::default()
            },
            started: Instant::now(),
            retries: None,
        }
    }

    /// A reporter for one quick job: no progress bar.
    pub fn without_progress(json: bool, quiet: bool, dryrun: bool) -> Self {
        Reporter {
            json,
            quiet,
            dryrun,
            progress: Progress::hidden(),
            tally: Tally {
                planned: 1,
                ..Tally::default()
            },
            started: Instant::now(),
            retries: None,
        }
    }

    /// Reports the retries `counter` counts (the client's: one command per process).
    pub fn with_retries(mut self, counter: RetryCounter) -> Self {
        self.retries = Some(counter);
        self
    }

    fn retries(&self) -> u64 {
        self.retries.as_ref().map_or(0, RetryCounter::get)
    }

    /// The progress bar, for the workers.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// Records and prints a finished job; failures are named on stderr.
    pub fn done(&mut self, job: &Job, result: Result<Done>) {
        self.done_in(job, result, None);
    }

    /// [`Reporter::done`] for a job that took `elapsed` (shown in JSON as `seconds`).
    pub fn done_in(&mut self, job: &Job, result: Result<Done>, elapsed: Option<Duration>) {
        match result {
            Ok(done) => {
                self.count(job, &done);
                if self.json {
                    let mut r = record(job, &done);
                    if let Some(t) = elapsed {
                        r["seconds"] = json!(rounded(t.as_secs_f64()));
                    }
                    self.emit(&r);
                } else {
                    self.print(job, &done);
                }
            }
            Err(e) => {
                self.tally.failed += 1;
                let message = format!("{e:#}");
                self.progress
                    .suspend(|| err!("dg: failed: {}: {message}", job.describe()));
                if self.json {
                    let mut record = base(job);
                    record["ok"] = json!(false);
                    record["error"] = json!(message);
                    self.emit(&record);
                }
            }
        }
        let finished = self.tally.transferred + self.tally.deleted + self.tally.failed;
        self.progress.files_done(finished);
    }

    /// Prints a reference deleted because no file needs it any more (not counted as a file).
    pub fn reference_removed(&mut self, location: &dg_ports::Location) {
        if self.json {
            self.emit(&json!({"action": "delete", "target": location.to_string(), "kind": "reference", "ok": true}));
        } else if !self.quiet {
            let line = format!("delete: {location}  (a reference no file needs any more)");
            self.progress.suspend(|| out!("{line}"));
        }
    }

    /// Records a file that failed before it became a job (`action` `upload`, `download`,
    /// `delete`), named on stderr with the reason.
    pub fn failed_item(&mut self, action: &'static str, what: &str, reason: &str) {
        self.tally.failed += 1;
        self.progress
            .suspend(|| err!("dg: failed: {action} {what}: {reason}"));
        if self.json {
            self.emit(&json!({"action": action, "source": what, "ok": false, "error": reason}));
        }
    }

    fn count(&mut self, job: &Job, done: &Done) {
        match done {
            Done::Uploaded(o) => {
                self.tally.transferred += 1;
                self.tally.bytes += o.original_size;
                self.tally.stored_bytes += o.stored_size + o.reference_size.unwrap_or(0);
                self.progress.add_bytes(job.size());
            }
            Done::Downloaded(o) => {
                self.tally.transferred += 1;
                self.tally.bytes = self.tally.bytes.saturating_add(o.size);
            }
            Done::Deleted(_) | Done::DeletedLocal => {
                self.tally.deleted += 1;
                self.progress.add_bytes(job.size());
            }
        }
    }

    /// Prints a finished job (text or JSON), without counting it. A single job's record (there
    /// is no summary) carries the retries.
    pub fn print(&self, job: &Job, done: &Done) {
        if self.json {
            let mut r = record(job, done);
            r["retries"] = json!(self.retries());
            self.emit(&r);
        } else if !self.quiet {
            let text = text(job, done);
            self.progress
                .suspend(|| print!("{}", crate::output::escaped_lines(&text)));
        }
    }

    /// Records and prints a job a dry run would do.
    pub fn planned(&mut self, job: &Job) {
        match job {
            Job::Delete { .. } | Job::DeleteLocal { .. } => self.tally.deleted += 1,
            _ => {
                self.tally.transferred += 1;
                self.tally.bytes = self.tally.bytes.saturating_add(job.size());
            }
        }
        if self.json {
            let mut record = base(job);
            record["dryrun"] = json!(true);
            record["size"] = json!(job.size());
            self.emit(&record);
        } else if !self.quiet {
            out!("(dryrun) {}: {}", job.action(), shown(job));
        }
    }

    fn emit(&self, value: &Value) {
        self.progress
            .suspend(|| crate::output::exact(format_args!("{value}")));
    }

    /// Removes the progress bar, prints the summary of `command`, and fails when any file did.
    pub fn finish(self, command: &str) -> Result<()> {
        self.progress.finish();
        let t = &self.tally;
        let seconds = self.started.elapsed().as_secs_f64();
        if self.json {
            self.emit(&json!({
                "action": "summary",
                "command": command,
                "dryrun": self.dryrun,
                "files": t.planned,
                "transferred": t.transferred,
                "deleted": t.deleted,
                "skipped": t.skipped,
                "failed": t.failed,
                "bytes": t.bytes,
                "stored_bytes": t.stored_bytes,
                "retries": self.retries(),
                "seconds": rounded(seconds),
            }));
        } else if !self.quiet {
            if self.dryrun {
                out!(
                    "(dryrun) {command}: {} to copy ({}), {} to delete, {} unchanged",
                    t.transferred,
                    human_size(t.bytes),
                    t.deleted,
                    t.skipped
                );
            } else {
                let stored = if t.stored_bytes > 0 {
                    format!(" (stored as {})", human_size(t.stored_bytes))
                } else {
                    String::new()
                };
                let retries = match self.retries() {
                    0 => String::new(),
                    1 => "; 1 request retried".to_string(),
                    n => format!("; {n} requests retried"),
                };
                out!(
                    "{command}: {} copied, {} deleted, {} unchanged, {} failed; {}{stored} in {seconds:.1} s{retries}",
                    t.transferred,
                    t.deleted,
                    t.skipped,
                    t.failed,
                    human_size(t.bytes),
                );
            }
        }
        if t.failed > 0 {
            return Err(SomeFailed {
                failed: t.failed,
                total: t.planned,
            }
            .into());
        }
        Ok(())
    }
}

/// Seconds to the millisecond.
fn rounded(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// `a to b`, or what is deleted.
fn shown(job: &Job) -> String {
    match job.destination() {
        Some(d) => format!("{} to {d}", job.source()),
        None => job.source(),
    }
}

/// The fields every record of a job has.
fn base(job: &Job) -> Value {
    let mut record = json!({ "action": job.action() });
    match job.destination() {
        Some(d) => {
            record["source"] = json!(job.source());
            record["destination"] = json!(d);
        }
        None => record["target"] = json!(job.source()),
    }
    record
}

/// The JSON record of a finished job.
pub fn record(job: &Job, done: &Done) -> Value {
    let mut r = base(job);
    r["ok"] = json!(true);
    match done {
        Done::Uploaded(o) => {
            let (stored_as, engine, format, reason) = match &o.stored {
                Stored::Delta {
                    engine,
                    created_reference,
                    format,
                } => (
                    if *created_reference {
                        "reference"
                    } else {
                        "delta"
                    },
                    Some(*engine),
                    Some(format.name()),
                    None,
                ),
                Stored::Direct { reason } => ("direct", None, None, Some(reason)),
            };
            r["original_size"] = json!(o.original_size);
            r["stored_size"] = json!(o.stored_size);
            r["stored_as"] = json!(stored_as);
            r["stored_key"] = json!(o.location.to_string());
            r["engine"] = json!(engine);
            r["format"] = json!(format);
            r["sha256"] = json!(o.sha256);
            if let Some(size) = o.reference_size {
                r["reference_size"] = json!(size);
            }
            if let Some(reason) = reason {
                r["reason"] = json!(reason.to_string());
                r["reason_code"] = json!(reason.code());
            }
            if !o.notes.is_empty() {
                r["notes"] = json!(o.notes);
            }
        }
        Done::Downloaded(o) => {
            r["original_size"] = json!(o.size);
            r["stored_size"] = json!(o.stored_size);
            r["stored_as"] = json!(match o.served {
                Served::Delta => "delta",
                Served::Direct => "direct",
                Served::Plain => "plain",
            });
            r["stored_key"] = json!(o.source.to_string());
            r["sha256"] = json!(o.sha256);
            r["verified"] = json!(o.served != Served::Plain);
        }
        Done::Deleted(o) => {
            r["removed"] = json!(o.removed.iter().map(|l| l.to_string()).collect::<Vec<_>>());
        }
        Done::DeletedLocal => {}
    }
    r
}

/// The text lines of a finished job (each ending with a newline).
fn text(job: &Job, done: &Done) -> String {
    match done {
        Done::Uploaded(o) => {
            let mut s = format!("{}: {}  ({})\n", job.action(), shown(job), describe(o));
            for note in &o.notes {
                s.push_str(&format!("  note: {note}\n"));
            }
            s
        }
        Done::Downloaded(o) => {
            let how = match o.served {
                Served::Delta => format!(
                    "rebuilt from a {} delta, SHA-256 verified",
                    human_size(o.stored_size)
                ),
                Served::Direct => "stored whole, SHA-256 verified".to_string(),
                Served::Plain => "plain object without dg metadata, not verified".to_string(),
            };
            format!("download: {}  ({how})\n", shown(job))
        }
        Done::Deleted(o) => {
            let file = match o.removed.first() {
                Some(l) if !is_reference_key(&l.key) => {
                    l.with_key(user_key(&l.key).to_string()).to_string()
                }
                Some(l) => l.to_string(),
                None => job.source(),
            };
            let mut s = format!("delete: {file}");
            if let Some(reference) = o.removed.iter().skip(1).find(|l| is_reference_key(&l.key)) {
                s.push_str(&format!(
                    "  (and {reference}: the deltaspace's last delta is gone)"
                ));
            }
            s.push('\n');
            s
        }
        Done::DeletedLocal => format!("delete: {}\n", job.source()),
    }
}

/// One line on how a file was stored.
pub fn describe(outcome: &PutOutcome) -> String {
    match &outcome.stored {
        Stored::Delta {
            created_reference: true,
            format,
            ..
        } => format!(
            "new {} reference: {} stored as {} in reference.bin",
            format.name(),
            human_size(outcome.original_size),
            human_size(outcome.reference_size.unwrap_or(outcome.original_size)),
        ),
        Stored::Delta { engine, format, .. } => format!(
            "{} {engine} delta {} of {}, {} saved",
            format.name(),
            human_size(outcome.stored_size),
            human_size(outcome.original_size),
            savings(outcome.original_size, outcome.stored_size)
        ),
        Stored::Direct { reason } => format!(
            "stored whole, {}: {reason}",
            human_size(outcome.original_size)
        ),
    }
}
