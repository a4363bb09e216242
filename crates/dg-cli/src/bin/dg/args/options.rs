//! The flags of each command (`dg cp`, `dg sync`, `dg ls`…), and their parsers.

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct MbArgs {
    /// s3://BUCKET
    pub bucket: String,
    /// Record the format of new deltaspaces in the bucket's settings (`native` or `compat`).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<dg_core::Format>,
    /// Record the level of native uploads in the bucket's settings (`fast`, `default`, `best`).
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<dg_core::Level>,
    /// Record where new prefixes find their reference (`siblings` or `prefix`).
    #[arg(long, value_name = "SCOPE")]
    pub reference_scope: Option<dg_core::ReferenceScope>,
}

#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// s3://BUCKET
    pub bucket: String,
    /// Format of new deltaspaces: `native` (smallest) or `compat` (readable by Python deltaglider).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<dg_core::Format>,
    /// Level of native uploads into the bucket: `fast`, `default` or `best`.
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<dg_core::Level>,
    /// Where the first file of a new prefix finds its reference: `siblings` (the references
    /// of the prefixes beside it, when one is like it) or `prefix` (its own only, as Python
    /// deltaglider).
    #[arg(long, value_name = "SCOPE")]
    pub reference_scope: Option<dg_core::ReferenceScope>,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Source: a local file or directory (-r), `-` for standard input, or s3://BUCKET/KEY
    /// (s3://BUCKET/PREFIX/ with -r).
    pub source: String,
    /// Destination: s3://BUCKET/PREFIX/ (keeps the name), s3://BUCKET/KEY, a local file or directory, or `-`.
    pub destination: String,
    /// Copy every file under a local directory or an s3:// prefix.
    #[arg(short, long)]
    pub recursive: bool,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Show what would be copied, copy nothing.
    #[arg(long = "dryrun", visible_alias = "dry-run")]
    pub dryrun: bool,
    #[command(flatten)]
    pub put: PutArgs,
}

/// How uploads are stored.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// Store files whole, never as deltas (their SHA-256 is still recorded and checked).
    #[arg(long)]
    pub no_delta: bool,
    #[command(flatten)]
    pub delta: DeltaArgs,
}

/// How deltas are made: shared by the commands that upload and by `dg analyze`.
#[derive(Debug, Args)]
pub struct DeltaArgs {
    /// Store a file whole when its delta exceeds this fraction of its size.
    #[arg(
        long,
        value_name = "RATIO",
        env = "DG_MAX_RATIO",
        default_value_t = 0.5
    )]
    pub max_ratio: f64,
    /// Diff engine for new deltas: vcdiff (xdelta3's format, what Python deltaglider reads),
    /// lzma (smallest; reference + file up to 64 MiB), zstd or rsync. Without it, native
    /// deltaspaces get vcdiff, or lzma where that is smaller and worth its time.
    #[arg(long, value_name = "ENGINE", env = "DG_ENGINE")]
    pub engine: Option<String>,
    /// Format of a new deltaspace: `native` (smallest: reference compressed, gzip, zip, xz and
    /// bzip2 seen through, also inside tar, `.deb` and `.rpm` archives) or `compat` (readable by
    /// Python deltaglider). Existing deltaspaces keep theirs.
    #[arg(long, value_name = "FORMAT", env = "DG_FORMAT")]
    pub format: Option<dg_core::Format>,
    /// How hard native uploads work for smaller objects. `default`: references compressed
    /// with zstd, deltas with VCDIFF (or LZMA where VCDIFF's does not fit); `best`: references
    /// with xz or bzip2 (whichever is smaller) and LZMA tried beside VCDIFF, 2-10% smaller and
    /// several times slower to upload; `fast`: zstd's quick level, VCDIFF only. Downloads are
    /// as fast whatever the level. Without it: the bucket's `level` setting, else `default`.
    #[arg(long, value_name = "LEVEL", env = "DG_LEVEL")]
    pub level: Option<dg_core::Level>,
    /// Where files find their reference. `siblings`: the first file of a new prefix may use
    /// the reference of a prefix beside it (`releases/1.2/` beside `releases/1.1/`) or of its
    /// parent, when one is like the file (by a similarity sketch, then by name): one version per
    /// prefix then costs a delta, not a whole copy; and a native prefix whose files drift (dumps,
    /// images) gains newer references. `prefix`: one reference per prefix, its first file, as
    /// Python deltaglider. Without it: the bucket's `reference-scope` setting, else `siblings`.
    #[arg(long, value_name = "SCOPE", env = "DG_REFERENCE_SCOPE")]
    pub reference_scope: Option<dg_core::ReferenceScope>,
}

/// `--exclude` / `--include`, kept in the order they were given.
#[derive(Debug, Args, Default)]
pub struct FilterArgs {
    /// Skip files whose path (relative to the source) matches this glob; repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Take files matching this glob again, after an --exclude; repeatable.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Both kinds in command-line order (filled in from the parsed matches).
    #[arg(skip)]
    pub ordered: Vec<(crate::filters::Rule, String)>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// A local directory or s3://BUCKET/PREFIX/.
    pub source: String,
    /// An s3://BUCKET/PREFIX/ or a local directory (one side must be s3://).
    pub destination: String,
    /// Delete destination files that are not in the source (filters still apply).
    #[arg(long)]
    pub delete: bool,
    /// Compare sizes only, not modification times.
    #[arg(long)]
    pub size_only: bool,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Show what would be copied and deleted, change nothing.
    #[arg(long = "dryrun", visible_alias = "dry-run")]
    pub dryrun: bool,
    #[command(flatten)]
    pub put: PutArgs,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// s3://BUCKET/PREFIX; without it, the buckets.
    pub target: Option<String>,
    /// List everything below the prefix, not one level.
    #[arg(short, long)]
    pub recursive: bool,
    /// Sizes in KiB, MiB, GiB.
    #[arg(short = 'h', long = "human-readable")]
    pub human_readable: bool,
    /// Totals at the end: files, original bytes, stored bytes (references included), savings.
    #[arg(long)]
    pub summarize: bool,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// s3://BUCKET/KEY of the file, or s3://BUCKET/PREFIX/ with -r.
    pub target: String,
    /// Allow deleting a reference that deltas still need.
    #[arg(long)]
    pub force: bool,
    /// Delete every file under the prefix.
    #[arg(short, long)]
    pub recursive: bool,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Show what would be deleted, delete nothing.
    #[arg(long = "dryrun", visible_alias = "dry-run")]
    pub dryrun: bool,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// s3://BUCKET/PREFIX/ of the files to migrate, or a local directory.
    pub source: String,
    /// s3://BUCKET/PREFIX/ in dg storage.
    pub destination: String,
    /// Do not keep the source prefix's last part under the destination.
    #[arg(long)]
    pub no_preserve_prefix: bool,
    /// Do not ask before copying.
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Show what would be copied, copy nothing.
    #[arg(long = "dry-run", visible_alias = "dryrun")]
    pub dryrun: bool,
    #[command(flatten)]
    pub put: PutArgs,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// A local directory or s3://BUCKET/PREFIX/.
    pub target: String,
    /// Files encoded per deltaspace besides its reference.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub samples: usize,
    /// Encode every file (exact figures; as slow as uploading everything).
    #[arg(long, conflicts_with = "samples")]
    pub all: bool,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub delta: DeltaArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// s3://BUCKET/PREFIX to check.
    pub target: String,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// s3://BUCKET[/PREFIX] (or BUCKET[/PREFIX]).
    pub target: String,
    /// Read one delta's original size per deltaspace and extrapolate.
    #[arg(long, conflicts_with = "detailed")]
    pub sampled: bool,
    /// Read every delta's original size (one request each).
    #[arg(long)]
    pub detailed: bool,
    /// Recompute even when a cached result matches the listing.
    #[arg(long)]
    pub refresh: bool,
    /// Neither read nor write the cached result.
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// s3://BUCKET (or just BUCKET).
    pub bucket: String,
    /// Show what would be deleted, delete nothing.
    #[arg(long = "dryrun", visible_alias = "dry-run")]
    pub dryrun: bool,
    /// Grace period for orphan references and temp files without an expiry time: a number
    /// with s, m, h or d (`90s`, `30m`, `1h`, `2d`); `0` for none.
    #[arg(long, value_name = "AGE", default_value = "1h", value_parser = parse_age)]
    pub older_than: std::time::Duration,
}

/// `90s`, `30m`, `1h`, `2d`, or a bare number of seconds.
fn parse_age(text: &str) -> std::result::Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not an age such as 90s, 30m, 1h or 2d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit {unit:?} in {text:?}: s, m, h or d")),
    };
    Ok(std::time::Duration::from_secs(n.saturating_mul(seconds)))
}

#[derive(Debug, Args)]
pub struct BucketArgs {
    /// s3://BUCKET
    pub bucket: String,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Where the cache is, how it is protected, how full it is.
    Info,
    /// Delete every entry of the shared cache.
    Clear,
}

#[derive(Debug, Subcommand)]
pub enum DeltaCommand {
    /// Write DELTA, the difference of TARGET against REFERENCE.
    Encode {
        /// vcdiff (xdelta3-compatible), lzma (LZMA2 with the reference as dictionary: smallest,
        /// reference + target up to 64 MiB), zstd (--patch-from) or rsync (librsync); builds with
        /// the `xdelta3` cargo feature also take xdelta3 (the C library, for cross-checks).
        #[arg(long, default_value = "vcdiff")]
        engine: String,
        reference: std::path::PathBuf,
        target: std::path::PathBuf,
        delta: std::path::PathBuf,
    },
    /// Rebuild OUT from REFERENCE and DELTA (the engine is found from the delta's magic bytes).
    Decode {
        /// Decode with this engine instead of the one the magic bytes name (for instance
        /// xdelta3, in builds with that feature, to read a VCDIFF delta with the C library).
        #[arg(long)]
        engine: Option<String>,
        reference: std::path::PathBuf,
        delta: std::path::PathBuf,
        out: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum RsyncCommand {
    /// Write the MD4 signature of BASIS.
    Signature {
        /// Block length in bytes.
        #[arg(short = 'b', long, default_value_t = 2048)]
        block_size: u32,
        /// Bytes of strong hash per block (1-16).
        #[arg(short = 'S', long, default_value_t = 8)]
        strong_len: u32,
        basis: std::path::PathBuf,
        signature: std::path::PathBuf,
    },
    /// Write the delta from the file behind SIGNATURE to NEW.
    Delta {
        signature: std::path::PathBuf,
        new: std::path::PathBuf,
        delta: std::path::PathBuf,
    },
    /// Rebuild OUT from BASIS and DELTA.
    Patch {
        basis: std::path::PathBuf,
        delta: std::path::PathBuf,
        out: std::path::PathBuf,
    },
}

/// `-j N`: at least one.
pub(super) fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_age;
    use std::time::Duration;

    #[test]
    fn ages_take_a_unit_or_mean_seconds() {
        assert_eq!(parse_age("0"), Ok(Duration::ZERO));
        assert_eq!(parse_age("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_age("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_age("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_age("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_age("1w").is_err());
        assert!(parse_age("h").is_err());
        assert!(parse_age("-1h").is_err());
    }
}

/// `dg serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:9000", value_name = "ADDR:PORT")]
    pub listen: String,

    /// Directory of the local store (one sub-directory per bucket), when no --endpoint-url
    /// names another store. Created if missing.
    #[arg(long, default_value = "./dg-data", value_name = "DIR")]
    pub data: std::path::PathBuf,

    /// Users and what they may read and write (TOML; see below).
    #[arg(long, value_name = "FILE")]
    pub users: Option<std::path::PathBuf>,

    /// Let unsigned requests in, with full access (for a private network or tests).
    #[arg(long)]
    pub allow_anonymous: bool,

    /// TLS certificate chain (PEM); serves HTTPS with --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// Where request bodies and multipart parts are staged (default: the system temp
    /// directory's dg-serve/).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<std::path::PathBuf>,

    /// MiB of recently rebuilt files kept (5 minutes at most) for ranged and repeated reads:
    /// a client fetching a large file in many ranges rebuilds it once. 0 turns it off.
    #[arg(long, default_value_t = 2048, value_name = "MIB")]
    pub rebuilt_cache_mib: u64,

    /// Seconds to wait for requests in flight after SIGTERM before stopping anyway.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub grace: u64,
}
