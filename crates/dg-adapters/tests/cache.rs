//! The reference caches: conformance, tamper detection, no plaintext at rest, eviction.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use dg_adapters::cache::random_key;
use dg_adapters::{conformance, EncryptedCache, FsCache, MemoryCache};
use dg_ports::{BlobRef, BytesBlob, ReferenceCache};

fn read(blob: &BlobRef) -> Vec<u8> {
    let mut v = Vec::new();
    blob.reader().unwrap().read_to_end(&mut v).unwrap();
    v
}

fn encrypted_fs(dir: &Path, key: &[u8; 32]) -> (Arc<dyn ReferenceCache>, FsCache) {
    let fs = FsCache::new(dir, 64 << 20).unwrap();
    let enc = EncryptedCache::new(Arc::new(fs.clone()), key, None).with_chunk_size(4096);
    (Arc::new(enc), fs)
}

const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn secret(len: usize) -> Vec<u8> {
    b"SECRET-REFERENCE-BYTES-"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_cache_conforms() {
    conformance::cache::run(Arc::new(MemoryCache::new(8 << 20))).await;
    let dir = tempfile::tempdir().unwrap();
    conformance::cache::run(Arc::new(
        FsCache::new(dir.path().join("plain"), 64 << 20).unwrap(),
    ))
    .await;
    let (enc, _) = encrypted_fs(&dir.path().join("enc"), &random_key().unwrap());
    conformance::cache::run(enc).await;
    let mem = EncryptedCache::new(
        Arc::new(MemoryCache::new(64 << 20)),
        &random_key().unwrap(),
        None,
    );
    conformance::cache::run(Arc::new(mem)).await;
}

#[tokio::test]
async fn no_plaintext_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = encrypted_fs(dir.path(), &random_key().unwrap());
    let data = secret(100_000);
    cache
        .put(SHA_A, BytesBlob::shared(data.clone()))
        .await
        .unwrap();
    let needle = b"SECRET-REFERENCE";
    let mut files = 0;
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        files += 1;
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{} holds plaintext",
            entry.display()
        );
    }
    assert!(files >= 1);
    assert_eq!(
        read(&cache.get(SHA_A).await.unwrap().unwrap()),
        data,
        "and it decrypts"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn entry(dir: &Path, sha: &str) -> std::path::PathBuf {
    dir.join(format!("{sha}.ref"))
}

#[tokio::test]
async fn tampering_is_detected_and_the_entry_removed() {
    let key = random_key().unwrap();
    let data = secret(50_000);
    // flip a byte anywhere: header, a middle chunk, the last tag
    for at in [2usize, 12, 20, 25_000, 50_000 + 16 * 13 + 16 - 1] {
        let dir = tempfile::tempdir().unwrap();
        let (cache, _) = encrypted_fs(dir.path(), &key);
        cache
            .put(SHA_A, BytesBlob::shared(data.clone()))
            .await
            .unwrap();
        let path = entry(dir.path(), SHA_A);
        let mut bytes = std::fs::read(&path).unwrap();
        let i = at.min(bytes.len() - 1);
        bytes[i] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(
            cache.get(SHA_A).await.unwrap().is_none(),
            "a flip at {at} is detected"
        );
        assert!(!path.exists(), "the bad entry is removed");
    }
    // truncation: at a chunk boundary and inside a chunk
    for keep in [16 + 4096 + 16, 16 + 4096 + 16 + 100, 10] {
        let dir = tempfile::tempdir().unwrap();
        let (cache, _) = encrypted_fs(dir.path(), &key);
        cache
            .put(SHA_A, BytesBlob::shared(data.clone()))
            .await
            .unwrap();
        let path = entry(dir.path(), SHA_A);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..keep]).unwrap();
        assert!(
            cache.get(SHA_A).await.unwrap().is_none(),
            "truncation to {keep} is detected"
        );
        assert!(!path.exists());
    }
    // swapped entries: each file now sits under the other's name
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = encrypted_fs(dir.path(), &key);
    cache
        .put(SHA_A, BytesBlob::shared(data.clone()))
        .await
        .unwrap();
    cache
        .put(SHA_B, BytesBlob::shared(secret(777)))
        .await
        .unwrap();
    let (a, b) = (entry(dir.path(), SHA_A), entry(dir.path(), SHA_B));
    let tmp = dir.path().join("swap");
    std::fs::rename(&a, &tmp).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::rename(&tmp, &b).unwrap();
    assert!(
        cache.get(SHA_A).await.unwrap().is_none(),
        "a swapped entry is detected"
    );
    assert!(cache.get(SHA_B).await.unwrap().is_none());
    // reordered chunks
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = encrypted_fs(dir.path(), &key);
    cache
        .put(SHA_A, BytesBlob::shared(data.clone()))
        .await
        .unwrap();
    let path = entry(dir.path(), SHA_A);
    let mut bytes = std::fs::read(&path).unwrap();
    let sealed = 4096 + 16;
    let (first, second) = (16..16 + sealed, 16 + sealed..16 + 2 * sealed);
    let chunk_one = bytes[first.clone()].to_vec();
    let chunk_two = bytes[second.clone()].to_vec();
    bytes[first].copy_from_slice(&chunk_two);
    bytes[second].copy_from_slice(&chunk_one);
    std::fs::write(&path, bytes).unwrap();
    assert!(
        cache.get(SHA_A).await.unwrap().is_none(),
        "reordered chunks are detected"
    );
    // another key
    let dir = tempfile::tempdir().unwrap();
    let (writer, _) = encrypted_fs(dir.path(), &random_key().unwrap());
    writer
        .put(SHA_A, BytesBlob::shared(data.clone()))
        .await
        .unwrap();
    let (reader, _) = encrypted_fs(dir.path(), &random_key().unwrap());
    assert!(
        reader.get(SHA_A).await.unwrap().is_none(),
        "an entry under another key is rejected"
    );
    assert!(!entry(dir.path(), SHA_A).exists());
}

#[tokio::test]
async fn filesystem_cache_evicts_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FsCache::new(dir.path(), 250_000).unwrap();
    let keys: Vec<String> = (0..4).map(|i| format!("{i:064x}")).collect();
    for k in &keys[..2] {
        cache
            .put(k, BytesBlob::shared(vec![1u8; 100_000]))
            .await
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(cache.get(&keys[0]).await.unwrap().is_some()); // key 0 becomes the most recent
    std::thread::sleep(std::time::Duration::from_millis(20));
    cache
        .put(&keys[2], BytesBlob::shared(vec![2u8; 100_000]))
        .await
        .unwrap();
    let left: Vec<String> = cache
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.sha256)
        .collect();
    assert!(
        left.contains(&keys[0]) && left.contains(&keys[2]),
        "{left:?}"
    );
    assert!(
        !left.contains(&keys[1]),
        "the least recently used entry went: {left:?}"
    );
    assert!(cache.entries().unwrap().iter().map(|e| e.size).sum::<u64>() <= 250_000);
    assert!(cache.clear().unwrap() > 0);
    assert!(cache.entries().unwrap().is_empty());
}

#[tokio::test]
async fn a_reader_keeps_its_entry_when_another_process_evicts_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FsCache::new(dir.path(), 1 << 20).unwrap();
    cache
        .put(SHA_A, BytesBlob::shared(secret(10_000)))
        .await
        .unwrap();
    let held = cache.get(SHA_A).await.unwrap().unwrap();
    FsCache::new(dir.path(), 1 << 20).unwrap().clear().unwrap();
    assert_eq!(read(&held), secret(10_000));
    assert_eq!(&*held.map().unwrap(), &secret(10_000)[..]);
}

#[test]
fn concurrent_writers_share_one_directory() {
    let dir = tempfile::tempdir().unwrap();
    let key = random_key().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let (cache, _) = encrypted_fs(&dir, &key);
                    for i in 0..20u8 {
                        let sha = format!("{:064x}", i % 5);
                        let body = vec![i % 5; 20_000 + usize::from(i % 5)];
                        cache
                            .put(&sha, BytesBlob::shared(body.clone()))
                            .await
                            .unwrap();
                        if let Some(hit) = cache.get(&sha).await.unwrap() {
                            assert_eq!(read(&hit), body, "thread {t} read a whole entry");
                        }
                    }
                });
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (cache, fs) = encrypted_fs(dir.path(), &key);
    let rt = tokio::runtime::Runtime::new().unwrap();
    for e in fs.entries().unwrap() {
        let body = rt
            .block_on(cache.get(&e.sha256))
            .unwrap()
            .expect("every entry left is valid");
        assert_eq!(
            body.len(),
            20_000 + u64::from(e.sha256.as_bytes()[63] - b'0')
        );
    }
    assert!(
        std::fs::read_dir(dir.path().join("tmp"))
            .unwrap()
            .next()
            .is_none(),
        "no temp files left"
    );
}
