//! A real S3 server over HTTP on 127.0.0.1 for tests, in-process: `s3s-fs` (objects in a temp
//! directory, [`S3TestServer::start`]) or [`MemoryS3`] (objects in memory, any key S3 allows
//! kept exactly, [`S3TestServer::start_in_memory`]) behind the `s3s` protocol layer, with
//! access-key authentication.
//!
//! `s3s-fs` checks `If-None-Match: *` and then writes, which two racing requests can both pass;
//! this server serialises conditional writes so that create-if-absent is atomic, as on AWS.
//! Everything else is `s3s-fs` unchanged, unless [`ServerFaults`] are set: then a seeded share
//! of requests is answered `503 SlowDown`, and a share of object bodies is cut off midway
//! (with either backend).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, S3};
use tokio::net::TcpListener;

use super::memory_s3::MemoryS3;
use crate::rng::Rng;
use crate::storage::{S3Config, S3Credentials};

/// Access key of the test server.
pub const ACCESS_KEY: &str = "dg-test-access";
/// Secret key of the test server.
pub const SECRET_KEY: &str = "dg-test-secret-key-0123456789";

/// Misbehaviour of the server, for fault tests. Which requests are hit depends only on `seed`
/// and the order in which requests arrive.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerFaults {
    /// Share of object requests (0 to 1) answered `503 SlowDown` without being served.
    pub slowdown: f64,
    /// Share of object reads (0 to 1) whose body stops halfway with the connection reset.
    pub cut_bodies: f64,
    /// Seed of the generator that picks the requests.
    pub seed: u64,
}

/// The faults in force and what they did.
#[derive(Debug, Default)]
struct Faults {
    setting: Mutex<(ServerFaults, Option<Rng>)>,
    requests: AtomicU64,
    slowed: AtomicU64,
    cut: AtomicU64,
}

impl Faults {
    /// Draws whether a request gets a fault of the share `pick` selects.
    fn draw(&self, pick: fn(&ServerFaults) -> f64) -> bool {
        let Ok(mut guard) = self.setting.lock() else {
            return false;
        };
        let (faults, rng) = &mut *guard;
        let share = pick(faults);
        if share <= 0.0 {
            return false;
        }
        let rng = rng.get_or_insert_with(|| Rng::seeded(faults.seed));
        rng.unit() < share
    }

    /// Counts a request; `SlowDown` for the unlucky ones.
    fn admit(&self) -> S3Result<()> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if self.draw(|f| f.slowdown) {
            self.slowed.fetch_add(1, Ordering::Relaxed);
            return Err(s3s::s3_error!(SlowDown, "Please reduce your request rate."));
        }
        Ok(())
    }
}

/// A body that stops with a connection reset after `left` more bytes.
struct CutBody {
    inner: StreamingBlob,
    left: u64,
    /// Whether the stream has paused once before failing, so that the server flushes what
    /// it sent so far (a body that is never `Pending` would otherwise die unsent, headers
    /// and all).
    paused: bool,
    failed: bool,
}

impl futures::Stream for CutBody {
    type Item = Result<bytes::Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        if self.left == 0 {
            if !self.paused {
                self.paused = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.failed = true;
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "body cut off (injected)",
            ))));
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let keep = (chunk.len() as u64).min(self.left) as usize;
                self.left -= keep as u64;
                Poll::Ready(Some(Ok(chunk.slice(..keep))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(std::io::Error::other(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A running test server; stops when dropped.
#[derive(Debug)]
pub struct S3TestServer {
    addr: SocketAddr,
    _dir: Option<tempfile::TempDir>,
    memory: Option<Arc<MemoryS3>>,
    task: tokio::task::JoinHandle<()>,
    faults: Arc<Faults>,
}

impl Drop for S3TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `backend` (behind the fault injector and access-key auth) on an ephemeral port.
async fn serve<B: S3>(
    backend: Arc<B>,
    faults: Arc<Faults>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let service = {
        let mut b = s3s::service::S3ServiceBuilder::new(Faulty {
            inner: backend,
            faults,
        });
        b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        b.build()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let http = ConnBuilder::new(TokioExecutor::new());
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let conn = http
                .serve_connection(TokioIo::new(socket), service.clone())
                .into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    (addr, task)
}

impl S3TestServer {
    /// Starts a server on an ephemeral port of 127.0.0.1 (call inside a tokio runtime).
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let fs = s3s_fs::FileSystem::new(dir.path()).expect("s3s-fs");
        let faults = Arc::new(Faults::default());
        let backend = Atomic {
            fs,
            root: dir.path().to_path_buf(),
            lock: tokio::sync::Mutex::new(()),
        };
        let (addr, task) = serve(Arc::new(backend), faults.clone()).await;
        S3TestServer {
            addr,
            _dir: Some(dir),
            memory: None,
            task,
            faults,
        }
    }

    /// Starts a server whose objects live in memory ([`MemoryS3`]): any key S3 allows is kept
    /// byte for byte, as on S3 (`a//b`, `..`, `/lead`, `dir/`, control characters…). Same
    /// credentials, [`config`](Self::config) and [`ServerFaults`] as [`start`](Self::start);
    /// reach the objects directly through [`memory`](Self::memory).
    pub async fn start_in_memory() -> Self {
        let memory = Arc::new(MemoryS3::new());
        let faults = Arc::new(Faults::default());
        let (addr, task) = serve(memory.clone(), faults.clone()).await;
        S3TestServer {
            addr,
            _dir: None,
            memory: Some(memory),
            task,
            faults,
        }
    }

    /// The in-memory backend, to plant or inspect objects behind the HTTP layer; `None` for a
    /// server from [`start`](Self::start).
    pub fn memory(&self) -> Option<&MemoryS3> {
        self.memory.as_deref()
    }

    /// Stores an object directly in the in-memory backend, creating the bucket if needed: any
    /// key, any metadata (see [`MemoryS3::put_raw`]). Returns its ETag (no quotes).
    ///
    /// # Panics
    /// On a server from [`start`](Self::start).
    pub fn put_raw<I, K, V>(
        &self,
        bucket: &str,
        key: &str,
        body: impl Into<bytes::Bytes>,
        metadata: I,
    ) -> String
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.memory()
            .expect("put_raw needs a server from S3TestServer::start_in_memory")
            .put_raw(bucket, key, body, metadata)
    }

    /// Starts misbehaving as `faults` say (the default: behaving again). The generator starts
    /// over from `faults.seed`.
    pub fn set_faults(&self, faults: ServerFaults) {
        if let Ok(mut s) = self.faults.setting.lock() {
            *s = (faults, None);
        }
    }

    /// Object requests received so far (bucket administration not counted).
    pub fn requests(&self) -> u64 {
        self.faults.requests.load(Ordering::Relaxed)
    }

    /// Requests answered `503 SlowDown` so far.
    pub fn slowed_down(&self) -> u64 {
        self.faults.slowed.load(Ordering::Relaxed)
    }

    /// Object bodies cut off so far.
    pub fn bodies_cut(&self) -> u64 {
        self.faults.cut.load(Ordering::Relaxed)
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client configuration for this server.
    pub fn config(&self) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint()),
            region: "us-east-1".into(),
            credentials: Some(S3Credentials {
                access_key_id: ACCESS_KEY.into(),
                secret_access_key: SECRET_KEY.into(),
                session_token: None,
            }),
            path_style: true,
            ..S3Config::default()
        }
    }
}

/// s3s-fs with atomic conditional writes, and writes into missing buckets refused as on S3
/// (s3s-fs would create the bucket's directory).
struct Atomic {
    fs: s3s_fs::FileSystem,
    root: std::path::PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl Atomic {
    fn bucket_exists(&self, bucket: &str) -> S3Result<()> {
        if self.root.join(bucket).is_dir() {
            Ok(())
        } else {
            Err(s3s::s3_error!(NoSuchBucket))
        }
    }
}

#[async_trait::async_trait]
impl S3 for Atomic {
    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.fs.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.fs.head_object(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.fs.delete_objects(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.fs.copy_object(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.fs.delete_bucket(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.bucket_exists(&req.input.bucket)?;
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.fs.upload_part(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.fs.abort_multipart_upload(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.fs.complete_multipart_upload(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.bucket_exists(&req.input.bucket)?;
        if req.input.if_none_match.is_some() || req.input.if_match.is_some() {
            let _held = self.lock.lock().await;
            return self.fs.put_object(req).await;
        }
        self.fs.put_object(req).await
    }
}

/// Any backend behind the [`ServerFaults`] in force: object requests (not bucket
/// administration) counted, some answered `SlowDown`, some bodies cut off.
struct Faulty<B> {
    inner: Arc<B>,
    faults: Arc<Faults>,
}

#[async_trait::async_trait]
impl<B: S3> S3 for Faulty<B> {
    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.faults.admit()?;
        let mut response = self.inner.get_object(req).await?;
        let length = response.output.content_length.unwrap_or(0).max(0) as u64;
        if length > 1 && self.faults.draw(|f| f.cut_bodies) {
            if let Some(body) = response.output.body.take() {
                self.faults.cut.fetch_add(1, Ordering::Relaxed);
                response.output.body = Some(StreamingBlob::wrap(CutBody {
                    inner: body,
                    left: length / 2,
                    paused: false,
                    failed: false,
                }));
            }
        }
        Ok(response)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.faults.admit()?;
        self.inner.head_object(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.faults.admit()?;
        self.inner.list_objects_v2(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.faults.admit()?;
        self.inner.list_objects(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.faults.admit()?;
        self.inner.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.faults.admit()?;
        self.inner.delete_objects(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.faults.admit()?;
        self.inner.copy_object(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.inner.delete_bucket(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.inner.list_buckets(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.inner.get_bucket_location(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.faults.admit()?;
        self.inner.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.faults.admit()?;
        self.inner.upload_part(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.faults.admit()?;
        self.inner.list_parts(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.faults.admit()?;
        self.inner.abort_multipart_upload(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.faults.admit()?;
        self.inner.complete_multipart_upload(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.faults.admit()?;
        self.inner.put_object(req).await
    }
}

/// A shared handle for tests that need the server across tasks.
pub type SharedServer = Arc<S3TestServer>;
