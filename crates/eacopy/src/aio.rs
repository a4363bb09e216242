//! Async (tokio) forms of every operation: each runs the blocking one on `spawn_blocking`.

use std::path::PathBuf;

use crate::net::{Token, TransferStats};
use crate::{Config, CopyReport, DeltaReport, Error, Result};

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(format!("copy task failed: {e}")),
        })?
}

/// Async [`copyfile`](crate::copyfile).
pub async fn copyfile(
    src: impl Into<PathBuf>,
    dst: impl Into<PathBuf>,
    config: &Config,
) -> Result<u64> {
    let (src, dst, config) = (src.into(), dst.into(), config.clone());
    blocking(move || crate::copyfile(src, dst, &config)).await
}

/// Async [`copy`](crate::copy).
pub async fn copy(
    src: impl Into<PathBuf>,
    dst: impl Into<PathBuf>,
    config: &Config,
) -> Result<PathBuf> {
    let (src, dst, config) = (src.into(), dst.into(), config.clone());
    blocking(move || crate::copy(src, dst, &config)).await
}

/// Async [`copy2`](crate::copy2).
pub async fn copy2(
    src: impl Into<PathBuf>,
    dst: impl Into<PathBuf>,
    config: &Config,
) -> Result<PathBuf> {
    let (src, dst, config) = (src.into(), dst.into(), config.clone());
    blocking(move || crate::copy2(src, dst, &config)).await
}

/// Async [`copytree`](crate::copytree).
pub async fn copytree(
    src: impl Into<PathBuf>,
    dst: impl Into<PathBuf>,
    config: &Config,
) -> Result<CopyReport> {
    let (src, dst, config) = (src.into(), dst.into(), config.clone());
    blocking(move || crate::copytree(src, dst, &config)).await
}

/// Async [`batch_copy`](crate::batch_copy).
pub async fn batch_copy(pairs: Vec<(PathBuf, PathBuf)>, config: &Config) -> Result<CopyReport> {
    let config = config.clone();
    blocking(move || crate::batch_copy(&pairs, &config)).await
}

/// Async [`batch_copytree`](crate::batch_copytree).
pub async fn batch_copytree(pairs: Vec<(PathBuf, PathBuf)>, config: &Config) -> Result<CopyReport> {
    let config = config.clone();
    blocking(move || crate::batch_copytree(&pairs, &config)).await
}

/// Async [`delta_copy`](crate::delta_copy).
pub async fn delta_copy(
    src: impl Into<PathBuf>,
    dst: impl Into<PathBuf>,
    reference: impl Into<PathBuf>,
    config: &Config,
) -> Result<DeltaReport> {
    let (src, dst, reference, config) = (src.into(), dst.into(), reference.into(), config.clone());
    blocking(move || crate::delta_copy(src, dst, reference, &config)).await
}

/// Async [`copy_with_server`](crate::copy_with_server).
pub async fn copy_with_server(
    src: impl Into<PathBuf>,
    dest: &str,
    token: &Token,
    config: &Config,
) -> Result<TransferStats> {
    let (src, dest, token, config) = (src.into(), dest.to_string(), token.clone(), config.clone());
    blocking(move || crate::copy_with_server(src, &dest, &token, &config)).await
}
