//! Mapping `object_store` errors into the port's error, with advice where users can act.

use dg_ports::Error;
use object_store::client::{HttpError, HttpErrorKind};

/// What to do when no credentials were found anywhere.
pub(super) const NO_CREDENTIALS: &str = "no AWS credentials found: set AWS_ACCESS_KEY_ID and \
AWS_SECRET_ACCESS_KEY, name a --profile from ~/.aws, or pass --no-sign-request (for a local \
directory store, pass --endpoint-url file:///path)";

/// A 403 without a more precise code.
pub(super) const ACCESS_DENIED: &str =
    "access denied: the credentials were refused or lack permission for \
this bucket or key (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, --profile, the bucket policy)";

/// Credentials the store does not know, or a signature it cannot check.
pub(super) const REFUSED_CREDENTIALS: &str =
    "the credentials were refused: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or --profile";

/// No answer from the endpoint at all.
pub(super) const UNREACHABLE: &str =
    "the endpoint cannot be reached: check --endpoint-url and the network";

fn status_hint(text: &str, status: Option<u16>) -> Option<&'static str> {
    if text.contains("NoSuchBucket") {
        Some("the bucket does not exist")
    } else if text.contains("InvalidAccessKeyId") || text.contains("SignatureDoesNotMatch") {
        Some(REFUSED_CREDENTIALS)
    } else if text.contains("AccessDenied") || status == Some(403) {
        // HEAD answers carry no error code: a bad key and a missing permission look alike
        Some(ACCESS_DENIED)
    } else if text.contains("connect")
        || text.contains("dns error")
        || text.contains("Connection refused")
    {
        Some(UNREACHABLE)
    } else {
        None
    }
}

/// True for an HTTP status worth repeating the request for: 5xx but 501, 408, 429.
pub(super) fn transient_status(status: u16) -> bool {
    matches!(status, 408 | 429) || ((500..600).contains(&status) && status != 501)
}

/// True for a transport failure worth repeating the request for: connecting, sending, a
/// timeout, a connection dropped mid-answer (a body cut off included).
pub(super) fn transient_transport(kind: HttpErrorKind) -> bool {
    matches!(
        kind,
        HttpErrorKind::Connect
            | HttpErrorKind::Request
            | HttpErrorKind::Timeout
            | HttpErrorKind::Interrupted
    )
}

/// S3 error codes that mean "try again", wherever they appear (S3 may even send them in the
/// body of a `200 OK` to a copy or a multipart completion).
pub(super) const TRANSIENT_CODES: [&str; 4] = [
    "SlowDown",
    "InternalError",
    "RequestTimeout",
    "ServiceUnavailable",
];

/// The status in `object_store`'s "status code: 503 Service Unavailable" text.
fn status_in(text: &str) -> Option<u16> {
    let (_, rest) = text.split_once("status code: ")?;
    rest.get(..3)?.parse().ok()
}

/// What the chain of `e` says: the HTTP status of the answer, and whether repeating the
/// request may succeed. `object_store` keeps a transport error as a typed [`HttpError`] in the
/// chain; statuses and S3 error codes only show in its text.
fn classify(e: &object_store::Error) -> (Option<u16>, bool) {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(http) = err.downcast_ref::<HttpError>() {
            return (None, transient_transport(http.kind()));
        }
        let text = err.to_string();
        let status = status_in(&text);
        if TRANSIENT_CODES
            .iter()
            .any(|c| text.contains(&format!("<Code>{c}</Code>")))
        {
            return (status, true);
        }
        if let Some(status) = status {
            return (Some(status), transient_status(status));
        }
        current = err.source();
    }
    (None, false)
}

/// Maps an `object_store` error about `what`.
pub(super) fn map_error(e: object_store::Error, what: &str) -> Error {
    let text = format!("{e:?}");
    let (status, retryable) = classify(&e);
    match e {
        object_store::Error::NotFound { .. } if text.contains("NoSuchBucket") => {
            let bucket = what
                .strip_prefix("s3://")
                .and_then(|r| r.split('/').next())
                .unwrap_or(what);
            Error::not_found(format!("bucket {bucket}"))
        }
        object_store::Error::NotFound { .. } => Error::not_found(what),
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            Error::AlreadyExists {
                what: what.to_string(),
            }
        }
        object_store::Error::InvalidPath { .. } => Error::InvalidInput(format!("{what}: {e}")),
        object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. } => {
            Error::Unsupported {
                what: format!("{what}: {e}"),
            }
        }
        other if text.contains("169.254.169.254") || text.contains("169.254.170.2") => {
            // No static credentials, and the instance/container metadata service (the last
            // source of credentials) is unreachable: the whole chain came up empty.
            tracing::debug!(error = %other, "fetching credentials from the metadata service");
            Error::PermissionDenied {
                what: format!("{what}: {NO_CREDENTIALS}"),
                source: None,
            }
        }
        other => {
            let hint = status_hint(&text, status);
            if hint == Some(ACCESS_DENIED) || hint.is_some_and(|h| h.starts_with("the credentials"))
            {
                return Error::PermissionDenied {
                    what: format!("{what} ({})", hint.unwrap_or_default()),
                    source: Some(Box::new(other)),
                };
            }
            if hint == Some("the bucket does not exist") {
                return Error::not_found(what);
            }
            Error::Backend {
                backend: "s3",
                context: match hint {
                    Some(h) => format!("{what}: {h}"),
                    None => what.to_string(),
                },
                // object_store does not retry (its retries are off): `RetryingStorage` does.
                retryable,
                source: Some(Box::new(other)),
            }
        }
    }
}
