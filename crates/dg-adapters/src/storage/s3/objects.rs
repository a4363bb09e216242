//! Object requests of our own for keys `object_store` cannot address exactly: head, get, put, …
//!
//! These are keys with empty segments (`a//b`), `.`/`..` segments, ASCII control characters,
//! or one leading or trailing `/`. Head, get (whole or from an offset), put (single, create-
//! only, multipart with parts retried on their own), delete and copy keep the semantics of the
//! `object_store` path.

use std::io::Read;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use dg_ports::{
    BlobRef, ByteStream, Error, GetResult, Location, Metadata, ObjectInfo, PutMode, PutOptions,
    Result,
};
use futures::StreamExt;
use http::Method;

use super::raw::{embedded_error, name_of, status_error, uri_encode, Request, Response};
use super::xml::{escape, Element};
use super::{settled, S3Storage};

/// What the headers of a `HEAD`/`GET` answer say about the object at `location`.
fn info_of(location: &Location, response: &Response) -> Result<ObjectInfo> {
    let what = name_of(location);
    let bad = |reason: String| Error::InvalidData {
        what: format!("the answer about {what}"),
        reason,
        source: None,
    };
    // a range answer names the whole size after the `/` of `bytes a-b/size`
    let size = match response.header("content-range") {
        Some(range) if response.status == 206 => range
            .rsplit_once('/')
            .and_then(|(_, total)| total.trim().parse().ok())
            .ok_or_else(|| bad(format!("Content-Range {range:?} names no size")))?,
        _ => response
            .header("content-length")
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| bad("no Content-Length".into()))?,
    };
    let metadata: Metadata = response
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let key = name.as_str().strip_prefix("x-amz-meta-")?;
            Some((
                key.to_string(),
                super::header_values::decode(&String::from_utf8_lossy(value.as_bytes())),
            ))
        })
        .collect();
    Ok(ObjectInfo {
        location: location.clone(),
        size,
        last_modified: response
            .header("last-modified")
            .and_then(|t| chrono::DateTime::parse_from_rfc2822(t.trim()).ok())
            .map(SystemTime::from),
        etag: response.header("etag").map(str::to_string),
        metadata,
    })
}

/// `body` without its first `skip` bytes.
fn skip(body: ByteStream, skip: u64) -> ByteStream {
    body.scan(skip, |left, chunk| {
        let out = match chunk {
            Ok(bytes) if *left >= bytes.len() as u64 => {
                *left -= bytes.len() as u64;
                Ok(Bytes::new())
            }
            Ok(bytes) => {
                let from = usize::try_from(*left).unwrap_or(usize::MAX);
                *left = 0;
                Ok(bytes.slice(from..))
            }
            Err(e) => Err(e),
        };
        futures::future::ready(Some(out))
    })
    .filter(|chunk| futures::future::ready(!matches!(chunk, Ok(b) if b.is_empty())))
    .boxed()
}

fn with_metadata<'a>(mut request: Request<'a>, metadata: &Metadata) -> Request<'a> {
    for (k, v) in metadata {
        request = request.header(
            format!("x-amz-meta-{}", k.to_ascii_lowercase()),
            super::header_values::encode(v).into_owned(),
        );
    }
    request
}

impl S3Storage {
    pub(super) async fn raw_head(&self, location: &Location) -> Result<ObjectInfo> {
        let what = name_of(location);
        let response = self
            .send(Request::object(Method::HEAD, location), &what)
            .await?;
        if !response.success() {
            return Err(response.error(&what, &location.bucket).await);
        }
        info_of(location, &response)
    }

    pub(super) async fn raw_get(&self, location: &Location, offset: u64) -> Result<GetResult> {
        let what = name_of(location);
        let mut request = Request::object(Method::GET, location);
        if offset > 0 {
            request = request.header("range", format!("bytes={offset}-"));
        }
        let response = self.send(request, &what).await?;
        match response.status {
            status @ (200 | 206) => {
                let info = info_of(location, &response)?;
                if offset > info.size {
                    return Err(past_the_end(location, offset, info.size));
                }
                let body = match (status, offset) {
                    // a store that ignores `Range` sends the whole object
                    (200, 1..) => skip(response.into_body(), offset),
                    _ => response.into_body(),
                };
                Ok(GetResult { info, body })
            }
            416 if offset > 0 => {
                // A range starting at the end is refused: the end is answered from a head.
                let error = response.error(&what, &location.bucket).await;
                let info = self.raw_head(location).await?;
                match offset.cmp(&info.size) {
                    std::cmp::Ordering::Equal => Ok(GetResult {
                        info,
                        body: futures::stream::empty().boxed(),
                    }),
                    std::cmp::Ordering::Greater => Err(past_the_end(location, offset, info.size)),
                    std::cmp::Ordering::Less => Err(error),
                }
            }
            _ => Err(response.error(&what, &location.bucket).await),
        }
    }

    pub(super) async fn raw_put(
        &self,
        location: &Location,
        body: &BlobRef,
        options: PutOptions,
    ) -> Result<()> {
        if body.len() > self.config.multipart_threshold && options.mode == PutMode::Overwrite {
            return self
                .raw_put_multipart(location, body, &options.metadata)
                .await;
        }
        let what = name_of(location);
        let bytes = Bytes::from_owner(body.map()?);
        let mut request =
            with_metadata(Request::object(Method::PUT, location), &options.metadata).body(bytes);
        if options.mode == PutMode::Create {
            request = request.header("if-none-match", "*");
        }
        let response = self.send(request, &what).await?;
        if response.success() {
            return Ok(());
        }
        if response.status == 412 && options.mode == PutMode::Create {
            return Err(Error::AlreadyExists { what });
        }
        let status = response.status;
        let text = response.text().await.unwrap_or_default();
        if status == 409 && text.contains("<Code>ConditionalRequestConflict</Code>") {
            // another conditional write was under way: the repeat sees its outcome
            return Err(Error::Backend {
                backend: "s3",
                context: format!("{what}: HTTP 409 ConditionalRequestConflict"),
                retryable: true,
                source: None,
            });
        }
        Err(status_error(status, &text, &what, &location.bucket))
    }

    async fn raw_put_multipart(
        &self,
        location: &Location,
        body: &BlobRef,
        metadata: &Metadata,
    ) -> Result<()> {
        let what = name_of(location);
        let request = with_metadata(
            Request::object(Method::POST, location).query("uploads", ""),
            metadata,
        );
        let response = self.send(request, &what).await?;
        if !response.success() {
            return Err(response.error(&what, &location.bucket).await);
        }
        let text = response.text().await?;
        let upload_id = Element::parse(&text)
            .ok()
            .and_then(|d| d.text_of("UploadId").map(|u| u.trim().to_string()))
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                embedded_error(&text, &what, &location.bucket).unwrap_or(Error::InvalidData {
                    what: format!("the answer starting the upload of {what}"),
                    reason: "no <UploadId>".into(),
                    source: None,
                })
            })?;
        let result = self
            .raw_parts(location, &upload_id, body, &what)
            .await
            .map(|parts| complete_body(&parts));
        let result = match result {
            Ok(xml) => self.raw_complete(location, &upload_id, xml, &what).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            // Never leave parts behind (they cost money and are invisible in listings).
            let abort = Request::object(Method::DELETE, location).query("uploadId", &upload_id);
            let _ = self.send(abort, &what).await;
        }
        result
    }

    /// Uploads every part, `upload_concurrency` at a time; their numbers and ETags.
    async fn raw_parts(
        &self,
        location: &Location,
        upload_id: &str,
        body: &BlobRef,
        what: &str,
    ) -> Result<Vec<(u32, String)>> {
        let part_size = self.config.part_size.max(5 << 20);
        let mut reader = body.reader()?;
        let mut pending = futures::stream::FuturesOrdered::new();
        let mut done = Vec::new();
        for number in 1u32.. {
            let mut buf = Vec::with_capacity(part_size);
            (&mut reader)
                .take(part_size as u64)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io(format!("reading the upload of {what}"), e))?;
            if buf.is_empty() {
                break;
            }
            pending.push_back(self.raw_part(location, upload_id, number, Bytes::from(buf), what));
            // At most `upload_concurrency` parts in memory and in flight.
            while pending.len() >= self.config.upload_concurrency.max(1) {
                if let Some(part) = pending.next().await {
                    done.push(part?);
                }
            }
        }
        while let Some(part) = pending.next().await {
            done.push(part?);
        }
        Ok(done)
    }

    /// One part, repeated on its own on the store's schedule while it fails transiently.
    async fn raw_part(
        &self,
        location: &Location,
        upload_id: &str,
        number: u32,
        data: Bytes,
        what: &str,
    ) -> Result<(u32, String)> {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let request = Request::object(Method::PUT, location)
                .query("partNumber", number.to_string())
                .query("uploadId", upload_id)
                .body(data.clone());
            let result = match self.send(request, what).await {
                Ok(r) if r.success() => {
                    r.header("etag")
                        .map(str::to_string)
                        .ok_or_else(|| Error::InvalidData {
                            what: format!("the answer to part {number} of {what}"),
                            reason: "no ETag".into(),
                            source: None,
                        })
                }
                Ok(r) => Err(r.error(what, &location.bucket).await),
                Err(e) => Err(e),
            };
            let error = match result {
                Ok(etag) => return Ok((number, etag)),
                Err(e) if e.is_retryable() => e,
                Err(e) => return Err(settled(e)),
            };
            let Some(delay) = self.backoff.next_delay(attempt, started.elapsed()) else {
                return Err(settled(error));
            };
            self.backoff
                .wait(delay, attempt, "put (part)", &what, &error.to_string())
                .await;
            attempt += 1;
        }
    }

    async fn raw_complete(
        &self,
        location: &Location,
        upload_id: &str,
        xml: String,
        what: &str,
    ) -> Result<()> {
        let request = Request::object(Method::POST, location)
            .query("uploadId", upload_id)
            .header("content-type", "application/xml")
            .body(Bytes::from(xml));
        let response = self.send(request, what).await?;
        if !response.success() {
            return Err(response.error(what, &location.bucket).await);
        }
        // S3 may answer 200 and then an error in the body
        let text = response.text().await?;
        match embedded_error(&text, what, &location.bucket) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(super) async fn raw_delete(&self, location: &Location) -> Result<()> {
        let what = name_of(location);
        let response = self
            .send(Request::object(Method::DELETE, location), &what)
            .await?;
        if response.success() {
            return Ok(());
        }
        match response.error(&what, &location.bucket).await {
            // a missing object is deleted already; a missing bucket is an error
            Error::NotFound { what: w } if w == what => Ok(()),
            e => Err(e),
        }
    }

    /// Copies within one bucket, body and metadata.
    pub(super) async fn raw_copy(&self, from: &Location, to: &Location) -> Result<()> {
        let (source, what) = (name_of(from), name_of(to));
        let request = Request::object(Method::PUT, to).header(
            "x-amz-copy-source",
            format!("{}/{}", from.bucket, uri_encode(&from.key, true)),
        );
        let response = self.send(request, &what).await?;
        if !response.success() {
            let status = response.status;
            let text = response.text().await.unwrap_or_default();
            return Err(match status_error(status, &text, &what, &to.bucket) {
                // the source is what is missing
                Error::NotFound { what: w } if w == what => Error::not_found(source),
                e => e,
            });
        }
        let text = response.text().await?;
        match embedded_error(&text, &format!("copying {source} to {what}"), &to.bucket) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn past_the_end(location: &Location, offset: u64, size: u64) -> Error {
    Error::InvalidInput(format!(
        "{}: offset {offset} is past the end ({size} bytes)",
        name_of(location)
    ))
}

/// The `CompleteMultipartUpload` document for `parts`.
fn complete_body(parts: &[(u32, String)]) -> String {
    let mut xml =
        String::from("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (number, etag) in parts {
        xml.push_str(&format!(
            "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
            escape(etag)
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}
