//! Housekeeping rules: which leftovers (expired temporary objects, references no delta uses)
//! may be deleted, and when.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDateTime, Utc};
use dg_ports::ObjectInfo;

/// What a leftover is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeftoverKind {
    /// A temporary object under `.deltaglider/tmp/` (Python's rehydration writes them).
    Temp,
    /// A reference whose deltaspace holds no delta.
    Orphan,
}

impl LeftoverKind {
    /// How messages name it.
    pub fn name(self) -> &'static str {
        match self {
            LeftoverKind::Temp => "temporary file",
            LeftoverKind::Orphan => "orphan reference",
        }
    }
}

/// True when `info` was last written more than `grace` before `now`. A store that gives no
/// time could be holding a reference an upload is writing its first delta against: such an
/// object counts as old only when no grace period was asked for.
pub fn older_than(info: &ObjectInfo, grace: Duration, now: SystemTime) -> bool {
    match info.last_modified {
        Some(t) => now
            .duration_since(t)
            .map(|age| age >= grace)
            .unwrap_or(false),
        None => grace.is_zero(),
    }
}

/// Why a temporary file may go, or `None` to keep it.
fn temp_verdict(info: &ObjectInfo, grace: Duration, now: SystemTime) -> Option<String> {
    match info.metadata.get("dg-expires-at") {
        Some(text) => match parse_expiry(text) {
            Some(at) if at <= now => Some(format!("expired {text}")),
            Some(_) => None,
            None => {
                tracing::warn!(object = %info.location, "unreadable dg-expires-at {text:?}");
                older_than(info, grace, now).then(|| "no readable expiry, old".to_string())
            }
        },
        None => older_than(info, grace, now).then(|| "no expiry, old".to_string()),
    }
}

/// Parses Python's `datetime.isoformat()` output (with or without an offset; naive is UTC).
pub fn parse_expiry(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(&text.replace(' ', "T")) {
        return Some(t.with_timezone(&Utc).into());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().into());
        }
    }
    None
}

/// Why the leftover `info` (of `kind`) may be deleted at `now`, or `None` to keep it.
/// `grace`: how old an object without a readable expiry must be.
pub fn verdict(
    kind: LeftoverKind,
    info: &ObjectInfo,
    grace: Duration,
    now: SystemTime,
) -> Option<String> {
    match kind {
        LeftoverKind::Temp => temp_verdict(info, grace, now),
        LeftoverKind::Orphan => {
            older_than(info, grace, now).then(|| "no delta uses it".to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_object_without_a_time_is_old_only_without_a_grace_period() {
        let now = SystemTime::now();
        let mut info = ObjectInfo {
            location: dg_ports::Location::new("b", "s/reference.bin"),
            size: 1,
            last_modified: None,
            etag: None,
            metadata: Default::default(),
        };
        assert!(!older_than(&info, Duration::from_secs(3600), now));
        assert!(older_than(&info, Duration::ZERO, now));
        info.last_modified = Some(now - Duration::from_secs(7200));
        assert!(older_than(&info, Duration::from_secs(3600), now));
        info.last_modified = Some(now - Duration::from_secs(60));
        assert!(!older_than(&info, Duration::from_secs(3600), now));
    }

    #[test]
    fn reads_python_isoformat() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_566_600);
        assert_eq!(parse_expiry("2024-05-01T12:30:00+00:00"), Some(t));
        assert_eq!(parse_expiry("2024-05-01T12:30:00Z"), Some(t));
        assert_eq!(parse_expiry("2024-05-01T14:30:00+02:00"), Some(t));
        assert_eq!(parse_expiry("2024-05-01T12:30:00"), Some(t));
        assert_eq!(
            parse_expiry("2024-05-01T12:30:00.250000+00:00"),
            Some(t + Duration::from_millis(250))
        );
        assert_eq!(parse_expiry("yesterday"), None);
    }
}
