//! Which files are worth a delta: by extension (DeltaGlider's list and more) and by content.

/// DeltaGlider 6.2.0's allowlist (case-insensitive suffixes).
pub const DELTAGLIDER_EXTENSIONS: &[&str] = &[
    ".tar.gz", ".tar.bz2", ".tar.xz", ".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar",
    ".dmg", ".iso", ".pkg", ".deb", ".rpm", ".apk", ".jar", ".war", ".ear",
];

/// Further artifact kinds that come in series of similar versions: packages, disk images,
/// dumps, model checkpoints and binaries.
pub const EXTRA_EXTENSIONS: &[&str] = &[
    // packages and archives
    ".whl",
    ".egg",
    ".nupkg",
    ".aab",
    ".ipa",
    ".xpi",
    ".vsix",
    ".crate",
    ".gem",
    ".tbz2",
    ".tbz",
    ".txz",
    ".tzst",
    ".tar.zst",
    ".zst",
    ".lz4",
    ".lzma",
    ".lz",
    ".cpio",
    ".cab",
    ".msi",
    ".msix",
    ".appimage",
    ".snap",
    ".aar",
    ".jmod",
    // disk and VM images
    ".img",
    ".qcow2",
    ".vmdk",
    ".vhd",
    ".vhdx",
    ".vdi",
    ".raw",
    ".bin",
    ".wim",
    // database and data dumps
    ".sql",
    ".dump",
    ".bak",
    ".db",
    ".sqlite",
    ".sqlite3",
    ".csv",
    ".tsv",
    ".jsonl",
    ".ndjson",
    ".parquet",
    ".avro",
    ".orc",
    ".arrow",
    ".feather",
    // model checkpoints and tensors
    ".pt",
    ".pth",
    ".ckpt",
    ".safetensors",
    ".onnx",
    ".gguf",
    ".ggml",
    ".h5",
    ".hdf5",
    ".npz",
    ".npy",
    ".pb",
    ".tflite",
    ".mlmodel",
    ".keras",
    // executables and libraries
    ".exe",
    ".dll",
    ".so",
    ".dylib",
    ".wasm",
    ".elf",
];

/// Why a file is (or is not) delta-eligible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Eligibility {
    /// Its name ends with an eligible extension.
    Extension(String),
    /// Its first bytes identify an archive, image, dump or binary format.
    Content(&'static str),
    /// Neither.
    No,
}

impl Eligibility {
    /// True unless [`Eligibility::No`].
    pub fn is_eligible(&self) -> bool {
        !matches!(self, Eligibility::No)
    }
}

/// The rule deciding which files get deltas.
#[derive(Clone, Debug)]
pub struct DeltaPolicy {
    /// Lower-case suffixes, each starting with `.`.
    pub extensions: Vec<String>,
    /// Also recognise formats from the first bytes of the file.
    pub sniff_content: bool,
}

impl Default for DeltaPolicy {
    fn default() -> Self {
        DeltaPolicy {
            extensions: DELTAGLIDER_EXTENSIONS
                .iter()
                .chain(EXTRA_EXTENSIONS)
                .map(|s| s.to_string())
                .collect(),
            sniff_content: true,
        }
    }
}

impl DeltaPolicy {
    /// Python deltaglider's exact rule: its extension list, no content sniffing.
    pub fn deltaglider() -> Self {
        DeltaPolicy {
            extensions: DELTAGLIDER_EXTENSIONS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            sniff_content: false,
        }
    }

    /// Judges a file by its name and its first bytes (up to [`SNIFF_LEN`]).
    pub fn judge(&self, name: &str, head: &[u8]) -> Eligibility {
        let lower = name.to_ascii_lowercase();
        if let Some(ext) = self.extensions.iter().find(|e| lower.ends_with(e.as_str())) {
            return Eligibility::Extension(ext.clone());
        }
        if self.sniff_content {
            if let Some(kind) = sniff(head) {
                return Eligibility::Content(kind);
            }
        }
        Eligibility::No
    }
}

/// How many leading bytes [`DeltaPolicy::judge`] looks at.
pub const SNIFF_LEN: usize = 512;

/// Names the format of a file from its first bytes, for the kinds worth a delta.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    const MAGICS: &[(&[u8], &str)] = &[
        (b"PK\x03\x04", "zip"),
        (b"PK\x05\x06", "zip"),
        (b"PK\x07\x08", "zip"),
        (b"\x1f\x8b\x08", "gzip"),
        (b"BZh", "bzip2"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"7z\xbc\xaf\x27\x1c", "7z"),
        (b"Rar!\x1a\x07", "rar"),
        (b"!<arch>\n", "ar/deb"),
        (b"\xed\xab\xee\xdb", "rpm"),
        (b"SQLite format 3\x00", "sqlite"),
        (b"PGDMP", "pg_dump"),
        (b"\x7fELF", "elf"),
        (b"\xcf\xfa\xed\xfe", "mach-o"),
        (b"\xca\xfe\xba\xbe", "mach-o/java"),
        (b"MZ", "pe"),
        (b"\x00asm", "wasm"),
        (b"QFI\xfb", "qcow2"),
        (b"GGUF", "gguf"),
        (b"\x89HDF\r\n\x1a\n", "hdf5"),
        (b"-- MySQL dump", "mysqldump"),
        (b"-- PostgreSQL database dump", "pg_dump"),
    ];
    if let Some((_, kind)) = MAGICS.iter().find(|(m, _)| head.starts_with(m)) {
        return Some(kind);
    }
    if head.get(257..262) == Some(b"ustar") {
        return Some("tar");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltaglider_extensions_and_wheels() {
        let p = DeltaPolicy::default();
        assert!(p.judge("App-1.0.ZIP", b"").is_eligible());
        assert!(p.judge("x.tar.gz", b"").is_eligible());
        assert!(p.judge("x-1.0-py3-none-any.whl", b"").is_eligible());
        assert_eq!(p.judge("notes.txt", b"hello"), Eligibility::No);
        assert_eq!(
            p.judge("archive.data", b"PK\x03\x04rest"),
            Eligibility::Content("zip")
        );
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(p.judge("noext", &tar), Eligibility::Content("tar"));
        assert_eq!(
            DeltaPolicy::deltaglider().judge("x.whl", b"PK\x03\x04"),
            Eligibility::No
        );
    }
}
