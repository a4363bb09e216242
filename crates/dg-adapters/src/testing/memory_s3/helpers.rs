//! The small codecs and checks of the memory backend: ETags and hex, `encoding-type=url`,
//! keys and metadata, and the conditions (`If-Match`, `If-None-Match`…) of reads and writes.

use super::*;

pub(super) fn now() -> SystemTime {
    // HTTP dates carry whole seconds: stored times do too, so conditions compare exactly.
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub(super) fn md5(data: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(data);
    h.finalize()
}

pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

pub(super) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some((digit(p[0])? << 4) | digit(p[1])?))
        .collect()
}

pub(super) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// S3's `encoding-type=url`: unreserved characters and `/` as they are, a space as `+`,
/// everything else percent-encoded.
pub(super) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push_str(&hex(&[b]).to_ascii_uppercase());
            }
        }
    }
    out
}

pub(super) fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(s3_error!(
            InvalidArgument,
            "An object key must not be empty."
        ));
    }
    if key.len() > MAX_KEY {
        return Err(s3_error!(KeyTooLongError));
    }
    Ok(())
}

pub(super) fn metadata_of(m: Option<Metadata>) -> BTreeMap<String, String> {
    m.into_iter().flatten().collect()
}

pub(super) fn hash_map(m: &BTreeMap<String, String>) -> Option<Metadata> {
    (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

pub(super) async fn collect(body: Option<StreamingBlob>) -> S3Result<Bytes> {
    let Some(mut body) = body else {
        return Ok(Bytes::new());
    };
    let mut buf = BytesMut::new();
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| s3_error!(IncompleteBody, "reading the request body: {e}"))?
    {
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

pub(super) fn check_content_md5(body: &[u8], content_md5: Option<&str>) -> S3Result<()> {
    match content_md5 {
        Some(expected) if expected.trim() != base64(&md5(body)) => Err(s3_error!(
            BadDigest,
            "The Content-MD5 you specified did not match what we received."
        )),
        _ => Ok(()),
    }
}

/// A streamed body of `bytes`, in chunks.
pub(super) fn stream_of(bytes: Bytes) -> StreamingBlob {
    let mut chunks = Vec::with_capacity(bytes.len() / CHUNK + 1);
    let mut at = 0;
    while at < bytes.len() {
        let end = (at + CHUNK).min(bytes.len());
        chunks.push(Ok::<_, std::io::Error>(bytes.slice(at..end)));
        at = end;
    }
    StreamingBlob::wrap(futures::stream::iter(chunks))
}

/// `If-Match` / `If-None-Match` of a write against what is stored now.
pub(super) fn check_write(
    existing: Option<&StoredObject>,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    if let (Some(condition), Some(o)) = (if_none_match, existing) {
        let hit = match condition {
            ETagCondition::Any => true,
            ETagCondition::ETag(e) => o.strong_etag().weak_cmp(e),
        };
        if hit {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    }
    if let Some(condition) = if_match {
        let Some(o) = existing else {
            return Err(s3_error!(NoSuchKey));
        };
        let hit = match condition {
            ETagCondition::Any => true,
            ETagCondition::ETag(e) => o.strong_etag().strong_cmp(e),
        };
        if !hit {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    }
    Ok(())
}

/// The conditions of a read (`GET`, `HEAD`), in S3's order of precedence.
pub(super) fn check_read(
    o: &StoredObject,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified = Timestamp::from(o.last_modified);
    let failed = || {
        s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )
    };
    match if_match {
        Some(ETagCondition::Any) => {}
        Some(ETagCondition::ETag(e)) if o.strong_etag().strong_cmp(e) => {}
        Some(ETagCondition::ETag(_)) => return Err(failed()),
        None => {
            if if_unmodified_since.is_some_and(|t| modified > *t) {
                return Err(failed());
            }
        }
    }
    match if_none_match {
        Some(ETagCondition::Any) => return Err(s3_error!(NotModified)),
        Some(ETagCondition::ETag(e)) if o.strong_etag().weak_cmp(e) => {
            return Err(s3_error!(NotModified))
        }
        Some(ETagCondition::ETag(_)) => {}
        None => {
            if if_modified_since.is_some_and(|t| modified <= *t) {
                return Err(s3_error!(NotModified));
            }
        }
    }
    Ok(())
}
