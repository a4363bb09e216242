//! In-memory object storage: the test double, with the same contract as the real stores.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use dg_ports::{
    BlobRef, BucketInfo, Buckets, Error, GetResult, ListPage, ListRequest, Location, Metadata,
    ObjectInfo, ObjectStorage, PutMode, PutOptions, Result,
};

use super::listing::paginate;
use super::validate_bucket_name;

#[derive(Clone, Debug)]
struct Object {
    data: Bytes,
    metadata: Metadata,
    modified: SystemTime,
    etag: String,
}

#[derive(Debug, Default)]
struct Bucket {
    created: Option<SystemTime>,
    objects: BTreeMap<String, Object>,
}

/// Buckets of objects held in memory. Cloning shares the same contents.
#[derive(Clone, Debug, Default)]
pub struct MemoryStorage {
    buckets: Arc<RwLock<BTreeMap<String, Bucket>>>,
    etags: Arc<std::sync::atomic::AtomicU64>,
}

fn poisoned() -> Error {
    Error::Io {
        context: "memory storage lock poisoned".into(),
        source: std::io::Error::other("poisoned"),
    }
}

impl MemoryStorage {
    /// Empty storage with no buckets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a bucket at once (for tests and examples); does nothing if it exists.
    pub fn create_bucket_now(&self, name: &str) {
        if let Ok(mut b) = self.buckets.write() {
            b.entry(name.to_string()).or_insert_with(|| Bucket {
                created: Some(SystemTime::now()),
                objects: BTreeMap::new(),
            });
        }
    }

    /// Replaces the body of an existing object, keeping its metadata: for tests that simulate
    /// corruption at rest.
    pub fn tamper(&self, location: &Location, data: Vec<u8>) -> Result<()> {
        let mut buckets = self.buckets.write().map_err(|_| poisoned())?;
        let object = buckets
            .get_mut(&location.bucket)
            .and_then(|b| b.objects.get_mut(&location.key))
            .ok_or_else(|| Error::not_found(location))?;
        object.data = Bytes::from(data);
        Ok(())
    }

    fn object(&self, location: &Location) -> Result<(ObjectInfo, Bytes)> {
        let buckets = self.buckets.read().map_err(|_| poisoned())?;
        let bucket = buckets
            .get(&location.bucket)
            .ok_or_else(|| Error::not_found(format!("bucket {}", location.bucket)))?;
        let o = bucket
            .objects
            .get(&location.key)
            .ok_or_else(|| Error::not_found(location))?;
        Ok((info(location.clone(), o, true), o.data.clone()))
    }
}

fn info(location: Location, o: &Object, with_metadata: bool) -> ObjectInfo {
    ObjectInfo {
        location,
        size: o.data.len() as u64,
        last_modified: Some(o.modified),
        etag: Some(o.etag.clone()),
        metadata: if with_metadata {
            o.metadata.clone()
        } else {
            Metadata::new()
        },
    }
}

fn read_all(body: &BlobRef) -> Result<Bytes> {
    let mut v = Vec::with_capacity(usize::try_from(body.len()).unwrap_or(0));
    body.reader()?
        .read_to_end(&mut v)
        .map_err(|e| Error::io("reading an upload", e))?;
    Ok(Bytes::from(v))
}

#[async_trait]
impl ObjectStorage for MemoryStorage {
    async fn head(&self, location: &Location) -> Result<ObjectInfo> {
        self.object(location).map(|(i, _)| i)
    }

    async fn get(&self, location: &Location) -> Result<GetResult> {
        let (info, data) = self.object(location)?;
        const CHUNK: usize = 256 * 1024;
        let chunks: Vec<Result<Bytes>> = (0..data.len())
            .step_by(CHUNK)
            .map(|start| Ok(data.slice(start..(start + CHUNK).min(data.len()))))
            .collect();
        Ok(GetResult {
            info,
            body: Box::pin(futures::stream::iter(chunks)),
        })
    }

    async fn put(&self, location: &Location, body: BlobRef, options: PutOptions) -> Result<()> {
        let data = read_all(&body)?;
        let etag = format!(
            "\"{:x}\"",
            self.etags
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut buckets = self.buckets.write().map_err(|_| poisoned())?;
        let bucket = buckets
            .get_mut(&location.bucket)
            .ok_or_else(|| Error::not_found(format!("bucket {}", location.bucket)))?;
        if options.mode == PutMode::Create && bucket.objects.contains_key(&location.key) {
            return Err(Error::AlreadyExists {
                what: location.to_string(),
            });
        }
        let metadata = options
            .metadata
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        bucket.objects.insert(
            location.key.clone(),
            Object {
                data,
                metadata,
                modified: SystemTime::now(),
                etag,
            },
        );
        Ok(())
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        let buckets = self.buckets.read().map_err(|_| poisoned())?;
        let bucket = buckets
            .get(&request.bucket)
            .ok_or_else(|| Error::not_found(format!("bucket {}", request.bucket)))?;
        let start = request
            .start_after
            .clone()
            .unwrap_or_default()
            .max(request.prefix.clone());
        let objects = bucket
            .objects
            .range(start..)
            .take_while(|(k, _)| k.starts_with(&request.prefix))
            .map(|(k, o)| info(Location::new(request.bucket.clone(), k.clone()), o, false));
        Ok(paginate(objects, request))
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        let mut buckets = self.buckets.write().map_err(|_| poisoned())?;
        let bucket = buckets
            .get_mut(&location.bucket)
            .ok_or_else(|| Error::not_found(format!("bucket {}", location.bucket)))?;
        bucket.objects.remove(&location.key);
        Ok(())
    }

    async fn copy(&self, from: &Location, to: &Location) -> Result<()> {
        let (source_info, data) = self.object(from)?;
        let mut buckets = self.buckets.write().map_err(|_| poisoned())?;
        let bucket = buckets
            .get_mut(&to.bucket)
            .ok_or_else(|| Error::not_found(format!("bucket {}", to.bucket)))?;
        bucket.objects.insert(
            to.key.clone(),
            Object {
                data,
                metadata: source_info.metadata,
                modified: SystemTime::now(),
                etag: source_info.etag.unwrap_or_default(),
            },
        );
        Ok(())
    }
}

#[async_trait]
impl Buckets for MemoryStorage {
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let buckets = self.buckets.read().map_err(|_| poisoned())?;
        Ok(buckets
            .iter()
            .map(|(name, b)| BucketInfo {
                name: name.clone(),
                created: b.created,
            })
            .collect())
    }

    async fn create_bucket(&self, name: &str) -> Result<()> {
        validate_bucket_name(name)?;
        let mut buckets = self.buckets.write().map_err(|_| poisoned())?;
        if buckets.contains_key(name) {
            return Err(Error::AlreadyExists {
                what: format!("bucket {name}"),
            });
        }
        buckets.insert(
            name.to_string(),
            Bucket {
                created: Some(SystemTime::now()),
                objects: BTreeMap::new(),
            },
        );
        Ok(())
    }

    async fn delete_bucket(&self, name: &str) -> Result<()> {
        let mut buckets = self.buckets.write().map_err(|_| poisoned())?;
        match buckets.get(name) {
            None => Err(Error::not_found(format!("bucket {name}"))),
            Some(b) if !b.objects.is_empty() => Err(Error::Precondition {
                what: format!("bucket {name}"),
                reason: "it is not empty".into(),
            }),
            Some(_) => {
                buckets.remove(name);
                Ok(())
            }
        }
    }
}
