//! Bucket administration of a local store: buckets are the directories below its root.

use std::fs;
use std::io;

use async_trait::async_trait;
use dg_ports::{BucketInfo, Buckets, Error, Result};

use super::super::validate_bucket_name;
use super::{blocking, LocalStorage};

#[async_trait]
impl Buckets for LocalStorage {
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.present()?;
        let root = self.root.clone();
        blocking(move || {
            let mut out = Vec::new();
            let entries =
                fs::read_dir(&root).map_err(|e| Error::from_io(root.display(), "listing", e))?;
            for entry in entries {
                let entry = entry.map_err(|e| Error::from_io(root.display(), "listing", e))?;
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
                if name.starts_with('.') || !is_dir {
                    continue;
                }
                let created = entry
                    .metadata()
                    .ok()
                    .and_then(|m| m.created().or(m.modified()).ok());
                out.push(BucketInfo { name, created });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
    }

    async fn create_bucket(&self, name: &str) -> Result<()> {
        validate_bucket_name(name)?;
        if !self.root.is_dir() {
            fs::create_dir_all(&self.root).map_err(|e| {
                Error::from_io(self.root.display(), "creating the local store at", e)
            })?;
            Self::prepare(&self.root)?;
        }
        let dir = self.root.join(name);
        let name = name.to_string();
        blocking(move || match fs::create_dir(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::AlreadyExists {
                what: format!("bucket {name}"),
            }),
            Err(e) => Err(Error::from_io(dir.display(), "creating", e)),
        })
        .await
    }

    async fn delete_bucket(&self, name: &str) -> Result<()> {
        let dir = self.bucket_dir(name)?;
        let name = name.to_string();
        blocking(move || {
            let empty = fs::read_dir(&dir)
                .map_err(|e| Error::from_io(dir.display(), "reading", e))?
                .next()
                .is_none();
            if !empty {
                return Err(Error::Precondition {
                    what: format!("bucket {name}"),
                    reason: "it is not empty".into(),
                });
            }
            fs::remove_dir(&dir).map_err(|e| Error::from_io(dir.display(), "removing", e))
        })
        .await
    }
}
