//! dg's adapters: the world behind the ports of [`dg_ports`].
//!
//! | port | adapters |
//! |---|---|
//! | [`ObjectStorage`](dg_ports::ObjectStorage) | [`MemoryStorage`], [`LocalStorage`] (a directory, metadata in xattrs), S3, and [`RetryingStorage`](storage::RetryingStorage) around any of them |
//! | [`ReferenceCache`](dg_ports::ReferenceCache) | [`MemoryCache`], [`FsCache`], and [`EncryptedCache`] around either |
//! | [`Staging`](dg_ports::Staging) | [`DirStaging`], [`MemoryStaging`], and [`DestinationFile`] (below a [`DestinationDir`]) for downloads |
//! | [`DiffEngine`](dg_ports::DiffEngine) | [`engine::ZstdEngine`] |
//! | [`Clock`](dg_ports::Clock) | [`SystemClock`] |
//!
//! Every adapter passes the shared suites in [`conformance`].
//!
//! # Example
//!
//! ```
//! use dg_adapters::LocalStorage;
//! use dg_ports::{Buckets, BytesBlob, Location, ObjectStorage, PutOptions};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let store = LocalStorage::new(dir.path()).unwrap();
//! store.create_bucket("releases").await.unwrap();
//! let at = Location::new("releases", "v1/notes.txt");
//! let mut options = PutOptions::default();
//! options.metadata.insert("dg-note".into(), "hello".into());
//! store.put(&at, BytesBlob::shared(&b"release notes"[..]), options).await.unwrap();
//! let info = store.head(&at).await.unwrap();
//! assert_eq!(info.size, 13);
//! assert_eq!(info.metadata["dg-note"], "hello");
//! assert!(dir.path().join("releases/v1/notes.txt").is_file());
//! # });
//! ```

mod blob;
pub mod cache;
mod clock;
pub mod conformance;
mod destination;
pub mod engine;
mod rng;
#[cfg(feature = "seethrough")]
mod seethrough_expander;
mod space;
mod staging;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;

pub use blob::{FileBlob, HandleBlob};
pub use cache::{EncryptedCache, FsCache, MemoryCache};
pub use clock::SystemClock;
pub use destination::{DestinationDir, DestinationFile};
#[cfg(feature = "seethrough")]
pub use seethrough_expander::SeeThrough;
pub use staging::{DirStaging, MemoryStaging};
pub use storage::{LocalStorage, MemoryStorage};
