//! Object metadata in the DeltaGlider format: field names and aliases, and what kind an object is.

use dg_ports::{Error, Metadata, Result};

/// Metadata fields, by their canonical `dg-` name (the spelling dg writes).
pub mod field {
    /// Writer and version, e.g. `dg/0.1.0`.
    pub const TOOL: &str = "dg-tool";
    /// `reference`, `zero-diff (reference identical)`, or the proxy's `delta`/`passthrough`.
    pub const NOTE: &str = "dg-note";
    /// Original file name that became a reference.
    pub const SOURCE_NAME: &str = "dg-source-name";
    /// Original file name of a delta or direct object.
    pub const ORIGINAL_NAME: &str = "dg-original-name";
    /// SHA-256 of the original bytes.
    pub const FILE_SHA256: &str = "dg-file-sha256";
    /// Original size in bytes.
    pub const FILE_SIZE: &str = "dg-file-size";
    /// ISO-8601 UTC creation time.
    pub const CREATED_AT: &str = "dg-created-at";
    /// Bucket-relative key of the reference a delta was made against.
    pub const REF_KEY: &str = "dg-ref-key";
    /// Reference path relative to the deltaspace (written by deltaglider_proxy).
    pub const REF_PATH: &str = "dg-ref-path";
    /// SHA-256 of the reference a delta was made against.
    pub const REF_SHA256: &str = "dg-ref-sha256";
    /// Size of the delta body.
    pub const DELTA_SIZE: &str = "dg-delta-size";
    /// Informational command line that makes such a delta.
    pub const DELTA_CMD: &str = "dg-delta-cmd";
    /// `none` on direct objects.
    pub const COMPRESSION: &str = "dg-compression";
    /// The diff engine that wrote a delta (dg's own addition; informational, readers sniff).
    pub const ENGINE: &str = "dg-engine";
    /// `dgx1` on objects in dg's native format (dg's own addition).
    pub const FORMAT: &str = "dg-format";
    /// SHA-256 of a native reference's plain form: what its deltas are made against.
    pub const PLAIN_SHA256: &str = "dg-plain-sha256";
    /// Size of a native object's plain form.
    pub const PLAIN_SIZE: &str = "dg-plain-size";
    /// SHA-256 of a native reference's index of compressed streams (its STREAMS section).
    pub const STREAMS_SHA256: &str = "dg-streams-sha256";
    /// How a native object's plain form was made (expander notes), informational.
    pub const SEE_THROUGH: &str = "dg-see-through";
    /// How many compressed streams a native reference's file has (0: none seen through).
    pub const STREAM_COUNT: &str = "dg-streams";
    /// A reference's similarity sketch (see `dg_core::sketch`), which ranks it for files of
    /// other deltaspaces.
    pub const SKETCH: &str = "dg-sketch";
}

/// `dg-format` of native objects.
pub const FORMAT_NATIVE: &str = "dgx1";

/// True when metadata marks an object as dg's native format.
pub fn is_native(meta: &Metadata) -> bool {
    get(meta, field::FORMAT) == Some(FORMAT_NATIVE)
}

/// The note dg writes on references.
pub const NOTE_REFERENCE: &str = "reference";
/// The note on the self-delta written with a new reference.
pub const NOTE_ZERO_DIFF: &str = "zero-diff (reference identical)";

/// Reads a field in any spelling writers have used: `dg-x-y`, `dg_x_y`, `x_y`, `x-y`.
/// Empty values count as absent.
pub fn get<'a>(meta: &'a Metadata, canonical: &str) -> Option<&'a str> {
    let bare = canonical.strip_prefix("dg-").unwrap_or(canonical);
    let bare_underscore = bare.replace('-', "_");
    let candidates = [
        canonical.to_string(),
        format!("dg_{bare_underscore}"),
        bare_underscore.clone(),
        bare.to_string(),
    ];
    candidates
        .iter()
        .filter_map(|k| meta.get(k.as_str()))
        .map(String::as_str)
        .find(|v| !v.is_empty())
}

/// Reads a decimal size field.
pub fn get_u64(meta: &Metadata, canonical: &str, what: &str) -> Result<Option<u64>> {
    match get(meta, canonical) {
        None => Ok(None),
        Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
            Error::invalid(
                format!("metadata of {what}"),
                format!("{canonical} is not a number: {v:?}"),
            )
        }),
    }
}

/// What a stored object is, judged from its metadata as Python deltaglider 6.2.0 and
/// deltaglider_proxy judge it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// No dg metadata: an ordinary object, returned as it is.
    Plain,
    /// Stored whole, with a SHA-256 to check.
    Direct {
        /// Expected SHA-256 of the body.
        sha256: String,
    },
    /// A deltaspace reference.
    Reference {
        /// Expected SHA-256 of the body.
        sha256: String,
    },
    /// A delta against a reference.
    Delta(DeltaInfo),
}

/// What a delta's metadata says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeltaInfo {
    /// SHA-256 of the rebuilt file.
    pub file_sha256: String,
    /// Size of the rebuilt file, when recorded.
    pub file_size: Option<u64>,
    /// Bucket-relative key of the reference.
    pub ref_key: String,
    /// SHA-256 the reference must have.
    pub ref_sha256: Option<String>,
    /// Original file name, when recorded.
    pub original_name: Option<String>,
}

/// Classifies an object at `key` from its metadata.
pub fn classify(key: &str, meta: &Metadata) -> Result<ObjectKind> {
    let Some(sha256) = sha256_field(key, meta, field::FILE_SHA256)? else {
        return Ok(ObjectKind::Plain);
    };
    if get(meta, field::COMPRESSION) == Some("none") {
        return Ok(ObjectKind::Direct { sha256 });
    }
    let note = get(meta, field::NOTE);
    if note == Some("passthrough") {
        return Ok(ObjectKind::Direct { sha256 });
    }
    let ref_key = match (get(meta, field::REF_KEY), get(meta, field::REF_PATH)) {
        (Some(k), _) => Some(k.trim_start_matches('/').to_string()),
        (None, Some(p)) => {
            let ds = crate::keys::DeltaSpace::of(&dg_ports::Location::new("", key));
            Some(ds.key_of(p.trim_start_matches('/')))
        }
        (None, None) => None,
    };
    match ref_key {
        Some(ref_key) => {
            check_ref_key(key, &ref_key)?;
            Ok(ObjectKind::Delta(DeltaInfo {
            file_sha256: sha256,
            file_size: get_u64(meta, field::FILE_SIZE, key)?,
            ref_key,
            ref_sha256: sha256_field(key, meta, field::REF_SHA256)?,
            original_name: get(meta, field::ORIGINAL_NAME).map(str::to_string),
            }))
        }
        None if note == Some(NOTE_REFERENCE) || crate::keys::is_reference_key(key) => {
            Ok(ObjectKind::Reference { sha256 })
        }
        None if key.ends_with(crate::keys::DELTA_SUFFIX) => Err(Error::invalid(
            format!("metadata of {key}"),
            "it records the file's SHA-256 but neither the reference it was made against (dg-ref-key) nor that it is stored whole (dg-compression: none); the object cannot be rebuilt",
        )),
        None => Ok(ObjectKind::Direct { sha256 }),
    }
}

/// A SHA-256 field, lowercased; a value that is not 64 hex digits is invalid metadata (not a
/// checksum that fails to match later).
fn sha256_field(key: &str, meta: &Metadata, canonical: &str) -> Result<Option<String>> {
    match get(meta, canonical).map(str::trim) {
        None => Ok(None),
        Some(v) if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Some(v.to_ascii_lowercase()))
        }
        Some(v) => Err(Error::invalid(
            format!("metadata of {key}"),
            format!("{canonical} is not a SHA-256 (64 hex digits): {v:?}"),
        )),
    }
}

/// A delta is read against a `reference.bin` of its bucket: its own deltaspace's, or another
/// deltaspace's that it shares (as Python deltaglider 6.2.0 reads `dirname(dg-ref-key)/reference.bin`).
/// A `dg-ref-key` naming any other object (another file, dg's internal state) is refused before
/// anything is read.
fn check_ref_key(key: &str, ref_key: &str) -> Result<()> {
    let plain_segments = ref_key
        .split('/')
        .rev()
        .skip(1)
        .all(|segment| !matches!(segment, "" | "." | ".."));
    if crate::keys::is_reference_key(ref_key)
        && (!crate::keys::is_internal_key(ref_key) || crate::layers::is_layer_key(ref_key))
        && plain_segments
    {
        return Ok(());
    }
    Err(Error::invalid(
        format!("metadata of {key}"),
        format!(
            "its dg-ref-key names {ref_key:?}, which is not a deltaspace's reference (`<prefix>/reference.bin`, no empty, `.` or `..` segments); dg rebuilds deltas only against references"
        ),
    ))
}

/// True when the object at `delta_key` (`<name>.delta`) holds the file `<name>` — its delta,
/// or the file stored whole there — and not a file that is itself called `<name>.delta`: an
/// object without dg metadata, or one stored whole by a writer that kept `<name>.delta` as the
/// file's own name (Python deltaglider and earlier dg releases did).
pub fn holds_file_at_delta_slot(delta_key: &str, meta: &Metadata) -> bool {
    if get(meta, field::FILE_SHA256).is_none() {
        return false;
    }
    let whole = get(meta, field::COMPRESSION) == Some("none")
        || get(meta, field::NOTE) == Some("passthrough");
    let own_name = crate::keys::file_name(delta_key);
    !(whole && get(meta, field::ORIGINAL_NAME) == Some(own_name))
}

/// Builds a metadata map from `(field, value)` pairs.
pub fn build<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Metadata {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> Metadata {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_every_spelling() {
        for k in [
            "dg-file-sha256",
            "dg_file_sha256",
            "file_sha256",
            "file-sha256",
        ] {
            assert_eq!(get(&m(&[(k, "ab")]), field::FILE_SHA256), Some("ab"));
        }
        assert_eq!(get(&m(&[("dg-file-sha256", "")]), field::FILE_SHA256), None);
        assert_eq!(
            get(&m(&[("compression", "none")]), field::COMPRESSION),
            Some("none")
        );
    }

    #[test]
    fn classifies_like_python_and_proxy() {
        assert_eq!(classify("k", &m(&[])).unwrap(), ObjectKind::Plain);
        assert_eq!(
            classify(
                "k",
                &m(&[
                    ("dg-file-sha256", &"AA".repeat(32)),
                    ("dg-compression", "none")
                ])
            )
            .unwrap(),
            ObjectKind::Direct {
                sha256: "aa".repeat(32)
            }
        );
        assert_eq!(
            classify(
                "k",
                &m(&[
                    ("dg-file-sha256", &"aa".repeat(32)),
                    ("dg-note", "passthrough")
                ])
            )
            .unwrap(),
            ObjectKind::Direct {
                sha256: "aa".repeat(32)
            }
        );
        let proxy = classify(
            "p/x.zip.delta",
            &m(&[
                ("dg-file-sha256", &"aa".repeat(32)),
                ("dg-ref-path", "reference.bin"),
                ("dg-ref-sha256", &"bb".repeat(32)),
                ("dg-file-size", "12"),
            ]),
        )
        .unwrap();
        let ObjectKind::Delta(info) = proxy else {
            panic!("not a delta")
        };
        assert_eq!(info.ref_key, "p/reference.bin");
        assert_eq!(info.file_size, Some(12));
        assert_eq!(
            classify(
                "p/reference.bin",
                &m(&[
                    ("dg-file-sha256", &"aa".repeat(32)),
                    ("dg-note", "reference")
                ])
            )
            .unwrap(),
            ObjectKind::Reference {
                sha256: "aa".repeat(32)
            }
        );
        assert!(classify(
            "k",
            &m(&[
                ("dg-file-sha256", &"aa".repeat(32)),
                ("dg-ref-key", "r"),
                ("dg-file-size", "x")
            ])
        )
        .is_err());
    }

    #[test]
    fn a_sha256_that_is_not_one_is_invalid_metadata() {
        let bad_hex = "zz".repeat(32);
        for (field, value) in [
            ("dg-file-sha256", "abc123"),
            ("dg-file-sha256", bad_hex.as_str()),
            ("dg-ref-sha256", "not-a-sha"),
        ] {
            let mut pairs = vec![
                ("dg-file-sha256", "ab".repeat(32)),
                ("dg-ref-key", "p/reference.bin".to_string()),
            ];
            pairs.retain(|(k, _)| *k != field);
            pairs.push((field, value.to_string()));
            let meta: Metadata = pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let err = classify("p/x.zip.delta", &meta).unwrap_err().to_string();
            assert!(
                err.contains(field) && err.contains("64 hex digits"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_delta_may_name_any_deltaspaces_reference_but_nothing_else() {
        let delta = |ref_key: &str| {
            classify(
                "rel/1.1/app.zip.delta",
                &m(&[
                    ("dg-file-sha256", &"aa".repeat(32)),
                    ("dg-ref-key", ref_key),
                ]),
            )
        };
        for shared in [
            "rel/1.0/reference.bin",
            "reference.bin",
            "/other/deep/reference.bin",
        ] {
            assert!(
                matches!(delta(shared), Ok(ObjectKind::Delta(_))),
                "{shared}"
            );
        }
        for hostile in [
            "rel/1.0/app.zip.delta",
            "rel/1.0/notes.txt",
            ".deltaglider/refs/reference.bin",
            ".deltaglider/layers/../reference.bin",
            "rel/../secret/reference.bin",
            "rel/./reference.bin",
            "rel//reference.bin",
            "rel/reference.bin/",
        ] {
            assert!(delta(hostile).is_err(), "{hostile}");
        }
    }
}
