//! Command-line flags: what users type, before it becomes settings.

use clap::{Args, Parser, Subcommand};

/// dg stores versions of similar files (release archives, dumps, checkpoints) in S3 as one
/// reference plus small binary deltas, rebuilds them on download, and checks SHA-256 on every
/// write and read. Buckets stay readable by Python DeltaGlider.
#[derive(Debug, Parser)]
#[command(
    name = "dg",
    version,
    propagate_version = true,
    after_help = "Examples:
  dg mb s3://releases --endpoint-url file:///tmp/store
  dg cp app-1.0.zip s3://releases/app/ --endpoint-url file:///tmp/store
  dg ls s3://releases/app/ --endpoint-url file:///tmp/store
  dg cp s3://releases/app/app-1.0.zip ./restored/ --endpoint-url file:///tmp/store

Storage: AWS S3 by default, with credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or
~/.aws (--profile). --endpoint-url http://HOST:PORT (or AWS_ENDPOINT_URL) for S3-compatible
stores (MinIO, R2, Hetzner, B2, Ceph), addressed path-style; --endpoint-url file:///DIR for a
local directory store, one sub-directory per bucket."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// S3-compatible endpoint (http(s)://HOST:PORT), or file:///DIR for a local directory store.
    /// Without it: AWS S3.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's region, us-east-1).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// Profile of ~/.aws/credentials and ~/.aws/config (else AWS_PROFILE, then `default`).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Send unsigned requests (public buckets).
    #[arg(long, global = true)]
    pub no_sign_request: bool,

    /// More log output (-v info, -vv debug, -vvv trace); DG_LOG_LEVEL overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Same as -vv.
    #[arg(long, global = true)]
    pub debug: bool,

    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy a file to or from storage (uploads become deltas where that saves space).
    #[command(after_help = "Examples:
  dg cp app-1.2.zip s3://releases/app/          # keeps the name: s3://releases/app/app-1.2.zip
  dg cp app.zip s3://releases/app/app-1.2.zip   # stores under the given key
  dg cp s3://releases/app/app-1.2.zip .         # downloads into the current directory
  dg cp s3://releases/app/app-1.2.zip out.zip   # downloads to out.zip
  dg cp s3://releases/app/app-1.2.zip -         # writes the file to standard output

A download is written to a temp file next to the destination and renamed into place only
after its SHA-256 matched; on any error nothing is left at the destination.")]
    Cp(CpArgs),

    /// List buckets, or files under a prefix with their original and stored sizes.
    #[command(
        after_help = "Examples:
  dg ls                              # buckets
  dg ls s3://releases/app/           # files in app/, sub-prefixes as PRE
  dg ls -r -h --summarize s3://releases/

Columns: modified time (UTC), original size, stored size, savings, name. Deltas are shown
under their file's name; reference.bin and .deltaglider/ are hidden, but their bytes count
in the --summarize total.",
        disable_help_flag = true
    )]
    Ls(LsArgs),

    /// Delete a file (deleting the last delta of a deltaspace also deletes its reference).
    #[command(after_help = "Examples:
  dg rm s3://releases/app/app-1.0.zip
  dg rm --force s3://releases/app/reference.bin   # makes the remaining deltas unreadable")]
    Rm(RmArgs),

    /// Rebuild every object under a prefix and check its SHA-256; report each failure.
    #[command(after_help = "Examples:
  dg verify s3://releases/
  dg verify s3://releases/app/

Exit status 1 when any object fails.")]
    Verify(VerifyArgs),

    /// Encode or decode a delta between two local files with any engine.
    #[command(
        subcommand,
        after_help = "Examples:
  dg delta encode app-1.0.zip app-1.1.zip app-1.1.vcdiff             # VCDIFF, `xdelta3 -d` reads it
  dg delta encode --engine zstd app-1.0.zip app-1.1.zip app.zst     # `zstd -d --patch-from` reads it
  dg delta decode app-1.0.zip app-1.1.vcdiff rebuilt.zip            # the format is read from the delta"
    )]
    Delta(DeltaCommand),

    /// librsync-compatible signature, delta and patch on local files (like `rdiff`).
    #[command(
        subcommand,
        after_help = "Examples:
  dg rsync signature old.img old.sig     # = rdiff signature -H md4 -R rollsum -b 2048 -S 8
  dg rsync delta old.sig new.img new.rsdelta
  dg rsync patch old.img new.rsdelta rebuilt.img"
    )]
    Rsync(RsyncCommand),

    /// Show or clear the reference cache.
    #[command(
        subcommand,
        after_help = "The cache keeps references between downloads, encrypted with AES-256-GCM.
Configure it like Python deltaglider:
  DG_CACHE_BACKEND=filesystem|memory   (default filesystem)
  DG_CACHE_ENCRYPTION_KEY=KEY          base64 of 32 bytes (`openssl rand -base64 32`): one cache
                                       shared between runs; without it each run has a private
                                       cache, deleted at exit
  DG_CACHE_DIR=DIR                     where (default ~/.cache/dg/references)
  DG_CACHE_MAX_SIZE_MB=N               size cap of the filesystem cache (default 2048)
  DG_CACHE_MEMORY_SIZE_MB=N            size of the memory cache (default 100)"
    )]
    Cache(CacheCommand),

    /// Make a bucket.
    Mb(BucketArgs),

    /// Remove an empty bucket.
    Rb(BucketArgs),
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Source: a local file, `-` for standard input, or s3://BUCKET/KEY.
    pub source: String,
    /// Destination: s3://BUCKET/PREFIX/ (keeps the name), s3://BUCKET/KEY, a local file or directory, or `-`.
    pub destination: String,
    /// Store the file whole, never as a delta (its SHA-256 is still recorded and checked).
    #[arg(long)]
    pub no_delta: bool,
    /// Store the file whole when its delta exceeds this fraction of its size.
    #[arg(
        long,
        value_name = "RATIO",
        env = "DG_MAX_RATIO",
        default_value_t = 0.5
    )]
    pub max_ratio: f64,
    /// Diff engine for new deltas.
    #[arg(long, value_name = "ENGINE", env = "DG_ENGINE")]
    pub engine: Option<String>,
    /// Format of a new deltaspace: `native` (smallest: reference compressed, gzip/zip seen
    /// through) or `compat` (readable by Python deltaglider). Existing deltaspaces keep theirs.
    #[arg(long, value_name = "FORMAT", env = "DG_FORMAT")]
    pub format: Option<dg_core::Format>,
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
    /// s3://BUCKET/KEY of the file.
    pub target: String,
    /// Allow deleting a reference that deltas still need.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// s3://BUCKET/PREFIX to check.
    pub target: String,
    /// How many objects to check at once.
    #[arg(short, long, default_value_t = 4)]
    pub jobs: usize,
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
        /// vcdiff (xdelta3-compatible), zstd (--patch-from) or rsync (librsync).
        #[arg(long, default_value = "vcdiff")]
        engine: String,
        reference: std::path::PathBuf,
        target: std::path::PathBuf,
        delta: std::path::PathBuf,
    },
    /// Rebuild OUT from REFERENCE and DELTA.
    Decode {
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
