//! Bucket administration for S3: `ListBuckets`, `CreateBucket` and `DeleteBucket`, which
//! `object_store` does not offer. Requests are signed with AWS Signature V4 by the `aws-sigv4`
//! crate (AWS's own signer) and sent with `reqwest`.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4;
use dg_ports::{BucketInfo, Buckets, Error, Result};

use super::S3Storage;
use crate::storage::validate_bucket_name;

fn backend(context: String, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    let text = e.to_string();
    let retryable = text.contains("timed out") || text.contains("connect");
    Error::Backend {
        backend: "s3",
        context: if text.contains("connect") || text.contains("dns") {
            format!(
                "{context}: the endpoint cannot be reached: check --endpoint-url and the network"
            )
        } else {
            context
        },
        retryable,
        source: Some(Box::new(e)),
    }
}

/// The text between `<tag>` and `</tag>` of each occurrence in `xml`.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    out
}

fn parse_time(s: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| SystemTime::from(t.with_timezone(&chrono::Utc)))
}

impl S3Storage {
    /// Sends one signed request to `url`; returns the status and body text.
    async fn signed(
        &self,
        method: &str,
        url: &str,
        body: Vec<u8>,
        what: &str,
    ) -> Result<(u16, String)> {
        let mut request = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes())
                .map_err(|e| Error::InvalidInput(e.to_string()))?,
            url,
        );
        if !self.config.anonymous {
            let Some(c) = &self.config.credentials else {
                return Err(Error::PermissionDenied {
                    what: format!("{what}: {}", super::errors::NO_CREDENTIALS),
                    source: None,
                });
            };
            let identity = Credentials::new(
                &c.access_key_id,
                &c.secret_access_key,
                c.session_token.clone(),
                None,
                "dg",
            )
            .into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(&self.config.region)
                .name("s3")
                .time(SystemTime::now())
                .settings({
                    // S3 requires x-amz-content-sha256 on every signed request.
                    let mut settings = SigningSettings::default();
                    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
                    settings
                })
                .build()
                .map_err(|e| Error::InvalidInput(format!("signing {what}: {e}")))?
                .into();
            let signable =
                SignableRequest::new(method, url, std::iter::empty(), SignableBody::Bytes(&body))
                    .map_err(|e| Error::InvalidInput(format!("signing {what}: {e}")))?;
            let (instructions, _) = sign(signable, &params)
                .map_err(|e| Error::InvalidInput(format!("signing {what}: {e}")))?
                .into_parts();
            for (name, value) in instructions.headers() {
                request = request.header(name, value);
            }
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| backend(what.to_string(), e))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| backend(what.to_string(), e))?;
        Ok((status, text))
    }

    fn bucket_url(&self, name: &str) -> String {
        self.config.bucket_endpoint(name)
    }
}

/// The error an S3 error response stands for.
fn response_error(status: u16, body: &str, what: &str) -> Error {
    let code = elements(body, "Code").first().copied().unwrap_or("");
    match (status, code) {
        (404, _) | (_, "NoSuchBucket") => Error::not_found(what),
        (409, "BucketAlreadyOwnedByYou") | (409, "BucketAlreadyExists") => Error::AlreadyExists {
            what: what.to_string(),
        },
        (409, "BucketNotEmpty") => Error::Precondition {
            what: what.to_string(),
            reason: "it is not empty".into(),
        },
        (403, _) | (_, "InvalidAccessKeyId") | (_, "SignatureDoesNotMatch") => {
            Error::PermissionDenied {
                what: format!("{what} ({code}: check the credentials and their permissions)"),
                source: None,
            }
        }
        _ => Error::Backend {
            backend: "s3",
            context: format!(
                "{what}: HTTP {status} {code} {}",
                elements(body, "Message").first().copied().unwrap_or("")
            ),
            retryable: status >= 500,
            source: None,
        },
    }
}

#[async_trait]
impl Buckets for S3Storage {
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let url = format!("{}/", self.config.base_url());
        let (status, body) = self
            .signed("GET", &url, Vec::new(), "listing buckets")
            .await?;
        if status != 200 {
            return Err(response_error(status, &body, "the bucket list"));
        }
        let mut out: Vec<BucketInfo> = elements(&body, "Bucket")
            .into_iter()
            .filter_map(|b| {
                let name = elements(b, "Name").first()?.to_string();
                let created = elements(b, "CreationDate")
                    .first()
                    .and_then(|t| parse_time(t));
                Some(BucketInfo { name, created })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn create_bucket(&self, name: &str) -> Result<()> {
        validate_bucket_name(name)?;
        let body = if self.config.region == "us-east-1" || self.config.endpoint.is_some() {
            Vec::new()
        } else {
            format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                self.config.region
            )
            .into_bytes()
        };
        let what = format!("bucket {name}");
        let (status, text) = self
            .signed("PUT", &self.bucket_url(name), body, &what)
            .await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(response_error(status, &text, &what))
        }
    }

    async fn delete_bucket(&self, name: &str) -> Result<()> {
        let what = format!("bucket {name}");
        // S3 refuses to delete a bucket with objects; some compatible stores do not, so ask first.
        let probe = dg_ports::ListRequest {
            bucket: name.to_string(),
            max_keys: 1,
            ..Default::default()
        };
        if !dg_ports::ObjectStorage::list(self, &probe)
            .await?
            .objects
            .is_empty()
        {
            return Err(Error::Precondition {
                what,
                reason: "it is not empty".into(),
            });
        }
        let (status, text) = self
            .signed("DELETE", &self.bucket_url(name), Vec::new(), &what)
            .await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(response_error(status, &text, &what))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_lists_and_errors() {
        let xml = "<ListAllMyBucketsResult><Buckets><Bucket><Name>b1</Name><CreationDate>2024-01-02T03:04:05.000Z</CreationDate></Bucket><Bucket><Name>a2</Name></Bucket></Buckets></ListAllMyBucketsResult>";
        let buckets = elements(xml, "Bucket");
        assert_eq!(buckets.len(), 2);
        assert_eq!(elements(buckets[0], "Name"), vec!["b1"]);
        assert!(parse_time("2024-01-02T03:04:05.000Z").is_some());
        let err = response_error(
            409,
            "<Error><Code>BucketNotEmpty</Code></Error>",
            "bucket x",
        );
        assert!(matches!(err, Error::Precondition { .. }));
        let err = response_error(
            403,
            "<Error><Code>InvalidAccessKeyId</Code></Error>",
            "bucket x",
        );
        assert!(matches!(err, Error::PermissionDenied { .. }));
    }
}
