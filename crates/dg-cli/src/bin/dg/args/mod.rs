//! Command-line flags: what users type, before it becomes settings.

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::filters::Rule;

mod options;
pub use options::*;

/// dg stores versions of similar files (release archives, dumps, checkpoints) in S3 as one
/// reference plus small binary deltas, rebuilds them on download, and checks SHA-256 on every
/// write and read. Deltaspaces in the compat format (`--format compat`, or a bucket set to it)
/// stay readable by Python DeltaGlider 6.2.0; the default native format is smaller, and only dg
/// reads it (Python reports such files as a "Reference SHA mismatch").
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

  dg sync ./build s3://releases/build/ --delete    # upload what changed, remove what is gone
  dg cp -r s3://releases/app/ ./restore/ -j 8     # download a prefix, 8 files at a time
  dg ls --json s3://releases/app/                 # one JSON object per file

Exit status: 0 success, 1 failure (for many files: some failed, each named on stderr),
2 usage error.

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

impl Cli {
    /// Parses the command line (exits with status 2 on usage errors), keeping `--exclude` and
    /// `--include` in the order they were given: the last matching filter decides.
    pub fn parse_ordered() -> Self {
        let matches = Cli::command().get_matches();
        let mut cli = match Cli::from_arg_matches(&matches) {
            Ok(cli) => cli,
            Err(e) => e.format(&mut Cli::command()).exit(),
        };
        if let Some((_, sub)) = matches.subcommand() {
            if let Some(filters) = cli.command.filters_mut() {
                filters.ordered = ordered_filters(sub);
            }
        }
        cli
    }
}

/// `--exclude` and `--include` values of one subcommand, in command-line order.
fn ordered_filters(sub: &ArgMatches) -> Vec<(Rule, String)> {
    let mut all = Vec::new();
    for (id, rule) in [("exclude", Rule::Exclude), ("include", Rule::Include)] {
        let Ok(Some(values)) = sub.try_get_many::<String>(id) else {
            continue;
        };
        let Some(indices) = sub.indices_of(id) else {
            continue;
        };
        all.extend(indices.zip(values).map(|(i, v)| (i, rule, v.clone())));
    }
    all.sort_by_key(|(i, _, _)| *i);
    all.into_iter().map(|(_, rule, v)| (rule, v)).collect()
}

impl Command {
    fn filters_mut(&mut self) -> Option<&mut FilterArgs> {
        match self {
            Command::Cp(a) => Some(&mut a.filters),
            Command::Sync(a) => Some(&mut a.filters),
            Command::Rm(a) => Some(&mut a.filters),
            Command::Migrate(a) => Some(&mut a.filters),
            Command::Analyze(a) => Some(&mut a.filters),
            _ => None,
        }
    }
}

/// Flags every command takes (listed after each command's own).
#[derive(Debug, Args)]
pub struct Global {
    /// S3-compatible endpoint (http(s)://HOST:PORT), or file:///DIR for a local directory store.
    /// Without it: AWS S3.
    #[arg(long, global = true, display_order = 100, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's region, us-east-1).
    #[arg(long, global = true, display_order = 100, value_name = "REGION")]
    pub region: Option<String>,

    /// Profile of ~/.aws/credentials and ~/.aws/config (else AWS_PROFILE, then `default`).
    #[arg(long, global = true, display_order = 100, value_name = "NAME")]
    pub profile: Option<String>,

    /// Send unsigned requests (public buckets).
    #[arg(long, global = true, display_order = 100)]
    pub no_sign_request: bool,

    /// More log output (-v info, -vv debug, -vvv trace); DG_LOG_LEVEL overrides.
    #[arg(short, long, global = true, display_order = 100, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Same as -vv.
    #[arg(long, global = true, display_order = 100)]
    pub debug: bool,

    /// Print only errors (no per-file lines, no progress bars).
    #[arg(short, long, global = true, display_order = 100)]
    pub quiet: bool,

    /// Machine-readable output: one JSON object per line for each listed entry and each file
    /// transferred or deleted, then a summary object. Progress bars are off.
    #[arg(long, global = true, display_order = 100)]
    pub json: bool,

    /// Files transferred at once by cp -r, sync, rm -r, migrate and verify; deltaspaces
    /// analysed at once by analyze (default: the number of CPUs, at most 16).
    #[arg(
        short = 'j',
        long,
        global = true,
        display_order = 100,
        value_name = "N",
        value_parser = parse_jobs
    )]
    pub jobs: Option<usize>,

    /// Attempts per storage request, the first included (else AWS_MAX_ATTEMPTS; default 5 for
    /// S3, 3 for a local directory). Throttling, 5xx errors, timeouts and dropped connections
    /// are retried with jittered exponential backoff; 1 turns retries off.
    #[arg(
        long,
        global = true,
        display_order = 100,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_attempts: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy a file, or a directory tree with -r, to or from storage (uploads become deltas
    /// where that saves space).
    #[command(after_help = "Examples:
  dg cp app-1.2.zip s3://releases/app/          # keeps the name: s3://releases/app/app-1.2.zip
  dg cp app.zip s3://releases/app/app-1.2.zip   # stores under the given key
  dg cp s3://releases/app/app-1.2.zip .         # downloads into the current directory
  dg cp s3://releases/app/app-1.2.zip out.zip   # downloads to out.zip
  dg cp s3://releases/app/app-1.2.zip -         # writes the file to standard output
  dg cp -r ./dist s3://releases/app/            # every file under dist/, as app/<path>
  dg cp -r s3://releases/app/ ./restore -j 8    # every file under app/, 8 at a time
  dg cp -r ./dist s3://releases/app/ --exclude '*' --include '*.zip'   # only the zips
  dg cp -r ./dist s3://releases/app/ --dryrun   # show what would be copied

--exclude/--include take globs (`*` also matches `/`, `?`, `[abc]`) matched against each
file's path relative to the source; every file starts included and the last filter that
matches decides, as in `aws s3 cp`. In a new deltaspace the first delta-eligible file is
uploaded before the others, so they all become deltas against it.

A download is written to a temp file next to the destination and renamed into place only
after its SHA-256 matched; on any error nothing is left at the destination. With -r, a
failed file is named on stderr, the others go on, and dg exits with status 1.

Names: any file name comes back as it went up, also names dg uses itself (`x.delta`,
`reference.bin`: such files are stored at `<name>.delta`). Names that are not UTF-8, FIFOs,
sockets and devices fail alone. Keys no directory can hold (`a//b`, `..`, `./x`) are skipped
by -r downloads, each named; `dg cp` of one such key to a file name works.
Links: uploads follow symbolic links, also those that leave the tree (the target's content is
stored under the link's name; a directory reached twice through links is walked once).
Downloads never write, replace or delete anything through a link inside the destination: a
path through one fails with a message; a link where a file lands is replaced by the file.
Limits: a download checks free space first; a delta without a recorded size rebuilds at most
4x its reference + 1000x itself (at least 1 GiB).")]
    Cp(CpArgs),

    /// Make a destination like a source: copy new and changed files, optionally delete the rest.
    #[command(after_help = "Examples:
  dg sync ./dist s3://releases/app/               # upload new and changed files
  dg sync s3://releases/app/ ./mirror             # download new and changed files
  dg sync ./dist s3://releases/app/ --delete      # also delete files no longer in ./dist
  dg sync ./dist s3://releases/app/ --exclude '*.tmp' --dryrun
  dg sync ./dist s3://releases/app/ --size-only --json | jq -c 'select(.action==\"summary\")'

A file is copied when it is missing at the destination, when its size differs (the original
size, for files stored as deltas), or when the source is newer (local modification time vs the
object's last-modified time; --size-only turns this off). Downloaded files get the object's
time, so the next sync skips them. Filters apply to deletions too: an excluded file is never
deleted. Deletions run after all copies, so a deltaspace keeps its reference while new deltas
need it.

Links (see `dg cp --help` for names and limits): uploads follow symbolic links. Into a local
directory, sync never goes through a link below it: --delete removes a link itself, never
what it points to, and a download whose path passes through a link fails, naming it.")]
    Sync(SyncArgs),

    /// List buckets, or files under a prefix with their original and stored sizes.
    #[command(
        after_help = "Examples:
  dg ls                              # buckets
  dg ls s3://releases/app/           # files in app/, sub-prefixes as PRE
  dg ls -r -h --summarize s3://releases/
  dg ls -r --json s3://releases/ | jq -r 'select(.type==\"file\") | .key'

Columns: modified time (UTC), original size, stored size, savings, name. Deltas are shown
under their file's name; reference.bin and .deltaglider/ are hidden, but their bytes count
in the --summarize total.",
        disable_help_flag = true
    )]
    Ls(LsArgs),

    /// Delete a file, or every file under a prefix with -r (deleting the last delta of a
    /// deltaspace also deletes its reference).
    #[command(after_help = "Examples:
  dg rm s3://releases/app/app-1.0.zip
  dg rm -r s3://releases/app/old/ --dryrun        # list what would be deleted
  dg rm -r s3://releases/app/ --exclude '*' --include '*-rc*'   # only release candidates
  dg rm --force s3://releases/app/reference.bin   # makes the remaining deltas unreadable

With -r and no filters, references left without deltas under the prefix are deleted too.")]
    Rm(RmArgs),

    /// Copy every file under a plain S3 prefix (or a local directory) into dg storage, as
    /// deltas where that saves space. Run it again after an interruption: files already copied
    /// are skipped.
    #[command(after_help = "Examples:
  dg migrate s3://old-bucket/releases/ s3://dg-bucket/      # into s3://dg-bucket/releases/
  dg migrate s3://old-bucket/a/b/c/ s3://dg-bucket/x/       # into s3://dg-bucket/x/c/
  dg migrate --no-preserve-prefix s3://old/v1/ s3://dg/     # into s3://dg/ itself
  dg migrate --dry-run s3://old-bucket/ s3://dg-bucket/     # counts and the files, copies nothing
  dg migrate -y -j 8 --exclude '*.log' s3://old/ s3://dg/   # no question, 8 files at a time
  dg migrate ./archive s3://dg-bucket/                      # a local directory works too

The source is read as it is stored: plain objects are taken byte for byte; files of a dg (or
Python deltaglider) prefix are rebuilt and checked first. References and .deltaglider/ are
never copied. By default the source prefix's last part is kept under the destination
(--no-preserve-prefix drops it), as Python deltaglider's migrate does.

Resuming: a file is skipped when the destination already has it with the same size. Every
write is atomic, so after an interruption (Ctrl-C, a killed process, a lost connection) the
next run copies exactly the files that are missing; no file is stored twice.

Before copying, dg prints how many files it will copy and how many are already there; on a
terminal it then asks to proceed (-y/--yes does not ask). --json prints one record per file
and a summary, as cp -r does. Source and destination use the same endpoint and credentials.")]
    Migrate(MigrateArgs),

    /// Estimate what dg would save on a prefix or a local directory, before moving anything:
    /// files are grouped into would-be deltaspaces and a few files of each are encoded.
    #[command(after_help = "Examples:
  dg analyze ./releases                       # a local directory
  dg analyze s3://old-bucket/releases/        # a plain S3 prefix (the sampled files are read)
  dg analyze ./releases --samples 5 --json    # more samples; one JSON object per deltaspace
  dg analyze ./releases --all                 # encode every file: exact, slower

Each directory (each prefix up to its last `/`) becomes a deltaspace, as in `dg cp -r`: its
first delta-eligible file by name would be the reference, the others deltas against it. dg
stores the reference and N evenly spread files of each deltaspace (--samples, default 3) in a
scratch store in memory, exactly as an upload would (same engine, format and max ratio), and
extrapolates the sampled files' stored/original ratio to the files not sampled. Files that are
not delta-eligible count at their full size. Nothing is written to the source.")]
    Analyze(AnalyzeArgs),

    /// Rebuild every object under a prefix and check its SHA-256; report each failure.
    #[command(after_help = "Examples:
  dg verify s3://releases/
  dg verify s3://releases/app/ -j 8 --json

Exit status 1 when any object fails.")]
    Verify(VerifyArgs),

    /// Encode or decode a delta between two local files with any engine.
    #[command(
        subcommand,
        after_help = "Examples:
  dg delta encode app-1.0.zip app-1.1.zip app-1.1.vcdiff             # VCDIFF, `xdelta3 -d` reads it
  dg delta encode --engine zstd app-1.0.zip app-1.1.zip app.zst     # `zstd -d --patch-from` reads it
  dg delta encode --engine lzma db-1.sql db-2.sql db-2.lzd           # smallest; dg reads it
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

    /// Original vs stored bytes, savings, deltaspaces and objects by kind under a prefix.
    #[command(after_help = "Examples:
  dg stats s3://releases                  # quick: from the listing alone
  dg stats s3://releases/app/ --detailed  # exact: reads every delta's original size
  dg stats releases --sampled --json      # one size per deltaspace, extrapolated

Modes: quick (default) lists only, so the original size of deltas is unknown and left out;
--sampled reads one delta per deltaspace and assumes its siblings are the same size;
--detailed reads every delta. Results are cached in the bucket under .deltaglider/dg-stats/
and reused while the listing (object count, stored bytes, newest time) is unchanged;
--refresh recomputes, --no-cache neither reads nor writes the cache.")]
    Stats(StatsArgs),

    /// Delete what no file needs: expired temporary files under `.deltaglider/tmp/` and
    /// references no delta uses any more (both reported by `dg verify`).
    #[command(after_help = "Examples:
  dg purge s3://releases                 # delete leftovers older than an hour
  dg purge s3://releases --dryrun        # list what would be deleted
  dg purge s3://releases --older-than 0  # no grace period (no upload may be running)
  dg purge s3://releases --json          # one object per file, then a summary

Temporary files (Python deltaglider's rehydration for presigned URLs writes them) are deleted
when their `dg-expires-at` time has passed; those without one once older than --older-than.
A reference.bin is an orphan when its deltaspace holds no delta: an upload was interrupted
between writing the reference and its first delta, or every file of it was deleted another
way. Orphans are deleted once older than --older-than (default 1h), so that an upload writing
its first delta meanwhile keeps its reference. Do not purge a prefix that uploads may be
using with a reference older than that (as with `rm`, nothing locks a deltaspace).
Exit status 1 when any object could not be checked or deleted.")]
    Purge(PurgeArgs),

    /// Make a bucket.
    #[command(after_help = "Examples:
  dg mb s3://releases
  dg mb s3://shared-with-python --format compat   # new deltaspaces stay readable by deltaglider")]
    Mb(MbArgs),

    /// Remove an empty bucket.
    #[command(
        after_help = "A bucket that holds only dg's own housekeeping (`.deltaglider/`: settings,
cached stats, expired temporary files) counts as empty: those objects are deleted with it.
To remove a bucket with files in it: `dg rm -r s3://BUCKET/` first."
    )]
    Rb(BucketArgs),

    /// Show or change a bucket's settings (the format of its new deltaspaces, the level of its
    /// native uploads).
    #[command(after_help = "Examples:
  dg settings s3://releases                   # show them
  dg settings s3://releases --format compat   # new deltaspaces readable by Python deltaglider
  dg settings s3://releases --format native   # new deltaspaces in dg's smaller format
  dg settings s3://releases --level best      # smallest native objects, slower uploads
  dg settings s3://releases --reference-scope prefix   # each prefix its own reference, as Python

The settings live in the bucket (`.deltaglider/settings`), so every dg that writes to it follows
them. Existing deltaspaces keep their format; a `--format`, `--level` or `--reference-scope` on
`dg cp`/`dg sync` overrides the bucket's for that command.")]
    Settings(SettingsArgs),

    /// Serve an S3 endpoint that stores deltas: any S3 client (aws CLI, boto3, rclone, SDKs,
    /// build tools) uploads and downloads through it unchanged.
    #[command(after_help = "Examples:
  dg serve --allow-anonymous                       # local store in ./dg-data, port 9000
  dg serve --users users.toml --data /srv/dg       # signed requests only
  dg serve --users users.toml --endpoint-url https://s3.example.com   # in front of S3
  aws --endpoint-url http://127.0.0.1:9000 s3 cp app-1.2.zip s3://releases/app/

Storage: without --endpoint-url (or AWS_ENDPOINT_URL) files are kept in the --data directory;
with it, in that S3-compatible store, with the usual AWS credentials. The bucket's format
setting (`dg settings`) applies to new deltaspaces.

Users (--users FILE, TOML), one table per user:
  [[user]]
  access_key_id = \"releaser\"
  secret_access_key = \"a long secret\"
  read = [\"*\"]                 # patterns: *, BUCKET, BUCKET/PREFIX*, BUCKET/KEY, */PREFIX*
  write = [\"releases/app/*\"]
Requests must be signed (AWS Signature V4, in headers or presigned URLs) by one of them;
without a users file dg serve refuses to start unless --allow-anonymous is given, which lets
unsigned requests do anything.

Scale: each request streams its body to a temp file (--work-dir), so memory stays bounded
whatever the size. Several dg serve processes may front one S3 store: references are created
only if absent. Multipart uploads are staged in the work directory of the process that
started them: route one upload's requests to one process, or share the work directory.

Operations: GET /_/health answers 200; GET /_/metrics gives Prometheus metrics; -v logs one
line per request; SIGTERM or Ctrl-C stops accepting and finishes the requests in flight.")]
    Serve(ServeArgs),
}
