//! Locations as users write them: `s3://bucket/key` or a local path.

use std::fmt;
use std::path::PathBuf;

use dg_ports::{Error, Location, Result};

/// A command argument that names either an object location or a local path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `s3://bucket/key` (key may be empty or end with `/`).
    S3 { bucket: String, key: String },
    /// A local file or directory; `-` is standard input/output.
    Local(PathBuf),
}

impl Target {
    /// Parses an argument.
    pub fn parse(arg: &str) -> Result<Self> {
        if let Some(rest) = arg.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "`{arg}` has no bucket name (expected s3://BUCKET/KEY)"
                )));
            }
            return Ok(Target::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
            });
        }
        if arg.contains("://") {
            return Err(Error::InvalidInput(format!(
                "`{arg}`: only s3:// URLs and local paths are understood"
            )));
        }
        Ok(Target::Local(PathBuf::from(arg)))
    }

    /// The S3 parts, or an error naming the argument's role.
    pub fn s3(&self, role: &str) -> Result<(&str, &str)> {
        match self {
            Target::S3 { bucket, key } => Ok((bucket, key)),
            Target::Local(p) => Err(Error::InvalidInput(format!(
                "{role} must be an s3://BUCKET/PREFIX URL, not the local path `{}`",
                p.display()
            ))),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Target::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The object location for uploading a file called `file_name` to `bucket`/`key`: a key that
/// is empty or ends with `/` keeps the file's name.
pub fn upload_location(bucket: &str, key: &str, file_name: &str) -> Location {
    if key.is_empty() || key.ends_with('/') {
        Location::new(bucket, format!("{key}{file_name}"))
    } else {
        Location::new(bucket, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            Target::parse("s3://b/a/c.zip").unwrap(),
            Target::S3 {
                bucket: "b".into(),
                key: "a/c.zip".into()
            }
        );
        assert_eq!(
            Target::parse("s3://b").unwrap(),
            Target::S3 {
                bucket: "b".into(),
                key: "".into()
            }
        );
        assert!(Target::parse("s3:///x").is_err());
        assert!(Target::parse("gs://b/x").is_err());
        assert_eq!(Target::parse("./x").unwrap(), Target::Local("./x".into()));
    }

    #[test]
    fn trailing_slash_keeps_the_file_name() {
        assert_eq!(upload_location("b", "rel/", "app.zip").key, "rel/app.zip");
        assert_eq!(upload_location("b", "", "app.zip").key, "app.zip");
        assert_eq!(
            upload_location("b", "rel/new.zip", "app.zip").key,
            "rel/new.zip"
        );
    }
}
