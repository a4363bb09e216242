//! Gzip series through the whole domain with the real see-through expander: daily dumps,
//! release tarballs, random edits at every gzip level, and streams that cannot be recreated.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use dg_adapters::engine::{LzmaEngine, VcdiffEngine};
use dg_adapters::{MemoryCache, MemoryStaging, MemoryStorage, SeeThrough};
use dg_core::{Config, DeltaGlider, EngineSet, Level, Ports, PutRequest, Stored};
use dg_ports::{BytesBlob, DiffEngine, Location, ObjectStorageExt, Staging};
use flate2::{write::GzEncoder, Compression};
use proptest::prelude::*;

fn service() -> (DeltaGlider, MemoryStorage) {
    let storage = MemoryStorage::new();
    storage.create_bucket_now("b");
    let dg = DeltaGlider::new(
        Ports {
            storage: Arc::new(storage.clone()),
            cache: Arc::new(MemoryCache::new(256 << 20)),
            // As the binary has them: VCDIFF first (Python's format), LZMA for native deltas.
            engines: EngineSet::new(vec![
                Arc::new(VcdiffEngine::default()),
                Arc::new(LzmaEngine::default()),
            ])
            .with_native_default("lzma"),
            expander: Some(Arc::new(SeeThrough::default())),
            ..dg_testkit::memory_ports()
        },
        Config::default(),
    );
    (dg, storage)
}

fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::new(level));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// What a series cost.
struct Costs {
    /// All files' bytes.
    original: u64,
    /// Every object of the deltaspace, its reference and layers included.
    stored: u64,
    /// Files after the first: their bytes, and the deltas written for them.
    later_original: u64,
    later_stored: u64,
    kinds: Vec<Stored>,
}

impl Costs {
    fn report(&self, what: &str) -> (f64, f64) {
        let whole = self.stored as f64 / self.original as f64;
        let deltas = self.later_stored as f64 / self.later_original as f64;
        eprintln!(
            "{what}: {} bytes stored as {} ({:.1}%, reference included); later files {} bytes as {} bytes of deltas ({:.1}%)",
            self.original,
            self.stored,
            100.0 * whole,
            self.later_original,
            self.later_stored,
            100.0 * deltas
        );
        (whole, deltas)
    }
}

/// Uploads `files` in order into one deltaspace, downloads each and compares.
async fn round_trip(files: &[(String, Vec<u8>)]) -> Costs {
    round_trip_at(files, None).await
}

/// [`round_trip`] at a level (`None`: the default).
async fn round_trip_at(files: &[(String, Vec<u8>)], level: Option<Level>) -> Costs {
    let (dg, storage) = service();
    let request = PutRequest {
        level,
        ..PutRequest::default()
    };
    let (mut original, mut later_original, mut later_stored) = (0, 0, 0);
    let mut kinds = Vec::new();
    for (i, (name, data)) in files.iter().enumerate() {
        original += data.len() as u64;
        let out = dg
            .put(
                BytesBlob::shared(data.clone()),
                &Location::new("b", format!("series/{name}")),
                &request,
            )
            .await
            .unwrap();
        eprintln!(
            "  {name}: {} -> {} (+ reference {:?}) {:?}",
            data.len(),
            out.stored_size,
            out.reference_size,
            out.notes
        );
        if i > 0 {
            later_original += data.len() as u64;
            later_stored += out.stored_size;
        }
        kinds.push(out.stored);
    }
    for (name, data) in files {
        let got = dg
            .get(
                &Location::new("b", format!("series/{name}")),
                MemoryStaging.create().unwrap(),
            )
            .await
            .unwrap();
        assert!(
            got.blob.map().unwrap()[..] == data[..],
            "{name} came back different"
        );
    }
    // the deltaspace's objects and its layers (newer references, under `.deltaglider/`)
    let stored = storage
        .list_all("b", "")
        .await
        .unwrap()
        .iter()
        .filter(|o| {
            o.location.key.starts_with("series/") || dg_core::layers::is_layer_key(&o.location.key)
        })
        .map(|o| o.size)
        .sum();
    Costs {
        original,
        stored,
        later_original,
        later_stored,
        kinds,
    }
}

/// A small deterministic generator (xorshift), so the series is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn row(rng: &mut Rng, id: u64) -> String {
    const STATES: [&str; 4] = ["new", "paid", "shipped", "returned"];
    const NAMES: [&str; 12] = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
        "mallory", "olivia",
    ];
    format!(
        "INSERT INTO public.orders (id, customer, amount, status, created_at) VALUES ({id}, '{}.{}@example.com', {}.{:02}, '{}', '2026-{:02}-{:02} {:02}:{:02}:{:02}');\n",
        NAMES[rng.below(12) as usize],
        NAMES[rng.below(12) as usize],
        rng.below(1_000),
        rng.below(100),
        STATES[rng.below(4) as usize],
        1 + id % 12,
        1 + rng.below(28),
        rng.below(24),
        rng.below(60),
        rng.below(60),
    )
}

fn dump(rows: &[String]) -> Vec<u8> {
    let mut text = String::from("-- daily dump\nBEGIN;\n");
    for r in rows {
        text.push_str(r);
    }
    text.push_str("COMMIT;\n");
    text.into_bytes()
}

/// `days` daily dumps of 40,000 rows, gzip -6 (zlib): 1% of the rows rewritten and 50 added
/// each day.
fn daily_dumps(days: u32) -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut rows: Vec<String> = (0..40_000).map(|id| row(&mut rng, id)).collect();
    let mut files = Vec::new();
    for day in 1..=days {
        if day > 1 {
            // 1% of rows change each day, and a few new ones arrive.
            for _ in 0..rows.len() / 100 {
                let i = rng.below(rows.len() as u64) as usize;
                rows[i] = row(&mut rng, i as u64);
            }
            let next = rows.len() as u64;
            rows.extend((next..next + 50).map(|id| row(&mut rng, id)));
        }
        files.push((format!("db-2026-11-{day:02}.sql.gz"), gzip(&dump(&rows), 6)));
    }
    files
}

/// A month of daily dumps in one prefix: the deltas against day one grow with the changes, so
/// the deltaspace gains newer references (layers) as they drift, and the month stores under
/// 8% (15.2% with day one as the only reference).
#[tokio::test(flavor = "multi_thread")]
async fn a_month_of_daily_sql_gz_dumps_stores_under_eight_percent() {
    let files = daily_dumps(30);
    let costs = round_trip(&files).await;
    let (whole, _) = costs.report("30-day sql.gz series, default level");
    assert!(whole <= 0.08, "stored {:.1}% > 8%", 100.0 * whole);
}

#[tokio::test(flavor = "multi_thread")]
async fn daily_sql_gz_dumps_store_small() {
    let files = daily_dumps(7);
    let costs = round_trip_at(&files, Some(Level::Best)).await;
    let (whole, deltas) = costs.report("sql.gz series, best level");
    assert!(costs
        .kinds
        .iter()
        .all(|k| matches!(k, Stored::Delta { .. })));
    // Without seeing through gzip every delta costs ~95% of its file. These dumps are zlib's
    // (flate2 builds on zlib here), recreated from their zlib level with no corrections: the
    // deltas (LZMA against the first day's plaintext) come to ~4% of the later files
    // (docs/gzip.md; GNU gzip's need preflate's corrections too).
    assert!(deltas <= 0.06, "deltas {:.1}% > 6%", 100.0 * deltas);
    // The reference (the first day, compressed) is most of this short series; the issue's
    // bound for a daily dump series is 15%.
    assert!(whole <= 0.15, "stored {:.1}% > 15%", 100.0 * whole);
    // The default level: zstd references, VCDIFF deltas, within 10% of the best level's size.
    let default = round_trip(&files).await;
    default.report("sql.gz series, default level");
    assert!(
        default.stored as f64 <= 1.1 * costs.stored as f64,
        "default {} > 1.1 x best {}",
        default.stored,
        costs.stored
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tokio_crate_series_stores_under_ten_percent() {
    let Some(corpus) = std::env::var_os("DG_CORPUS") else {
        assert!(
            std::env::var_os("DG_REQUIRE_TOOLS").is_none(),
            "DG_REQUIRE_TOOLS is set but DG_CORPUS is not"
        );
        eprintln!("DG_CORPUS not set: skipping the tokio-crate series");
        return;
    };
    let dir = Path::new(&corpus).join("tokio-crate");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 3,
        "{} holds the tokio .crate series",
        dir.display()
    );
    let files: Vec<_> = paths
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(p).unwrap(),
            )
        })
        .collect();
    let (whole, deltas) = round_trip(&files).await.report("tokio-crate");
    // Raw deltas between these tarballs are ~95% of each file.
    assert!(deltas <= 0.10, "deltas {:.1}% > 10%", 100.0 * deltas);
    // Three files: the reference alone (the first tarball, compressed) is most of the total.
    assert!(whole <= 0.35, "stored {:.1}% > 35%", 100.0 * whole);
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_that_cannot_be_recreated_still_round_trips() {
    // A valid gzip whose deflate stream is cut short: nothing can recreate it from its
    // plaintext, so it is stored as it is (or as a plain delta), never as wrong bytes.
    let mut rng = Rng(7);
    let rows: Vec<String> = (0..3_000).map(|id| row(&mut rng, id)).collect();
    let whole = gzip(&dump(&rows), 9);
    let cut = whole[..whole.len() * 2 / 3].to_vec();
    let mut other = cut.clone();
    let at = other.len() / 2;
    other[at] ^= 0x55;
    let files = vec![
        ("a.sql.gz".to_string(), cut),
        ("b.sql.gz".to_string(), other),
        ("c.sql.gz".to_string(), whole),
    ];
    round_trip(&files).await;
}

fn edit(mut data: Vec<u8>, edits: &[(u16, u16, u8)]) -> Vec<u8> {
    for &(at, len, byte) in edits {
        let at = at as usize % (data.len() + 1);
        let end = (at + len as usize % 64).min(data.len());
        data.splice(at..end, std::iter::repeat_n(byte, (len % 17) as usize));
    }
    data
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random text, random edits, gzip at every level: both versions come back exact.
    #[test]
    fn edited_gzip_versions_round_trip(
        seed in any::<u64>(),
        lines in 50usize..2_000,
        level in 1u32..=9,
        edits in prop::collection::vec(any::<(u16, u16, u8)>(), 1..6),
    ) {
        let mut rng = Rng(seed | 1);
        let rows: Vec<String> = (0..lines as u64).map(|id| row(&mut rng, id)).collect();
        let v1 = dump(&rows);
        let v2 = edit(v1.clone(), &edits);
        let files = vec![
            ("v1.gz".to_string(), gzip(&v1, level)),
            ("v2.gz".to_string(), gzip(&v2, level)),
        ];
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(round_trip(&files));
    }
}

/// At the best level, native deltas come from VCDIFF first, then LZMA where it can pay: not for a near-identical
/// file (LZMA's delta cannot go below about a kilobyte per megabyte, its matches stop at 273
/// bytes) nor for a third of new random bytes (nothing to gain, ten times the time); for rewritten
/// rows of a dump, LZMA's smaller delta is kept.
#[tokio::test(flavor = "multi_thread")]
async fn native_deltas_take_lzma_only_where_it_pays() {
    let mut rng = Rng(0x5eed);
    let mut rows: Vec<String> = (0..20_000).map(|id| row(&mut rng, id)).collect();
    let base = dump(&rows);
    let mut one_byte = base.clone();
    one_byte[1_500_000] ^= 1;
    for _ in 0..rows.len() / 50 {
        let i = rng.below(rows.len() as u64) as usize;
        rows[i] = row(&mut rng, i as u64);
    }
    let edited = dump(&rows);
    let mut mostly_new: Vec<u8> = (0..base.len() / 3).map(|_| rng.below(256) as u8).collect();
    mostly_new.extend_from_slice(&base[..base.len() * 2 / 3]);
    let files = vec![
        ("a.sql".to_string(), base),
        ("b.sql".to_string(), one_byte),
        ("c.sql".to_string(), edited),
        ("d.sql".to_string(), mostly_new),
    ];
    let costs = round_trip_at(&files, Some(Level::Best)).await;
    let engines: Vec<_> = costs
        .kinds
        .iter()
        .map(|k| match k {
            Stored::Delta { engine, .. } => *engine,
            _ => "not a delta",
        })
        .collect();
    assert_eq!(
        engines[1..],
        ["vcdiff", "lzma", "vcdiff"],
        "{:?}",
        costs.kinds
    );
}

/// A compressed file's budget is a share of its *compressed* size, which can fall between
/// VCDIFF's and LZMA's deltas of the plain forms: LZMA is still tried, and its delta stored
/// rather than the whole file (a 30-day `.sql.bz2` series stored its last days whole).
#[tokio::test(flavor = "multi_thread")]
async fn lzma_is_tried_when_vcdiff_passes_a_compressed_files_budget() {
    let mut rng = Rng(0xb0d9e7);
    let mut rows: Vec<String> = (0..20_000).map(|id| row(&mut rng, id)).collect();
    let base = dump(&rows);
    for _ in 0..rows.len() / 5 {
        let i = rng.below(rows.len() as u64) as usize;
        rows[i] = row(&mut rng, i as u64);
    }
    let edited = dump(&rows);
    let size = |engine: &dyn DiffEngine| {
        let mut delta = Vec::new();
        engine.encode(&base, &mut &edited[..], &mut delta).unwrap();
        delta.len() as f64
    };
    let (vcdiff, lzma) = (size(&VcdiffEngine::default()), size(&LzmaEngine::default()));
    assert!(lzma < vcdiff * 0.9, "lzma {lzma} vs vcdiff {vcdiff}");
    let files = [gzip(&base, 9), gzip(&edited, 9)];
    // A budget halfway between the two deltas.
    let ratio = (vcdiff + lzma) / 2.0 / files[1].len() as f64;
    let (dg, _) = service();
    let mut kinds = Vec::new();
    for (i, data) in files.iter().enumerate() {
        let out = dg
            .put(
                BytesBlob::shared(data.clone()),
                &Location::new("b", format!("s/{i}.sql.gz")),
                &PutRequest {
                    max_ratio: Some(ratio),
                    ..PutRequest::default()
                },
            )
            .await
            .unwrap();
        kinds.push(out.stored);
    }
    assert!(
        matches!(kinds[1], Stored::Delta { engine: "lzma", .. }),
        "vcdiff {vcdiff}, lzma {lzma}, ratio {ratio:.3}: {:?}",
        kinds[1]
    );
}
