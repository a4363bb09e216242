//! A storage decorator that repeats calls failing with transient errors (jittered exponential
//! backoff, bounded by attempts and time) and counts every retry.
//!
//! What is repeated, and why it is safe:
//! - `head`, `list`, `delete`, `copy`: repeating them has the same effect as doing them once.
//! - `put` in overwrite mode: the whole body is sent again; a put is atomic, so readers see the
//!   old object or the new one. In create mode (`If-None-Match: *`) an attempt that failed
//!   without an answer may still have written the object, so `AlreadyExists` after such a
//!   failure is checked with a `head`: the same size and metadata (which carry the file's
//!   SHA-256 and creation time) mean it is this put's object, and the put succeeded.
//! - `get`: the request is repeated until a body starts. A body cut off midway (an error, or an
//!   end before `size` bytes) is resumed with [`ObjectStorage::get_from`] at the offset reached,
//!   only when the object's etag (else size and modification time) is unchanged, so the parts
//!   come from one object; otherwise the read fails. Callers check SHA-256 on top of that.
//!
//! Only errors whose [`Error::is_retryable`] says so are repeated.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use dg_ports::{
    BlobRef, ByteStream, Error, GetResult, ListPage, ListRequest, Location, ObjectInfo,
    ObjectStorage, PutMode, PutOptions, Result,
};
use futures::StreamExt;
use tracing::debug;

pub use dg_retry::RetryPolicy;

use super::backoff::{gave_up, Attempts, Backoff, RetryCounter};

/// Wraps a storage and repeats its calls that fail with transient errors.
#[derive(Clone, Debug)]
pub struct RetryingStorage {
    inner: Arc<dyn ObjectStorage>,
    backoff: Backoff,
}

impl RetryingStorage {
    /// Repeats calls to `inner` under `policy`, counting into a new counter.
    pub fn new(inner: Arc<dyn ObjectStorage>, policy: RetryPolicy) -> Self {
        Self::with_backoff(inner, Backoff::new(policy, RetryCounter::new()))
    }

    /// Repeats calls to `inner` on the schedule of `backoff`, counting into its counter (share
    /// one with the adapter's own part retries so that every retry is counted once).
    pub fn with_backoff(inner: Arc<dyn ObjectStorage>, backoff: Backoff) -> Self {
        RetryingStorage { inner, backoff }
    }

    /// Retries made so far, shared with every clone.
    pub fn counter(&self) -> RetryCounter {
        self.backoff.counter().clone()
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        self.backoff.policy()
    }

    /// Runs `call` until it succeeds, fails for good, or the policy says stop.
    async fn repeat<T, F, Fut>(
        &self,
        op: &'static str,
        what: &(dyn Display + Sync),
        call: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.backoff.repeat(op, what, call).await
    }

    /// A create that found the object after an earlier attempt failed without an answer: it
    /// succeeded when the object there is the one this put wrote (same metadata, which for dg
    /// holds the file's SHA-256 and creation time, and the same bytes).
    async fn created_earlier(
        &self,
        location: &Location,
        body: &BlobRef,
        options: &PutOptions,
    ) -> bool {
        let Ok(got) = self.get(location).await else {
            return false;
        };
        let wanted: dg_ports::Metadata = options
            .metadata
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        if got.info.size != body.len() || got.info.metadata != wanted {
            return false;
        }
        let Ok(ours) = body.map() else {
            return false;
        };
        let mut offset = 0usize;
        let mut stored = got.body;
        while let Some(chunk) = stored.next().await {
            let Ok(chunk) = chunk else {
                return false;
            };
            let end = offset + chunk.len();
            if ours.get(offset..end) != Some(&chunk[..]) {
                return false;
            }
            offset = end;
        }
        offset == ours.len()
    }

    /// A body that resumes where it was cut off.
    fn resuming(&self, location: &Location, got: GetResult, offset: u64) -> GetResult {
        let state = Resume {
            inner: self.inner.clone(),
            backoff: self.backoff.clone(),
            location: location.clone(),
            first: got.info.clone(),
            offset,
            body: got.body,
            stall: None,
            done: false,
        };
        GetResult {
            info: got.info,
            body: futures::stream::unfold(state, Resume::step).boxed(),
        }
    }
}

/// The state of a body being read, resumed after transient failures.
struct Resume {
    inner: Arc<dyn ObjectStorage>,
    backoff: Backoff,
    location: Location,
    /// What the first response said the object is.
    first: ObjectInfo,
    /// Bytes of the object delivered so far (or skipped by the caller's `get_from`).
    offset: u64,
    body: ByteStream,
    /// Retry state since the body last made progress.
    stall: Option<Attempts>,
    done: bool,
}

impl Resume {
    async fn step(mut self) -> Option<(Result<bytes::Bytes>, Self)> {
        loop {
            if self.done {
                return None;
            }
            let size = self.first.size;
            let failure = match self.body.next().await {
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    self.offset += chunk.len() as u64;
                    if self.offset > size {
                        self.done = true;
                        let error = Error::Corrupt {
                            what: self.location.to_string(),
                            check: "size",
                            expected: size.to_string(),
                            actual: format!("at least {}", self.offset),
                        };
                        return Some((Err(error), self));
                    }
                    self.stall = None;
                    return Some((Ok(chunk), self));
                }
                None if self.offset == size => return None,
                None => Error::io(
                    format!(
                        "reading {}: the body ended after {} of {size} bytes",
                        self.location, self.offset
                    ),
                    std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                ),
                Some(Err(e)) => e,
            };
            if let Err(e) = self.resume(failure).await {
                self.done = true;
                return Some((Err(e), self));
            }
        }
    }

    /// Waits and asks for the rest of the body after `failure`; an error when the policy says
    /// stop or the object changed meanwhile.
    async fn resume(&mut self, mut failure: Error) -> Result<()> {
        // Attempts and time count from the last progress: a long download may be cut off
        // several times, each time after progress, and still finish.
        let mut state = self.stall.take().unwrap_or_else(Attempts::start);
        loop {
            if !self
                .backoff
                .pause(&mut state, &failure, "get (resume)", &self.location)
                .await
            {
                return Err(gave_up(failure, state.made()));
            }
            match self.inner.get_from(&self.location, self.offset).await {
                Ok(got) if same_object(&self.first, &got.info) => {
                    debug!(object = %self.location, offset = self.offset, "resumed the body");
                    self.body = got.body;
                    self.stall = Some(state);
                    return Ok(());
                }
                Ok(got) => {
                    return Err(Error::Precondition {
                        what: self.location.to_string(),
                        reason: format!(
                            "it changed while it was being read (etag {}, now {}); read it again",
                            self.first.etag.as_deref().unwrap_or("none"),
                            got.info.etag.as_deref().unwrap_or("none")
                        ),
                    })
                }
                Err(e) => failure = e,
            }
        }
    }
}

/// True when two responses describe the same version of an object.
fn same_object(a: &ObjectInfo, b: &ObjectInfo) -> bool {
    if a.size != b.size {
        return false;
    }
    match (&a.etag, &b.etag) {
        (Some(x), Some(y)) => x == y,
        _ => a.last_modified == b.last_modified,
    }
}

#[async_trait]
impl ObjectStorage for RetryingStorage {
    async fn head(&self, location: &Location) -> Result<ObjectInfo> {
        self.repeat("head", location, || self.inner.head(location))
            .await
    }

    async fn get(&self, location: &Location) -> Result<GetResult> {
        let got = self
            .repeat("get", location, || self.inner.get(location))
            .await?;
        Ok(self.resuming(location, got, 0))
    }

    async fn get_from(&self, location: &Location, offset: u64) -> Result<GetResult> {
        let got = self
            .repeat("get", location, || self.inner.get_from(location, offset))
            .await?;
        Ok(self.resuming(location, got, offset))
    }

    async fn put(&self, location: &Location, body: BlobRef, options: PutOptions) -> Result<()> {
        let mut state = Attempts::start();
        let mut unanswered = false;
        loop {
            let error = match self
                .inner
                .put(location, body.clone(), options.clone())
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if error.is_already_exists() && options.mode == PutMode::Create && unanswered {
                if self.created_earlier(location, &body, &options).await {
                    debug!(object = %location, "an earlier attempt created the object");
                    return Ok(());
                }
                return Err(error);
            }
            if !self
                .backoff
                .pause(&mut state, &error, "put", location)
                .await
            {
                return Err(gave_up(error, state.made()));
            }
            unanswered = true;
        }
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        let what = format!("s3://{}/{}", request.bucket, request.prefix);
        self.repeat("list", &what, || self.inner.list(request))
            .await
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        self.repeat("delete", location, || self.inner.delete(location))
            .await
    }

    async fn copy(&self, from: &Location, to: &Location) -> Result<()> {
        self.repeat("copy", from, || self.inner.copy(from, to))
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::storage::RetryingBuckets;
    use crate::testing::{Fault, FaultyStorage, Op, When};
    use crate::MemoryStorage;
    use bytes::Bytes;
    use dg_ports::{BucketInfo, Buckets};
    use dg_ports::{BytesBlob, Metadata, ObjectStorageExt};
    use futures::TryStreamExt;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    fn quick(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            ..RetryPolicy::attempts(attempts)
        }
    }

    fn data() -> Vec<u8> {
        (0..100_000u32).map(|i| (i % 251) as u8).collect()
    }

    /// A memory store holding `data()` at `b/k`.
    async fn stored() -> (MemoryStorage, Location) {
        let memory = MemoryStorage::new();
        memory.create_bucket_now("b");
        let at = Location::new("b", "k");
        memory
            .put(&at, BytesBlob::shared(data()), PutOptions::default())
            .await
            .unwrap();
        (memory, at)
    }

    async fn setup(attempts: u32) -> (RetryingStorage, FaultyStorage, Location) {
        let (memory, at) = stored().await;
        let faulty = FaultyStorage::new(Arc::new(memory));
        let retrying = RetryingStorage::new(Arc::new(faulty.clone()), quick(attempts));
        (retrying, faulty, at)
    }

    async fn read(store: &dyn ObjectStorage, at: &Location) -> Result<Vec<u8>> {
        let got = store.get(at).await?;
        let chunks: Vec<Bytes> = got.body.try_collect().await?;
        Ok(chunks.concat())
    }

    #[test]
    fn delays_grow_with_jitter_up_to_the_cap() {
        let p = RetryPolicy::attempts(5);
        assert_eq!(p.delay(1, 0.0), Duration::ZERO);
        assert!(p.delay(1, 0.999) < Duration::from_millis(100));
        assert!(p.delay(3, 0.999) > Duration::from_millis(390));
        assert!(p.delay(3, 0.999) < Duration::from_millis(400));
        assert!(p.delay(40, 0.999) <= p.max_delay);
        let b = Backoff::new(p.clone(), RetryCounter::new());
        assert!(b.next_delay(4, Duration::ZERO).is_some());
        assert!(
            b.next_delay(5, Duration::ZERO).is_none(),
            "attempts used up"
        );
        assert!(
            b.next_delay(1, p.max_elapsed).is_none() || p.delay(1, 0.0) == Duration::ZERO,
            "time used up"
        );
        assert!(b
            .next_delay(1, p.max_elapsed + Duration::from_secs(1))
            .is_none());
        assert_eq!(RetryPolicy::attempts(0).max_attempts, 1);
    }

    #[tokio::test]
    async fn each_kind_of_call_is_repeated_after_a_transient_failure() {
        let (store, faulty, at) = setup(3).await;
        for op in Op::ALL {
            faulty.fail_nth(op, faulty.calls(op) + 1, Fault::Transient);
        }
        store.head(&at).await.unwrap();
        assert_eq!(read(&store, &at).await.unwrap(), data());
        store
            .put(
                &at.with_key("k2"),
                BytesBlob::shared(&b"x"[..]),
                PutOptions::default(),
            )
            .await
            .unwrap();
        store.list_all("b", "").await.unwrap();
        store.copy(&at, &at.with_key("k3")).await.unwrap();
        store.delete(&at.with_key("k3")).await.unwrap();
        assert_eq!(store.counter().get(), 6);
        assert_eq!(faulty.injected().len(), 6);
    }

    #[tokio::test]
    async fn permanent_failures_and_missing_objects_are_not_repeated() {
        let (store, faulty, at) = setup(5).await;
        faulty.fail_nth(Op::Head, 1, Fault::Permanent);
        let e = store.head(&at).await.unwrap_err();
        assert!(e.to_string().contains("permanent failure"), "{e}");
        assert!(store
            .head(&at.with_key("none"))
            .await
            .unwrap_err()
            .is_not_found());
        assert_eq!(store.counter().get(), 0);
        assert_eq!(faulty.calls(Op::Head), 2);
    }

    #[tokio::test]
    async fn attempts_are_bounded_and_the_error_says_how_many() {
        let (store, faulty, at) = setup(4).await;
        faulty.inject(Op::List, When::Always, Fault::Transient);
        let e = store.list_all("b", "").await.unwrap_err();
        assert!(e.is_retryable());
        assert!(e.to_string().contains("(after 4 attempts)"), "{e}");
        assert_eq!(faulty.calls(Op::List), 4);
        assert_eq!(store.counter().get(), 3);
        // "for a while": the next 3 calls fail, the 4th attempt succeeds
        faulty.clear();
        faulty.inject(Op::Head, When::Next(3), Fault::Transient);
        store.head(&at).await.unwrap();
        assert_eq!(store.counter().get(), 6);
    }

    #[tokio::test]
    async fn a_create_whose_answer_was_lost_is_recognised() {
        let (store, faulty, at) = setup(3).await;
        let mut metadata = Metadata::new();
        metadata.insert("dg-file-sha256".into(), "abc".into());
        let create = PutOptions {
            metadata: metadata.clone(),
            mode: PutMode::Create,
        };
        let fresh = at.with_key("r/reference.bin");
        faulty.fail_nth(Op::Put, 1, Fault::LostAnswer);
        store
            .put(&fresh, BytesBlob::shared(&b"ref"[..]), create.clone())
            .await
            .unwrap();
        assert_eq!(read(&store, &fresh).await.unwrap(), b"ref");
        // a create that meets an object it did not write still fails
        let e = store
            .put(&fresh, BytesBlob::shared(&b"ref"[..]), create.clone())
            .await
            .unwrap_err();
        assert!(e.is_already_exists(), "{e}");
        // ... also after an unanswered attempt, when the object there is another writer's
        let other = at.with_key("s/reference.bin");
        store
            .put(
                &other,
                BytesBlob::shared(&b"theirs"[..]),
                PutOptions::default(),
            )
            .await
            .unwrap();
        faulty.fail_nth(Op::Put, faulty.calls(Op::Put) + 1, Fault::Transient);
        let e = store
            .put(&other, BytesBlob::shared(&b"ref"[..]), create)
            .await
            .unwrap_err();
        assert!(e.is_already_exists(), "{e}");
    }

    #[tokio::test]
    async fn a_cut_or_short_body_is_resumed_from_where_it_stopped() {
        let (store, faulty, at) = setup(3).await;
        faulty.fail_nth(Op::Get, 1, Fault::CutBody { after: 30_000 });
        assert_eq!(read(&store, &at).await.unwrap(), data());
        faulty.fail_nth(Op::Get, 3, Fault::ShortBody { after: 1 });
        assert_eq!(read(&store, &at).await.unwrap(), data());
        assert_eq!(store.counter().get(), 2);
        // a body that keeps breaking, each time after progress, still arrives
        faulty.clear();
        faulty.inject(Op::Get, When::Always, Fault::CutBody { after: 20_000 });
        assert_eq!(read(&store, &at).await.unwrap(), data());
        assert_eq!(store.counter().get(), 2 + 5);
    }

    #[tokio::test]
    async fn a_body_that_never_comes_fails_after_the_attempts() {
        let (store, faulty, at) = setup(3).await;
        faulty.inject(Op::Get, When::Always, Fault::CutBody { after: 0 });
        let e = read(&store, &at).await.map(|v| v.len()).unwrap_err();
        assert!(e.to_string().contains("after 3 attempts"), "{e}");
        faulty.clear();
        faulty.inject(Op::Get, When::Always, Fault::ShortBody { after: 0 });
        let e = read(&store, &at).await.map(|v| v.len()).unwrap_err();
        assert!(e.to_string().contains("ended after"), "{e}");
    }

    #[tokio::test]
    async fn a_body_is_never_spliced_from_two_versions() {
        let (memory, at) = stored().await;
        let faulty = FaultyStorage::new(Arc::new(memory.clone()));
        let store = RetryingStorage::new(Arc::new(faulty.clone()), quick(3));
        faulty.fail_nth(Op::Get, 1, Fault::CutBody { after: 50_000 });
        let got = store.get(&at).await.unwrap();
        let mut body = got.body;
        let mut seen = 0;
        while seen < 50_000 {
            seen += body.try_next().await.unwrap().unwrap().len();
        }
        // the object is replaced (same size, other bytes) while the body is being read
        let mut other = data();
        other[0] ^= 1;
        memory
            .put(&at, BytesBlob::shared(other), PutOptions::default())
            .await
            .unwrap();
        let e = body
            .try_collect::<Vec<_>>()
            .await
            .map(|v| v.len())
            .unwrap_err();
        assert!(matches!(e, Error::Precondition { .. }), "{e}");
        assert!(
            e.to_string().contains("changed while it was being read"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn get_from_resumes_at_its_own_offset() {
        let (store, faulty, at) = setup(3).await;
        faulty.fail_nth(Op::Get, 1, Fault::CutBody { after: 10 });
        let got = store.get_from(&at, 99_000).await.unwrap();
        let chunks: Vec<Bytes> = got.body.try_collect().await.unwrap();
        assert_eq!(chunks.concat(), data()[99_000..]);
    }

    /// Bucket administration that fails `failures` times, with `error`, before it works.
    #[derive(Debug)]
    struct FlakyBuckets {
        failures: std::sync::atomic::AtomicU32,
        retryable: bool,
        calls: std::sync::atomic::AtomicU32,
    }

    impl FlakyBuckets {
        fn new(failures: u32, retryable: bool) -> Arc<Self> {
            Arc::new(FlakyBuckets {
                failures: failures.into(),
                retryable,
                calls: 0.into(),
            })
        }

        fn call(&self) -> Result<()> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let left = self.failures.load(Ordering::Relaxed);
            if left == 0 {
                return Ok(());
            }
            self.failures.store(left - 1, Ordering::Relaxed);
            Err(Error::Backend {
                backend: "s3",
                context: "503 SlowDown".into(),
                retryable: self.retryable,
                source: None,
            })
        }
    }

    #[async_trait]
    impl Buckets for FlakyBuckets {
        async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
            self.call().map(|()| Vec::new())
        }
        async fn create_bucket(&self, _: &str) -> Result<()> {
            self.call()
        }
        async fn delete_bucket(&self, _: &str) -> Result<()> {
            self.call()
        }
    }

    #[tokio::test]
    async fn bucket_administration_is_repeated_after_transient_failures_only() {
        let counter = RetryCounter::new();
        let flaky = FlakyBuckets::new(2, true);
        let buckets = RetryingBuckets::new(flaky.clone(), Backoff::new(quick(3), counter.clone()));
        buckets.create_bucket("b").await.unwrap();
        buckets.list_buckets().await.unwrap();
        buckets.delete_bucket("b").await.unwrap();
        assert_eq!(flaky.calls.load(Ordering::Relaxed), 5);
        assert_eq!(counter.get(), 2);

        let denied = FlakyBuckets::new(1, false);
        let buckets = RetryingBuckets::new(denied.clone(), Backoff::new(quick(3), counter.clone()));
        assert!(buckets.create_bucket("b").await.is_err());
        assert_eq!(denied.calls.load(Ordering::Relaxed), 1);

        let down = FlakyBuckets::new(10, true);
        let buckets = RetryingBuckets::new(down.clone(), Backoff::new(quick(3), counter));
        let e = buckets.list_buckets().await.unwrap_err();
        assert!(e.to_string().contains("after 3 attempts"), "{e}");
        assert_eq!(down.calls.load(Ordering::Relaxed), 3);
    }
}
