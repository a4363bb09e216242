//! Who may do what: users from a TOML file (`--users`), each with an access key, a secret and
//! the buckets and prefixes it may read and write; SigV4 checked by s3s against the secret,
//! then every operation against the user's patterns.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context as _};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{
    CopyObjectInput, CopySource, DeleteObjectsInput, ListObjectsInput, ListObjectsV2Input,
};
use s3s::path::S3Path;
use s3s::{s3_error, S3Request, S3Result};
use serde::Deserialize;

/// The users file: `[[user]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    user: Vec<UserEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
}

/// What part of the store a pattern covers: `*`, `BUCKET`, `BUCKET/PREFIX*`, `BUCKET/KEY`
/// (`*` as the bucket: every bucket).
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    bucket: Option<String>,
    key: KeyRule,
}

#[derive(Clone, Debug, PartialEq)]
enum KeyRule {
    Any,
    Prefix(String),
    Exact(String),
}

impl Pattern {
    /// Parses one pattern of the users file.
    pub fn parse(text: &str) -> anyhow::Result<Pattern> {
        if text.is_empty() {
            bail!("an empty pattern; use `*` for everything or `BUCKET/PREFIX*`");
        }
        let (bucket, rest) = match text.split_once('/') {
            Some((b, rest)) => (b, Some(rest)),
            None => (text, None),
        };
        if bucket.is_empty() {
            bail!("`{text}`: no bucket before the `/`");
        }
        let bucket = (bucket != "*").then(|| bucket.to_string());
        let key = match rest {
            None | Some("*") => KeyRule::Any,
            Some(r) => match r.strip_suffix('*') {
                Some(prefix) if prefix.contains('*') => {
                    bail!("`{text}`: `*` may only end a pattern")
                }
                Some(prefix) => KeyRule::Prefix(prefix.to_string()),
                None if r.contains('*') => bail!("`{text}`: `*` may only end a pattern"),
                None => KeyRule::Exact(r.to_string()),
            },
        };
        Ok(Pattern { bucket, key })
    }

    fn bucket_matches(&self, bucket: &str) -> bool {
        self.bucket.as_deref().is_none_or(|b| b == bucket)
    }

    /// Covers the object `bucket/key`.
    pub fn covers(&self, bucket: &str, key: &str) -> bool {
        self.bucket_matches(bucket)
            && match &self.key {
                KeyRule::Any => true,
                KeyRule::Prefix(p) => key.starts_with(p.as_str()),
                KeyRule::Exact(k) => k == key,
            }
    }

    /// Covers every key under `prefix` of `bucket` (what a listing of it shows).
    pub fn covers_prefix(&self, bucket: &str, prefix: &str) -> bool {
        self.bucket_matches(bucket)
            && match &self.key {
                KeyRule::Any => true,
                KeyRule::Prefix(p) => prefix.starts_with(p.as_str()),
                KeyRule::Exact(_) => false,
            }
    }

    /// Covers the whole bucket (what creating or removing it needs).
    pub fn covers_bucket(&self, bucket: &str) -> bool {
        self.bucket_matches(bucket) && self.key == KeyRule::Any
    }

    /// Covers any part of the bucket.
    pub fn touches(&self, bucket: &str) -> bool {
        self.bucket_matches(bucket)
    }
}

/// One user.
#[derive(Clone, Debug)]
pub struct User {
    secret: String,
    read: Vec<Pattern>,
    write: Vec<Pattern>,
}

/// The users the endpoint knows, by access key, and whether unsigned requests are let in.
#[derive(Clone, Debug, Default)]
pub struct Users {
    by_key: HashMap<String, User>,
    anonymous: bool,
}

impl Users {
    /// Reads a users file.
    pub fn load(path: &Path) -> anyhow::Result<Users> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the users file {}", path.display()))?;
        Users::parse(&text).with_context(|| format!("in the users file {}", path.display()))
    }

    /// Parses the text of a users file.
    pub fn parse(text: &str) -> anyhow::Result<Users> {
        let file: UsersFile = toml::from_str(text)?;
        if file.user.is_empty() {
            bail!("no [[user]] tables: give at least one user, or start with --allow-anonymous");
        }
        let mut by_key = HashMap::new();
        for entry in file.user {
            if entry.access_key_id.is_empty() || entry.secret_access_key.is_empty() {
                bail!("a user with an empty access_key_id or secret_access_key");
            }
            let patterns = |list: &[String]| -> anyhow::Result<Vec<Pattern>> {
                list.iter()
                    .map(|p| Pattern::parse(p))
                    .collect::<anyhow::Result<_>>()
                    .with_context(|| format!("user {}", entry.access_key_id))
            };
            let user = User {
                secret: entry.secret_access_key.clone(),
                read: patterns(&entry.read)?,
                write: patterns(&entry.write)?,
            };
            if by_key.insert(entry.access_key_id.clone(), user).is_some() {
                bail!("access_key_id {} is given twice", entry.access_key_id);
            }
        }
        Ok(Users {
            by_key,
            anonymous: false,
        })
    }

    /// Lets unsigned requests do anything (`--allow-anonymous`).
    pub fn allow_anonymous(mut self) -> Self {
        self.anonymous = true;
        self
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// The user a request was signed by; `None` for an unsigned request that may go on;
    /// `AccessDenied` for one that may not.
    fn who(&self, credentials: Option<&s3s::auth::Credentials>) -> S3Result<Option<&User>> {
        match credentials {
            Some(c) => self
                .by_key
                .get(&c.access_key)
                .map(Some)
                .ok_or_else(|| s3_error!(InvalidAccessKeyId)),
            None if self.anonymous => Ok(None),
            None => Err(s3_error!(
                AccessDenied,
                "Anonymous requests are not allowed here; sign the request with a user's keys"
            )),
        }
    }
}

fn denied(what: &str) -> s3s::S3Error {
    s3_error!(AccessDenied, "Access Denied: {what}")
}

/// Operations that only read an object.
fn reads_object(op: &str) -> bool {
    matches!(op, "GetObject" | "HeadObject" | "GetObjectAttributes")
}

#[async_trait::async_trait]
impl S3Auth for Users {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        self.by_key
            .get(access_key)
            .map(|u| SecretKey::from(u.secret.as_str()))
            .ok_or_else(|| s3_error!(InvalidAccessKeyId))
    }
}

#[async_trait::async_trait]
impl S3Access for Users {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(user) = self.who(cx.credentials())? else {
            return Ok(());
        };
        let op = cx.s3_op().name();
        match cx.s3_path() {
            S3Path::Root => Ok(()),
            S3Path::Object { bucket, key } => {
                let rules = if reads_object(op) {
                    &user.read
                } else {
                    &user.write
                };
                if rules.iter().any(|p| p.covers(bucket, key)) {
                    Ok(())
                } else {
                    Err(denied(&format!("{op} on {bucket}/{key}")))
                }
            }
            S3Path::Bucket { bucket } => {
                let allowed = match op {
                    // Judged by their input below (prefix, keys).
                    "ListObjects" | "ListObjectsV2" | "DeleteObjects" => true,
                    "HeadBucket" | "GetBucketLocation" => user
                        .read
                        .iter()
                        .chain(&user.write)
                        .any(|p| p.touches(bucket)),
                    "ListMultipartUploads" => user.write.iter().any(|p| p.touches(bucket)),
                    _ => user.write.iter().any(|p| p.covers_bucket(bucket)),
                };
                if allowed {
                    Ok(())
                } else {
                    Err(denied(&format!("{op} on bucket {bucket}")))
                }
            }
        }
    }

    async fn list_objects(&self, req: &mut S3Request<ListObjectsInput>) -> S3Result<()> {
        let prefix = req.input.prefix.clone().unwrap_or_default();
        self.may_list(req.credentials.as_ref(), &req.input.bucket, &prefix)
    }

    async fn list_objects_v2(&self, req: &mut S3Request<ListObjectsV2Input>) -> S3Result<()> {
        let prefix = req.input.prefix.clone().unwrap_or_default();
        self.may_list(req.credentials.as_ref(), &req.input.bucket, &prefix)
    }

    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        let Some(user) = self.who(req.credentials.as_ref())? else {
            return Ok(());
        };
        let bucket = &req.input.bucket;
        for o in &req.input.delete.objects {
            if !user.write.iter().any(|p| p.covers(bucket, &o.key)) {
                return Err(denied(&format!("DeleteObjects on {bucket}/{}", o.key)));
            }
        }
        Ok(())
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        let Some(user) = self.who(req.credentials.as_ref())? else {
            return Ok(());
        };
        if let CopySource::Bucket { bucket, key, .. } = &req.input.copy_source {
            if !user.read.iter().any(|p| p.covers(bucket, key)) {
                return Err(denied(&format!("reading the copy source {bucket}/{key}")));
            }
        }
        Ok(())
    }
}

impl Users {
    fn may_list(
        &self,
        credentials: Option<&s3s::auth::Credentials>,
        bucket: &str,
        prefix: &str,
    ) -> S3Result<()> {
        let Some(user) = self.who(credentials)? else {
            return Ok(());
        };
        if user.read.iter().any(|p| p.covers_prefix(bucket, prefix)) {
            Ok(())
        } else {
            Err(denied(&format!("listing {bucket}/{prefix}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_cover_what_they_name() -> anyhow::Result<()> {
        let all = Pattern::parse("*")?;
        assert!(all.covers("b", "k") && all.covers_bucket("b"));
        let bucket = Pattern::parse("releases")?;
        assert!(bucket.covers("releases", "a/b") && !bucket.covers("other", "a"));
        assert!(bucket.covers_bucket("releases"));
        let prefix = Pattern::parse("releases/app/*")?;
        assert!(prefix.covers("releases", "app/x.zip"));
        assert!(!prefix.covers("releases", "apps/x.zip"));
        assert!(!prefix.covers_bucket("releases"));
        assert!(prefix.covers_prefix("releases", "app/v1/"));
        assert!(!prefix.covers_prefix("releases", ""));
        let exact = Pattern::parse("releases/app.zip")?;
        assert!(exact.covers("releases", "app.zip") && !exact.covers("releases", "app.zip2"));
        let any_bucket = Pattern::parse("*/public/*")?;
        assert!(any_bucket.covers("x", "public/a") && !any_bucket.covers("x", "private/a"));
        for bad in ["", "/x", "a/*b*", "a/b*c"] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?} should be refused");
        }
        Ok(())
    }

    #[test]
    fn users_file_is_checked() {
        let ok = Users::parse(
            "[[user]]\naccess_key_id = \"a\"\nsecret_access_key = \"s\"\nread = [\"*\"]\nwrite = [\"releases/*\"]\n",
        );
        assert!(matches!(ok, Ok(ref u) if u.len() == 1), "{ok:?}");
        for bad in [
            "",
            "[[user]]\naccess_key_id = \"a\"\nsecret_access_key = \"\"\n",
            "[[user]]\naccess_key_id = \"a\"\nsecret_access_key = \"s\"\n[[user]]\naccess_key_id = \"a\"\nsecret_access_key = \"t\"\n",
            "[[user]]\naccess_key_id = \"a\"\nsecret_access_key = \"s\"\nreed = [\"*\"]\n",
        ] {
            assert!(Users::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
