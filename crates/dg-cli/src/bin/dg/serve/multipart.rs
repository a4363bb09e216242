//! Multipart uploads: parts are staged as files in the work directory (one directory per
//! upload, named by a random id), and the whole file is stored — as a delta where that pays —
//! once the upload is completed.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use dg_ports::Metadata;
use s3s::crypto::{Checksum, Md5};
use s3s::dto::*;
use s3s::{s3_error, S3Result};
use serde::{Deserialize, Serialize};

use super::s3::{DgS3, MAX_SINGLE};
use super::wire::{hex, receive, stored_metadata, timestamp, unhex, ETAG_FIELD};

/// Smallest part but the last, as on S3.
const MIN_PART: u64 = 5 << 20;
/// Most parts of one upload, as on S3.
const MAX_PARTS: i32 = 10_000;
/// Uploads neither completed nor aborted for this long are removed at start.
pub const STALE_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// What is kept of an upload besides its parts.
#[derive(Debug, Serialize, Deserialize)]
struct UploadInfo {
    bucket: String,
    key: String,
    /// The file's S3-side metadata (user metadata and content headers), without the ETag.
    metadata: Metadata,
    initiated: SystemTime,
}

/// One part as staged.
#[derive(Clone, Debug)]
struct StagedPart {
    number: i32,
    size: u64,
    md5: [u8; 16],
    time: SystemTime,
}

/// The uploads in progress, in a directory.
#[derive(Debug)]
pub struct Uploads {
    dir: PathBuf,
}

fn io_err(what: &str, e: impl std::fmt::Display) -> s3s::S3Error {
    s3_error!(InternalError, "{what}: {e}")
}

/// Checks that an upload id is one this server makes (32 hex digits): it names a directory.
fn checked_id(id: &str) -> S3Result<&str> {
    if id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        Ok(id)
    } else {
        Err(s3_error!(NoSuchUpload))
    }
}

fn part_path(dir: &Path, n: i32) -> PathBuf {
    dir.join(format!("{n:05}.part"))
}

fn md5_path(dir: &Path, n: i32) -> PathBuf {
    dir.join(format!("{n:05}.md5"))
}

impl Uploads {
    /// The uploads kept in `dir` (created if missing); stale ones are removed.
    pub fn open(dir: PathBuf) -> std::io::Result<Uploads> {
        std::fs::create_dir_all(&dir)?;
        let uploads = Uploads { dir };
        super::remove_older(&uploads.dir, STALE_AFTER);
        Ok(uploads)
    }

    /// The directory of upload `id` of `bucket/key`, and what it holds.
    fn upload(&self, bucket: &str, key: &str, id: &str) -> S3Result<(PathBuf, UploadInfo)> {
        let dir = self.dir.join(checked_id(id)?);
        let text = std::fs::read(dir.join("upload.json")).map_err(|_| s3_error!(NoSuchUpload))?;
        let info: UploadInfo =
            serde_json::from_slice(&text).map_err(|e| io_err("reading the upload", e))?;
        if info.bucket != bucket || info.key != key {
            return Err(s3_error!(NoSuchUpload));
        }
        Ok((dir, info))
    }

    /// Fails with `NoSuchUpload` unless upload `id` of `bucket/key` is in progress.
    pub fn check(&self, bucket: &str, key: &str, id: &str) -> S3Result<()> {
        self.upload(bucket, key, id).map(drop)
    }

    fn create(&self, info: &UploadInfo) -> S3Result<String> {
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).map_err(|e| io_err("making an upload id", e))?;
        let id = hex(&raw);
        let dir = self.dir.join(&id);
        std::fs::create_dir(&dir).map_err(|e| io_err("creating the upload", e))?;
        let text = serde_json::to_vec(info).map_err(|e| io_err("saving the upload", e))?;
        std::fs::write(dir.join("upload.json"), text)
            .map_err(|e| io_err("saving the upload", e))?;
        Ok(id)
    }

    /// The parts of an upload, in order.
    fn parts(dir: &Path) -> S3Result<Vec<StagedPart>> {
        let mut parts = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| io_err("reading the upload", e))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(n) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".part"))
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(meta) = entry.metadata() else { continue };
            let Some(md5) = std::fs::read_to_string(md5_path(dir, n))
                .ok()
                .and_then(|s| unhex(s.trim()))
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
            else {
                continue;
            };
            let time = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            parts.push(StagedPart {
                number: n,
                size: meta.len(),
                md5,
                time,
            });
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    pub fn list_parts(&self, input: ListPartsInput) -> S3Result<ListPartsOutput> {
        let (dir, _) = self.upload(&input.bucket, &input.key, &input.upload_id)?;
        let max = usize::try_from(input.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let marker = input.part_number_marker.unwrap_or(0);
        let after: Vec<_> = Self::parts(&dir)?
            .into_iter()
            .filter(|p| p.number > marker)
            .collect();
        let truncated = after.len() > max;
        let parts: Vec<Part> = after
            .into_iter()
            .take(max)
            .map(|p| Part {
                part_number: Some(p.number),
                size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                e_tag: Some(ETag::Strong(hex(&p.md5))),
                last_modified: Some(timestamp(Some(p.time))),
                ..Default::default()
            })
            .collect();
        let next = parts.last().and_then(|p| p.part_number);
        Ok(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: if truncated { next } else { None },
            parts: Some(parts),
            ..Default::default()
        })
    }

    pub fn list_uploads(
        &self,
        input: ListMultipartUploadsInput,
    ) -> S3Result<ListMultipartUploadsOutput> {
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut uploads = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(|e| io_err("reading the uploads", e))?;
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Ok(text) = std::fs::read(entry.path().join("upload.json")) else {
                continue;
            };
            let Ok(info) = serde_json::from_slice::<UploadInfo>(&text) else {
                continue;
            };
            if info.bucket == input.bucket && info.key.starts_with(&prefix) {
                uploads.push((info.key, id, info.initiated));
            }
        }
        uploads.sort();
        let max = usize::try_from(input.max_uploads.unwrap_or(1000).clamp(1, 1000)).unwrap_or(1000);
        let truncated = uploads.len() > max;
        let list: Vec<MultipartUpload> = uploads
            .into_iter()
            .take(max)
            .map(|(key, id, initiated)| MultipartUpload {
                key: Some(key),
                upload_id: Some(id),
                initiated: Some(timestamp(Some(initiated))),
                ..Default::default()
            })
            .collect();
        Ok(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            max_uploads: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            uploads: Some(list),
            ..Default::default()
        })
    }

    pub fn abort(&self, bucket: &str, key: &str, id: &str) -> S3Result<()> {
        let (dir, _) = self.upload(bucket, key, id)?;
        std::fs::remove_dir_all(dir).map_err(|e| io_err("removing the upload", e))
    }
}

impl DgS3 {
    pub async fn create_upload(
        &self,
        input: CreateMultipartUploadInput,
    ) -> S3Result<CreateMultipartUploadOutput> {
        self.client
            .check_bucket(&input.bucket, "")
            .await
            .map_err(super::s3::s3_err)?;
        let content = content_headers!(input);
        let mut metadata = stored_metadata(input.metadata, &content, "")?;
        metadata.remove(ETAG_FIELD);
        let id = self.uploads.create(&UploadInfo {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            metadata,
            initiated: SystemTime::now(),
        })?;
        Ok(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            ..Default::default()
        })
    }

    pub async fn upload_part_inner(&self, input: UploadPartInput) -> S3Result<UploadPartOutput> {
        if !(1..=MAX_PARTS).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let (dir, _) = self
            .uploads
            .upload(&input.bucket, &input.key, &input.upload_id)?;
        let received = receive(
            input.body,
            &dir,
            input.content_md5.as_deref(),
            MAX_SINGLE,
            &self.metrics,
        )
        .await?;
        let n = input.part_number;
        received
            .file
            .persist(part_path(&dir, n))
            .map_err(|e| io_err("saving the part", e.error))?;
        let md5_tmp = dir.join(format!("{n:05}.md5.tmp"));
        std::fs::write(&md5_tmp, hex(&received.md5))
            .and_then(|()| std::fs::rename(&md5_tmp, md5_path(&dir, n)))
            .map_err(|e| io_err("saving the part", e))?;
        Ok(UploadPartOutput {
            e_tag: Some(ETag::Strong(hex(&received.md5))),
            ..Default::default()
        })
    }

    pub async fn complete_upload(
        &self,
        input: CompleteMultipartUploadInput,
    ) -> S3Result<CompleteMultipartUploadOutput> {
        let (dir, info) = self
            .uploads
            .upload(&input.bucket, &input.key, &input.upload_id)?;
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
        let have = Uploads::parts(&dir)?;
        let mut chosen = Vec::with_capacity(wanted.len());
        let mut previous = 0;
        for (i, w) in wanted.iter().enumerate() {
            let n = w
                .part_number
                .ok_or_else(|| s3_error!(InvalidPart, "a part without a number"))?;
            if n <= previous {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order."
                ));
            }
            previous = n;
            let part = have
                .iter()
                .find(|p| p.number == n)
                .ok_or_else(|| s3_error!(InvalidPart, "part {n} was not uploaded"))?;
            if let Some(etag) = &w.e_tag {
                if etag.value().trim_matches('"') != hex(&part.md5) {
                    return Err(s3_error!(InvalidPart, "part {n} has another ETag"));
                }
            }
            if i + 1 < wanted.len() && part.size < MIN_PART {
                return Err(s3_error!(
                    EntityTooSmall,
                    "part {n} is smaller than 5 MiB and not the last"
                ));
            }
            chosen.push(part.clone());
        }
        let mut digests = Md5::new();
        for part in &chosen {
            digests.update(&part.md5);
        }
        let etag = format!("{}-{}", hex(&digests.finalize()), chosen.len());
        let numbers: Vec<i32> = chosen.iter().map(|p| p.number).collect();
        let work = self.work.clone();
        let part_dir = dir.clone();
        let whole =
            tokio::task::spawn_blocking(move || -> std::io::Result<tempfile::NamedTempFile> {
                let mut out = tempfile::NamedTempFile::new_in(&work)?;
                for n in numbers {
                    let mut part = std::fs::File::open(part_path(&part_dir, n))?;
                    std::io::copy(&mut part, out.as_file_mut())?;
                }
                Ok(out)
            })
            .await
            .map_err(|e| io_err("joining the parts", e))?
            .map_err(|e| io_err("joining the parts", e))?;
        let mut metadata = info.metadata;
        metadata.insert(ETAG_FIELD.to_string(), etag.clone());
        let blob = dg_adapters::FileBlob::open(whole.path()).map_err(super::s3::s3_err)?;
        self.store(blob, &input.bucket, &input.key, metadata)
            .await?;
        drop(whole);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(ETag::Strong(etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            ..Default::default()
        })
    }
}
