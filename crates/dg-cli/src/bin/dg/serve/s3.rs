//! The S3 operations of `dg serve`, each a thin layer over [`dg::Client`]: bodies are staged
//! to temp files and stored as deltas where that pays; reads are rebuilt and checked against
//! their SHA-256 before the first byte goes out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use dg::{Client, Location, PutRequest, Stored};
use dg_ports::{BlobRef, Error};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};

use super::metrics::Metrics;
use super::multipart::Uploads;
use super::rebuilt::Rebuilt;
use super::wire::{
    self, etag_of, hex, receive, stored_metadata, stream_range, timestamp, user_metadata,
    ContentHeaders, ReadConditions,
};

/// Largest body of one PutObject or UploadPart, as on S3.
pub const MAX_SINGLE: u64 = 5 << 30;

/// The endpoint's S3 service.
#[derive(Debug, Clone)]
pub struct DgS3 {
    pub client: Client,
    /// Where request bodies are staged.
    pub work: PathBuf,
    pub uploads: Arc<Uploads>,
    pub metrics: Arc<Metrics>,
    /// Files rebuilt for recent reads.
    pub rebuilt: Arc<Rebuilt>,
    /// Encodings and rebuilds running at once (each holds its codec's buffers): the bound on
    /// the server's memory whatever the number of clients. Bodies stream to disk meanwhile.
    pub work_slots: Arc<tokio::sync::Semaphore>,
}

/// The ETag of the file a HEAD describes.
fn file_etag(head: &dg::ObjectHead) -> ETag {
    let stored = (!head.is_delta).then_some(head.etag.as_deref()).flatten();
    etag_of(&head.metadata, head.sha256.as_deref(), stored)
}

/// dg's errors in S3's terms.
pub fn s3_err(e: Error) -> S3Error {
    let message = e.to_string();
    let code = match &e {
        Error::NotFound { what } if what.starts_with("bucket ") => S3ErrorCode::NoSuchBucket,
        Error::NotFound { .. } => S3ErrorCode::NoSuchKey,
        Error::AlreadyExists { .. } => S3ErrorCode::BucketAlreadyOwnedByYou,
        Error::InvalidInput(_) => S3ErrorCode::InvalidArgument,
        Error::PermissionDenied { .. } => S3ErrorCode::AccessDenied,
        Error::LimitExceeded { .. } => S3ErrorCode::EntityTooLarge,
        Error::Unsupported { .. } => S3ErrorCode::NotImplemented,
        _ => S3ErrorCode::InternalError,
    };
    S3Error::with_message(code, message)
}

/// Counts an operation's outcome in the metrics, and passes the result on.
fn counted<T>(metrics: &Metrics, op: &str, result: S3Result<T>) -> S3Result<T> {
    match &result {
        Ok(_) => metrics.operation(op, "ok"),
        Err(e) => metrics.operation(op, e.code().as_str()),
    }
    result
}

/// How a stored file is labelled in the metrics.
fn stored_label(stored: &Stored) -> String {
    match stored {
        Stored::Delta { .. } => "delta".to_string(),
        Stored::Direct { reason } => format!("whole:{}", reason.code()),
    }
}

pub(super) fn len_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl DgS3 {
    /// Stores `blob` at `bucket/key` with the given S3-side metadata; the outcome's ETag.
    pub async fn store(
        &self,
        blob: BlobRef,
        bucket: &str,
        key: &str,
        metadata: dg_ports::Metadata,
    ) -> S3Result<()> {
        let _slot = self
            .work_slots
            .acquire()
            .await
            .map_err(|_| s3_error!(ServiceUnavailable, "the server is stopping"))?;
        let started = Instant::now();
        let request = PutRequest {
            metadata,
            ..self.client.put_defaults().clone()
        };
        let outcome = self
            .client
            .put(blob, &Location::new(bucket, key), &request)
            .await
            .map_err(s3_err)?;
        self.metrics.stored(
            &stored_label(&outcome.stored),
            outcome.original_size,
            outcome.stored_size + outcome.reference_size.unwrap_or(0),
            started.elapsed(),
        );
        Ok(())
    }

    async fn put_object_inner(&self, input: PutObjectInput) -> S3Result<PutObjectOutput> {
        if input.if_match.is_some() || input.if_none_match.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "conditional writes (If-Match / If-None-Match) are not supported by dg serve"
            ));
        }
        let content = content_headers!(input);
        let received = receive(
            input.body,
            &self.work,
            input.content_md5.as_deref(),
            MAX_SINGLE,
            &self.metrics,
        )
        .await?;
        let etag = hex(&received.md5);
        let metadata = stored_metadata(input.metadata, &content, &etag)?;
        let blob = dg_adapters::FileBlob::open(received.file.path()).map_err(s3_err)?;
        self.store(blob, &input.bucket, &input.key, metadata)
            .await?;
        Ok(PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            size: Some(len_i64(received.size)),
            ..Default::default()
        })
    }

    async fn get_object_inner(&self, input: GetObjectInput) -> S3Result<GetObjectOutput> {
        if input.part_number.is_some() {
            return Err(s3_error!(NotImplemented, "GetObject by part number"));
        }
        let conditions = ReadConditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        };
        // Judge the conditions on the stored object's metadata, before rebuilding anything.
        let head = self
            .client
            .head_object(&input.bucket, &input.key)
            .await
            .map_err(s3_err)?;
        conditions.check(&file_etag(&head), head.last_modified)?;
        let started = Instant::now();
        let got = self
            .rebuilt
            .get(
                &self.client,
                &input.bucket,
                &head,
                &self.metrics,
                &self.work_slots,
            )
            .await
            .map_err(s3_err)?;
        self.metrics.decoded(started.elapsed());
        let sha = (got.served != dg::Served::Plain).then_some(got.sha256.as_str());
        let etag = etag_of(&got.metadata, sha, head.etag.as_deref());
        let size = got.size;
        let (range, content_range) = match input.range {
            None => (0..size, None),
            Some(r) => {
                let r = r.check(size).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?;
                let content_range = format!("bytes {}-{}/{size}", r.start, r.end.saturating_sub(1));
                (r, Some(content_range))
            }
        };
        let content = ContentHeaders::of(&got.metadata);
        let length = range.end - range.start;
        Ok(GetObjectOutput {
            content_length: Some(len_i64(length)),
            content_range,
            accept_ranges: Some("bytes".into()),
            content_type: Some(content.content_type()),
            content_encoding: content.0[1].clone(),
            content_disposition: content.0[2].clone(),
            content_language: content.0[3].clone(),
            cache_control: content.0[4].clone(),
            e_tag: Some(etag),
            last_modified: Some(timestamp(got.last_modified)),
            metadata: user_metadata(&got.metadata),
            body: Some(stream_range(got.blob, range, self.metrics.clone())),
            ..Default::default()
        })
    }

    async fn head_object_inner(&self, input: HeadObjectInput) -> S3Result<HeadObjectOutput> {
        let head = self
            .client
            .head_object(&input.bucket, &input.key)
            .await
            .map_err(s3_err)?;
        let etag = file_etag(&head);
        ReadConditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check(&etag, head.last_modified)?;
        let content = ContentHeaders::of(&head.metadata);
        let (length, content_range) = match input.range {
            None => (head.size, None),
            Some(r) => {
                let r = r.check(head.size).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?;
                let cr = format!(
                    "bytes {}-{}/{}",
                    r.start,
                    r.end.saturating_sub(1),
                    head.size
                );
                (r.end - r.start, Some(cr))
            }
        };
        Ok(HeadObjectOutput {
            content_length: Some(len_i64(length)),
            content_range,
            accept_ranges: Some("bytes".into()),
            content_type: Some(content.content_type()),
            content_encoding: content.0[1].clone(),
            content_disposition: content.0[2].clone(),
            content_language: content.0[3].clone(),
            cache_control: content.0[4].clone(),
            e_tag: Some(etag),
            last_modified: Some(timestamp(head.last_modified)),
            metadata: user_metadata(&head.metadata),
            ..Default::default()
        })
    }

    async fn copy_object_inner(&self, input: CopyObjectInput) -> S3Result<CopyObjectOutput> {
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            version_id,
        } = &input.copy_source
        else {
            return Err(s3_error!(NotImplemented, "copies from access points"));
        };
        if version_id.is_some() {
            return Err(s3_error!(NotImplemented, "versions are not kept by dg"));
        }
        let got = {
            let _slot = self
                .work_slots
                .acquire()
                .await
                .map_err(|_| s3_error!(ServiceUnavailable, "the server is stopping"))?;
            self.client
                .get_staged(&Location::new(src_bucket.to_string(), src_key.to_string()))
                .await
                .map_err(s3_err)?
        };
        let sha = (got.served != dg::Served::Plain).then_some(got.sha256.as_str());
        ReadConditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        }
        .check(&etag_of(&got.metadata, sha, None), got.last_modified)
        .map_err(|e| match e.code() {
            S3ErrorCode::NotModified => s3_error!(PreconditionFailed, "copy source not modified"),
            _ => e,
        })?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let same = src_bucket.as_ref() == input.bucket && src_key.as_ref() == input.key;
        if same && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata."
            ));
        }
        // The recorded MD5 is of these very bytes (they just matched their SHA-256): hash them
        // again only when there is none (files not uploaded through an endpoint, multipart).
        let recorded = (got.served != dg::Served::Plain)
            .then(|| wire::recorded_md5(&got.metadata))
            .flatten();
        let etag = match recorded {
            Some(md5) => md5,
            None => hex(&wire::md5_of(got.blob.clone()).await?),
        };
        let metadata = if replace {
            let content = content_headers!(input);
            stored_metadata(input.metadata, &content, &etag)?
        } else {
            let content = ContentHeaders::of(&got.metadata);
            stored_metadata(user_metadata(&got.metadata), &content, &etag)?
        };
        self.store(got.blob, &input.bucket, &input.key, metadata)
            .await?;
        let head = self
            .client
            .head_object(&input.bucket, &input.key)
            .await
            .map_err(s3_err)?;
        Ok(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(etag)),
                last_modified: Some(timestamp(head.last_modified)),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    async fn delete_objects_inner(&self, input: DeleteObjectsInput) -> DeleteObjectsOutput {
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for o in input.delete.objects {
            match self.delete_one(&input.bucket, &o.key).await {
                Ok(()) => {
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(o.key),
                            ..Default::default()
                        });
                    }
                }
                Err(e) => errors.push(s3s::dto::Error {
                    code: Some(e.code().as_str().to_string()),
                    key: Some(o.key),
                    message: e.message().map(str::to_string),
                    version_id: None,
                }),
            }
        }
        DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }
    }

    /// Deletes one file; one that is not there is no error, as on S3.
    async fn delete_one(&self, bucket: &str, key: &str) -> S3Result<()> {
        match self.client.delete_object(bucket, key).await {
            Ok(_) => Ok(()),
            Err(Error::NotFound { what }) if !what.starts_with("bucket ") => Ok(()),
            Err(e) => Err(s3_err(e)),
        }
    }
}

#[async_trait::async_trait]
impl S3 for DgS3 {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = req.input.bucket;
        let result = async {
            if self.client.check_bucket(&bucket, "").await.is_ok() {
                return Err(s3_error!(BucketAlreadyOwnedByYou));
            }
            self.client.create_bucket(&bucket).await.map_err(s3_err)?;
            Ok(S3Response::new(CreateBucketOutput {
                location: Some(format!("/{bucket}")),
            }))
        }
        .await;
        counted(&self.metrics, "CreateBucket", result)
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let result = match self.client.delete_bucket(&req.input.bucket).await {
            Ok(()) => Ok(S3Response::new(DeleteBucketOutput {})),
            Err(Error::Precondition { reason, .. }) => {
                Err(S3Error::with_message(S3ErrorCode::BucketNotEmpty, reason))
            }
            Err(e) => Err(s3_err(e)),
        };
        counted(&self.metrics, "DeleteBucket", result)
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let result = self
            .client
            .check_bucket(&req.input.bucket, "")
            .await
            .map(|()| S3Response::new(HeadBucketOutput::default()))
            .map_err(|e| match e {
                Error::NotFound { .. } => s3_error!(NoSuchBucket),
                e => s3_err(e),
            });
        counted(&self.metrics, "HeadBucket", result)
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let result = self
            .client
            .check_bucket(&req.input.bucket, "")
            .await
            .map(|()| S3Response::new(GetBucketLocationOutput::default()))
            .map_err(|e| match e {
                Error::NotFound { .. } => s3_error!(NoSuchBucket),
                e => s3_err(e),
            });
        counted(&self.metrics, "GetBucketLocation", result)
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let result = self
            .client
            .list_buckets()
            .await
            .map_err(s3_err)
            .map(|list| {
                let buckets = list
                    .into_iter()
                    .map(|b| Bucket {
                        name: Some(b.name),
                        creation_date: Some(timestamp(b.created)),
                        bucket_region: None,
                    })
                    .collect();
                S3Response::new(ListBucketsOutput {
                    buckets: Some(buckets),
                    ..Default::default()
                })
            });
        counted(&self.metrics, "ListBuckets", result)
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let result = self.put_object_inner(req.input).await.map(S3Response::new);
        counted(&self.metrics, "PutObject", result)
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let result = self.get_object_inner(req.input).await.map(S3Response::new);
        counted(&self.metrics, "GetObject", result)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let result = self.head_object_inner(req.input).await.map(S3Response::new);
        counted(&self.metrics, "HeadObject", result)
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let result = self.copy_object_inner(req.input).await.map(S3Response::new);
        counted(&self.metrics, "CopyObject", result)
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let result = self
            .delete_one(&req.input.bucket, &req.input.key)
            .await
            .map(|()| S3Response::new(DeleteObjectOutput::default()));
        counted(&self.metrics, "DeleteObject", result)
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let out = self.delete_objects_inner(req.input).await;
        counted(&self.metrics, "DeleteObjects", Ok(S3Response::new(out)))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let result = self.list_v2(req.input).await.map(S3Response::new);
        counted(&self.metrics, "ListObjectsV2", result)
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let result = self.list_v1(req.input).await.map(S3Response::new);
        counted(&self.metrics, "ListObjects", result)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let result = self.create_upload(req.input).await.map(S3Response::new);
        counted(&self.metrics, "CreateMultipartUpload", result)
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let result = self.upload_part_inner(req.input).await.map(S3Response::new);
        counted(&self.metrics, "UploadPart", result)
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let result = self.uploads.list_parts(req.input).map(S3Response::new);
        counted(&self.metrics, "ListParts", result)
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let result = self.uploads.list_uploads(req.input).map(S3Response::new);
        counted(&self.metrics, "ListMultipartUploads", result)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let result = self
            .uploads
            .abort(&input.bucket, &input.key, &input.upload_id)
            .map(|()| S3Response::new(AbortMultipartUploadOutput::default()));
        counted(&self.metrics, "AbortMultipartUpload", result)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        if let Err(e) = self
            .uploads
            .check(&input.bucket, &input.key, &input.upload_id)
        {
            return counted(&self.metrics, "CompleteMultipartUpload", Err(e));
        }
        // Joining the parts and encoding may take long: the answer is sent at once and kept
        // alive with whitespace until the file is stored (errors then come in the body, as on
        // S3).
        let this = self.clone();
        let future = async move {
            let result = this.complete_upload(input).await;
            counted(&this.metrics, "CompleteMultipartUpload", result)
        };
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            future: Some(Box::pin(future)),
            ..Default::default()
        }))
    }
}
