//! One upload as the formats see it: the file, where it goes, its hash, and notes for the user.

use dg_ports::{BlobRef, Location};

use crate::container::Fingerprint;
use crate::keys::{file_name, DeltaSpace, FileKeys};

/// What a put knows about the file. Made once the file is hashed; only the notes change later.
#[derive(Debug)]
pub(crate) struct Upload {
    source: BlobRef,
    dest: Location,
    name: String,
    space: DeltaSpace,
    sha256: String,
    size: u64,
    notes: Vec<String>,
}

impl Upload {
    /// The upload of `source` (whose SHA-256 is `sha256`) to `dest`.
    pub fn new(source: BlobRef, dest: &Location, sha256: String) -> Self {
        Upload {
            size: source.len(),
            source,
            name: file_name(&dest.key).to_string(),
            space: DeltaSpace::of(dest),
            dest: dest.clone(),
            sha256,
            notes: Vec::new(),
        }
    }

    /// The file's bytes.
    pub fn source(&self) -> &BlobRef {
        &self.source
    }

    /// Where the user asked the file to go.
    pub fn dest(&self) -> &Location {
        &self.dest
    }

    /// The file's name (the last segment of its key).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The deltaspace the file belongs to.
    pub fn space(&self) -> &DeltaSpace {
        &self.space
    }

    /// SHA-256 of the file.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Size of the file.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file's size and SHA-256.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            size: self.size,
            sha256: self.sha256.clone(),
        }
    }

    /// Notes so far, for the outcome.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Adds notes for the user.
    pub fn note(&mut self, notes: impl IntoIterator<Item = String>) {
        self.notes.extend(notes);
    }

    /// Where the file's delta goes (also where it goes whole when its name has no plain slot).
    pub fn delta_location(&self) -> Location {
        self.dest.with_key(FileKeys::of(&self.dest.key).delta)
    }

    /// Where the file goes when stored whole.
    pub fn whole_location(&self) -> Location {
        self.dest
            .with_key(FileKeys::of(&self.dest.key).whole().to_string())
    }
}
