//! Listings: `ListObjectsV2` of our own, keys URL-encoded so that every key S3 allows comes back.
//!
//! `object_store` parses every listed key into its `Path`, so a single key with an empty
//! segment, a `.`/`..` segment, a control character or an edge `/` would fail (or rename)
//! every listing over it. Here keys and common prefixes are taken as the store sends them:
//! XML entities resolved, and the percent-encoding of `encoding-type=url` reversed (XML 1.0
//! cannot carry most control characters, so S3, MinIO, Ceph and moto encode keys when asked).
//! A store that answers `<EncodingType>url</EncodingType>` must have encoded them: s3s-fs echoes
//! the parameter without encoding, so there keys holding `%XX` or `+` would be misread.

use std::time::SystemTime;

use dg_ports::{Error, ListPage, ListRequest, Location, Metadata, ObjectInfo, Result};
use http::Method;

use super::raw::Request;
use super::xml::Element;
use super::S3Storage;

/// Reverses `encoding-type=url`: `%XX` is a byte, `+` a space.
fn url_decode(s: &str) -> std::result::Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let byte = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("{s:?} is not URL-encoded"))?;
                out.push(byte);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} decodes to bytes that are not UTF-8"))
}

fn parse_time(s: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(SystemTime::from)
}

/// One page of a `ListObjectsV2` answer, for `bucket`.
fn page(xml: &str, bucket: &str) -> std::result::Result<ListPage, String> {
    let doc = Element::parse(xml)?;
    if doc.name != "ListBucketResult" {
        return Err(format!("a <{}> document instead of a listing", doc.name));
    }
    let encoded = doc
        .text_of("EncodingType")
        .is_some_and(|e| e.trim().eq_ignore_ascii_case("url"));
    let name = |raw: &str| {
        if encoded {
            url_decode(raw)
        } else {
            Ok(raw.to_string())
        }
    };
    let mut objects = Vec::new();
    for c in doc.all("Contents") {
        let key = name(c.text_of("Key").ok_or("an entry without a <Key>")?)?;
        let size = match c.text_of("Size") {
            Some(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("{key:?}: size {s:?} is not a number"))?,
            None => 0,
        };
        objects.push(ObjectInfo {
            location: Location::new(bucket, key),
            size,
            last_modified: c.text_of("LastModified").and_then(parse_time),
            etag: c.text_of("ETag").map(|e| e.trim().to_string()),
            metadata: Metadata::new(),
        });
    }
    let common_prefixes = doc
        .all("CommonPrefixes")
        .filter_map(|p| p.text_of("Prefix"))
        .map(name)
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let truncated = doc
        .text_of("IsTruncated")
        .is_some_and(|t| t.trim() == "true");
    let next = match (truncated, doc.text_of("NextContinuationToken")) {
        (false, _) => None,
        (true, Some(token)) if !token.trim().is_empty() => Some(token.trim().to_string()),
        (true, _) => return Err("a truncated page without a continuation token".into()),
    };
    Ok(ListPage {
        objects,
        common_prefixes,
        next,
    })
}

impl S3Storage {
    /// One page of `ListObjectsV2`; `start_after` is the continuation token of the page before.
    pub(super) async fn list_page(&self, request: &ListRequest) -> Result<ListPage> {
        let what = format!("bucket {}", request.bucket);
        let mut call = Request::bucket(Method::GET, &request.bucket)
            .query("list-type", "2")
            .query("encoding-type", "url");
        if !request.prefix.is_empty() {
            call = call.query("prefix", request.prefix.clone());
        }
        if let Some(d) = request.delimiter.as_deref().filter(|d| !d.is_empty()) {
            call = call.query("delimiter", d);
        }
        if request.max_keys > 0 {
            call = call.query("max-keys", request.max_keys.to_string());
        }
        if let Some(token) = &request.start_after {
            call = call.query("continuation-token", token.clone());
        }
        let response = self.send(call, &what).await?;
        if !response.success() {
            return Err(response.error(&what, &request.bucket).await);
        }
        let xml = response.text().await?;
        page(&xml, &request.bucket).map_err(|reason| Error::InvalidData {
            what: format!("the listing of {what}"),
            reason,
            source: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_s3_encodes() {
        assert_eq!(url_decode("a+b%2Bc%25%0A%C3%A9/~").unwrap(), "a b+c%\né/~");
        assert!(url_decode("50%").is_err());
        assert!(url_decode("%zz").is_err());
        assert!(url_decode("%FF").is_err());
    }

    #[test]
    fn parses_pages() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
            <ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
            <Name>b</Name><Prefix>p%2F</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>\
            <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>\
            <Contents><Key>p/a%2F%2Fb</Key>\
            <LastModified>2024-01-02T03:04:05.000Z</LastModified><ETag>&quot;abc&quot;</ETag>\
            <Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>\
            <CommonPrefixes><Prefix>p/%3C%3E%26+/</Prefix></CommonPrefixes>\
            <Contents><Key>p/tab%09</Key><Size>0</Size></Contents>\
            <NextContinuationToken>tok+en</NextContinuationToken></ListBucketResult>";
        let p = page(xml, "b").unwrap();
        let keys: Vec<&str> = p.objects.iter().map(|o| o.location.key.as_str()).collect();
        assert_eq!(keys, ["p/a//b", "p/tab\t"]);
        assert_eq!(p.objects[0].size, 12);
        assert_eq!(p.objects[0].etag.as_deref(), Some("\"abc\""));
        assert!(p.objects[0].last_modified.is_some());
        assert_eq!(p.common_prefixes, ["p/<>& /"]);
        assert_eq!(p.next.as_deref(), Some("tok+en"), "tokens are not decoded");
        // without EncodingType, keys are taken as they are, entities resolved
        let plain = "<ListBucketResult><IsTruncated>false</IsTruncated>\
            <Contents><Key>a+b%20&lt;c&gt; </Key><Size>1</Size></Contents></ListBucketResult>";
        let p = page(plain, "b").unwrap();
        assert_eq!(p.objects[0].location.key, "a+b%20<c> ");
        assert!(p.next.is_none());
        assert!(page(
            "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
            "b"
        )
        .is_err());
        assert!(page("<Error><Code>x</Code></Error>", "b").is_err());
    }
}
