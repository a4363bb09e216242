//! Typed S3 settings; the command line fills them from flags, the environment and `~/.aws`.

use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{ClientOptions, RetryConfig};

/// Static credentials.
#[derive(Clone)]
pub struct S3Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// How to reach an S3-compatible service.
#[derive(Clone, Debug)]
pub struct S3Config {
    /// `http(s)://host[:port]` of an S3-compatible service; `None` for AWS.
    pub endpoint: Option<String>,
    /// Region (signing region for S3-compatible services).
    pub region: String,
    /// Static credentials; `None` uses the instance/container/web-identity providers.
    pub credentials: Option<S3Credentials>,
    /// Send unsigned requests (public buckets).
    pub anonymous: bool,
    /// `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`; S3-compatible
    /// services usually need it.
    pub path_style: bool,
    /// Bodies larger than this go as multipart uploads.
    pub multipart_threshold: u64,
    /// Multipart part size.
    pub part_size: usize,
    /// Parts uploaded at once (each held in memory while in flight).
    pub upload_concurrency: usize,
    /// Attempts per request. The adapter itself repeats only multipart parts (each part up to
    /// this many times); whole calls are repeated by a
    /// [`RetryingStorage`](crate::storage::RetryingStorage) around it, with the same policy.
    pub max_attempts: usize,
    /// Timeout of one request.
    pub timeout: Duration,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            region: "us-east-1".into(),
            credentials: None,
            anonymous: false,
            path_style: false,
            multipart_threshold: 64 << 20,
            part_size: 16 << 20,
            upload_concurrency: 4,
            max_attempts: 5,
            timeout: Duration::from_secs(300),
        }
    }
}

impl S3Config {
    /// The `object_store` builder for one bucket.
    pub(super) fn builder(&self, bucket: &str) -> AmazonS3Builder {
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&self.region)
            .with_virtual_hosted_style_request(!self.path_style)
            .with_skip_signature(self.anonymous)
            // No retries inside object_store: they would multiply with `RetryingStorage`'s and
            // go uncounted. Parts of multipart uploads are retried through a policy instead.
            .with_retry(RetryConfig {
                max_retries: 0,
                ..RetryConfig::default()
            })
            .with_client_options(ClientOptions::new().with_timeout(self.timeout));
        if let Some(endpoint) = &self.endpoint {
            // Virtual-hosted: object_store takes the endpoint as the bucket's own.
            let endpoint = if self.path_style {
                endpoint.trim_end_matches('/').to_string()
            } else {
                self.bucket_endpoint(bucket)
            };
            b = b
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint);
        }
        if let Some(c) = &self.credentials {
            b = b
                .with_access_key_id(&c.access_key_id)
                .with_secret_access_key(&c.secret_access_key);
            if let Some(token) = &c.session_token {
                b = b.with_token(token);
            }
        }
        b
    }

    /// The URL of one bucket, no trailing `/`: `https://endpoint/bucket` path-style,
    /// `https://bucket.endpoint` virtual-hosted. Every request about the bucket's objects goes
    /// there, whoever sends it.
    pub(super) fn bucket_endpoint(&self, bucket: &str) -> String {
        let base = self.base_url();
        if self.path_style {
            return format!("{base}/{bucket}");
        }
        match base.split_once("://") {
            Some((scheme, host)) => format!("{scheme}://{bucket}.{host}"),
            None => format!("{base}/{bucket}"),
        }
    }

    /// The service's base URL (no bucket).
    pub(super) fn base_url(&self) -> String {
        match &self.endpoint {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => format!("https://s3.{}.amazonaws.com", self.region),
        }
    }
}
