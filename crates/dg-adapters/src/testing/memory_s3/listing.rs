//! Listings of the memory backend: pages rolled up by delimiter, continuation tokens.

use super::*;

/// One entry of a listing page.
pub(super) enum Entry<'a> {
    Key(&'a str, &'a StoredObject),
    Prefix(&'a str),
}

impl Entry<'_> {
    pub(super) fn name(&self) -> &str {
        match self {
            Entry::Key(k, _) | Entry::Prefix(k) => k,
        }
    }
}

/// A listing's parameters, decoded.
pub(super) struct Listing<'a> {
    pub(super) prefix: &'a str,
    pub(super) delimiter: Option<&'a str>,
    pub(super) after: Option<&'a str>,
    pub(super) max_keys: usize,
}

impl<'a> Listing<'a> {
    /// Up to `max_keys` entries after `after`, and whether more follow.
    pub(super) fn page<'o>(
        &self,
        objects: &'o BTreeMap<String, StoredObject>,
    ) -> (Vec<Entry<'o>>, bool) {
        let start = match self.after {
            Some(after) if after >= self.prefix => Bound::Excluded(after),
            _ => Bound::Included(self.prefix),
        };
        let mut out: Vec<Entry<'o>> = Vec::new();
        for (key, object) in objects.range::<str, _>((start, Bound::Unbounded)) {
            // Keys starting with the prefix are contiguous in byte order.
            if !key.starts_with(self.prefix) {
                break;
            }
            let rest = &key[self.prefix.len()..];
            let entry = match self.delimiter.and_then(|d| rest.find(d).map(|i| (i, d))) {
                Some((i, d)) => {
                    let common = &key[..self.prefix.len() + i + d.len()];
                    let repeated = matches!(out.last(), Some(Entry::Prefix(p)) if *p == common);
                    if repeated || self.after.is_some_and(|a| common <= a) {
                        continue;
                    }
                    Entry::Prefix(common)
                }
                None => Entry::Key(key, object),
            };
            if out.len() >= self.max_keys {
                return (out, self.max_keys > 0);
            }
            out.push(entry);
        }
        (out, false)
    }
}

pub(super) fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(1000),
        Some(n) if n < 0 => Err(s3_error!(
            InvalidArgument,
            "Argument maxKeys must be an integer between 0 and 2147483647"
        )),
        Some(n) => Ok(usize::try_from(n).unwrap_or(1000).min(1000)),
    }
}

pub(super) fn decode_token(token: &str) -> S3Result<String> {
    unhex(token)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

/// What a listing returns, before it is dressed as v1 or v2 output.
pub(super) struct Listed {
    pub(super) contents: Vec<Object>,
    pub(super) common_prefixes: Vec<CommonPrefix>,
    pub(super) last: Option<String>,
    pub(super) truncated: bool,
}

impl MemoryS3 {
    pub(super) fn list(&self, bucket: &str, listing: &Listing<'_>, url: bool) -> S3Result<Listed> {
        let state = self.state();
        let b = state
            .buckets
            .get(bucket)
            .ok_or_else(|| s3_error!(NoSuchBucket))?;
        let (entries, truncated) = listing.page(&b.objects);
        let encode = |s: &str| if url { url_encode(s) } else { s.to_string() };
        let last = entries.last().map(|e| e.name().to_string());
        let mut contents = Vec::new();
        let mut common_prefixes = Vec::new();
        for entry in entries {
            match entry {
                Entry::Key(key, o) => contents.push(Object {
                    key: Some(encode(key)),
                    size: Some(o.size()),
                    e_tag: Some(o.strong_etag()),
                    last_modified: Some(Timestamp::from(o.last_modified)),
                    storage_class: Some(ObjectStorageClass::from_static(
                        ObjectStorageClass::STANDARD,
                    )),
                    ..Default::default()
                }),
                Entry::Prefix(p) => common_prefixes.push(CommonPrefix {
                    prefix: Some(encode(p)),
                }),
            }
        }
        Ok(Listed {
            contents,
            common_prefixes,
            last,
            truncated,
        })
    }
}

pub(super) fn wants_url(encoding: Option<&EncodingType>) -> S3Result<bool> {
    match encoding {
        None => Ok(false),
        Some(e) if e.as_str() == EncodingType::URL => Ok(true),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request"
        )),
    }
}
