//! Signed S3 requests of our own, for listings and keys `object_store` would refuse or rename.
//!
//! Requests are signed with `aws-sigv4` under S3's rules (the path encoded once and never
//! normalised) with the credentials of the bucket's `object_store` client, so that every
//! credential source works alike. They go out through `reqwest` (the client of the bucket
//! administration, proxies and all) when its URL keeps the path byte for byte, and through
//! `hyper` directly when it would not: URL libraries resolve `.` and `..` segments, even
//! percent-encoded ones, so `p/..` can only be addressed without one. Key paths are encoded
//! byte by byte (all but `A-Za-z0-9-._~` and `/`), so `a//b`, `/lead`, `dir/` and control
//! characters reach the store exactly. (The `hyper` path connects directly: it does not go
//! through an `HTTPS_PROXY`.)

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use dg_ports::{ByteStream, Error, Location, Result};
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls_platform_verifier::BuilderVerifierExt;

use super::errors::{
    map_error, transient_status, ACCESS_DENIED, REFUSED_CREDENTIALS, TRANSIENT_CODES, UNREACHABLE,
};
use super::xml::Element;
use super::S3Storage;

/// The HTTP/1.1 client for paths `reqwest` would rewrite.
pub(super) type Hyper = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Largest answer read into memory: a listing page of 1000 URL-encoded 1024-byte keys fits.
const MAX_TEXT: usize = 32 << 20;

/// S3's URI encoding: `A-Za-z0-9-._~` as they are, `/` too when `keep_slash`, every other
/// byte as `%XX`.
pub(super) fn uri_encode(s: &str, keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b'/' if keep_slash => out.push('/'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }
    out
}

/// `s3://bucket/key` for messages, control characters escaped so that it stays on one line.
pub(super) fn name_of(location: &Location) -> String {
    if location.key.chars().any(char::is_control) {
        format!("s3://{}/{}", location.bucket, location.key.escape_debug())
    } else {
        location.to_string()
    }
}

/// One request: a bucket or one of its objects, query parameters, headers and a body.
pub(super) struct Request<'a> {
    method: Method,
    bucket: &'a str,
    key: Option<&'a str>,
    query: Vec<(&'static str, String)>,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl<'a> Request<'a> {
    /// A request about the bucket itself.
    pub fn bucket(method: Method, bucket: &'a str) -> Self {
        Request {
            method,
            bucket,
            key: None,
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A request about the object at `location`, addressed exactly.
    pub fn object(method: Method, location: &'a Location) -> Self {
        Request {
            key: Some(&location.key),
            ..Request::bucket(method, &location.bucket)
        }
    }

    /// Adds a query parameter (an empty value is sent as the bare name, `?uploads`).
    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    /// Adds a header (signed with the rest).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The body, signed by its SHA-256.
    pub fn body(mut self, body: Bytes) -> Self {
        self.body = body;
        self
    }
}

/// An answer: status, headers and the body, streamed.
pub(super) struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    body: ByteStream,
    what: String,
}

impl Response {
    /// A 2xx status.
    pub fn success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body, streamed; errors reading it are retryable.
    pub fn into_body(self) -> ByteStream {
        self.body
    }

    /// The whole body as text (S3's XML documents).
    pub async fn text(self) -> Result<String> {
        let mut body = self.body;
        let mut out = Vec::new();
        while let Some(chunk) = body.try_next().await? {
            if out.len() + chunk.len() > MAX_TEXT {
                return Err(Error::LimitExceeded {
                    what: format!("the answer about {}", self.what),
                    limit: MAX_TEXT as u64,
                });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// The error this (failed) answer stands for, about `what` in `bucket`.
    pub async fn error(self, what: &str, bucket: &str) -> Error {
        let status = self.status;
        let body = self.text().await.unwrap_or_default();
        status_error(status, &body, what, bucket)
    }
}

/// The error an S3 answer of `status` with `body` stands for, about `what` in `bucket`.
pub(super) fn status_error(status: u16, body: &str, what: &str, bucket: &str) -> Error {
    let doc = Element::parse(body).ok();
    let field = |name| {
        doc.as_ref()
            .and_then(|d| d.text_of(name))
            .unwrap_or("")
            .trim()
    };
    let (code, message) = (field("Code"), field("Message"));
    let mut detail = format!("HTTP {status}");
    for part in [code, message] {
        if !part.is_empty() {
            detail.push(' ');
            detail.push_str(part);
        }
    }
    let backend = |retryable| Error::Backend {
        backend: "s3",
        context: format!("{what}: {detail}"),
        retryable,
        source: None,
    };
    match (status, code) {
        (_, "NoSuchBucket") => Error::not_found(format!("bucket {bucket}")),
        (404, _) | (_, "NoSuchKey") => Error::not_found(what),
        (_, "InvalidAccessKeyId") | (_, "SignatureDoesNotMatch") => Error::PermissionDenied {
            what: format!("{what} ({REFUSED_CREDENTIALS}; {detail})"),
            source: None,
        },
        (403, _) | (_, "AccessDenied") => Error::PermissionDenied {
            what: format!("{what} ({ACCESS_DENIED}; {detail})"),
            source: None,
        },
        (501, _) | (_, "NotImplemented") => Error::Unsupported {
            what: format!("{what} on this store ({detail})"),
        },
        _ if TRANSIENT_CODES.contains(&code) || transient_status(status) => backend(true),
        _ => backend(false),
    }
}

/// The error an `<Error>` document in the body of a `200 OK` stands for (S3 answers copies
/// and multipart completions that way), if the body is one.
pub(super) fn embedded_error(body: &str, what: &str, bucket: &str) -> Option<Error> {
    let doc = Element::parse(body).ok()?;
    (doc.name == "Error").then(|| status_error(200, body, what, bucket))
}

/// A failure to send or to read an answer: worth repeating, as a timeout or a reset is.
fn transport(
    what: &str,
    unreachable: bool,
    e: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::Backend {
        backend: "s3",
        context: if unreachable {
            format!("{what}: {UNREACHABLE}")
        } else {
            what.to_string()
        },
        retryable: true,
        source: Some(Box::new(e)),
    }
}

fn timed_out(what: &str, timeout: Duration) -> Error {
    Error::Backend {
        backend: "s3",
        context: format!("{what}: no answer within {} s", timeout.as_secs_f64()),
        retryable: true,
        source: None,
    }
}

fn invalid(what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("{what}: {e}"))
}

/// The client for paths `reqwest` would rewrite: HTTP/1.1, TLS by rustls with the platform's
/// verifier and the crypto provider `reqwest` uses.
fn build_hyper(timeout: Duration) -> Result<Hyper> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map_err(|e| Error::Backend {
            backend: "s3",
            context: "setting up TLS".into(),
            retryable: false,
            source: Some(Box::new(e)),
        })?
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(timeout));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// Whether `reqwest` sends `url` with `path` byte for byte: not when its URL parser resolves
/// `.`/`..` segments.
fn reqwest_keeps(url: &str, path: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| u.path() == path)
}

fn reqwest_body(response: reqwest::Response, what: Arc<str>) -> ByteStream {
    futures::stream::unfold(Some(response), move |state| {
        let what = what.clone();
        async move {
            let mut response = state?;
            match response.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(response))),
                Ok(None) => None,
                Err(e) => Some((Err(transport(&what, false, e)), None)),
            }
        }
    })
    .boxed()
}

fn hyper_body(body: hyper::body::Incoming, idle: Duration, what: Arc<str>) -> ByteStream {
    futures::stream::unfold(Some(body.into_data_stream()), move |state| {
        let what = what.clone();
        async move {
            let mut data = state?;
            match tokio::time::timeout(idle, data.next()).await {
                Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(data))),
                Ok(None) => None,
                Ok(Some(Err(e))) => Some((Err(transport(&what, false, e)), None)),
                Err(_) => Some((Err(timed_out(&what, idle)), None)),
            }
        }
    })
    .boxed()
}

impl S3Storage {
    /// Signs and sends `request`, about `what`. Any status comes back as a [`Response`];
    /// errors are those of signing and of the transport.
    pub(super) async fn send(&self, request: Request<'_>, what: &str) -> Result<Response> {
        let endpoint = self.config.bucket_endpoint(request.bucket);
        let base: http::Uri = endpoint
            .parse()
            .map_err(|e| invalid(&format!("the endpoint {endpoint}"), e))?;
        let (Some(scheme), Some(authority)) = (base.scheme_str(), base.authority()) else {
            return Err(invalid(
                &format!("the endpoint {endpoint}"),
                "expected http(s)://HOST[:PORT]",
            ));
        };
        let mut path = base.path().trim_end_matches('/').to_string();
        match request.key {
            Some(key) => {
                path.push('/');
                path.push_str(&uri_encode(key, true));
            }
            None if path.is_empty() => path.push('/'),
            None => {}
        }
        let query: Vec<String> = request
            .query
            .iter()
            .map(|(k, v)| match v.is_empty() {
                true => uri_encode(k, false),
                false => format!("{}={}", uri_encode(k, false), uri_encode(v, false)),
            })
            .collect();
        let mut url = format!("{scheme}://{authority}{path}");
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        let mut headers = request.headers;
        if !self.config.anonymous {
            let credential = self
                .client(request.bucket)?
                .credentials()
                .get_credential()
                .await
                .map_err(|e| map_error(e, what))?;
            let identity = Credentials::new(
                &credential.key_id,
                &credential.secret_key,
                credential.token.clone(),
                None,
                "dg",
            )
            .into();
            let mut settings = SigningSettings::default();
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            let signing = |e: &dyn std::fmt::Display| invalid(&format!("signing {what}"), e);
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(&self.config.region)
                .name("s3")
                .time(SystemTime::now())
                .settings(settings)
                .build()
                .map_err(|e| signing(&e))?
                .into();
            let signable = SignableRequest::new(
                request.method.as_str(),
                url.as_str(),
                headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                SignableBody::Bytes(&request.body),
            )
            .map_err(|e| signing(&e))?;
            let (instructions, _) = sign(signable, &params)
                .map_err(|e| signing(&e))?
                .into_parts();
            let signed: Vec<(String, String)> = instructions
                .headers()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            headers.extend(signed);
        }
        let mut map = HeaderMap::with_capacity(headers.len() + 1);
        for (name, value) in &headers {
            let header = |e: &dyn std::fmt::Display| {
                invalid(
                    what,
                    format!("header {name}: {value:?} cannot be sent ({e})"),
                )
            };
            map.append(
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| header(&e))?,
                HeaderValue::from_str(value).map_err(|e| header(&e))?,
            );
        }
        if matches!(request.method, Method::PUT | Method::POST) {
            map.insert(http::header::CONTENT_LENGTH, request.body.len().into());
        }
        let what_arc: Arc<str> = Arc::from(what);
        let (status, headers, body) = if reqwest_keeps(&url, &path) {
            let response = self
                .http
                .request(request.method, &url)
                .headers(map)
                .body(request.body)
                .send()
                .await
                .map_err(|e| match e.is_builder() {
                    true => invalid(what, e),
                    false => transport(what, e.is_connect(), e),
                })?;
            let (status, headers) = (response.status().as_u16(), response.headers().clone());
            (status, headers, reqwest_body(response, what_arc))
        } else {
            let client = self
                .hyper
                .get_or_try_init(|| async { build_hyper(self.config.timeout) })
                .await?;
            let uri: http::Uri = url.parse().map_err(|e| invalid(what, e))?;
            let mut outgoing = http::Request::new(Full::new(request.body));
            *outgoing.method_mut() = request.method;
            *outgoing.uri_mut() = uri;
            *outgoing.headers_mut() = map;
            let timeout = self.config.timeout;
            let response = tokio::time::timeout(timeout, client.request(outgoing))
                .await
                .map_err(|_| timed_out(what, timeout))?
                .map_err(|e| transport(what, e.is_connect(), e))?;
            let (parts, incoming) = response.into_parts();
            (
                parts.status.as_u16(),
                parts.headers,
                hyper_body(incoming, timeout, what_arc),
            )
        };
        Ok(Response {
            status,
            headers,
            body,
            what: what.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_keys_byte_by_byte() {
        assert_eq!(uri_encode("a//b/./..", true), "a//b/./..");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
        assert_eq!(
            uri_encode("%2F +?&#\t\u{1}\u{7f}é~", true),
            "%252F%20%2B%3F%26%23%09%01%7F%C3%A9~"
        );
        let at = Location::new("b", "p/nl\nhere");
        assert_eq!(name_of(&at), "s3://b/p/nl\\nhere");
        assert_eq!(name_of(&Location::new("b", "k")), "s3://b/k");
    }

    #[test]
    fn only_dot_segments_need_hyper() {
        let kept = |path: &str| reqwest_keeps(&format!("https://h{path}?x=%2E%2E"), path);
        assert!(kept("/b/a//b/%09%0A%25%2E/~"));
        assert!(kept("/b//lead") && kept("/b/dir/") && kept("/b/"));
        assert!(!kept("/b/p/..") && !kept("/b/p/./x") && !kept("/b/p/../x"));
        assert!(build_hyper(Duration::from_secs(1)).is_ok(), "TLS is set up");
    }

    #[test]
    fn maps_answers_to_errors() {
        let xml = |code: &str| format!("<Error><Code>{code}</Code><Message>m</Message></Error>");
        let e = status_error(404, &xml("NoSuchBucket"), "s3://b/k", "b");
        assert_eq!(e.to_string(), "bucket b not found");
        assert!(status_error(404, "", "s3://b/k", "b").is_not_found());
        assert!(matches!(
            status_error(403, "", "s3://b/k", "b"),
            Error::PermissionDenied { .. }
        ));
        assert!(matches!(
            status_error(403, &xml("SignatureDoesNotMatch"), "x", "b"),
            Error::PermissionDenied { .. }
        ));
        let slow = status_error(503, &xml("SlowDown"), "s3://b/k", "b");
        assert!(slow.is_retryable());
        assert!(slow.to_string().contains("HTTP 503 SlowDown m"), "{slow}");
        assert!(status_error(500, "", "x", "b").is_retryable());
        assert!(status_error(429, "", "x", "b").is_retryable());
        assert!(!status_error(400, &xml("InvalidArgument"), "x", "b").is_retryable());
        assert!(matches!(
            status_error(501, "", "x", "b"),
            Error::Unsupported { .. }
        ));
        let embedded = embedded_error(&xml("InternalError"), "x", "b").unwrap();
        assert!(embedded.is_retryable());
        assert!(embedded_error("<CopyObjectResult/>", "x", "b").is_none());
    }
}
