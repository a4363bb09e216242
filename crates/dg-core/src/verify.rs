//! Verification: rebuild every object under a prefix and check its SHA-256.

use std::collections::BTreeSet;
use std::io;

use dg_ports::{
    BlobRef, BytesBlob, Error, Location, ObjectInfo, ObjectStorageExt, Result, StagedBlob,
};
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
    /// References that no delta uses any more, in their deltaspace or sharing them from
    /// another (`dg purge` deletes them after a grace period).
    pub orphan_references: Vec<Location>,
    /// Temporary objects under the bucket's `.deltaglider/tmp/` (left by interrupted or
    /// rehydrating uploads; `dg purge` deletes them once expired).
    pub temp_files: Vec<Location>,
}

/// Housekeeping leftovers in a bucket: objects no file needs.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// References under the prefix whose deltaspace holds no delta.
    pub orphan_references: Vec<ObjectInfo>,
    /// Objects under the bucket's `.deltaglider/tmp/`.
    pub temp_files: Vec<ObjectInfo>,
}

/// Where temporary objects live in a bucket (Python deltaglider's rehydration writes them).
pub const TMP_PREFIX: &str = ".deltaglider/tmp/";

/// References among `objects` whose deltaspace holds no delta.
fn orphans(objects: &[ObjectInfo]) -> Vec<ObjectInfo> {
    let spaces_with_deltas: BTreeSet<DeltaSpace> = objects
        .iter()
        .filter(|o| !is_internal_key(&o.location.key) && o.location.key.ends_with(DELTA_SUFFIX))
        .map(|o| DeltaSpace::of(&o.location))
        .collect();
    objects
        .iter()
        .filter(|o| {
            !is_internal_key(&o.location.key)
                && is_reference_key(&o.location.key)
                && !spaces_with_deltas.contains(&DeltaSpace::of(&o.location))
        })
        .cloned()
        .collect()
}

impl VerifyReport {
    /// True when nothing failed.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

impl DeltaGlider {
    /// Objects under `prefix` no file needs: references without deltas, and the bucket's
    /// temporary objects. Lists only; deletes nothing.
    pub async fn leftovers(&self, bucket: &str, prefix: &str) -> Result<Leftovers> {
        let objects = self.storage().list_all(bucket, prefix).await?;
        let mut orphan_references = Vec::new();
        for reference in orphans(&objects) {
            if !self.is_shared(&reference.location).await? {
                orphan_references.push(reference);
            }
        }
        Ok(Leftovers {
            orphan_references,
            temp_files: self.storage().list_all(bucket, TMP_PREFIX).await?,
        })
    }

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
        let references = orphans(&objects);
        let targets: Vec<Location> = objects
            .into_iter()
            .filter(|o| !is_internal_key(&o.location.key))
            .map(|o| o.location)
            .collect();
        let mut report = VerifyReport::default();
        let mut results = futures::stream::iter(targets)
            .map(|location| async move {
                let result = self
                    .get_stored(&location, Box::new(Discard::default()))
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
        // A reference may go with its last delta while we check: report what is still there
        // and serves no other deltaspace.
        for reference in references {
            if self
                .storage()
                .head_opt(&reference.location)
                .await?
                .is_some()
                && !self.is_shared(&reference.location).await?
            {
                report.orphan_references.push(reference.location);
            }
        }
        report.temp_files = self
            .storage()
            .list_all(bucket, TMP_PREFIX)
            .await?
            .into_iter()
            .map(|o| o.location)
            .collect();
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
