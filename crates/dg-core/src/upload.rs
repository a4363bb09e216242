//! One upload as the formats see it: the file, where it goes, its hash, and notes for the user.

use dg_ports::{BlobRef, Location};

use crate::container::Fingerprint;
use crate::format::native::plain::Plain;
use crate::keys::{file_name, DeltaSpace, FileKeys};
use crate::sketch::Sketch;

/// What a put knows about the file. Made once the file is hashed; later steps add notes, and
/// the first file of a deltaspace its sketch and (native) plain form, made once for all tries.
#[derive(Debug)]
pub(crate) struct Upload {
    source: BlobRef,
    dest: Location,
    name: String,
    space: DeltaSpace,
    sha256: String,
    size: u64,
    notes: Vec<String>,
    sketch: Option<Sketch>,
    plain: Option<Plain>,
    plain_known: Option<std::sync::Arc<Vec<u8>>>,
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
            sketch: None,
            plain: None,
            plain_known: None,
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
        for note in notes {
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
    }

    /// The file's similarity sketch (of its plain form in the native format), once made.
    pub fn sketch(&self) -> Option<&Sketch> {
        self.sketch.as_ref()
    }

    /// Keeps the file's sketch.
    pub fn set_sketch(&mut self, sketch: Sketch) {
        self.sketch = Some(sketch);
    }

    /// The file's plain form made already with the reference index `known` (the same
    /// index, or none for none), if any.
    pub(crate) fn plain_made_with(
        &self,
        known: Option<&std::sync::Arc<Vec<u8>>>,
    ) -> Option<&Plain> {
        let same = match (self.plain_known.as_deref(), known.map(|k| k.as_slice())) {
            (None, None) => true,
            (Some(a), Some(b)) => a.as_slice() == b,
            _ => false,
        };
        self.plain.as_ref().filter(|_| same)
    }

    /// Keeps the file's plain form (made with the reference index `known`) for the steps that
    /// follow.
    pub(crate) fn set_plain(&mut self, plain: Plain, known: Option<std::sync::Arc<Vec<u8>>>) {
        self.plain = Some(plain);
        self.plain_known = known;
    }

    /// The file's latest plain form, whatever index it was made with.
    pub(crate) fn plain(&self) -> Option<&Plain> {
        self.plain.as_ref()
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
