//! Verification: rebuild every object under a prefix and check its SHA-256.

use std::collections::BTreeSet;
use std::io;

use dg_ports::{BlobRef, BytesBlob, Error, Location, ObjectStorageExt, Result, StagedBlob};
use futures::StreamExt;

use crate::get::Served;
use crate::keys::{is_internal_key, is_reference_key, DeltaSpace, DELTA_SUFFIX};
use crate::service::DeltaGlider;

/// The result of checking one stored object.
#[derive(Debug)]
pub struct Checked {
    /// The stored object.
    pub location: Location,
    /// How it was stored, or why it failed.
    pub result: Result<Served>,
}

/// The result of verifying a prefix.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// Objects that passed.
    pub passed: usize,
    /// Objects that failed, with the reason.
    pub failed: Vec<(Location, Error)>,
    /// References that no delta uses any more (safe to delete).
    pub orphan_references: Vec<Location>,
}

impl VerifyReport {
    /// True when nothing failed.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

impl DeltaGlider {
    /// Rebuilds every object under `prefix` and checks it: deltas against their reference,
    /// whole objects and references against their recorded SHA-256. `on_checked` sees each
    /// result as it comes; `jobs` objects are checked at once.
    pub async fn verify(
        &self,
        bucket: &str,
        prefix: &str,
        jobs: usize,
        on_checked: &(dyn Fn(&Checked) + Send + Sync),
    ) -> Result<VerifyReport> {
        let objects = self.storage().list_all(bucket, prefix).await?;
        let mut spaces_with_deltas = BTreeSet::new();
        let mut references = Vec::new();
        let mut targets = Vec::new();
        for o in objects {
            let key = &o.location.key;
            if is_internal_key(key) {
                continue;
            }
            if key.ends_with(DELTA_SUFFIX) {
                spaces_with_deltas.insert(DeltaSpace::of(&o.location));
            }
            if is_reference_key(key) {
                references.push(o.location.clone());
            }
            targets.push(o.location);
        }
        let mut report = VerifyReport::default();
        let mut results = futures::stream::iter(targets)
            .map(|location| async move {
                let result = self
                    .get(&location, Box::new(Discard::default()))
                    .await
                    .map(|o| o.served);
                Checked { location, result }
            })
            .buffer_unordered(jobs.max(1));
        while let Some(checked) = results.next().await {
            on_checked(&checked);
            match checked.result {
                Ok(_) => report.passed += 1,
                Err(e) => report.failed.push((checked.location, e)),
            }
        }
        for reference in references {
            if !spaces_with_deltas.contains(&DeltaSpace::of(&reference))
                && self.storage().head_opt(&reference).await?.is_some()
            {
                report.orphan_references.push(reference);
            }
        }
        report.failed.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(report)
    }
}

/// A staged output that keeps nothing: used to check objects without storing them.
#[derive(Debug, Default)]
pub struct Discard {
    written: u64,
}

impl io::Write for Discard {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StagedBlob for Discard {
    fn finish(self: Box<Self>) -> Result<BlobRef> {
        Ok(BytesBlob::shared(bytes::Bytes::new()))
    }
}
