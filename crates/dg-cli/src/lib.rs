//! dg for Rust applications: store versions of similar files as one reference plus small
//! binary deltas, in S3, an S3-compatible service or a local directory, and get them back
//! rebuilt and checked against their SHA-256.
//!
//! [`Client`] is what the `dg` command runs on. Build it from typed options with
//! [`Client::builder`], or from the environment the way `dg` does with [`Client::from_env`]
//! (`AWS_ENDPOINT_URL`, AWS credentials and region, `DG_CACHE_*`…). Operations:
//!
//! | | |
//! |---|---|
//! | [`Client::upload`], [`Client::put_object`] | store a file (a delta where that pays) → [`UploadSummary`] |
//! | [`Client::download`], [`Client::get_object`], [`Client::get_object_to`] | rebuild, check, and write to a file, a staged [`Object`], or any writer |
//! | [`Client::head_object`] | size, stored size, SHA-256, metadata |
//! | [`Client::list_objects`] | files under a prefix: delimiter, max keys, continuation |
//! | [`Client::delete_object`], [`Client::delete_objects`] | delete; a reference goes with its last delta |
//! | [`Client::verify`], [`Client::stats`] | check every object; what a prefix costs |
//!
//! Below those, operations on [`Location`]s return the domain's own outcomes (what the `dg`
//! command is built on): [`Client::put`], [`Client::get`], [`Client::delete_stored`],
//! [`Client::list`], [`Client::leftovers`], [`Client::bucket_settings`]…
//!
//! # Example
//!
//! ```
//! use dg::{Client, ListObjects};
//!
//! # fn main() -> dg::Result<()> {
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = tempfile::tempdir().unwrap();
//! let client = Client::builder().local_dir(store.path()).build()?;
//! client.create_bucket("releases").await?;
//!
//! // Two versions of a release that differ in a few bytes.
//! let v1: Vec<u8> = (0..400_000u32).flat_map(|i| (i * 7).to_le_bytes()).collect();
//! let mut v2 = v1.clone();
//! v2[1000..1010].copy_from_slice(b"version 2!");
//! let work = tempfile::tempdir().unwrap();
//! std::fs::write(work.path().join("app-1.0.zip"), &v1).unwrap();
//! std::fs::write(work.path().join("app-1.1.zip"), &v2).unwrap();
//!
//! client.upload(work.path().join("app-1.0.zip"), "s3://releases/app/").await?;
//! let second = client.upload(work.path().join("app-1.1.zip"), "s3://releases/app/").await?;
//! assert!(second.is_delta);
//! assert!(second.stored_size < 2_000, "{} bytes stored", second.stored_size);
//!
//! let page = client.list_objects(&ListObjects::new("releases").prefix("app/")).await?;
//! let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
//! assert_eq!(keys, ["app/app-1.0.zip", "app/app-1.1.zip"]);
//!
//! let object = client.get_object("releases", "app/app-1.1.zip").await?;
//! assert_eq!(object.to_vec()?, v2);
//! assert!(client.verify("releases", "app/").await?.is_ok());
//! # Ok(())
//! # })
//! # }
//! ```

mod aws_config;
pub mod cache;
mod client;
mod config;
mod objects;
mod settings;
pub mod stats;
mod stored;
pub mod url;

pub use cache::CacheConfig;
pub use client::Client;
pub use config::{engines, ClientBuilder};
pub use dg_core::{Checked, DeleteOutcome, Format, PutRequest, Served, Stored, VerifyReport};
pub use dg_ports::{Error, Location, Result};
pub use objects::{
    Body, DeleteObjectsOutput, DownloadSummary, ListObjects, Object, ObjectHead, ObjectList,
    ObjectSummary, UploadSummary,
};
pub use stats::{Stats, StatsCache, StatsMode, StatsOptions};
pub use stored::HOUSEKEEPING;
