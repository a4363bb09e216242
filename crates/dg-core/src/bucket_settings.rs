//! Per-bucket settings kept in the bucket itself (`.deltaglider/settings`), so every dg that
//! writes to a bucket shared with Python DeltaGlider keeps writing what Python can read.
//!
//! The object is a few `key = value` lines; unknown keys are kept for newer versions and
//! ignored. Keys: `format = compat|native`, the format of new deltaspaces,
//! `level = fast|default|best`, how hard native uploads work for smaller objects, and
//! `reference-scope = prefix|siblings`, how far a new deltaspace's first file looks for a
//! reference.

use futures::StreamExt;

use dg_ports::{BytesBlob, Error, Location, ObjectStorageExt, PutMode, PutOptions, Result};

use crate::keys::INTERNAL_PREFIX;
use crate::service::{DeltaGlider, Format};

/// Key of the settings object in each bucket.
pub const SETTINGS_KEY: &str = ".deltaglider/settings";

/// Largest settings object read (it holds a few lines).
const MAX_SETTINGS: u64 = 64 << 10;

/// Settings of one bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketSettings {
    /// Format of new deltaspaces in this bucket (`None`: the service's default).
    pub format: Option<Format>,
    /// Level of native uploads into this bucket (`None`: the service's default).
    pub level: Option<dg_ports::Level>,
    /// How far new deltaspaces look for a reference (`None`: the service's default).
    pub reference_scope: Option<crate::nearby::ReferenceScope>,
}

/// One value of the settings text; a bad one is stored data that cannot be read.
fn setting<T: std::str::FromStr<Err = String>>(value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|why: String| Error::InvalidData {
            what: SETTINGS_KEY.to_string(),
            reason: why,
            source: None,
        })
}

impl BucketSettings {
    /// Parses the settings text; unknown keys are ignored, a bad value is an error.
    pub fn parse(text: &str) -> Result<Self> {
        let mut settings = BucketSettings::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key.trim() {
                "level" => settings.level = Some(setting(value)?),
                "format" => settings.format = Some(setting(value)?),
                "reference-scope" => settings.reference_scope = Some(setting(value)?),
                _ => {}
            }
        }
        Ok(settings)
    }

    /// The settings as text.
    pub fn render(&self) -> String {
        let mut text =
            String::from("# dg bucket settings (dg bucket-format shows and sets them)\n");
        if let Some(format) = self.format {
            text.push_str(&format!("format = {}\n", format.name()));
        }
        if let Some(level) = self.level {
            text.push_str(&format!("level = {}\n", level.name()));
        }
        if let Some(scope) = self.reference_scope {
            text.push_str(&format!("reference-scope = {}\n", scope.name()));
        }
        text
    }
}

impl DeltaGlider {
    /// The settings stored in `bucket` (defaults when it has none).
    pub async fn bucket_settings(&self, bucket: &str) -> Result<BucketSettings> {
        if let Some(known) = self.lock_settings().get(bucket) {
            return Ok(known.clone());
        }
        let location = Location::new(bucket, SETTINGS_KEY);
        let settings = match self.storage().head_opt(&location).await? {
            None => BucketSettings::default(),
            Some(info) if info.size > MAX_SETTINGS => {
                return Err(Error::LimitExceeded {
                    what: location.to_string(),
                    limit: MAX_SETTINGS,
                })
            }
            Some(_) => {
                let got = self.storage().get(&location).await?;
                let mut body = got.body;
                let mut bytes = Vec::new();
                while let Some(chunk) = body.next().await {
                    bytes.extend_from_slice(&chunk?);
                    if bytes.len() as u64 > MAX_SETTINGS {
                        return Err(Error::LimitExceeded {
                            what: location.to_string(),
                            limit: MAX_SETTINGS,
                        });
                    }
                }
                // A body cut short could still parse (into other settings): never use one.
                if bytes.len() as u64 != got.info.size {
                    return Err(Error::Corrupt {
                        what: location.to_string(),
                        check: "size",
                        expected: got.info.size.to_string(),
                        actual: bytes.len().to_string(),
                    });
                }
                BucketSettings::parse(&String::from_utf8_lossy(&bytes))?
            }
        };
        self.lock_settings()
            .insert(bucket.to_string(), settings.clone());
        Ok(settings)
    }

    /// Stores `settings` in `bucket` (replacing what was there).
    pub async fn set_bucket_settings(&self, bucket: &str, settings: &BucketSettings) -> Result<()> {
        debug_assert!(SETTINGS_KEY.starts_with(INTERNAL_PREFIX));
        let location = Location::new(bucket, SETTINGS_KEY);
        self.storage()
            .put(
                &location,
                BytesBlob::shared(settings.render().into_bytes()),
                PutOptions {
                    mode: PutMode::Overwrite,
                    ..PutOptions::default()
                },
            )
            .await?;
        self.lock_settings()
            .insert(bucket.to_string(), settings.clone());
        Ok(())
    }

    /// The format a new deltaspace in `bucket` gets: the request's, else the bucket's, else
    /// the service default.
    pub(crate) async fn format_for(
        &self,
        bucket: &str,
        requested: Option<Format>,
    ) -> Result<Format> {
        self.chosen(bucket, requested, |s| s.format, self.config().format)
            .await
    }

    /// The level of an upload into `bucket`: the request's, else the bucket's, else the
    /// service's.
    pub(crate) async fn level_for(
        &self,
        bucket: &str,
        requested: Option<dg_ports::Level>,
    ) -> Result<dg_ports::Level> {
        self.chosen(bucket, requested, |s| s.level, self.config().level)
            .await
    }

    /// How far uploads into `bucket` look for a reference: the request's, else the bucket's,
    /// else the service's.
    pub(crate) async fn scope_for(
        &self,
        bucket: &str,
        requested: Option<crate::nearby::ReferenceScope>,
    ) -> Result<crate::nearby::ReferenceScope> {
        let default = self.config().reference_scope;
        self.chosen(bucket, requested, |s| s.reference_scope, default)
            .await
    }

    /// `requested` when given, else the bucket's setting (read by `of_bucket`), else `default`.
    async fn chosen<T: Copy>(
        &self,
        bucket: &str,
        requested: Option<T>,
        of_bucket: impl FnOnce(&BucketSettings) -> Option<T>,
        default: T,
    ) -> Result<T> {
        if let Some(value) = requested {
            return Ok(value);
        }
        Ok(of_bucket(&self.bucket_settings(bucket).await?).unwrap_or(default))
    }

    fn lock_settings(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, BucketSettings>> {
        self.inner
            .settings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_renders_and_refuses_bad_values() {
        let s =
            BucketSettings::parse("# c\nformat = compat\nfuture = 1\nreference-scope = prefix\n")
                .unwrap_or_default();
        assert_eq!(s.format, Some(Format::Compat));
        assert_eq!(
            s.reference_scope,
            Some(crate::nearby::ReferenceScope::Prefix)
        );
        assert!(BucketSettings::parse("reference-scope = bucket").is_err());
        assert_eq!(BucketSettings::parse(&s.render()).ok(), Some(s));
        assert!(BucketSettings::parse("format = zip").is_err());
        assert_eq!(
            BucketSettings::parse("").ok(),
            Some(BucketSettings::default())
        );
    }
}
