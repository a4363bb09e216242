//! Which stored object holds a user's file: its own key, its `.delta`, or, for names dg gives
//! meaning to, the exact key an older writer used.
//!
//! A file `name` is stored whole at `name` or as a delta at `name.delta`. A name that ends in
//! `.delta` or is `reference.bin` has no whole slot of its own (see [`FileKeys`]); such a file
//! is stored at `name.delta`, whole or as a delta. An object at `name.delta` is accepted as
//! `name`'s only when its metadata says so ([`meta::holds_file_at_delta_slot`]): an object
//! without dg metadata there, or one stored whole under that very name, is another file.

use dg_ports::{Error, GetResult, Location, ObjectInfo, Result};

use crate::keys::{file_name, FileKeys, DELTA_SUFFIX};
use crate::meta;
use crate::service::DeltaGlider;

/// What a lookup returns: an object's info, or the object opened for reading.
pub(crate) trait Found: Send {
    fn info(&self) -> &ObjectInfo;
}

impl Found for ObjectInfo {
    fn info(&self) -> &ObjectInfo {
        self
    }
}

impl Found for GetResult {
    fn info(&self) -> &ObjectInfo {
        &self.info
    }
}

/// Where a file was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Its own key.
    Plain,
    /// Its `.delta` key.
    Delta,
    /// The exact key asked for, which is another name's `.delta` slot (or the reference).
    Exact,
}

/// True when the object found at `slot` for the file at `key` is that file's.
pub(crate) fn belongs(key: &str, slot: Slot, info: &ObjectInfo) -> bool {
    match slot {
        Slot::Plain => true,
        Slot::Delta => meta::holds_file_at_delta_slot(&info.location.key, &info.metadata),
        Slot::Exact => match key.strip_suffix(DELTA_SUFFIX) {
            // `x.delta` asked for, found at `x.delta`: accepted unless it is `x`'s object
            Some(_) => !meta::holds_file_at_delta_slot(key, &info.metadata),
            // `reference.bin` with no file of that name: the reference itself
            None => true,
        },
    }
}

/// The keys to try for the file at `key`, in order.
pub(crate) fn candidates(key: &str) -> Vec<(Slot, String)> {
    let keys = FileKeys::of(key);
    let mut out = Vec::with_capacity(3);
    if let Some(plain) = keys.plain {
        out.push((Slot::Plain, plain));
    }
    out.push((Slot::Delta, keys.delta));
    if !crate::keys::has_plain_slot(file_name(key)) {
        out.push((Slot::Exact, key.to_string()));
    }
    out
}

impl DeltaGlider {
    /// The stored object of the file at `location` (a user's key), fetched with `fetch`.
    pub(crate) async fn find<T, F, Fut>(&self, location: &Location, fetch: F) -> Result<(Slot, T)>
    where
        T: Found,
        F: Fn(Location) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        for (slot, key) in candidates(&location.key) {
            match fetch(location.with_key(key)).await {
                Ok(found) if belongs(&location.key, slot, found.info()) => {
                    return Ok((slot, found))
                }
                Ok(_) => {}
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::not_found(location))
    }

    /// The stored object of the file at `location` (a user's key): its info and metadata.
    pub async fn head_file(&self, location: &Location) -> Result<ObjectInfo> {
        let storage = self.storage();
        let (_, info) = self
            .find(location, |l| async move { storage.head(&l).await })
            .await?;
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_dg_gives_meaning_to_try_their_delta_slot_first() {
        let keys = |k: &str| -> Vec<String> { candidates(k).into_iter().map(|c| c.1).collect() };
        assert_eq!(keys("p/a.zip"), ["p/a.zip", "p/a.zip.delta"]);
        assert_eq!(keys("p/a.delta"), ["p/a.delta.delta", "p/a.delta"]);
        assert_eq!(
            keys("p/reference.bin"),
            ["p/reference.bin.delta", "p/reference.bin"]
        );
    }
}
