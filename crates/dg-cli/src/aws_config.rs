//! S3 settings from explicit options and, when the client is built from the environment, the
//! standard AWS variables and the shared `~/.aws/credentials` and `~/.aws/config` files, in the
//! AWS CLI's order of precedence.

use std::collections::HashMap;
use std::path::PathBuf;

use dg_adapters::storage::{S3Config, S3Credentials};
use dg_ports::{Error, Result};

use crate::settings::Settings;

/// What the caller said about S3 (command-line flags or builder options).
#[derive(Debug, Default)]
pub struct S3Flags<'a> {
    pub endpoint_url: Option<&'a str>,
    pub region: Option<&'a str>,
    pub profile: Option<&'a str>,
    pub credentials: Option<S3Credentials>,
    pub no_sign_request: bool,
    pub max_attempts: Option<usize>,
}

/// `[section] key = value` files: sections map to their keys.
fn parse_ini(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_string();
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

/// A shared AWS file: `$VAR`, else `~/.aws/<default>`.
fn read_ini(
    settings: Settings,
    var: &str,
    default: &str,
) -> HashMap<String, HashMap<String, String>> {
    let path = settings
        .var(var)
        .map(PathBuf::from)
        .or_else(|| crate::settings::home().map(|h| h.join(".aws").join(default)));
    path.and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| parse_ini(&t))
        .unwrap_or_default()
}

/// Builds the S3 settings. With [`Settings::Explicit`] only the flags count, and the shared
/// files are read only for an explicitly named profile.
pub fn s3_config(flags: &S3Flags<'_>, settings: Settings) -> Result<S3Config> {
    let env = |name: &str| settings.var(name);
    let profile_name = flags
        .profile
        .map(str::to_string)
        .or_else(|| env("AWS_PROFILE"))
        .unwrap_or_else(|| "default".into());
    let explicit_profile = flags.profile.is_some() || env("AWS_PROFILE").is_some();
    let read_files = settings == Settings::Environment || flags.profile.is_some();
    let (credentials_file, config_file) = if read_files {
        (
            read_ini(settings, "AWS_SHARED_CREDENTIALS_FILE", "credentials"),
            read_ini(settings, "AWS_CONFIG_FILE", "config"),
        )
    } else {
        (HashMap::new(), HashMap::new())
    };
    let creds_section = credentials_file.get(&profile_name);
    let config_section = config_file
        .get(&format!("profile {profile_name}"))
        .or_else(|| {
            (profile_name == "default")
                .then(|| config_file.get("default"))
                .flatten()
        });
    if explicit_profile && creds_section.is_none() && config_section.is_none() {
        return Err(Error::InvalidInput(format!(
            "profile `{profile_name}` is in neither ~/.aws/credentials nor ~/.aws/config"
        )));
    }
    let from_profile = |key: &str| {
        creds_section
            .and_then(|s| s.get(key))
            .or_else(|| config_section.and_then(|s| s.get(key)))
            .cloned()
    };

    let credentials = match (
        flags.credentials.clone(),
        env("AWS_ACCESS_KEY_ID"),
        env("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(given), _, _) => Some(given),
        (None, Some(access_key_id), Some(secret_access_key)) if flags.profile.is_none() => {
            Some(S3Credentials {
                access_key_id,
                secret_access_key,
                session_token: env("AWS_SESSION_TOKEN"),
            })
        }
        _ => match (
            from_profile("aws_access_key_id"),
            from_profile("aws_secret_access_key"),
        ) {
            (Some(access_key_id), Some(secret_access_key)) => Some(S3Credentials {
                access_key_id,
                secret_access_key,
                session_token: from_profile("aws_session_token"),
            }),
            _ => None,
        },
    };
    let region = flags
        .region
        .map(str::to_string)
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| from_profile("region"))
        .unwrap_or_else(|| "us-east-1".into());
    let endpoint = flags
        .endpoint_url
        .map(str::to_string)
        .or_else(|| env("AWS_ENDPOINT_URL_S3"))
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or_else(|| from_profile("endpoint_url"));
    if let Some(e) = &endpoint {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            return Err(Error::InvalidInput(format!(
                "--endpoint-url {e}: expected http(s)://HOST[:PORT] or file:///DIR"
            )));
        }
    }
    // S3-compatible services are addressed path-style unless told otherwise.
    let path_style = match env("DG_S3_ADDRESSING_STYLE").as_deref() {
        Some("virtual") => false,
        Some("path") => true,
        Some(other) => {
            return Err(Error::InvalidInput(format!(
                "DG_S3_ADDRESSING_STYLE={other:?}: expected `path` or `virtual`"
            )))
        }
        None => endpoint.is_some(),
    };
    // The client resolves `--max-attempts` / `AWS_MAX_ATTEMPTS` for every store alike.
    let max_attempts = flags.max_attempts.unwrap_or(5).max(1);
    Ok(S3Config {
        endpoint,
        region,
        credentials,
        anonymous: flags.no_sign_request,
        path_style,
        max_attempts,
        ..S3Config::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shared_files() {
        let ini = parse_ini(
            "[default]\naws_access_key_id = AK\n# comment\naws_secret_access_key=SK\n[profile ci]\nregion = eu-west-1\nendpoint_url = http://minio:9000\n",
        );
        assert_eq!(ini["default"]["aws_access_key_id"], "AK");
        assert_eq!(ini["default"]["aws_secret_access_key"], "SK");
        assert_eq!(ini["profile ci"]["region"], "eu-west-1");
    }
}
