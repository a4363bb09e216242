//! Object storage in a local directory, with user metadata kept in an extended attribute.
//!
//! # Layout
//!
//! ```text
//! ROOT/
//! ├── .dg-tmp/                  uploads being written (same file system, so renames are atomic)
//! └── <bucket>/                 one directory per bucket
//!     └── <key>                 one plain file per object, at its key's path;
//!                               xattr `user.dg.meta` = JSON object of its user metadata
//! ```
//!
//! Objects are ordinary files, so `ls`, `cp` and `sha256sum` work on them. Metadata lives in
//! the file's `user.dg.meta` extended attribute (ext4, xfs, btrfs, zfs, tmpfs ≥ 6.6 and APFS
//! support them; copy a store with `cp -a` or `rsync -aX` to keep them).
//!
//! # Atomicity
//!
//! A put writes the body to a temp file in `ROOT/.dg-tmp/`, syncs it, sets the metadata
//! attribute on it, then moves it into place in one step: `rename(2)` to overwrite, `link(2)`
//! for create-only puts (it fails when the key exists, so of two racing creators exactly one
//! wins). Body and metadata belong to one inode, so a reader that opened the file sees one
//! version of both. A crash leaves at most a temp file in `.dg-tmp/`, never a partial object;
//! opening the store deletes temp files nobody has written to for [`STALE_TEMP_AGE`].
//!
//! # Keys
//!
//! Any key S3 allows has a file: ordinary keys are their own paths, and segments no file name
//! can be (empty, `.`, `..`, longer than 255 bytes, NUL) are escaped as `local_keys` describes
//! (`a//b` is `a/%%=/b`). A key cannot be both an object and a "directory" of other keys (`a`
//! and `a/b`): the second write fails with a clear error.
//!
//! # A store that does not exist
//!
//! [`LocalStorage::open`] does not create the root: every call fails with `NotFound` naming it,
//! except [`Buckets::create_bucket`](dg_ports::Buckets::create_bucket), which creates it. [`LocalStorage::new`] creates it.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use dg_ports::{
    BlobRef, Error, GetResult, ListPage, ListRequest, Location, Metadata, ObjectInfo,
    ObjectStorage, PutMode, PutOptions, Result,
};
use xattr::FileExt;

mod buckets;
mod walk;

use self::walk::walk;
use super::listing::paginate;
use super::local_keys::{dir_path, key_path, legacy_dir_path, legacy_path};

const TMP_DIR: &str = ".dg-tmp";
const META_ATTR: &str = "user.dg.meta";
/// S3 allows 2 KiB of user metadata; so do we.
const MAX_METADATA: usize = 2048;
const CHUNK: usize = 256 * 1024;

/// Temp files untouched this long belong to a writer that died (a live put writes to its temp
/// file continuously until it renames it).
pub const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes temp files in `tmp` last modified more than `age` ago. Best effort: a file that
/// cannot be read or deleted stays for the next sweep.
fn sweep_stale_temps(tmp: &Path, age: std::time::Duration) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|elapsed| elapsed >= age);
        if stale && fs::remove_file(entry.path()).is_ok() {
            tracing::debug!(file = %entry.path().display(), "deleted a stale upload temp file");
        }
    }
}

/// Buckets as directories under a root directory.
#[derive(Clone, Debug)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// A store rooted at `root` (created if missing). Fails with `Unsupported` when the file
    /// system there does not keep user extended attributes.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        Self::prepare(&root)?;
        Ok(LocalStorage { root })
    }

    /// The store at `root` if it exists. A missing root is not created here: calls fail with
    /// `NotFound` saying so, and the first [`Buckets::create_bucket`](dg_ports::Buckets::create_bucket) creates it.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        if root.is_dir() {
            Self::prepare(&root)?;
        }
        Ok(LocalStorage { root })
    }

    /// Fails unless the root exists.
    fn present(&self) -> Result<()> {
        if self.root.is_dir() {
            return Ok(());
        }
        Err(Error::NotFound {
            what: format!("local store {}", self.root.display()),
        })
    }

    /// Creates the temp directory and checks that extended attributes work.
    fn prepare(root: &Path) -> Result<()> {
        let tmp = root.join(TMP_DIR);
        fs::create_dir_all(&tmp)
            .map_err(|e| Error::from_io(root.display(), "creating the local store at", e))?;
        let probe = tempfile::NamedTempFile::new_in(&tmp)
            .map_err(|e| Error::from_io(tmp.display(), "writing to", e))?;
        if let Err(e) = probe.as_file().set_xattr(META_ATTR, b"{}") {
            return Err(Error::Unsupported {
                what: format!(
                    "a local store at {} (its file system does not keep user extended attributes: {e}); use ext4, xfs, btrfs, zfs or tmpfs",
                    root.display()
                ),
            });
        }
        sweep_stale_temps(&tmp, STALE_TEMP_AGE);
        Ok(())
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn bucket_dir(&self, bucket: &str) -> Result<PathBuf> {
        self.present()?;
        if bucket.is_empty() || bucket.starts_with('.') || bucket.contains(['/', '\\', '\0']) {
            return Err(Error::InvalidInput(format!(
                "`{bucket}` is not a bucket name"
            )));
        }
        let dir = self.root.join(bucket);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(Error::not_found(format!("bucket {bucket}")))
        }
    }

    fn object_path(&self, location: &Location) -> Result<PathBuf> {
        let dir = self.bucket_dir(&location.bucket)?;
        if location.key.is_empty() {
            return Err(Error::InvalidInput(format!("{location}: an empty key")));
        }
        let path = dir.join(key_path(&location.key));
        debug_assert!(path.components().all(|c| matches!(
            c,
            Component::Normal(_) | Component::RootDir | Component::Prefix(_)
        )));
        Ok(path)
    }

    /// The file holding `location` now: its path, or where an older version of this store put
    /// it when only that exists.
    fn existing_path(&self, location: &Location) -> Result<PathBuf> {
        let path = self.object_path(location)?;
        if !path.is_file() {
            if let Some(legacy) = legacy_path(&location.key) {
                let legacy = self.bucket_dir(&location.bucket)?.join(legacy);
                if legacy.is_file() {
                    return Ok(legacy);
                }
            }
        }
        Ok(path)
    }

    /// Removes the copy an older version of this store kept of `location`, once it is written
    /// where it belongs.
    fn drop_legacy(&self, location: &Location) {
        if let (Some(legacy), Ok(dir)) = (
            legacy_path(&location.key),
            self.bucket_dir(&location.bucket),
        ) {
            let _ = fs::remove_file(dir.join(legacy));
        }
    }

    fn put_blocking(
        &self,
        location: &Location,
        body: &BlobRef,
        options: &PutOptions,
    ) -> Result<()> {
        let path = self.object_path(location)?;
        let encoded = encode_metadata(&options.metadata, location)?;
        let tmp_dir = self.root.join(TMP_DIR);
        let mut tmp = new_object_file(&tmp_dir)?;
        let mut reader = body.reader()?;
        copy_io(&mut reader, tmp.as_file_mut())
            .map_err(|e| Error::io(format!("writing {location}"), e))?;
        let file = tmp.as_file();
        file.set_xattr(META_ATTR, &encoded)
            .map_err(|e| Error::io(format!("writing metadata of {location}"), e))?;
        file.sync_all()
            .map_err(|e| Error::io(format!("syncing {location}"), e))?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| conflict(location, e))?;
        }
        match options.mode {
            PutMode::Create => match fs::hard_link(tmp.path(), &path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::AlreadyExists {
                    what: location.to_string(),
                }),
                Err(e) => Err(conflict(location, e)),
            },
            PutMode::Overwrite => {
                if path.is_dir() {
                    return Err(conflict(
                        location,
                        io::Error::from(io::ErrorKind::IsADirectory),
                    ));
                }
                tmp.persist(&path)
                    .map_err(|e| conflict(location, e.error))?;
                self.drop_legacy(location);
                Ok(())
            }
        }
    }

    fn open_object(&self, location: &Location) -> Result<(File, ObjectInfo)> {
        let path = self.existing_path(location)?;
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Error::not_found(location),
            _ => Error::from_io(location, "reading", e),
        })?;
        let meta = file
            .metadata()
            .map_err(|e| Error::from_io(location, "reading", e))?;
        if !meta.is_file() {
            return Err(Error::not_found(location));
        }
        let metadata = match file.get_xattr(META_ATTR) {
            Ok(Some(raw)) => decode_metadata(&raw, location)?,
            Ok(None) => Metadata::new(),
            Err(e) => return Err(Error::io(format!("reading metadata of {location}"), e)),
        };
        let info = object_info(location.clone(), &meta, metadata);
        Ok((file, info))
    }

    fn list_blocking(&self, request: &ListRequest) -> Result<ListPage> {
        let bucket = self.bucket_dir(&request.bucket)?;
        // Start from the deepest directory the prefix names fully.
        // (and from where an older store kept it, if that differs).
        let (starts, base) = match request.prefix.rfind('/') {
            Some(i) => {
                let dirs = &request.prefix[..i];
                let mut starts = vec![bucket.join(dir_path(dirs))];
                starts.extend(legacy_dir_path(dirs).map(|p| bucket.join(p)));
                (starts, request.prefix[..=i].to_string())
            }
            None => (vec![bucket.clone()], String::new()),
        };
        let mut found = Vec::new();
        let shallow = request.delimiter.as_deref() == Some("/");
        for start in &starts {
            walk(start, &base, shallow, &request.prefix, &mut found)
                .map_err(|e| Error::from_io(format!("bucket {}", request.bucket), "listing", e))?;
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        // an old store's literal directory and today's escaped one name the same keys
        found.dedup_by(|a, b| a.0 == b.0);
        let objects = found.into_iter().map(|(key, meta)| {
            object_info(
                Location::new(request.bucket.clone(), key),
                &meta,
                Metadata::new(),
            )
        });
        Ok(paginate(objects, request))
    }

    fn copy_blocking(&self, from: &Location, to: &Location) -> Result<()> {
        let (mut source, info) = self.open_object(from)?;
        let path = self.object_path(to)?;
        let encoded = encode_metadata(&info.metadata, to)?;
        let tmp_dir = self.root.join(TMP_DIR);
        let mut tmp = new_object_file(&tmp_dir)?;
        io::copy(&mut source, tmp.as_file_mut())
            .map_err(|e| Error::io(format!("copying {from} to {to}"), e))?;
        tmp.as_file()
            .set_xattr(META_ATTR, &encoded)
            .map_err(|e| Error::io(format!("writing metadata of {to}"), e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(format!("syncing {to}"), e))?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| conflict(to, e))?;
        }
        tmp.persist(&path)
            .map(|_| ())
            .map_err(|e| conflict(to, e.error))
    }

    fn delete_blocking(&self, location: &Location) -> Result<()> {
        let path = self.existing_path(location)?;
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(())
            }
            Err(e) if path.is_dir() => {
                let _ = e;
                return Ok(());
            }
            Err(e) => return Err(Error::from_io(location, "deleting", e)),
        }
        // Remove directories the delete left empty, up to the bucket.
        let bucket = self.root.join(&location.bucket);
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == bucket || fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }
}

/// A temp file for a new object, with the permissions of an ordinary new file.
fn new_object_file(tmp_dir: &Path) -> Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    crate::blob::user_file(&mut builder);
    builder
        .tempfile_in(tmp_dir)
        .map_err(|e| Error::from_io(tmp_dir.display(), "writing to", e))
}

fn object_info(location: Location, meta: &fs::Metadata, metadata: Metadata) -> ObjectInfo {
    let modified = meta.modified().ok();
    let nanos = modified
        .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    ObjectInfo {
        location,
        size: meta.len(),
        last_modified: modified,
        etag: Some(format!("\"{nanos:x}-{:x}\"", meta.len())),
        metadata,
    }
}

fn encode_metadata(metadata: &Metadata, location: &Location) -> Result<Vec<u8>> {
    let lower: Metadata = metadata
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let encoded = serde_json::to_vec(&lower)
        .map_err(|e| Error::invalid(format!("metadata of {location}"), e))?;
    if encoded.len() > MAX_METADATA {
        return Err(Error::LimitExceeded {
            what: format!("user metadata of {location}"),
            limit: MAX_METADATA as u64,
        });
    }
    Ok(encoded)
}

fn decode_metadata(raw: &[u8], location: &Location) -> Result<Metadata> {
    serde_json::from_slice(raw).map_err(|e| Error::InvalidData {
        what: format!("metadata of {location}"),
        reason: "it is not a JSON object of strings".into(),
        source: Some(Box::new(e)),
    })
}

/// Maps errors of placing an object: a file where a directory is needed, or the reverse.
fn conflict(location: &Location, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::NotADirectory
        | io::ErrorKind::IsADirectory
        | io::ErrorKind::AlreadyExists => Error::InvalidInput(format!(
            "{location} conflicts with another key: the local store cannot hold both `a` and `a/b`"
        )),
        _ => Error::from_io(location, "writing", e),
    }
}

fn copy_io(reader: &mut dyn Read, writer: &mut File) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        writer.write_all(buf.get(..n).unwrap_or_default())?;
        total += n as u64;
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io {
            context: "a local-store task stopped".into(),
            source: io::Error::other(e.to_string()),
        })?
}

fn body_stream(file: File, size: u64, location: Location) -> dg_ports::ByteStream {
    let state = (file, size, location);
    Box::pin(futures::stream::unfold(Some(state), |state| async move {
        let (mut file, remaining, location) = state?;
        if remaining == 0 {
            return None;
        }
        let want = usize::try_from(remaining).unwrap_or(CHUNK).min(CHUNK);
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; want];
            let mut filled = 0;
            while filled < want {
                match file.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(filled);
            Ok((file, buf))
        })
        .await;
        match read {
            Ok(Ok((file, buf))) if !buf.is_empty() => {
                let left = remaining - buf.len() as u64;
                Some((Ok(Bytes::from(buf)), Some((file, left, location))))
            }
            Ok(Ok(_)) => Some((
                Err(Error::Io {
                    context: format!("{location} was truncated while being read"),
                    source: io::Error::from(io::ErrorKind::UnexpectedEof),
                }),
                None,
            )),
            Ok(Err(e)) => Some((Err(Error::io(format!("reading {location}"), e)), None)),
            Err(e) => Some((
                Err(Error::Io {
                    context: format!("reading {location}"),
                    source: io::Error::other(e.to_string()),
                }),
                None,
            )),
        }
    }))
}

#[async_trait]
impl ObjectStorage for LocalStorage {
    async fn head(&self, location: &Location) -> Result<ObjectInfo> {
        let this = self.clone();
        let location = location.clone();
        blocking(move || this.open_object(&location).map(|(_, info)| info)).await
    }

    async fn get(&self, location: &Location) -> Result<GetResult> {
        let this = self.clone();
        let loc = location.clone();
        let (file, info) = blocking(move || this.open_object(&loc)).await?;
        let body = body_stream(file, info.size, location.clone());
        Ok(GetResult { info, body })
    }

    async fn put(&self, location: &Location, body: BlobRef, options: PutOptions) -> Result<()> {
        let this = self.clone();
        let location = location.clone();
        blocking(move || this.put_blocking(&location, &body, &options)).await
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        let this = self.clone();
        let request = request.clone();
        blocking(move || this.list_blocking(&request)).await
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        let this = self.clone();
        let location = location.clone();
        blocking(move || this.delete_blocking(&location)).await
    }

    async fn copy(&self, from: &Location, to: &Location) -> Result<()> {
        let this = self.clone();
        let (from, to) = (from.clone(), to.clone());
        blocking(move || this.copy_blocking(&from, &to)).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn opening_the_store_deletes_only_stale_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join(TMP_DIR);
        fs::create_dir_all(&tmp).unwrap();
        let (stale, live) = (tmp.join("stale"), tmp.join("live"));
        fs::write(&stale, b"half an upload").unwrap();
        fs::write(&live, b"an upload going on").unwrap();
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
        LocalStorage::new(dir.path()).unwrap();
        assert!(!stale.exists());
        assert!(live.exists());
    }
}
