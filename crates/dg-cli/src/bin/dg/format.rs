//! Human-readable numbers, sizes and times for command output.

use std::time::SystemTime;

/// `1234567` → `1.2 MiB` (binary units, like `aws s3 ls --human-readable`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["Bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} Bytes");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A size, human-readable or in bytes.
pub fn size(bytes: u64, human: bool) -> String {
    if human {
        human_size(bytes)
    } else {
        bytes.to_string()
    }
}

/// Percentage saved by storing `stored` bytes for `original` bytes.
pub fn savings(original: u64, stored: u64) -> String {
    if original == 0 {
        return "-".into();
    }
    format!("{:.1}%", 100.0 * (1.0 - stored as f64 / original as f64))
}

/// `2024-05-01 12:30:00` (UTC).
pub fn time(t: Option<SystemTime>) -> String {
    match t {
        Some(t) => {
            let iso = dg_core::timestamp::iso8601(t);
            iso.get(..19).unwrap_or(&iso).replace('T', " ")
        }
        None => " ".repeat(19),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(human_size(512), "512 Bytes");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(savings(100, 25), "75.0%");
        assert_eq!(time(Some(SystemTime::UNIX_EPOCH)), "1970-01-01 00:00:00");
    }
}
