//! The users' view of a listing: references and internal state hidden, deltas shown as files.

use std::collections::BTreeSet;
use std::time::SystemTime;

use dg_ports::{Error, ListRequest, Location, ObjectInfo, Result};
use futures::{StreamExt, TryStreamExt};

use crate::keys::{is_internal_key, is_reference_key, user_key, DELTA_SUFFIX, INTERNAL_PREFIX};
use crate::meta::{self, field};
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
}

/// One page of the users' view.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Files on this page.
    pub entries: Vec<Entry>,
    /// Sub-prefixes (with a delimiter), internal ones hidden.
    pub common_prefixes: Vec<String>,
    /// References seen on this page (hidden from `entries`; their bytes are part of the cost).
    pub references: Vec<ObjectInfo>,
    /// Token for the next page.
    pub next: Option<String>,
}

impl DeltaGlider {
    /// One page of files under a prefix.
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
        let plain_keys: BTreeSet<&str> = page
            .objects
            .iter()
            .map(|o| o.location.key.as_str())
            .filter(|k| !k.ends_with(DELTA_SUFFIX))
            .collect();
        let mut references = Vec::new();
        let mut visible = Vec::new();
        for object in &page.objects {
            let key = object.location.key.as_str();
            if is_internal_key(key) {
                continue;
            }
            if is_reference_key(key) {
                references.push(object.clone());
                continue;
            }
            let is_delta = key.ends_with(DELTA_SUFFIX);
            if is_delta && plain_keys.contains(user_key(key)) {
                continue; // the whole object shadows the delta, as in downloads
            }
            visible.push((object.clone(), is_delta));
        }
        let entries: Vec<Entry> = futures::stream::iter(visible)
            .map(|(object, is_delta)| self.entry(object, is_delta, query.original_sizes))
            .buffered(16)
            .try_collect()
            .await?;
        Ok(Listing {
            entries,
            common_prefixes: page
                .common_prefixes
                .into_iter()
                .filter(|p| !p.starts_with(INTERNAL_PREFIX) && !p.contains("/.deltaglider/"))
                .collect(),
            references,
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
            match page.next {
                Some(next) => query.start_after = Some(next),
                None => return Ok(all),
            }
        }
    }

    async fn entry(&self, object: ObjectInfo, is_delta: bool, look_up: bool) -> Result<Entry> {
        let mut size = object.size;
        if is_delta && look_up {
            match self.storage().head(&object.location).await {
                Ok(info) => {
                    if let Some(s) =
                        meta::get_u64(&info.metadata, field::FILE_SIZE, &object.location.key)?
                    {
                        size = s;
                    }
                }
                Err(Error::NotFound { .. }) => {} // deleted meanwhile; show what was listed
                Err(e) => return Err(e),
            }
        }
        let stored_key = object.location.key.clone();
        Ok(Entry {
            key: user_key(&stored_key).to_string(),
            stored_key,
            size,
            stored_size: object.size,
            last_modified: object.last_modified,
            is_delta,
        })
    }

    /// True when the deltaspace `prefix` (with trailing `/`, or empty) still holds a delta.
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
