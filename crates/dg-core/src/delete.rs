//! Deletes: a file's object, and a reference once no delta needs it (neither one of its own
//! deltaspace nor one of another deltaspace that shares it).

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
    /// Deletes the file at `location` (a user's key: its whole object or its `.delta`, as
    /// downloads find it). When no file has that name, the object at exactly that key is
    /// deleted, so any key can be removed. Deleting the last delta of a deltaspace also deletes
    /// its reference. Deleting a `reference.bin` that deltas still need is refused unless `force`.
    pub async fn delete(&self, location: &Location, force: bool) -> Result<DeleteOutcome> {
        let target = match self.head_file(location).await {
            Ok(info) => info.location,
            Err(Error::NotFound { .. }) => location.clone(),
            Err(e) => return Err(e),
        };
        self.delete_stored(&target, force).await
    }

    /// Deletes the stored object at exactly `location` (a `.delta` key is the delta it is),
    /// with the same care for references as [`DeltaGlider::delete`].
    pub async fn delete_stored(&self, location: &Location, force: bool) -> Result<DeleteOutcome> {
        let space = DeltaSpace::of(location);
        if is_reference_key(&location.key) {
            if !force && self.has_deltas(&space.bucket, &space.list_prefix()).await? {
                return Err(Error::Precondition {
                    what: location.to_string(),
                    reason: "deltas in this deltaspace still need it; delete them first, or force it (their files become unreadable)".into(),
                });
            }
            if !force {
                if let Some(user) = self.shared_users(location, 1).await?.first() {
                    return Err(Error::Precondition {
                        what: location.to_string(),
                        reason: format!("deltas of other deltaspaces share it ({user}, maybe more); delete them first, or force it (their files become unreadable)"),
                    });
                }
            }
            self.storage().head(location).await?;
            if !force && !self.is_dg_reference(location).await? {
                return Err(Error::Precondition {
                    what: location.to_string(),
                    reason: "it has no dg metadata, so it is not a deltaspace's reference but an object someone stored under that name; dg leaves it (force it to delete it)".into(),
                });
            }
            self.storage().delete(location).await?;
            return Ok(DeleteOutcome {
                removed: vec![location.clone()],
            });
        }
        let Some(info) = self.storage().head_opt(location).await? else {
            return Err(Error::not_found(location));
        };
        let used = match crate::meta::classify(&location.key, &info.metadata) {
            Ok(crate::meta::ObjectKind::Delta(delta)) => Some(location.with_key(delta.ref_key)),
            _ => None,
        };
        self.storage().delete(location).await?;
        info!(object = %location, "deleted");
        let mut outcome = DeleteOutcome {
            removed: vec![location.clone()],
        };
        if location.key.ends_with(DELTA_SUFFIX) {
            let own = space.reference();
            outcome
                .removed
                .extend(self.drop_unused_reference(&own).await?);
            // a layer of its own deltaspace goes with the deltaspace, not with its files
            let shared = used.filter(|used| {
                *used != own && !crate::layers::is_own_layer(&location.key, &used.key)
            });
            if let Some(shared) = shared {
                self.unmark_shared(&shared, location).await?;
                outcome
                    .removed
                    .extend(self.drop_unused_reference(&shared).await?);
            }
        }
        Ok(outcome)
    }

    /// Deletes the reference at `reference` once nothing needs it: no delta of its own
    /// deltaspace and no delta of another that shares it; its deltaspace's layers go first.
    /// Returns what went.
    async fn drop_unused_reference(&self, reference: &Location) -> Result<Vec<Location>> {
        let space = DeltaSpace::of(reference);
        if self.has_deltas(&space.bucket, &space.list_prefix()).await?
            || !self.is_dg_reference(reference).await?
            || self.is_shared(reference).await?
        {
            return Ok(Vec::new());
        }
        let mut removed = self.drop_layers(&space).await?;
        self.storage().delete(reference).await?;
        info!(object = %reference, "deleted the reference: no delta needs it any more");
        removed.push(reference.clone());
        Ok(removed)
    }

    /// True when `location` holds a reference dg or Python deltaglider wrote (an object at a
    /// `reference.bin` key without dg metadata is someone's file, never deleted as a reference).
    pub(crate) async fn is_dg_reference(&self, location: &Location) -> Result<bool> {
        Ok(match self.storage().head_opt(location).await? {
            Some(info) => {
                crate::meta::get(&info.metadata, crate::meta::field::FILE_SHA256).is_some()
                    || crate::meta::is_native(&info.metadata)
            }
            None => false,
        })
    }
}
