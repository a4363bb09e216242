//! Native references kept whole in the cache beside their plain form, so that rebuilding a file of their deltaspace copies the streams it shares with its reference instead of compressing them again.
//!
//! A cache entry holds the reference's compressed recipe and its original bytes. It is keyed
//! by a digest of the reference's plain-form SHA-256 (which every delta names), written when
//! the reference is made or downloaded whole, and only ever used through
//! [`dg_ports::Expander::rebuild_beside`], whose output is the same with or without it and is
//! checked against the file's SHA-256 as every rebuild is.

use std::io::Write;

use dg_ports::{BlobRef, Error};
use tracing::{debug, warn};

use crate::digest::sha256_hex;
use crate::service::DeltaGlider;
use crate::transfer::blocking;

/// First bytes of an entry.
const MAGIC: &[u8; 8] = b"DGRAWv1\n";

/// Largest original kept (a rebuild maps it whole).
const MAX_ORIGINAL: u64 = 512 << 20;

/// The cache key of the whole form of the native reference whose plain form is `basis`.
pub(crate) fn key(basis: &str) -> String {
    sha256_hex(format!("dg whole reference v1\n{}", basis.to_ascii_lowercase()).as_bytes())
}

/// The parts of an entry: the compressed recipe and the original bytes.
pub(crate) fn parts(entry: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = entry.strip_prefix(MAGIC)?;
    let (len, rest) = rest.split_first_chunk::<8>()?;
    let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
    (len <= rest.len()).then(|| rest.split_at(len))
}

impl DeltaGlider {
    /// Keeps `original` (the file of the native reference whose plain form is `basis`, checked
    /// already) with its compressed recipe in the cache. Failing costs nothing but the speed-up.
    pub(crate) async fn offer_whole_reference(
        &self,
        basis: &str,
        packed_recipe: &[u8],
        original: &BlobRef,
    ) {
        if original.len() > MAX_ORIGINAL {
            return;
        }
        let staging = self.staging().clone();
        let (recipe, source) = (packed_recipe.to_vec(), original.clone());
        let entry = blocking(move || {
            let mut out = staging.create()?;
            let io = |e| Error::io("writing a cache entry", e);
            out.write_all(MAGIC).map_err(io)?;
            out.write_all(&(recipe.len() as u64).to_le_bytes())
                .map_err(io)?;
            out.write_all(&recipe).map_err(io)?;
            std::io::copy(&mut source.reader()?, &mut out).map_err(io)?;
            out.finish()
        })
        .await;
        let put = match entry {
            Ok(entry) => self.cache().put(&key(basis), entry).await,
            Err(e) => Err(e),
        };
        match put {
            Ok(()) => debug!(basis, "whole reference cached"),
            Err(e) => warn!(error = %e, "could not cache the whole reference"),
        }
    }

    /// The cached whole form of the native reference whose plain form is `basis`, if any.
    pub(crate) async fn cached_whole_reference(&self, basis: &str) -> Option<BlobRef> {
        match self.cache().get(&key(basis)).await {
            Ok(found) => found,
            Err(e) => {
                warn!(error = %e, "reference cache failed; rebuilding without the whole reference");
                None
            }
        }
    }

    /// Drops a cached whole reference that did not give the file it should have.
    pub(crate) async fn forget_whole_reference(&self, basis: &str) {
        if let Err(e) = self.cache().remove(&key(basis)).await {
            warn!(error = %e, "could not remove a cache entry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_split_into_their_parts_and_refuse_damage() {
        let mut entry = MAGIC.to_vec();
        entry.extend_from_slice(&3u64.to_le_bytes());
        entry.extend_from_slice(b"rcpfile bytes");
        assert_eq!(parts(&entry), Some((&b"rcp"[..], &b"file bytes"[..])));
        assert_eq!(parts(&entry[..10]), None);
        let mut long = MAGIC.to_vec();
        long.extend_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(parts(&long), None);
        assert_eq!(parts(b"DGRAWv2\n\0\0\0\0\0\0\0\0"), None);
        assert_ne!(key("ab"), key("ac"));
        assert_eq!(key("AB"), key("ab"));
    }
}
