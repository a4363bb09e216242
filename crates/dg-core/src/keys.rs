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

/// True for keys of dg's internal state (the bucket's top-level `.deltaglider/`, as Python
/// deltaglider has it; a `.deltaglider/` further down is an ordinary directory of files).
pub fn is_internal_key(key: &str) -> bool {
    key.starts_with(INTERNAL_PREFIX)
}

/// The user-facing key of a stored key, judged from the key alone: `x.zip.delta` → `x.zip`.
pub fn user_key(stored_key: &str) -> &str {
    stored_key.strip_suffix(DELTA_SUFFIX).unwrap_or(stored_key)
}

/// True when the file `name` may be stored whole under its own name. A name ending in
/// `.delta` would be read as another file's delta, and `reference.bin` as the deltaspace's
/// reference: such files are always stored at `<name>.delta` (as a delta, or whole with
/// `dg-compression: none`), which no other file's object can occupy.
pub fn has_plain_slot(name: &str) -> bool {
    !name.ends_with(DELTA_SUFFIX) && name != REFERENCE_NAME
}

/// The keys that may hold the file at `key` (a user's key), in the order readers try them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileKeys {
    /// `key` itself, when the file may be stored whole under its own name.
    pub plain: Option<String>,
    /// `key.delta`: the file's delta, or the file whole when it has no plain slot.
    pub delta: String,
}

impl FileKeys {
    /// The slots of the file at `key`.
    pub fn of(key: &str) -> FileKeys {
        FileKeys {
            plain: has_plain_slot(file_name(key)).then(|| key.to_string()),
            delta: format!("{key}{DELTA_SUFFIX}"),
        }
    }

    /// Where the file goes when stored whole.
    pub fn whole(&self) -> &str {
        self.plain.as_deref().unwrap_or(&self.delta)
    }
}

/// Checks that `location` can hold a user's file: a bucket, a file name, not dg's own state.
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
    if is_internal_key(&location.key) {
        return Err(Error::InvalidInput(format!(
            "{location}: keys under the bucket's top-level `.deltaglider/` are reserved for dg's own state; store the file under another prefix"
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
        assert!(validate_user_location(&Location::new("b", ".deltaglider/x")).is_err());
        assert!(validate_user_location(&Location::new("b", "a/")).is_err());
        assert!(validate_user_location(&Location::new("b", "a/b.zip")).is_ok());
        // names dg gives meaning to are stored apart, not refused
        assert!(validate_user_location(&Location::new("b", "a/reference.bin")).is_ok());
        assert!(validate_user_location(&Location::new("b", "a/.deltaglider/x")).is_ok());
        assert_eq!(user_key("a/b.zip.delta"), "a/b.zip");
        assert!(!is_internal_key("x/.deltaglider/tmp/1"));
        assert!(is_internal_key(".deltaglider/tmp/1"));
    }

    #[test]
    fn names_dg_gives_meaning_to_have_no_plain_slot() {
        let plain = FileKeys::of("p/app.zip");
        assert_eq!(plain.plain.as_deref(), Some("p/app.zip"));
        assert_eq!(plain.delta, "p/app.zip.delta");
        assert_eq!(plain.whole(), "p/app.zip");
        for key in [
            "p/app.zip.delta",
            "p/reference.bin",
            "reference.bin",
            "x.delta",
        ] {
            let slots = FileKeys::of(key);
            assert_eq!(slots.plain, None, "{key}");
            assert_eq!(slots.whole(), format!("{key}.delta"));
        }
        // `reference.bin.x` and `x.deltas` are ordinary names
        assert!(has_plain_slot("reference.bin.x"));
        assert!(has_plain_slot("x.deltas"));
    }
}
