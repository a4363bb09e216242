//! Multipart uploads on the memory backend: create, parts, list, complete, abort.

use super::*;

impl MemoryS3 {
    pub(super) async fn serve_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let n = self.uploads_started.fetch_add(1, Ordering::Relaxed);
        let upload_id = format!("mem-{n:08}-{}", hex(&md5(input.key.as_bytes())));
        let mut state = self.state();
        if !state.buckets.contains_key(&input.bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        state.uploads.insert(
            upload_id.clone(),
            Upload {
                bucket: input.bucket.clone(),
                key: input.key.clone(),
                metadata: metadata_of(input.metadata),
                content_type: input.content_type,
                parts: BTreeMap::new(),
            },
        );
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            ..Default::default()
        }))
    }

    pub(super) async fn serve_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let known = |state: &State| {
            state
                .uploads
                .get(&input.upload_id)
                .is_some_and(|u| u.bucket == input.bucket && u.key == input.key)
        };
        if !known(&self.state()) {
            return Err(s3_error!(NoSuchUpload));
        }
        let body = collect(input.body).await?;
        check_content_md5(&body, input.content_md5.as_deref())?;
        let digest = md5(&body);
        let mut state = self.state();
        if !known(&state) {
            return Err(s3_error!(NoSuchUpload));
        }
        if let Some(u) = state.uploads.get_mut(&input.upload_id) {
            u.parts.insert(
                input.part_number,
                UploadedPart {
                    body,
                    md5: digest,
                    last_modified: now(),
                },
            );
        }
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(hex(&digest))),
            ..Default::default()
        }))
    }

    pub(super) async fn serve_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let state = self.state();
        let u = state
            .uploads
            .get(&input.upload_id)
            .filter(|u| u.bucket == input.bucket && u.key == input.key)
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        let max = usize::try_from(input.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let marker = input.part_number_marker.unwrap_or(0);
        let after: Vec<(&i32, &UploadedPart)> = u
            .parts
            .range((Bound::Excluded(marker), Bound::Unbounded))
            .collect();
        let truncated = after.len() > max;
        let parts: Vec<Part> = after
            .iter()
            .take(max)
            .map(|(n, p)| Part {
                part_number: Some(**n),
                size: Some(i64::try_from(p.body.len()).unwrap_or(i64::MAX)),
                e_tag: Some(ETag::Strong(hex(&p.md5))),
                last_modified: Some(Timestamp::from(p.last_modified)),
                ..Default::default()
            })
            .collect();
        let next = parts.last().and_then(|p| p.part_number);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: if truncated { next } else { None },
            parts: Some(parts),
            ..Default::default()
        }))
    }

    pub(super) async fn serve_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let wanted = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if wanted.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "You must specify at least one part"
            ));
        }
        // Check the parts and take their bodies (cheap clones), then assemble unlocked.
        let (bodies, digests) = {
            let state = self.state();
            let u = state
                .uploads
                .get(&input.upload_id)
                .filter(|u| u.bucket == input.bucket && u.key == input.key)
                .ok_or_else(|| s3_error!(NoSuchUpload))?;
            let mut bodies = Vec::with_capacity(wanted.len());
            let mut digests = Vec::with_capacity(wanted.len() * 16);
            let mut previous = 0;
            for (i, w) in wanted.iter().enumerate() {
                let n = w
                    .part_number
                    .ok_or_else(|| s3_error!(MalformedXML, "a part without a number"))?;
                if n <= previous {
                    return Err(s3_error!(
                        InvalidPartOrder,
                        "The list of parts was not in ascending order."
                    ));
                }
                previous = n;
                let invalid = || {
                    s3_error!(
                        InvalidPart,
                        "One or more of the specified parts could not be found."
                    )
                };
                let p = u.parts.get(&n).ok_or_else(invalid)?;
                if w.e_tag.as_ref().is_some_and(|e| e.value() != hex(&p.md5)) {
                    return Err(invalid());
                }
                if i + 1 < wanted.len() && p.body.len() < MIN_PART {
                    return Err(s3_error!(
                        EntityTooSmall,
                        "Your proposed upload is smaller than the minimum allowed object size."
                    ));
                }
                bodies.push(p.body.clone());
                digests.extend_from_slice(&p.md5);
            }
            (bodies, digests)
        };
        let mut body = BytesMut::with_capacity(bodies.iter().map(Bytes::len).sum());
        for b in &bodies {
            body.extend_from_slice(b);
        }
        drop(bodies);
        let etag = format!("{}-{}", hex(&md5(&digests)), wanted.len());
        let mut state = self.state();
        let upload = state
            .uploads
            .get(&input.upload_id)
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        let object = StoredObject {
            body: body.freeze(),
            metadata: upload.metadata.clone(),
            content_type: upload.content_type.clone(),
            last_modified: now(),
            etag: etag.clone(),
        };
        state.write(
            &input.bucket,
            &input.key,
            object,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
        )?;
        state.uploads.remove(&input.upload_id);
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            location: Some(format!("/{}/{}", input.bucket, url_encode(&input.key))),
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    pub(super) async fn serve_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let mut state = self.state();
        let known = state
            .uploads
            .get(&input.upload_id)
            .is_some_and(|u| u.bucket == input.bucket && u.key == input.key);
        if !known {
            return Err(s3_error!(NoSuchUpload));
        }
        state.uploads.remove(&input.upload_id);
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }
}
