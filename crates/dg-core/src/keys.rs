//! The bucket layout: deltaspaces, reference keys, delta keys, internal keys.

use dg_ports::{Error, Location, Result};

/// File name of a deltaspace's reference.
pub const REFERENCE_NAME: &str = "reference.bin";
/// Suffix of delta objects.
pub const DELTA_SUFFIX: &str = ".delta";
/// Top-level prefix of dg's internal state, never listed to users.
pub const INTERNAL_PREFIX: &str = ".deltaglider/";

/// A deltaspace: the parent "directory" of a key, holding one reference and its deltas.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeltaSpace {
    /// Bucket.
    pub bucket: String,
    /// Prefix without trailing `/`; empty at the bucket root.
    pub prefix: String,
}

impl DeltaSpace {
    /// The deltaspace of an object key: `a/b/c.zip` → `a/b`, `c.zip` → root.
    pub fn of(location: &Location) -> Self {
        let prefix = match location.key.rfind('/') {
            Some(i) => location.key.get(..i).unwrap_or_default().to_string(),
            None => String::new(),
        };
        DeltaSpace {
            bucket: location.bucket.clone(),
            prefix,
        }
    }

    /// The key of `name` inside this deltaspace.
    pub fn key_of(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{}", self.prefix, name)
        }
    }

    /// Where this deltaspace's object `name` lives.
    pub fn location_of(&self, name: &str) -> Location {
        Location::new(self.bucket.clone(), self.key_of(name))
    }

    /// Where the reference lives.
    pub fn reference(&self) -> Location {
        self.location_of(REFERENCE_NAME)
    }

    /// The listing prefix of this deltaspace (with trailing `/`, or empty at the root).
    pub fn list_prefix(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }
}

/// The last `/`-separated segment of a key.
pub fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// True for `reference.bin` keys.
pub fn is_reference_key(key: &str) -> bool {
    file_name(key) == REFERENCE_NAME
}

/// True for keys of dg's internal state.
pub fn is_internal_key(key: &str) -> bool {
    key.starts_with(INTERNAL_PREFIX) || key.contains("/.deltaglider/")
}

/// The user-facing key of a stored key: `x.zip.delta` → `x.zip`.
pub fn user_key(stored_key: &str) -> &str {
    stored_key.strip_suffix(DELTA_SUFFIX).unwrap_or(stored_key)
}

/// Checks that `location` can hold a user's file: a bucket, a file name, not one of dg's own keys.
pub fn validate_user_location(location: &Location) -> Result<()> {
    if location.bucket.is_empty() {
        return Err(Error::InvalidInput("no bucket given".into()));
    }
    let name = file_name(&location.key);
    if name.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{location} names a directory, not a file (add a file name or a trailing /)"
        )));
    }
    if name == REFERENCE_NAME {
        return Err(Error::InvalidInput(format!(
            "{location}: `{REFERENCE_NAME}` is reserved for the deltaspace's reference; rename the file"
        )));
    }
    if is_internal_key(&location.key) {
        return Err(Error::InvalidInput(format!(
            "{location}: keys under `.deltaglider/` are reserved for dg's own state"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltaspace_is_parent_prefix() {
        let ds = DeltaSpace::of(&Location::new("b", "releases/v1.2/app-1.2.zip"));
        assert_eq!(ds.prefix, "releases/v1.2");
        assert_eq!(ds.reference().key, "releases/v1.2/reference.bin");
        assert_eq!(ds.key_of("x.delta"), "releases/v1.2/x.delta");
        let root = DeltaSpace::of(&Location::new("b", "app.zip"));
        assert_eq!(root.prefix, "");
        assert_eq!(root.reference().key, "reference.bin");
        assert_eq!(root.list_prefix(), "");
    }

    #[test]
    fn reserved_names_are_refused() {
        assert!(validate_user_location(&Location::new("b", "a/reference.bin")).is_err());
        assert!(validate_user_location(&Location::new("b", ".deltaglider/x")).is_err());
        assert!(validate_user_location(&Location::new("b", "a/")).is_err());
        assert!(validate_user_location(&Location::new("b", "a/b.zip")).is_ok());
        assert_eq!(user_key("a/b.zip.delta"), "a/b.zip");
        assert!(is_internal_key("x/.deltaglider/tmp/1"));
    }
}
