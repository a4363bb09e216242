//! Deletes: a file's object, and the deltaspace's reference once no delta needs it.

use dg_ports::{Error, Location, ObjectStorageExt, Result};
use tracing::info;

use crate::keys::{is_reference_key, DeltaSpace, DELTA_SUFFIX};
use crate::service::DeltaGlider;

/// What a delete removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// Every object removed, the file's own first.
    pub removed: Vec<Location>,
}

impl DeltaGlider {
    /// Deletes the file at `location` (its whole object or its `.delta`). Deleting the last
    /// delta of a deltaspace also deletes its reference. Deleting a `reference.bin` that deltas
    /// still need is refused unless `force`.
    pub async fn delete(&self, location: &Location, force: bool) -> Result<DeleteOutcome> {
        let space = DeltaSpace::of(location);
        if is_reference_key(&location.key) {
            if !force && self.has_deltas(&space.bucket, &space.list_prefix()).await? {
                return Err(Error::Precondition {
                    what: location.to_string(),
                    reason: "deltas in this deltaspace still need it; delete them first, or force it (their files become unreadable)".into(),
                });
            }
            self.storage().head(location).await?;
            self.storage().delete(location).await?;
            return Ok(DeleteOutcome {
                removed: vec![location.clone()],
            });
        }
        let target = if self.storage().head_opt(location).await?.is_some() {
            location.clone()
        } else if !location.key.ends_with(DELTA_SUFFIX) {
            let delta = location.with_key(format!("{}{DELTA_SUFFIX}", location.key));
            if self.storage().head_opt(&delta).await?.is_none() {
                return Err(Error::not_found(location));
            }
            delta
        } else {
            return Err(Error::not_found(location));
        };
        self.storage().delete(&target).await?;
        info!(object = %target, "deleted");
        let mut outcome = DeleteOutcome {
            removed: vec![target.clone()],
        };
        if target.key.ends_with(DELTA_SUFFIX)
            && !self.has_deltas(&space.bucket, &space.list_prefix()).await?
        {
            let reference = space.reference();
            if self.storage().head_opt(&reference).await?.is_some() {
                self.storage().delete(&reference).await?;
                info!(object = %reference, "deleted the reference: no delta needs it any more");
                outcome.removed.push(reference);
            }
        }
        Ok(outcome)
    }
}
