//! What S3 clients see of a stored file: ETags, user metadata and content headers kept apart
//! from dg's own fields, read conditions, `encoding-type=url`, and bodies streamed to and from
//! temp files.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use dg_ports::{BlobRef, Metadata};
use futures::{Stream, StreamExt};
use s3s::crypto::{Checksum, Md5};
use s3s::dto::{ETag, ETagCondition, StreamingBlob, Timestamp};
use s3s::{s3_error, S3Result};
use tokio::io::AsyncWriteExt;

use super::metrics::Metrics;

/// dg's metadata fields start with this; a user's metadata name may not.
pub const DG_PREFIX: &str = "dg-";
/// The file's S3 entity tag as a client uploaded it (hex MD5, or `<hex>-<parts>`).
pub const ETAG_FIELD: &str = "dg-etag";
/// Content headers kept with the file, each under its dg field name.
pub const CONTENT_FIELDS: [&str; 5] = [
    "dg-content-type",
    "dg-content-encoding",
    "dg-content-disposition",
    "dg-content-language",
    "dg-cache-control",
];
/// Content type of files stored without one, as on S3.
pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";
/// Bytes per chunk of a streamed response.
const CHUNK: usize = 256 << 10;

/// The content headers of an S3 request input (its fields are moved out).
macro_rules! content_headers {
    ($input:expr) => {
        $crate::serve::wire::ContentHeaders([
            $input.content_type,
            $input.content_encoding,
            $input.content_disposition,
            $input.content_language,
            $input.cache_control,
        ])
    };
}

/// Content headers of a request or response, in [`CONTENT_FIELDS`] order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContentHeaders(pub [Option<String>; 5]);

impl ContentHeaders {
    /// The headers as stored in `metadata`.
    pub fn of(metadata: &Metadata) -> Self {
        ContentHeaders(CONTENT_FIELDS.map(|f| metadata.get(f).cloned()))
    }

    /// The content type, or S3's default.
    pub fn content_type(&self) -> String {
        self.0[0]
            .clone()
            .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string())
    }
}

/// The metadata a file uploaded through the endpoint is stored with, besides dg's own fields:
/// the client's `x-amz-meta-*` names as sent, its content headers and the ETag.
pub fn stored_metadata(
    user: Option<s3s::dto::Metadata>,
    content: &ContentHeaders,
    etag: &str,
) -> S3Result<Metadata> {
    let mut out = Metadata::new();
    for (name, value) in user.into_iter().flatten() {
        let name = name.to_ascii_lowercase();
        if name.starts_with(DG_PREFIX) {
            return Err(s3_error!(
                InvalidArgument,
                "metadata names starting with `{DG_PREFIX}` are dg's own: x-amz-meta-{name} cannot be stored"
            ));
        }
        out.insert(name, value);
    }
    for (field, value) in CONTENT_FIELDS.iter().zip(&content.0) {
        if let Some(value) = value {
            out.insert((*field).to_string(), value.clone());
        }
    }
    out.insert(ETAG_FIELD.to_string(), etag.to_string());
    Ok(out)
}

/// The user's metadata of a stored file: every field that is not dg's.
pub fn user_metadata(metadata: &Metadata) -> Option<s3s::dto::Metadata> {
    let user: s3s::dto::Metadata = metadata
        .iter()
        .filter(|(name, _)| !name.starts_with(DG_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!user.is_empty()).then_some(user)
}

/// The file's ETag: the one recorded at upload, else one made from its SHA-256 (in the
/// multipart form, so that clients do not take it for an MD5), else the stored object's.
pub fn etag_of(metadata: &Metadata, sha256: Option<&str>, stored: Option<&str>) -> ETag {
    if let Some(e) = metadata.get(ETAG_FIELD) {
        return ETag::Strong(e.clone());
    }
    // Metadata comes from the bucket: a hostile value may hold anything, so no byte slicing.
    if let Some(head) = sha256.and_then(|s| s.get(..32)) {
        return ETag::Strong(format!("{head}-1"));
    }
    ETag::Strong(
        stored
            .map(|e| e.trim_matches('"').to_string())
            .unwrap_or_default(),
    )
}

/// HTTP dates carry whole seconds: times are compared that way.
fn whole_seconds(t: SystemTime) -> Timestamp {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Timestamp::from(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// A stored time as S3 reports it.
pub fn timestamp(t: Option<SystemTime>) -> Timestamp {
    whole_seconds(t.unwrap_or(SystemTime::UNIX_EPOCH))
}

/// The conditions of a read (`If-Match`, `If-None-Match`, `If-(Un)Modified-Since`), in S3's
/// order of precedence.
pub struct ReadConditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

impl ReadConditions<'_> {
    /// `PreconditionFailed` or `NotModified` when the conditions say so.
    pub fn check(&self, etag: &ETag, modified: Option<SystemTime>) -> S3Result<()> {
        let modified = timestamp(modified);
        let failed = || {
            s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            )
        };
        match self.if_match {
            Some(ETagCondition::Any) => {}
            Some(ETagCondition::ETag(e)) if etag.strong_cmp(e) => {}
            Some(ETagCondition::ETag(_)) => return Err(failed()),
            None => {
                if self.if_unmodified_since.is_some_and(|t| modified > *t) {
                    return Err(failed());
                }
            }
        }
        match self.if_none_match {
            Some(ETagCondition::Any) => return Err(s3_error!(NotModified)),
            Some(ETagCondition::ETag(e)) if etag.weak_cmp(e) => return Err(s3_error!(NotModified)),
            Some(ETagCondition::ETag(_)) => {}
            None => {
                if self.if_modified_since.is_some_and(|t| modified <= *t) {
                    return Err(s3_error!(NotModified));
                }
            }
        }
        Ok(())
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Bytes of lower-case hex `s`, if it is that.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// S3's `encoding-type=url`: unreserved characters and `/` as they are, everything else
/// percent-encoded.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Whether a listing asked for `encoding-type=url`.
pub fn wants_url(encoding: Option<&s3s::dto::EncodingType>) -> S3Result<bool> {
    match encoding {
        None => Ok(false),
        Some(e) if e.as_str() == s3s::dto::EncodingType::URL => Ok(true),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request"
        )),
    }
}

/// A request body written to a temp file, with its size and MD5.
#[derive(Debug)]
pub struct Received {
    pub file: tempfile::NamedTempFile,
    pub size: u64,
    pub md5: [u8; 16],
}

/// Streams `body` into a temp file in `dir`, hashing it (MD5) on the way; checks
/// `Content-MD5` and the declared length. Memory stays at one chunk whatever the size.
pub async fn receive(
    body: Option<StreamingBlob>,
    dir: &Path,
    content_md5: Option<&str>,
    max_size: u64,
    metrics: &Metrics,
) -> S3Result<Received> {
    let file = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
        s3_error!(
            InternalError,
            "cannot create a temp file in {}: {e}",
            dir.display()
        )
    })?;
    let std_file = file
        .reopen()
        .map_err(|e| s3_error!(InternalError, "cannot open the temp file: {e}"))?;
    let mut out = tokio::io::BufWriter::with_capacity(CHUNK, tokio::fs::File::from_std(std_file));
    let mut md5 = Md5::new();
    let mut size = 0u64;
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| s3_error!(IncompleteBody, "reading the request body: {e}"))?;
            size += chunk.len() as u64;
            if size > max_size {
                return Err(s3_error!(
                    EntityTooLarge,
                    "the body is over {max_size} bytes, the most one request may send here"
                ));
            }
            metrics.bytes_in(chunk.len() as u64);
            md5.update(&chunk);
            out.write_all(&chunk)
                .await
                .map_err(|e| s3_error!(InternalError, "writing the temp file: {e}"))?;
        }
    }
    out.flush()
        .await
        .map_err(|e| s3_error!(InternalError, "writing the temp file: {e}"))?;
    let md5 = md5.finalize();
    if let Some(expected) = content_md5 {
        let got = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, md5);
        if expected.trim() != got {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
    }
    Ok(Received { file, size, md5 })
}

/// The MD5 a file's recorded ETag is, when it is a single-part one (32 hex digits).
pub fn recorded_md5(metadata: &Metadata) -> Option<String> {
    metadata
        .get(ETAG_FIELD)
        .filter(|e| e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit()))
        .cloned()
}

/// MD5 of a whole blob, on a blocking thread.
pub async fn md5_of(blob: BlobRef) -> S3Result<[u8; 16]> {
    tokio::task::spawn_blocking(move || -> std::io::Result<[u8; 16]> {
        let mut reader = blob.reader().map_err(std::io::Error::other)?;
        let mut md5 = Md5::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(md5.finalize());
            }
            md5.update(&buf[..n]);
        }
    })
    .await
    .map_err(|e| s3_error!(InternalError, "hashing: {e}"))?
    .map_err(|e| s3_error!(InternalError, "hashing: {e}"))
}

/// Streams `range` of a staged file to the client, a chunk at a time read on a blocking
/// thread; the staged file lives as long as the stream.
pub fn stream_range(
    blob: BlobRef,
    range: std::ops::Range<u64>,
    metrics: Arc<Metrics>,
) -> StreamingBlob {
    struct State {
        blob: BlobRef,
        reader: Option<Box<dyn Read + Send>>,
        at: u64,
        end: u64,
    }
    let state = State {
        blob,
        reader: None,
        at: range.start,
        end: range.end,
    };
    let stream = futures::stream::unfold(state, move |mut s| {
        let metrics = metrics.clone();
        async move {
            if s.at >= s.end {
                return None;
            }
            let result = tokio::task::spawn_blocking(move || {
                let chunk = read_chunk(&mut s);
                (s, chunk)
            })
            .await;
            match result {
                Ok((s, Ok(chunk))) => {
                    metrics.bytes_out(chunk.len() as u64);
                    Some((Ok(chunk), s))
                }
                Ok((mut s, Err(e))) => {
                    s.at = s.end;
                    Some((Err(e), s))
                }
                Err(_) => None,
            }
        }
    });
    fn read_chunk(s: &mut State) -> std::io::Result<Bytes> {
        if s.reader.is_none() {
            s.reader = Some(open_at(&s.blob, s.at)?);
        }
        let want = usize::try_from((s.end - s.at).min(CHUNK as u64)).unwrap_or(CHUNK);
        let mut buf = vec![0u8; want];
        let reader = s
            .reader
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no reader"))?;
        reader.read_exact(&mut buf)?;
        s.at += want as u64;
        Ok(Bytes::from(buf))
    }
    StreamingBlob::wrap(stream_boxed(stream))
}

fn stream_boxed<S>(s: S) -> impl Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static
where
    S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
{
    sync_wrapper::SyncStream::new(s)
}

/// A reader of `blob` from byte `at` on.
fn open_at(blob: &BlobRef, at: u64) -> std::io::Result<Box<dyn Read + Send>> {
    if let Some(path) = blob.path() {
        let mut file = std::fs::File::open(path)?;
        file.seek(SeekFrom::Start(at))?;
        return Ok(Box::new(file));
    }
    let mut reader = blob.reader().map_err(std::io::Error::other)?;
    std::io::copy(&mut (&mut reader).take(at), &mut std::io::sink())?;
    Ok(reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_metadata_stays_apart_from_dg_fields() {
        let user: s3s::dto::Metadata = [("Color".to_string(), "blue".to_string())].into();
        let content = ContentHeaders([Some("application/zip".into()), None, None, None, None]);
        let stored = stored_metadata(Some(user), &content, "abc").unwrap_or_default();
        assert_eq!(stored.get("color").map(String::as_str), Some("blue"));
        assert_eq!(
            stored.get("dg-content-type").map(String::as_str),
            Some("application/zip")
        );
        assert_eq!(stored.get(ETAG_FIELD).map(String::as_str), Some("abc"));
        let back = user_metadata(&stored).unwrap_or_default();
        assert_eq!(back.len(), 1, "{back:?}");
        assert_eq!(ContentHeaders::of(&stored), content);

        let clash: s3s::dto::Metadata = [("dg-file-sha256".to_string(), "x".to_string())].into();
        assert!(stored_metadata(Some(clash), &ContentHeaders::default(), "e").is_err());
    }

    #[test]
    fn etags_prefer_the_recorded_md5() {
        let mut m = Metadata::new();
        let sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            etag_of(&m, Some(sha), Some("\"stored\"")).value(),
            "0123456789abcdef0123456789abcdef-1"
        );
        assert_eq!(etag_of(&m, None, Some("\"stored\"")).value(), "stored");
        // A hostile SHA-256 field (multi-byte characters across byte 32) is no panic.
        let odd = "0123456789abcdef0123456789abcdeé0123";
        assert_eq!(etag_of(&m, Some(odd), Some("\"stored\"")).value(), "stored");
        m.insert(ETAG_FIELD.into(), "d41d8cd98f00b204e9800998ecf8427e".into());
        assert_eq!(
            etag_of(&m, Some(sha), None).value(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
    }

    #[test]
    fn read_conditions_follow_s3() {
        let etag = ETag::Strong("abc".into());
        let other = ETagCondition::ETag(ETag::Strong("zzz".into()));
        let same = ETagCondition::ETag(ETag::Strong("abc".into()));
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let check = |c: ReadConditions<'_>| c.check(&etag, Some(t)).map_err(|e| e.code().clone());
        let none = || ReadConditions {
            if_match: None,
            if_none_match: None,
            if_modified_since: None,
            if_unmodified_since: None,
        };
        assert!(check(none()).is_ok());
        assert!(check(ReadConditions {
            if_match: Some(&same),
            ..none()
        })
        .is_ok());
        assert_eq!(
            check(ReadConditions {
                if_match: Some(&other),
                ..none()
            }),
            Err(s3s::S3ErrorCode::PreconditionFailed)
        );
        assert_eq!(
            check(ReadConditions {
                if_none_match: Some(&same),
                ..none()
            }),
            Err(s3s::S3ErrorCode::NotModified)
        );
        let later = Timestamp::from(t + std::time::Duration::from_secs(10));
        assert_eq!(
            check(ReadConditions {
                if_modified_since: Some(&later),
                ..none()
            }),
            Err(s3s::S3ErrorCode::NotModified)
        );
        let earlier = Timestamp::from(t - std::time::Duration::from_secs(10));
        assert_eq!(
            check(ReadConditions {
                if_unmodified_since: Some(&earlier),
                ..none()
            }),
            Err(s3s::S3ErrorCode::PreconditionFailed)
        );
    }

    #[test]
    fn listing_codecs() {
        assert_eq!(url_encode("a b/ü+%.zip"), "a%20b/%C3%BC%2B%25.zip");
        assert_eq!(
            unhex(&hex(b"rel/x.zip")).as_deref(),
            Some(&b"rel/x.zip"[..])
        );
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("abc"), None);
    }
}
