//! `CopyObject` on the memory backend.

use super::*;

impl MemoryS3 {
    pub(super) async fn serve_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            version_id,
        } = &input.copy_source
        else {
            return Err(s3_error!(NotImplemented, "copies from access points"));
        };
        if version_id.as_deref().is_some_and(|v| v != "null") {
            return Err(s3_error!(NoSuchVersion));
        }
        let src = self.object(src_bucket, src_key)?;
        let failed = || {
            s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            )
        };
        let modified = Timestamp::from(src.last_modified);
        match &input.copy_source_if_match {
            Some(ETagCondition::ETag(e)) if !src.strong_etag().strong_cmp(e) => {
                return Err(failed())
            }
            Some(_) => {}
            None => {
                if input
                    .copy_source_if_unmodified_since
                    .as_ref()
                    .is_some_and(|t| modified > *t)
                {
                    return Err(failed());
                }
            }
        }
        match &input.copy_source_if_none_match {
            Some(ETagCondition::Any) => return Err(failed()),
            Some(ETagCondition::ETag(e)) if src.strong_etag().weak_cmp(e) => return Err(failed()),
            Some(_) => {}
            None => {
                if input
                    .copy_source_if_modified_since
                    .as_ref()
                    .is_some_and(|t| modified <= *t)
                {
                    return Err(failed());
                }
            }
        }
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if !replace && **src_bucket == *input.bucket && **src_key == *input.key {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let object = if replace {
            StoredObject::single(src.body, metadata_of(input.metadata), input.content_type)
        } else {
            StoredObject::single(src.body, src.metadata, src.content_type)
        };
        let result = CopyObjectResult {
            e_tag: Some(object.strong_etag()),
            last_modified: Some(Timestamp::from(object.last_modified)),
            ..Default::default()
        };
        {
            let mut state = self.state();
            let b = state
                .buckets
                .get_mut(&input.bucket)
                .ok_or_else(|| s3_error!(NoSuchBucket))?;
            b.objects.insert(input.key, object);
        }
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(result),
            ..Default::default()
        }))
    }
}
