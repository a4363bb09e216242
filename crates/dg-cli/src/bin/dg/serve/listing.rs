//! Listings in S3's terms (v1 and v2): pages of the users' view of a prefix (original names
//! and sizes, dg's own objects hidden), with ETags from each file's metadata, continuation
//! tokens, start-after and markers, and `encoding-type=url`.

use dg_core::meta::field;
use s3s::dto::*;
use s3s::{s3_error, S3Result};

use super::s3::{len_i64, s3_err, DgS3};
use super::wire::{self, etag_of, hex, timestamp, url_encode, wants_url};

/// What a listing asks for besides bucket and prefix.
struct PageAsked<'a> {
    delimiter: Option<&'a str>,
    /// A stored key to list after (a token or marker).
    after: Option<String>,
    /// The client's start-after or marker: what sorts at or before it is left out.
    shown: Option<&'a str>,
    max_keys: Option<i32>,
    /// `encoding-type=url`.
    url: bool,
}

/// One listing page in S3's terms, for v1 and v2.
struct Page {
    contents: Vec<Object>,
    common_prefixes: Vec<CommonPrefix>,
    next: Option<String>,
}

impl DgS3 {
    pub(super) async fn list_v2(&self, input: ListObjectsV2Input) -> S3Result<ListObjectsV2Output> {
        let url = wants_url(input.encoding_type.as_ref())?;
        let token = input
            .continuation_token
            .as_deref()
            .map(decode_token)
            .transpose()?;
        // A continuation token supersedes start-after.
        let (after, shown) = match token {
            Some(t) => (Some(t), None),
            None => (input.start_after.clone(), input.start_after.as_deref()),
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let page = self
            .page(
                &input.bucket,
                &prefix,
                PageAsked {
                    delimiter: input.delimiter.as_deref(),
                    after,
                    shown,
                    max_keys: input.max_keys,
                    url,
                },
            )
            .await?;
        let encode = |s: Option<String>| if url { s.map(|s| url_encode(&s)) } else { s };
        let count = page.contents.len() + page.common_prefixes.len();
        Ok(ListObjectsV2Output {
            name: Some(input.bucket.clone()),
            key_count: Some(i32::try_from(count).unwrap_or(i32::MAX)),
            max_keys: Some(input.max_keys.unwrap_or(1000)),
            is_truncated: Some(page.next.is_some()),
            next_continuation_token: page.next.as_deref().map(|n| hex(n.as_bytes())),
            contents: some_if_any(page.contents),
            common_prefixes: some_if_any(page.common_prefixes),
            continuation_token: input.continuation_token.clone(),
            prefix: Some(encode(Some(prefix)).unwrap_or_default()),
            delimiter: encode(input.delimiter.clone()),
            start_after: encode(input.start_after.clone()),
            encoding_type: input.encoding_type.clone(),
            ..Default::default()
        })
    }

    pub(super) async fn list_v1(&self, input: ListObjectsInput) -> S3Result<ListObjectsOutput> {
        let url = wants_url(input.encoding_type.as_ref())?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let page = self
            .page(
                &input.bucket,
                &prefix,
                PageAsked {
                    delimiter: input.delimiter.as_deref(),
                    after: input.marker.clone(),
                    shown: input.marker.as_deref(),
                    max_keys: input.max_keys,
                    url,
                },
            )
            .await?;
        let encode = |s: Option<String>| if url { s.map(|s| url_encode(&s)) } else { s };
        Ok(ListObjectsOutput {
            name: Some(input.bucket.clone()),
            max_keys: Some(input.max_keys.unwrap_or(1000)),
            is_truncated: Some(page.next.is_some()),
            next_marker: encode(page.next.clone()),
            contents: some_if_any(page.contents),
            common_prefixes: some_if_any(page.common_prefixes),
            marker: Some(encode(input.marker.clone()).unwrap_or_default()),
            prefix: Some(encode(Some(prefix)).unwrap_or_default()),
            delimiter: encode(input.delimiter.clone()),
            encoding_type: input.encoding_type.clone(),
            ..Default::default()
        })
    }

    /// Lists `prefix` after `after` (a stored key: a token or marker), leaving out what sorts at
    /// or before `shown` (the client's start-after or marker, a file's key).
    async fn page(&self, bucket: &str, prefix: &str, asked: PageAsked<'_>) -> S3Result<Page> {
        let PageAsked {
            delimiter,
            after,
            shown,
            max_keys,
            url,
        } = asked;
        let max = match max_keys {
            None => 1000,
            Some(n) if n < 0 => {
                return Err(s3_error!(
                    InvalidArgument,
                    "Argument maxKeys must be an integer between 0 and 2147483647"
                ))
            }
            Some(n) => usize::try_from(n).unwrap_or(1000).min(1000),
        };
        if max == 0 {
            return Ok(Page {
                contents: Vec::new(),
                common_prefixes: Vec::new(),
                next: None,
            });
        }
        let listing = self
            .client
            .list(&dg_core::ListQuery {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
                delimiter: delimiter.filter(|d| !d.is_empty()).map(str::to_string),
                start_after: after,
                max_keys: max,
                original_sizes: true,
                metadata: true,
            })
            .await
            .map_err(s3_err)?;
        let encode = |s: &str| if url { url_encode(s) } else { s.to_string() };
        let after_shown = |k: &str| shown.is_none_or(|s| k > s);
        let contents = listing
            .entries
            .iter()
            .filter(|e| after_shown(&e.key))
            .map(|e| {
                let sha = e.metadata.get(field::FILE_SHA256).map(String::as_str);
                let stored_etag = (!e.is_delta).then_some(e.etag.as_deref()).flatten();
                Object {
                    key: Some(encode(&e.key)),
                    size: Some(len_i64(e.size)),
                    e_tag: Some(etag_of(&e.metadata, sha, stored_etag)),
                    last_modified: Some(timestamp(e.last_modified)),
                    storage_class: Some(ObjectStorageClass::from_static(
                        ObjectStorageClass::STANDARD,
                    )),
                    ..Default::default()
                }
            })
            .collect();
        let common_prefixes = listing
            .common_prefixes
            .iter()
            .filter(|p| after_shown(p))
            .map(|p| CommonPrefix {
                prefix: Some(encode(p)),
            })
            .collect();
        Ok(Page {
            contents,
            common_prefixes,
            next: listing.next,
        })
    }
}

fn decode_token(token: &str) -> S3Result<String> {
    wire::unhex(token)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

fn some_if_any<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}
