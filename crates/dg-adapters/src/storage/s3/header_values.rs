//! User metadata values as HTTP headers carry them: a value with control characters (a file
//! name with a tab, say) is sent as an RFC 2047 encoded word, `=?UTF-8?B?…?=`, which is also
//! how AWS S3 itself returns values that are not plain ASCII; encoded words are decoded on
//! every read.

use std::borrow::Cow;

use base64::Engine as _;

/// `value` as a header can carry it. HTTP drops whitespace around a header's value and SigV4
/// folds runs of spaces inside it, so such values travel encoded too.
pub(crate) fn encode(value: &str) -> Cow<'_, str> {
    let sendable =
        !value.chars().any(char::is_control) && value.trim() == value && !value.contains("  ");
    if sendable && !value.starts_with("=?") {
        return Cow::Borrowed(value);
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(value.as_bytes());
    Cow::Owned(format!("=?UTF-8?B?{b64}?="))
}

/// A header's value as it was written: encoded words (`B` or `Q`, UTF-8 or ASCII) decoded,
/// anything else as it is.
pub(crate) fn decode(value: &str) -> String {
    let Some(inner) = value
        .trim()
        .strip_prefix("=?")
        .and_then(|v| v.strip_suffix("?="))
    else {
        return value.to_string();
    };
    let mut parts = inner.splitn(3, '?');
    let (Some(charset), Some(encoding), Some(text)) = (parts.next(), parts.next(), parts.next())
    else {
        return value.to_string();
    };
    if !matches!(charset.to_ascii_lowercase().as_str(), "utf-8" | "us-ascii") {
        return value.to_string();
    }
    let bytes = match encoding {
        "B" | "b" => base64::engine::general_purpose::STANDARD.decode(text).ok(),
        "Q" | "q" => quoted(text),
        _ => None,
    };
    bytes
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| value.to_string())
}

/// RFC 2047 `Q` encoding: `_` is a space, `=XX` a byte.
fn quoted(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_control_characters_travel_encoded_and_come_back() {
        for value in [
            "app-1.0.zip",
            "caf\u{e9}.zip",
            "a\u{b}b\n.delta",
            "=?odd",
            "",
            "\t",
            " lead",
            "trail ",
            "two  spaces",
            "tab\tinside",
        ] {
            assert_eq!(decode(&encode(value)), value, "{value:?}");
        }
        assert_eq!(encode("plain"), "plain");
        assert_eq!(encode("caf\u{e9}"), "caf\u{e9}", "non-ASCII goes as it is");
        assert!(encode("a\u{1b}b").starts_with("=?UTF-8?B?"));
        assert!(encode("\t").starts_with("=?UTF-8?B?"));
        assert!(encode("x ").starts_with("=?UTF-8?B?"));
        assert_eq!(encode("one space"), "one space");
        // what AWS returns for non-ASCII values
        assert_eq!(decode("=?UTF-8?B?Y2Fmw6k=?="), "caf\u{e9}");
        assert_eq!(decode("=?UTF-8?Q?caf=C3=A9_x?="), "caf\u{e9} x");
        assert_eq!(decode("=?UTF-8?B?!!?="), "=?UTF-8?B?!!?=");
    }
}
