//! What the endpoint counts, served in Prometheus' text format at `/_/metrics`: requests by
//! operation and outcome, bytes in and out, original against stored bytes, how files were
//! stored, and how long encoding and decoding took.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0];

/// A latency histogram.
#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if s <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += s;
    }

    fn render(&self, out: &mut String, name: &str) {
        for (bound, n) in BUCKETS.iter().zip(self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

/// The endpoint's counters, shared by every request.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String), u64>>,
    http: Mutex<BTreeMap<(String, u16), u64>>,
    stored: Mutex<BTreeMap<String, u64>>,
    encode: Mutex<Histogram>,
    decode: Mutex<Histogram>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    original_bytes: AtomicU64,
    stored_bytes: AtomicU64,
    in_flight: AtomicU64,
    rebuilt_hits: AtomicU64,
    rebuilt_misses: AtomicU64,
    /// The client's reference-cache counts.
    reference_cache: dg_adapters::cache::CacheCounts,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_default() += 1;
    }
}

impl Metrics {
    /// Counters that also report the reference cache's `counts`.
    pub fn new(reference_cache: dg_adapters::cache::CacheCounts) -> Self {
        Metrics {
            reference_cache,
            ..Metrics::default()
        }
    }

    /// One S3 operation ended: `outcome` is `ok` or the S3 error code.
    pub fn operation(&self, op: &str, outcome: &str) {
        bump(&self.requests, (op.to_string(), outcome.to_string()));
    }

    /// One HTTP exchange ended with `status`.
    pub fn http(&self, method: &str, status: u16) {
        bump(&self.http, (method.to_string(), status));
    }

    pub fn bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    pub fn bytes_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    /// A file was stored: how (`delta`, or the reason it was stored whole), its size and what
    /// it cost, and how long the encoding took.
    pub fn stored(&self, how: &str, original: u64, stored: u64, took: Duration) {
        bump(&self.stored, how.to_string());
        self.original_bytes.fetch_add(original, Ordering::Relaxed);
        self.stored_bytes.fetch_add(stored, Ordering::Relaxed);
        if let Ok(mut h) = self.encode.lock() {
            h.observe(took);
        }
    }

    /// A file was rebuilt and checked for a read, in `took`.
    pub fn decoded(&self, took: Duration) {
        if let Ok(mut h) = self.decode.lock() {
            h.observe(took);
        }
    }

    /// A read found its file already rebuilt (`hit`) or rebuilt it.
    pub fn rebuilt_cache(&self, hit: bool) {
        let counter = if hit {
            &self.rebuilt_hits
        } else {
            &self.rebuilt_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A request started; the guard counts it as in flight until dropped.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Everything, in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP dg_serve_requests_total S3 operations by name and outcome.\n");
        out.push_str("# TYPE dg_serve_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((op, outcome), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "dg_serve_requests_total{{operation=\"{op}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP dg_serve_http_responses_total HTTP responses by method and status.\n");
        out.push_str("# TYPE dg_serve_http_responses_total counter\n");
        if let Ok(m) = self.http.lock() {
            for ((method, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "dg_serve_http_responses_total{{method=\"{method}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str(
            "# HELP dg_serve_files_stored_total Files stored, by how: delta, or why whole.\n",
        );
        out.push_str("# TYPE dg_serve_files_stored_total counter\n");
        if let Ok(m) = self.stored.lock() {
            for (how, n) in m.iter() {
                let _ = writeln!(out, "dg_serve_files_stored_total{{stored=\"{how}\"}} {n}");
            }
        }
        for (name, help, value) in [
            (
                "dg_serve_received_bytes_total",
                "Request body bytes received.",
                &self.bytes_in,
            ),
            (
                "dg_serve_sent_bytes_total",
                "Response body bytes sent.",
                &self.bytes_out,
            ),
            (
                "dg_serve_original_bytes_total",
                "Size of the files stored.",
                &self.original_bytes,
            ),
            (
                "dg_serve_stored_bytes_total",
                "Bytes written for them (deltas or whole).",
                &self.stored_bytes,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        for (name, help, value) in [
            (
                "dg_serve_reference_cache_hits_total",
                "References found in the reference cache.",
                self.reference_cache.hits(),
            ),
            (
                "dg_serve_reference_cache_misses_total",
                "References fetched from storage.",
                self.reference_cache.misses(),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP dg_serve_in_flight Requests being served.\n# TYPE dg_serve_in_flight gauge\ndg_serve_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        for (name, help, h) in [
            (
                "dg_serve_encode_seconds",
                "Time to store a file (hash, delta, verify, write).",
                &self.encode,
            ),
            (
                "dg_serve_decode_seconds",
                "Time to rebuild and check a file for a read.",
                &self.decode,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            if let Ok(h) = h.lock() {
                h.render(&mut out, name);
            }
        }
        out
    }
}

/// A request in flight; counted until dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
