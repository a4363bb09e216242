//! The users' view of a listing: references and internal state hidden, deltas shown as files.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use dg_ports::{Error, ListRequest, Location, Metadata, ObjectInfo, Result};
use futures::StreamExt;

use crate::keys::{is_internal_key, is_reference_key, user_key, DELTA_SUFFIX, INTERNAL_PREFIX};
use crate::meta::{self, field};
use crate::resolve::Slot;
use crate::service::DeltaGlider;

/// A listing request in users' terms.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// Bucket.
    pub bucket: String,
    /// Key prefix.
    pub prefix: String,
    /// Usually `Some("/")` for one level, `None` for everything below the prefix.
    pub delimiter: Option<String>,
    /// Continue after this token (the previous page's `next`).
    pub start_after: Option<String>,
    /// Page size; 0 for the storage default.
    pub max_keys: usize,
    /// Look up each delta's original size (one `head` per delta). Without it, deltas show
    /// their stored size.
    pub original_sizes: bool,
    /// Read every entry's metadata (one `head` per object, whole ones too) into
    /// [`Entry::metadata`]: what an S3 endpoint needs for ETags and user metadata.
    pub metadata: bool,
}

/// One file as users see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The file's key (`….delta` removed).
    pub key: String,
    /// The stored object's key.
    pub stored_key: String,
    /// Size of the file (the original size for deltas when looked up).
    pub size: u64,
    /// Bytes stored for it (not counting its share of the reference).
    pub stored_size: u64,
    /// Last modification time of the stored object.
    pub last_modified: Option<SystemTime>,
    /// True when stored as a delta.
    pub is_delta: bool,
    /// The stored object's entity tag, when the storage reports one.
    pub etag: Option<String>,
    /// The stored object's metadata, when it was read (deltas with
    /// [`ListQuery::original_sizes`], every entry with [`ListQuery::metadata`]); else empty.
    pub metadata: Metadata,
}

/// A stored object the listing could not show as a file, and why (bad metadata, say).
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    /// The stored object's key.
    pub stored_key: String,
    /// Why it was left out.
    pub reason: String,
}

/// One page of the users' view.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Files on this page, by key.
    pub entries: Vec<Entry>,
    /// Sub-prefixes (with a delimiter), internal ones hidden.
    pub common_prefixes: Vec<String>,
    /// References seen on this page (hidden from `entries`; their bytes are part of the cost).
    pub references: Vec<ObjectInfo>,
    /// Objects left out of `entries`, each with the reason; the rest of the page is complete.
    pub skipped: Vec<Skipped>,
    /// Token for the next page.
    pub next: Option<String>,
}

impl DeltaGlider {
    /// One page of files under a prefix.
    ///
    /// A file stored both whole and as a delta shows once, as downloads read it (its own key
    /// first). With [`ListQuery::original_sizes`], each `.delta` object's metadata is read: a
    /// delta shows its file's size, and an object there that is not `<name>`'s (no dg
    /// metadata, or a whole file of that very name) shows under its own key. An object whose
    /// metadata cannot be read goes to [`Listing::skipped`] and the rest of the page is kept.
    pub async fn list(&self, query: &ListQuery) -> Result<Listing> {
        let page = self
            .storage()
            .list(&ListRequest {
                bucket: query.bucket.clone(),
                prefix: query.prefix.clone(),
                delimiter: query.delimiter.clone(),
                start_after: query.start_after.clone(),
                max_keys: query.max_keys,
            })
            .await?;
        let mut references = Vec::new();
        let mut visible = Vec::new();
        for object in page.objects {
            let key = object.location.key.as_str();
            if is_internal_key(key) {
                continue;
            }
            if is_reference_key(key) {
                references.push(object);
                continue;
            }
            let slot = if key.ends_with(DELTA_SUFFIX) {
                Slot::Delta
            } else {
                Slot::Plain
            };
            visible.push((object, slot));
        }
        // A `.delta` beside the key it would be the delta of (`x` or `x.delta`) may be a file
        // of its own (no dg metadata): only its metadata tells, so it is read even without
        // `original_sizes` rather than taken for that file's and dropped or misnamed.
        let keys: BTreeSet<String> = visible
            .iter()
            .map(|(object, _)| object.location.key.clone())
            .collect();
        let keys = &keys;
        let looked_up: Vec<(String, Result<(Slot, Entry)>)> = futures::stream::iter(visible)
            .map(|(object, slot)| async move {
                let key = object.location.key.clone();
                let look_up = query.metadata
                    || (slot == Slot::Delta
                        && (query.original_sizes || keys.contains(user_key(&key))));
                (key, self.entry(object, slot, look_up).await)
            })
            .buffered(16)
            .collect()
            .await;
        let mut files: BTreeMap<String, (Slot, Entry)> = BTreeMap::new();
        let mut skipped = Vec::new();
        for (stored_key, result) in looked_up {
            match result {
                Ok((slot, entry)) => match files.get(&entry.key) {
                    Some((kept, _)) if rank(*kept) <= rank(slot) => {}
                    _ => {
                        files.insert(entry.key.clone(), (slot, entry));
                    }
                },
                Err(Error::NotFound { .. }) => {} // deleted meanwhile
                Err(e) => skipped.push(Skipped {
                    stored_key,
                    reason: e.to_string(),
                }),
            }
        }
        Ok(Listing {
            entries: files.into_values().map(|(_, e)| e).collect(),
            common_prefixes: page
                .common_prefixes
                .into_iter()
                .filter(|p| !p.starts_with(INTERNAL_PREFIX))
                .collect(),
            references,
            skipped,
            next: page.next,
        })
    }

    /// Every file under a prefix, all pages.
    pub async fn list_all(
        &self,
        bucket: &str,
        prefix: &str,
        original_sizes: bool,
    ) -> Result<Listing> {
        let mut query = ListQuery {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            original_sizes,
            ..ListQuery::default()
        };
        let mut all = Listing::default();
        loop {
            let page = self.list(&query).await?;
            all.entries.extend(page.entries);
            all.references.extend(page.references);
            all.common_prefixes.extend(page.common_prefixes);
            all.skipped.extend(page.skipped);
            match page.next {
                Some(next) => query.start_after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// The file a stored object holds, and in which of its slots.
    async fn entry(&self, object: ObjectInfo, slot: Slot, look_up: bool) -> Result<(Slot, Entry)> {
        let stored_key = object.location.key.clone();
        let whole = |key: String| Entry {
            key,
            stored_key: stored_key.clone(),
            size: object.size,
            stored_size: object.size,
            last_modified: object.last_modified,
            is_delta: false,
            etag: object.etag.clone(),
            metadata: Metadata::new(),
        };
        if slot == Slot::Plain {
            let mut entry = whole(stored_key.clone());
            if look_up {
                entry.metadata = self.storage().head(&object.location).await?.metadata;
            }
            return Ok((slot, entry));
        }
        let user = user_key(&stored_key).to_string();
        if !look_up {
            let mut entry = whole(user);
            entry.is_delta = true;
            return Ok((slot, entry));
        }
        let info = self.storage().head(&object.location).await?;
        if !meta::holds_file_at_delta_slot(&stored_key, &info.metadata) {
            let mut entry = whole(stored_key.clone());
            entry.metadata = info.metadata;
            return Ok((Slot::Exact, entry));
        }
        let kind = meta::classify(&stored_key, &info.metadata)?;
        let size = meta::get_u64(&info.metadata, field::FILE_SIZE, &stored_key)?;
        let mut entry = whole(user);
        entry.size = size.unwrap_or(object.size);
        entry.is_delta = matches!(kind, meta::ObjectKind::Delta(_));
        entry.metadata = info.metadata;
        Ok((slot, entry))
    }

    /// True when the deltaspace `prefix` (with trailing `/`, or empty) still holds a delta. Judged
    /// by key: a file stored whole at its `.delta` slot counts too, which keeps a reference a
    /// little longer than needed, never shorter.
    pub(crate) async fn has_deltas(&self, bucket: &str, list_prefix: &str) -> Result<bool> {
        let mut request = ListRequest {
            bucket: bucket.to_string(),
            prefix: list_prefix.to_string(),
            delimiter: Some("/".into()),
            ..ListRequest::default()
        };
        loop {
            let page = self.storage().list(&request).await?;
            if page
                .objects
                .iter()
                .any(|o| o.location.key.ends_with(DELTA_SUFFIX))
            {
                return Ok(true);
            }
            match page.next {
                Some(next) => request.start_after = Some(next),
                None => return Ok(false),
            }
        }
    }
}

/// The location of a listing entry.
pub fn entry_location(bucket: &str, entry: &Entry) -> Location {
    Location::new(bucket, entry.key.clone())
}

/// Which of two objects claiming one file downloads read: its own key, then its `.delta`,
/// then an exact key.
fn rank(slot: Slot) -> u8 {
    match slot {
        Slot::Plain => 0,
        Slot::Delta => 1,
        Slot::Exact => 2,
    }
}
