//! The dg domain: store files as deltas against a per-deltaspace reference, rebuild them on
//! download, and check SHA-256 on every write and read.
//!
//! `dg-core` decides; it does no I/O of its own. It talks to storage, caches, scratch space,
//! diff engines and the clock only through the ports of [`dg_ports`], so the same code runs
//! against S3, a local directory or memory.
//!
//! - [`DeltaGlider::put`]: the deltaspace of `a/b/app-1.2.zip` is `a/b`; the first
//!   delta-eligible file there becomes `a/b/reference.bin` (created only if absent, so racing
//!   writers agree on one), later ones become `a/b/<name>.delta`. A delta larger than the max
//!   ratio (0.5) is not kept: the file is stored whole. Every delta is decoded and checked
//!   before it is written. The first file of a deltaspace may instead share a similar sibling
//!   prefix's reference ([`ReferenceScope`]), and native deltaspaces whose files drift gain
//!   newer references ([`layers`]).
//! - [`DeltaGlider::get`]: resolves `<name>` or `<name>.delta`, checks the reference's and the
//!   file's SHA-256, and only then finishes the output.
//! - [`DeltaGlider::list`], [`DeltaGlider::delete`], [`DeltaGlider::verify`].
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use dg_adapters::{engine::{ZstdCompressor, ZstdEngine}, MemoryCache, MemoryStaging, MemoryStorage, SystemClock};
//! use dg_core::{DeltaGlider, EngineSet, Ports, Config, PutRequest, Served};
//! use dg_ports::{BytesBlob, Location, Staging};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let storage = Arc::new(MemoryStorage::new());
//! storage.create_bucket_now("releases");
//! let staging: Arc<dyn Staging> = Arc::new(MemoryStaging::default());
//! let dg = DeltaGlider::new(
//!     Ports {
//!         storage,
//!         cache: Arc::new(MemoryCache::new(64 << 20)),
//!         staging: staging.clone(),
//!         engines: EngineSet::new(vec![Arc::new(ZstdEngine::default())]),
//!         clock: Arc::new(SystemClock),
//!         compressor: Some(Arc::new(ZstdCompressor::default())),
//!         expander: None,
//!     },
//!     Config::default(),
//! );
//! let v1: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
//! let mut v2 = v1.clone();
//! v2[5000] ^= 1;
//! dg.put(BytesBlob::shared(v1), &Location::new("releases", "app/app-1.0.zip"), &PutRequest::default()).await.unwrap();
//! let out = dg.put(BytesBlob::shared(v2.clone()), &Location::new("releases", "app/app-1.1.zip"), &PutRequest::default()).await.unwrap();
//! assert!(out.stored_size < 1000, "a one-byte change costs a small delta");
//!
//! let back = dg.get(&Location::new("releases", "app/app-1.1.zip"), staging.create().unwrap()).await.unwrap();
//! assert_eq!(back.served, Served::Delta);
//! assert_eq!(&*back.blob.map().unwrap(), &v2[..]);
//! # });
//! ```

pub mod bucket_settings;
mod codec;
pub mod container;
mod delete;
pub mod digest;
mod engines;
mod format;
mod get;
pub mod housekeeping;
pub mod keys;
pub mod layers;
mod list;
pub mod meta;
mod nearby;
pub mod policy;
mod put;
mod reference;
mod resolve;
mod service;
mod shared;
pub mod sketch;
pub mod stats;
mod stored;
mod stream_index;
pub mod timestamp;
mod transfer;
mod upload;
mod verify;

pub use bucket_settings::{BucketSettings, SETTINGS_KEY};
pub use delete::DeleteOutcome;
pub use dg_ports::Level;
pub use engines::{EngineChoice, EngineSet};
pub use get::{GetOutcome, Served};
pub use list::{entry_location, Entry, ListQuery, Listing, Skipped};
pub use nearby::ReferenceScope;
pub use put::PutRequest;
pub use service::{Config, DeltaGlider, Format, Ports};
pub use shared::SHARED_PREFIX;
pub use stored::{DirectReason, PutOutcome, Stored};
pub use verify::{Checked, Discard, Leftovers, VerifyReport, TMP_PREFIX};
