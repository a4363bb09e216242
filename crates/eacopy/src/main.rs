//! The `eacopy` binary: local, tree, delta and server copies, and `eacopy serve`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use eacopy::{Config, ErrorStrategy, Remote, Server, Token};

const EXAMPLES: &str = "\
Examples:
  eacopy build/ /mnt/share/build-42            copy a tree (destination must not exist)
  eacopy -f -j 8 build/ /mnt/share/build-42    into an existing directory, 8 workers
  eacopy --exclude '*.obj' --exclude-dir .git src/ dst/
  eacopy big.iso /backup/big.iso --delta-from /backup/big.iso
                                               rewrite only the changed blocks
  eacopy serve --root /srv/builds --token-file /etc/eacopy.token
  eacopy --token-file ~/.eacopy.token build/ buildsrv:31337/builds/42
                                               send only what the server lacks

A destination HOST:PORT/path goes to an `eacopy serve` there. Make a token with
`head -c 32 /dev/urandom | base64 > token` and give the same file to both ends.
Exit status: 0 success; 1 a copy failed, or (with --on-error ignore) some files failed or
were skipped (FIFOs, sockets, devices, symlink loops under -L), each named on stderr; 2 usage
error.";

/// Fast copies of files and trees, locally or to an eacopy server.
#[derive(Debug, Parser)]
#[command(name = "eacopy", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    copy: CopyArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a directory to eacopy clients.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Directory that clients write under.
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// TCP port.
    #[arg(long, default_value_t = eacopy::DEFAULT_PORT)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// File holding the shared token (at least 16 bytes).
    #[arg(long, value_name = "FILE")]
    token_file: PathBuf,
    /// More logging (-v, -vv).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OnError {
    Raise,
    Retry,
    Ignore,
}

#[derive(Debug, Args)]
struct CopyArgs {
    /// Source file or directory.
    #[arg(value_name = "SRC", required = true)]
    src: Option<PathBuf>,
    /// Destination path, or HOST:PORT/path on an eacopy server.
    #[arg(value_name = "DST", required = true)]
    dst: Option<String>,
    /// Parallel workers (files and connections).
    #[arg(short = 'j', long, value_name = "N")]
    threads: Option<usize>,
    /// Copy what symlinks point to, not the links.
    #[arg(short = 'L', long)]
    dereference: bool,
    /// Do not keep modification and access times.
    #[arg(long)]
    no_metadata: bool,
    /// Write into an existing destination directory.
    #[arg(short = 'f', long)]
    dirs_exist_ok: bool,
    /// Only copy files matching GLOB (repeatable; `*`, `?`; a `/` matches the relative path).
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Skip files matching GLOB (repeatable).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Skip directories matching GLOB (repeatable).
    #[arg(long, value_name = "GLOB")]
    exclude_dir: Vec<String>,
    /// What to do when a file fails.
    #[arg(long, value_enum, default_value = "raise")]
    on_error: OnError,
    /// Tries after a failure (with --on-error retry).
    #[arg(long, default_value_t = 3, value_name = "N")]
    retry: u32,
    /// Milliseconds between tries: the shortest pause, each further one up to twice the one
    /// before (jittered, dg's retry policy; at most 20 s unless MS is more).
    #[arg(long, default_value_t = 500, value_name = "MS")]
    retry_delay: u64,
    /// zstd level for server copies (0 = uncompressed).
    #[arg(long, default_value_t = 3, value_name = "LEVEL")]
    compress: i32,
    /// Buffer size in bytes.
    #[arg(long, value_name = "BYTES")]
    buffer_size: Option<usize>,
    /// Token file for HOST:PORT destinations.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Write DST from SRC reusing the unchanged blocks of REF (a file).
    #[arg(long, value_name = "REF")]
    delta_from: Option<PathBuf>,
    /// Show progress on stderr.
    #[arg(short, long)]
    progress: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    /// More logging (-v, -vv).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = match &cli.command {
        Some(Command::Serve(s)) => s.verbose,
        None => cli.copy.verbose,
    };
    let level = ["warn", "info", "debug"][usize::from(verbose.min(2))];
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EACOPY_LOG")
                .unwrap_or_else(|_| level.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Some(Command::Serve(args)) => serve(args).map(|()| true),
        None => run_copy(cli.copy),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("eacopy: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn read_token(path: &Path) -> anyhow::Result<Token> {
    let text = std::fs::read(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    Ok(Token::from_file_contents(&text)?)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let token = read_token(&args.token_file)?;
    let mut server = Server::new(&args.root, token).bind(SocketAddr::new(args.bind, args.port));
    let addr = server.start()?;
    eprintln!("eacopy: serving {} on {addr}", args.root.display());
    server.wait();
    Ok(())
}

fn config_of(a: &CopyArgs) -> Config {
    let mut c = Config::new()
        .follow_symlinks(a.dereference)
        .preserve_metadata(!a.no_metadata)
        .dirs_exist_ok(a.dirs_exist_ok)
        .error_strategy(match a.on_error {
            OnError::Raise => ErrorStrategy::Raise,
            OnError::Retry => ErrorStrategy::Retry,
            OnError::Ignore => ErrorStrategy::Ignore,
        })
        .retry_count(a.retry)
        .retry_delay(Duration::from_millis(a.retry_delay))
        .compression_level(a.compress);
    if let Some(n) = a.threads {
        c = c.thread_count(n);
    }
    if let Some(b) = a.buffer_size {
        c = c.buffer_size(b);
    }
    for g in &a.include {
        c = c.include(g);
    }
    for g in &a.exclude {
        c = c.exclude(g);
    }
    for g in &a.exclude_dir {
        c = c.exclude_dir(g);
    }
    if a.progress {
        let last = Mutex::new(Instant::now());
        c = c.progress(move |done, total, name| {
            let mut t = last.lock().unwrap_or_else(|p| p.into_inner());
            if t.elapsed() >= Duration::from_millis(200) || done == total {
                *t = Instant::now();
                eprint!(
                    "\r{:>10.1} / {:.1} MiB  {}\x1b[K",
                    mib(done),
                    mib(total),
                    name.display()
                );
            }
        });
    }
    c
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

/// Copies; `Ok(false)` when it went through but left something out (`--on-error ignore`).
fn run_copy(a: CopyArgs) -> anyhow::Result<bool> {
    let (Some(src), Some(dst)) = (a.src.clone(), a.dst.clone()) else {
        bail!("give a source and a destination (see --help)")
    };
    let config = config_of(&a);
    let started = Instant::now();
    let mut complete = true;
    let summary = if Remote::looks_remote(&dst) {
        let token_file = a
            .token_file
            .as_deref()
            .context("HOST:PORT destinations need --token-file (the server's token)")?;
        let stats = eacopy::copy_with_server(&src, &dst, &read_token(token_file)?, &config)?;
        complete = stats.files_failed == 0;
        stats.to_string()
    } else if let Some(reference) = &a.delta_from {
        let r = eacopy::delta_copy(&src, &dst, reference, &config)?;
        format!(
            "{} bytes: {} reused, {} written, sha256 {}",
            r.bytes_total,
            r.bytes_reused,
            r.bytes_written,
            eacopy::hash::hex(&r.sha256)
        )
    } else if src.is_dir() {
        let r = eacopy::copytree(&src, &dst, &config)?;
        for (p, e) in &r.failures {
            eprintln!("eacopy: {}: {e}", p.display());
        }
        for (_, e) in &r.skipped {
            eprintln!("eacopy: warning: skipped {e}");
        }
        complete = r.failures.is_empty() && r.skipped.is_empty();
        format!(
            "{} files, {} bytes, {} dirs, {} links, {} filtered, {} skipped, {} failed",
            r.files,
            r.bytes,
            r.dirs,
            r.symlinks,
            r.filtered,
            r.skipped.len(),
            r.failures.len()
        )
    } else if a.no_metadata {
        eacopy::copy(&src, &dst, &config).map(|p| format!("copied to {}", p.display()))?
    } else {
        eacopy::copy2(&src, &dst, &config).map(|p| format!("copied to {}", p.display()))?
    };
    if a.progress {
        eprintln!();
    }
    if !a.quiet || !complete {
        eprintln!(
            "eacopy: {summary} in {:.2} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(complete)
}
