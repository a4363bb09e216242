//! A storage decorator that injects faults on cue: the n-th call of a kind failing once or for
//! good, 503-like errors at random or for a while, bodies cut short or corrupted, latency.

use std::fmt::{self, Display};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use dg_ports::{
    BlobRef, ByteStream, Error, GetResult, ListPage, ListRequest, Location, ObjectInfo,
    ObjectStorage, PutOptions, Result,
};
use futures::StreamExt;

use crate::rng::Rng;

/// A kind of storage call. `get_from` counts as a [`Op::Get`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `head`
    Head,
    /// `get` and `get_from`
    Get,
    /// `put`
    Put,
    /// `list`
    List,
    /// `delete`
    Delete,
    /// `copy`
    Copy,
}

impl Op {
    /// Every kind, in declaration order.
    pub const ALL: [Op; 6] = [Op::Head, Op::Get, Op::Put, Op::List, Op::Delete, Op::Copy];

    /// `head`, `get`, … (the names [`crate::storage::CountingStorage`] uses).
    pub fn name(self) -> &'static str {
        match self {
            Op::Head => "head",
            Op::Get => "get",
            Op::Put => "put",
            Op::List => "list",
            Op::Delete => "delete",
            Op::Copy => "copy",
        }
    }
}

impl Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What goes wrong with a call.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// A transient error (like a 503 SlowDown) before the call reaches the storage.
    Transient,
    /// A non-retryable error before the call reaches the storage.
    Permanent,
    /// The call reaches the storage and takes effect, then a transient error is returned, as
    /// when a connection drops before the answer arrives.
    LostAnswer,
    /// `get`: the body fails with a transient error (a connection reset) after `after` bytes.
    CutBody {
        /// Bytes delivered before the failure.
        after: u64,
    },
    /// `get`: the body ends without an error after `after` bytes (a storage breaking its
    /// contract, or a proxy truncating).
    ShortBody {
        /// Bytes delivered before the end.
        after: u64,
    },
    /// `get`: the byte at `at` is flipped (the storage returns wrong content).
    CorruptBody {
        /// Offset of the flipped byte.
        at: u64,
    },
    /// The call waits this long, then proceeds normally.
    Latency(Duration),
}

impl Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Transient => f.write_str("transient"),
            Fault::Permanent => f.write_str("permanent"),
            Fault::LostAnswer => f.write_str("lost answer"),
            Fault::CutBody { after } => write!(f, "body cut after {after} B"),
            Fault::ShortBody { after } => write!(f, "body short after {after} B"),
            Fault::CorruptBody { at } => write!(f, "byte {at} flipped"),
            Fault::Latency(d) => write!(f, "{} ms latency", d.as_millis()),
        }
    }
}

/// Which calls a rule hits. Call numbers start at 1 and count the calls of the rule's kind
/// (of every kind for a rule without one) since the storage was made.
#[derive(Clone, Debug, PartialEq)]
pub enum When {
    /// Only call number `n`.
    Nth(u64),
    /// Call number `n` and every later one (an outage that does not end).
    From(u64),
    /// The next `n` calls after the rule is added ("for a while").
    Next(u64),
    /// Each call with this probability, drawn from the storage's seeded generator.
    Probability(f64),
    /// Every call.
    Always,
}

#[derive(Debug)]
struct Rule {
    op: Option<Op>,
    when: When,
    fault: Fault,
    /// For [`When::Next`]: calls it still hits.
    left: u64,
}

#[derive(Debug)]
struct State {
    rules: Vec<Rule>,
    calls: [u64; 6],
    total: u64,
    injected: Vec<String>,
    trace: Vec<(Op, u64, String)>,
    rng: Rng,
}

/// Wraps a storage and makes chosen calls fail, stall or return bad bodies. Clones share the
/// rules and the counts.
#[derive(Clone, Debug)]
pub struct FaultyStorage {
    inner: Arc<dyn ObjectStorage>,
    state: Arc<Mutex<State>>,
}

impl FaultyStorage {
    /// `inner` with no faults yet; random rules draw from a generator seeded with 0.
    pub fn new(inner: Arc<dyn ObjectStorage>) -> Self {
        Self::seeded(inner, 0)
    }

    /// `inner` with no faults yet; random rules draw from a generator seeded with `seed`.
    pub fn seeded(inner: Arc<dyn ObjectStorage>, seed: u64) -> Self {
        FaultyStorage {
            inner,
            state: Arc::new(Mutex::new(State {
                rules: Vec::new(),
                calls: [0; 6],
                total: 0,
                injected: Vec::new(),
                trace: Vec::new(),
                rng: Rng::seeded(seed),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Adds a rule: calls of `op` (of every kind for `None`) picked by `when` get `fault`. The
    /// first matching rule decides; latency rules add up and do not stop the search.
    pub fn inject(&self, op: impl Into<Option<Op>>, when: When, fault: Fault) -> &Self {
        let left = match when {
            When::Next(n) => n,
            _ => 0,
        };
        self.lock().rules.push(Rule {
            op: op.into(),
            when,
            fault,
            left,
        });
        self
    }

    /// Call number `n` of `op` gets `fault`.
    pub fn fail_nth(&self, op: Op, n: u64, fault: Fault) -> &Self {
        self.inject(op, When::Nth(n), fault)
    }

    /// Every call fails with a transient error with probability `p`, like a throttling store.
    pub fn throttle(&self, p: f64) -> &Self {
        self.inject(None, When::Probability(p), Fault::Transient)
    }

    /// Removes every rule (counts stay).
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Calls of `op` so far.
    pub fn calls(&self, op: Op) -> u64 {
        self.lock().calls[op as usize]
    }

    /// Every call so far, in order: its kind, its number among calls of that kind, and what
    /// it was about (`s3://bucket/key`, or the prefix for a list).
    pub fn trace(&self) -> Vec<(Op, u64, String)> {
        self.lock().trace.clone()
    }

    /// Faults injected so far, each as `op #n key: fault` (a body fault counts only when the
    /// call had a body to damage).
    pub fn injected(&self) -> Vec<String> {
        self.lock().injected.clone()
    }

    /// Counts a call, waits out any latency, and picks what happens to it.
    async fn arrive(&self, op: Op, what: &(dyn Display + Sync)) -> Option<Fault> {
        let (latency, fault) = self.pick(op, what);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        fault
    }

    fn pick(&self, op: Op, what: &(dyn Display + Sync)) -> (Duration, Option<Fault>) {
        let mut s = self.lock();
        s.calls[op as usize] += 1;
        s.total += 1;
        let (own, total) = (s.calls[op as usize], s.total);
        s.trace.push((op, own, what.to_string()));
        let mut latency = Duration::ZERO;
        let mut chosen = None;
        let State { rules, rng, .. } = &mut *s;
        for rule in rules.iter_mut() {
            if rule.op.is_some_and(|o| o != op) {
                continue;
            }
            let n = if rule.op.is_some() { own } else { total };
            let hit = match rule.when {
                When::Nth(k) => n == k,
                When::From(k) => n >= k,
                When::Next(_) => {
                    let hit = rule.left > 0;
                    rule.left = rule.left.saturating_sub(1);
                    hit
                }
                When::Probability(p) => rng.unit() < p,
                When::Always => true,
            };
            if !hit {
                continue;
            }
            match &rule.fault {
                Fault::Latency(d) => latency += *d,
                // body faults only apply to reads
                Fault::CutBody { .. } | Fault::ShortBody { .. } | Fault::CorruptBody { .. }
                    if op != Op::Get => {}
                fault => {
                    chosen = Some(fault.clone());
                    break;
                }
            }
        }
        if let Some(fault) = &chosen {
            s.injected.push(format!("{op} #{own} {what}: {fault}"));
        }
        (latency, chosen)
    }

    /// Takes back the record of the last fault: it had nothing to act on.
    fn unrecord(&self) {
        self.lock().injected.pop();
    }

    /// Runs `call` under whatever fault the call drew.
    async fn run<T, F>(&self, op: Op, what: &(dyn Display + Sync), call: F) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>>,
    {
        let fault = self.arrive(op, what).await;
        settle(op, what, fault, call).await
    }

    async fn read(&self, location: &Location, offset: Option<u64>) -> Result<GetResult> {
        let fault = self.arrive(Op::Get, location).await;
        let call = async {
            match offset {
                None => self.inner.get(location).await,
                Some(o) => self.inner.get_from(location, o).await,
            }
        };
        match fault {
            Some(
                f @ (Fault::CutBody { .. } | Fault::ShortBody { .. } | Fault::CorruptBody { .. }),
            ) => {
                let got = match call.await {
                    Ok(got) => got,
                    Err(e) => {
                        self.unrecord(); // no body to damage
                        return Err(e);
                    }
                };
                Ok(GetResult {
                    body: damaged(got.body, f, location.clone()),
                    info: got.info,
                })
            }
            other => settle(Op::Get, location, other, call).await,
        }
    }
}

/// The outcome of a call under `fault` (body faults are applied by the caller).
async fn settle<T, F>(
    op: Op,
    what: &(dyn Display + Sync),
    fault: Option<Fault>,
    call: F,
) -> Result<T>
where
    F: std::future::Future<Output = Result<T>>,
{
    match fault {
        Some(Fault::Transient) => Err(transient(op, what, "503 SlowDown (injected)")),
        Some(Fault::Permanent) => Err(Error::Backend {
            backend: "faulty",
            context: format!("{op} {what}: permanent failure (injected)"),
            retryable: false,
            source: None,
        }),
        Some(Fault::LostAnswer) => {
            let _ = call.await;
            Err(transient(
                op,
                what,
                "connection reset before the answer (injected)",
            ))
        }
        _ => call.await,
    }
}

fn transient(op: Op, what: &(dyn Display + Sync), why: &str) -> Error {
    Error::Backend {
        backend: "faulty",
        context: format!("{op} {what}: {why}"),
        retryable: true,
        source: None,
    }
}

/// `body` with `fault` applied.
fn damaged(body: ByteStream, fault: Fault, location: Location) -> ByteStream {
    let stop = match fault {
        Fault::CutBody { after } | Fault::ShortBody { after } => after,
        _ => u64::MAX,
    };
    let flip = match fault {
        Fault::CorruptBody { at } => Some(at),
        _ => None,
    };
    let cut_with_error = matches!(fault, Fault::CutBody { .. });
    futures::stream::unfold((body, 0u64, false), move |(mut body, seen, ended)| {
        let location = location.clone();
        async move {
            if ended {
                return None;
            }
            if seen >= stop {
                if cut_with_error {
                    let error = Error::io(
                        format!("reading {location}: connection reset (injected)"),
                        std::io::Error::from(std::io::ErrorKind::ConnectionReset),
                    );
                    return Some((Err(error), (body, seen, true)));
                }
                return None;
            }
            match body.next().await {
                Some(Ok(chunk)) => {
                    let room = (stop - seen).min(chunk.len() as u64) as usize;
                    let mut chunk = chunk.slice(..room);
                    if let Some(at) = flip.filter(|a| (seen..seen + room as u64).contains(a)) {
                        let mut bytes = chunk.to_vec();
                        let i = (at - seen) as usize;
                        bytes[i] ^= 0xff;
                        chunk = Bytes::from(bytes);
                    }
                    Some((Ok(chunk), (body, seen + room as u64, false)))
                }
                Some(Err(e)) => Some((Err(e), (body, seen, true))),
                None => None,
            }
        }
    })
    .boxed()
}

#[async_trait]
impl ObjectStorage for FaultyStorage {
    async fn head(&self, location: &Location) -> Result<ObjectInfo> {
        self.run(Op::Head, location, self.inner.head(location))
            .await
    }

    async fn get(&self, location: &Location) -> Result<GetResult> {
        self.read(location, None).await
    }

    async fn get_from(&self, location: &Location, offset: u64) -> Result<GetResult> {
        self.read(location, Some(offset)).await
    }

    async fn put(&self, location: &Location, body: BlobRef, options: PutOptions) -> Result<()> {
        self.run(Op::Put, location, self.inner.put(location, body, options))
            .await
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        let what = format!("s3://{}/{}", request.bucket, request.prefix);
        self.run(Op::List, &what, self.inner.list(request)).await
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        self.run(Op::Delete, location, self.inner.delete(location))
            .await
    }

    async fn copy(&self, from: &Location, to: &Location) -> Result<()> {
        self.run(Op::Copy, from, self.inner.copy(from, to)).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::MemoryStorage;
    use dg_ports::BytesBlob;
    use futures::TryStreamExt;

    async fn store() -> (FaultyStorage, Location) {
        let memory = MemoryStorage::new();
        memory.create_bucket_now("b");
        let at = Location::new("b", "k");
        memory
            .put(
                &at,
                BytesBlob::shared(vec![7u8; 1000]),
                PutOptions::default(),
            )
            .await
            .unwrap();
        (FaultyStorage::new(Arc::new(memory)), at)
    }

    async fn read(s: &FaultyStorage, at: &Location) -> Result<Vec<u8>> {
        let chunks: Vec<Bytes> = s.get(at).await?.body.try_collect().await?;
        Ok(chunks.concat())
    }

    #[tokio::test]
    async fn rules_pick_the_calls_they_name() {
        let (s, at) = store().await;
        s.fail_nth(Op::Head, 2, Fault::Transient);
        s.inject(Op::List, When::From(2), Fault::Permanent);
        assert!(s.head(&at).await.is_ok());
        let e = s.head(&at).await.unwrap_err();
        assert!(
            e.is_retryable() && e.to_string().contains("SlowDown"),
            "{e}"
        );
        assert!(s.head(&at).await.is_ok());
        let list = ListRequest {
            bucket: "b".into(),
            ..Default::default()
        };
        assert!(s.list(&list).await.is_ok());
        for _ in 0..3 {
            assert!(!s.list(&list).await.unwrap_err().is_retryable());
        }
        assert_eq!((s.calls(Op::Head), s.calls(Op::List)), (3, 4));
        assert_eq!(s.injected().len(), 4);
        assert!(
            s.injected()[0].starts_with("head #2 s3://b/k"),
            "{:?}",
            s.injected()
        );
        s.clear();
        s.inject(None, When::Next(2), Fault::Transient);
        assert!(s.list(&list).await.is_err());
        assert!(s.head(&at).await.is_err());
        assert!(s.head(&at).await.is_ok());
    }

    #[tokio::test]
    async fn latency_adds_up_and_lets_other_rules_decide() {
        let (s, at) = store().await;
        s.inject(
            Op::Head,
            When::Always,
            Fault::Latency(Duration::from_millis(1)),
        );
        s.fail_nth(Op::Head, 2, Fault::Permanent);
        assert!(s.head(&at).await.is_ok());
        assert!(s.head(&at).await.is_err());
        assert_eq!(
            s.injected(),
            vec!["head #2 s3://b/k: permanent".to_string()]
        );
        let trace = s.trace();
        assert_eq!(trace.len(), 2);
        assert_eq!(trace[1], (Op::Head, 2, "s3://b/k".to_string()));
    }

    #[tokio::test]
    async fn a_lost_answer_still_takes_effect() {
        let (s, at) = store().await;
        s.fail_nth(Op::Delete, 1, Fault::LostAnswer);
        assert!(s.delete(&at).await.unwrap_err().is_retryable());
        assert!(s.head(&at).await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn bodies_are_cut_shortened_or_corrupted() {
        let (s, at) = store().await;
        s.fail_nth(Op::Get, 1, Fault::CutBody { after: 100 });
        s.fail_nth(Op::Get, 2, Fault::ShortBody { after: 100 });
        s.fail_nth(Op::Get, 3, Fault::CorruptBody { at: 500 });
        let e = read(&s, &at).await.map(|v| v.len()).unwrap_err();
        assert!(e.is_retryable(), "{e}");
        assert_eq!(read(&s, &at).await.unwrap(), vec![7u8; 100]);
        let bad = read(&s, &at).await.unwrap();
        assert_eq!((bad.len(), bad[500], bad[499]), (1000, 7 ^ 0xff, 7));
        assert_eq!(read(&s, &at).await.unwrap(), vec![7u8; 1000]);
    }

    #[tokio::test]
    async fn random_faults_repeat_with_the_seed() {
        let mut runs = Vec::new();
        for _ in 0..2 {
            let (s, at) = store().await;
            let s = FaultyStorage::seeded(Arc::new(s), 42);
            s.throttle(0.3);
            let mut failed = Vec::new();
            for i in 0..200 {
                if s.head(&at).await.is_err() {
                    failed.push(i);
                }
            }
            runs.push(failed);
        }
        assert_eq!(runs[0], runs[1]);
        assert!((30..90).contains(&runs[0].len()), "{}", runs[0].len());
    }
}
