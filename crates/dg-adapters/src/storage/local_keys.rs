//! How the local store names files for keys: every key S3 allows maps to a path below the
//! bucket's directory and back, and ordinary keys map to themselves.
//!
//! A key is split at `/` into segments. A segment is used as the file name as it is when it can
//! be one: not empty, not `.` or `..`, no NUL, at most 255 bytes, and not starting with `%%`.
//! Any other segment is written as `%%=` followed by the segment with `%` and NUL
//! percent-encoded (`%25`, `%00`): `a//b` is stored as `a/%%=/b`, `..` as `%%=..`. A segment
//! whose name would still exceed 255 bytes continues through directories named `%%+<piece>`,
//! the last piece named `%%=<piece>`: a 1,000-byte segment is four nested names. No literal
//! name starts with `%%`, so every path decodes to exactly one key.
//!
//! A directory segment named like an object dg keeps beside a file (`reference.bin`, or
//! anything ending in `.delta`) is escaped too, so that a user's directory `x.delta/` and the
//! delta of the file `x`, or a directory `reference.bin/` and the deltaspace's reference, are
//! never the same path. Stores written before this rule are still read
//! ([`legacy_path`]).

use std::path::PathBuf;

/// Longest file name Linux file systems take.
const NAME_MAX: usize = 255;
/// Longest piece of an encoded segment in one name (leaves room for the 3-byte marker).
const PIECE: usize = 250;
/// Marks a name that ends a segment in encoded form.
pub(crate) const END: &str = "%%=";
/// Marks a name that holds the start of a segment continued in the directory below.
pub(crate) const MORE: &str = "%%+";

/// The path (relative to the bucket's directory) of the object at `key`.
pub(crate) fn key_path(key: &str) -> PathBuf {
    let mut path = PathBuf::new();
    let segments: Vec<&str> = key.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.into_iter().enumerate() {
        let names = if i < last && names_dg_object(segment) {
            vec![format!("{END}{}", percent(segment))]
        } else {
            segment_names(segment)
        };
        for name in names {
            path.push(name);
        }
    }
    path
}

/// The directory (relative to the bucket's directory) that holds the keys starting with
/// `dirs/`: every segment of `dirs` is a directory, escaped as [`key_path`] escapes directories.
pub(crate) fn dir_path(dirs: &str) -> PathBuf {
    let mut path = key_path(&format!("{dirs}/_"));
    path.pop();
    path
}

/// Where an older version of this store kept the directory [`dir_path`] names, when that
/// differs.
pub(crate) fn legacy_dir_path(dirs: &str) -> Option<PathBuf> {
    legacy_path(&format!("{dirs}/_")).map(|mut path| {
        path.pop();
        path
    })
}

/// True for names dg gives its own objects next to a file (see the module docs).
fn names_dg_object(segment: &str) -> bool {
    segment == "reference.bin" || segment.ends_with(".delta")
}

/// Where an older version of this store put `key`, when that differs from [`key_path`]: keys
/// with a directory named like one of dg's objects were stored literally.
pub(crate) fn legacy_path(key: &str) -> Option<PathBuf> {
    let segments: Vec<&str> = key.split('/').collect();
    let last = segments.len().saturating_sub(1);
    let differs = segments
        .iter()
        .take(last)
        .any(|s| names_dg_object(s) && segment_names(s).len() == 1 && segment_names(s)[0] == *s);
    differs.then(|| segments.iter().collect())
}

/// The file names, outermost first, that hold one key segment.
pub(crate) fn segment_names(segment: &str) -> Vec<String> {
    let literal = !segment.is_empty()
        && segment != "."
        && segment != ".."
        && !segment.contains('\0')
        && !segment.starts_with("%%")
        && segment.len() <= NAME_MAX;
    if literal {
        return vec![segment.to_string()];
    }
    let encoded = percent(segment);
    if END.len() + encoded.len() <= NAME_MAX {
        return vec![format!("{END}{encoded}")];
    }
    let pieces = split_pieces(&encoded);
    let last = pieces.len().saturating_sub(1);
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, p)| format!("{}{p}", if i == last { END } else { MORE }))
        .collect()
}

/// What one file name contributes to a key, read back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Name {
    /// A whole segment, or the end of one.
    Segment(String),
    /// The start of a segment continued below (a directory).
    More(String),
}

/// Reads a file name written by [`segment_names`]; `None` for names this store never writes
/// (a malformed escape).
pub(crate) fn read_name(name: &str) -> Option<Name> {
    if let Some(rest) = name.strip_prefix(END) {
        return unpercent(rest).map(Name::Segment);
    }
    if let Some(rest) = name.strip_prefix(MORE) {
        return unpercent(rest).map(Name::More);
    }
    if name.starts_with("%%") {
        return None;
    }
    Some(Name::Segment(name.to_string()))
}

fn percent(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() + 8);
    for c in segment.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\0' => out.push_str("%00"),
            c => out.push(c),
        }
    }
    out
}

fn unpercent(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('%') {
        out.push_str(rest.get(..i)?);
        let code = rest.get(i + 1..i + 3)?;
        match code {
            "25" => out.push('%'),
            "00" => out.push('\0'),
            _ => return None,
        }
        rest = rest.get(i + 3..)?;
    }
    out.push_str(rest);
    Some(out)
}

/// Splits an encoded segment into pieces of at most [`PIECE`] bytes, never inside a character
/// or a `%XX` escape.
fn split_pieces(encoded: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = encoded;
    while rest.len() > PIECE {
        let mut cut = PIECE;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        // an escape is 3 bytes: back off if one starts in the last two (looked for byte by
        // byte: `%` is ASCII, and the byte before it may be the end of a wider character)
        let from = cut.saturating_sub(2);
        if let Some(p) = rest.as_bytes()[from..cut].iter().rposition(|&b| b == b'%') {
            cut = from + p;
        }
        let (piece, tail) = rest.split_at(cut);
        pieces.push(piece);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    /// Reads a key back from the names of its path, as the store's listing does.
    fn read_back(path: &std::path::Path) -> Option<String> {
        let mut key = String::new();
        let mut continuing = false;
        let names: Vec<_> = path.iter().map(|n| n.to_str().unwrap()).collect();
        for (i, name) in names.iter().enumerate() {
            if i > 0 && !continuing {
                key.push('/');
            }
            match read_name(name)? {
                Name::Segment(s) => {
                    key.push_str(&s);
                    continuing = false;
                }
                Name::More(s) => {
                    key.push_str(&s);
                    continuing = true;
                }
            }
        }
        (!continuing).then_some(key)
    }

    #[test]
    fn ordinary_keys_are_their_own_paths() {
        assert_eq!(key_path("a/b/c.zip"), PathBuf::from("a/b/c.zip"));
        assert_eq!(key_path("x 100%.txt"), PathBuf::from("x 100%.txt"));
        assert_eq!(key_path("a//b"), PathBuf::from("a/%%=/b"));
        assert_eq!(key_path("/lead"), PathBuf::from("%%=/lead"));
        assert_eq!(key_path("p/../x"), PathBuf::from("p/%%=../x"));
        assert_eq!(key_path("p/./x"), PathBuf::from("p/%%=./x"));
        assert_eq!(key_path("dir/"), PathBuf::from("dir/%%="));
        assert_eq!(key_path("%%x"), PathBuf::from("%%=%25%25x"));
        assert_eq!(read_name("%%=%2"), None);
        // directories named like dg's own objects never meet them
        assert_eq!(
            key_path("p/reference.bin/x"),
            PathBuf::from("p/%%=reference.bin/x")
        );
        assert_eq!(key_path("p/x.delta/y"), PathBuf::from("p/%%=x.delta/y"));
        assert_eq!(key_path("p/x.delta"), PathBuf::from("p/x.delta"));
        assert_eq!(
            legacy_path("p/x.delta/y"),
            Some(PathBuf::from("p/x.delta/y"))
        );
        assert_eq!(legacy_path("p/x/y"), None);
        assert_eq!(
            dir_path("p/reference.bin"),
            PathBuf::from("p/%%=reference.bin")
        );
        assert_eq!(dir_path("p/x.delta/q"), PathBuf::from("p/%%=x.delta/q"));
        assert_eq!(dir_path("a//b"), PathBuf::from("a/%%=/b"));
        assert_eq!(
            legacy_dir_path("p/reference.bin"),
            Some(PathBuf::from("p/reference.bin"))
        );
        assert_eq!(legacy_dir_path("p/q"), None);
        assert_eq!(read_name("%%odd"), None);
    }

    #[test]
    fn an_escape_after_a_wide_character_at_a_piece_boundary_stays_whole() {
        // found on CI: `%` as the last byte of a piece, after a three-byte character
        for pad in 0..8 {
            let key = format!(
                "{}{}\u{a47}%{}",
                "a".repeat(pad),
                "\u{a47}".repeat(82),
                "b".repeat(300)
            );
            let path = key_path(&key);
            assert!(path.iter().all(|n| n.len() <= NAME_MAX));
            assert_eq!(read_back(&path), Some(key), "pad {pad}");
        }
    }

    #[test]
    fn long_segments_nest() {
        let long = "é".repeat(600); // 1,200 bytes
        let path = key_path(&format!("p/{long}.delta"));
        assert!(path.iter().all(|n| n.len() <= NAME_MAX));
        assert!(path.iter().count() > 3);
        assert_eq!(read_back(&path).unwrap(), format!("p/{long}.delta"));
    }

    proptest! {
        #[test]
        fn every_key_round_trips(key in "(\\PC|[\\x00-\\x1f%/.]){0,300}") {
            let path = key_path(&key);
            prop_assert!(path.iter().all(|n| n.len() <= NAME_MAX && !n.is_empty()));
            prop_assert!(path.iter().all(|n| n != "." && n != ".."));
            prop_assert_eq!(read_back(&path), Some(key));
        }
    }
}
