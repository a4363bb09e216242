//! `dg`: the command line. Parses flags, installs logging, runs one command, maps the outcome
//! to an exit code (0 success, 1 failure, 2 usage error).

#[macro_use]
mod output;

mod args;
mod commands;
mod context;
mod exit;
mod filters;
mod format;
mod serve;
mod transfer;
mod tree;

use std::process::ExitCode;

use dg::{cache, url};

use tracing_subscriber::EnvFilter;

use args::{Cli, Command};
use context::Context;

fn init_logging(cli: &Cli) {
    let level = match (cli.global.quiet, cli.global.debug, cli.global.verbose) {
        (true, _, _) => "error",
        (_, true, _) | (_, _, 2) => "debug",
        (_, _, 0) => "warn",
        (_, _, 1) => "info",
        _ => "trace",
    };
    let filter = std::env::var("DG_LOG_LEVEL")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| {
            // s3s logs every refused request (bad signature, access denied) as an error: dg
            // serve's own request line says the same, so its lines only show with --debug.
            let s3s = if level == "debug" || level == "trace" {
                level
            } else {
                "off"
            };
            EnvFilter::new(format!("{level},hyper=warn,reqwest=warn,h2=warn,s3s={s3s}"))
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Cache(c) => return commands::cache::run(&cache::from_env()?, c),
        Command::Serve(a) => return serve::run(&cli.global, a).await,
        Command::Delta(c) => return commands::codec::delta(c, cli.global.quiet),
        Command::Rsync(c) => return commands::codec::rsync(c, cli.global.quiet),
        _ => {}
    }
    let ctx = Context::new(&cli.global)?;
    let work = async {
        match &cli.command {
            Command::Cp(a) => commands::cp::run(&ctx, a).await,
            Command::Ls(a) => commands::ls::run(&ctx, a).await,
            Command::Rm(a) => commands::rm::run(&ctx, a).await,
            Command::Sync(a) => commands::sync::run(&ctx, a).await,
            Command::Purge(a) => commands::purge::run(&ctx, a).await,
            Command::Stats(a) => commands::stats::run(&ctx, a).await,
            Command::Verify(a) => commands::verify::run(&ctx, a).await,
            Command::Migrate(a) => commands::migrate::run(&ctx, a).await,
            Command::Analyze(a) => commands::analyze::run(&ctx, a).await,
            Command::Mb(a) => commands::buckets::make(&ctx, a).await,
            Command::Rb(a) => commands::buckets::remove(&ctx, a).await,
            Command::Settings(a) => commands::buckets::settings(&ctx, a).await,
            Command::Cache(_) | Command::Delta(_) | Command::Rsync(_) | Command::Serve(_) => Ok(()),
        }
    };
    // Ctrl-C drops the work future: temp files are removed, nothing half-written stays visible.
    tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted; nothing partial was left behind"),
    }
}

/// A suggestion for errors users can fix themselves.
fn hint(e: &anyhow::Error) -> String {
    match e.downcast_ref::<dg_ports::Error>() {
        Some(dg_ports::Error::NotFound { what }) if what.starts_with("bucket ") => {
            let name = what.trim_start_matches("bucket ");
            format!(" (create it with `dg mb s3://{name}`)")
        }
        Some(dg_ports::Error::NotFound { what }) if what.starts_with("local store ") => {
            " (the directory does not exist: check --endpoint-url, or create the store with its first bucket: `dg mb s3://NAME`)".to_string()
        }
        _ => String::new(),
    }
}

/// The error as one line: our own messages (contexts and the port's error, which already say
/// what to do), then the root cause. Backends such as object_store repeat their whole chain in
/// every layer's message; those middle layers add nothing a user can act on. `--debug` keeps
/// the full chain.
fn one_line(e: &anyhow::Error, full: bool) -> String {
    if full {
        return format!("{e:#}");
    }
    let mut line = String::new();
    let mut shown_port_error = false;
    for cause in e.chain() {
        if shown_port_error {
            break;
        }
        shown_port_error = cause.downcast_ref::<dg_ports::Error>().is_some();
        push_unless_repeated(&mut line, &cause.to_string());
    }
    if let Some(root) = e.chain().last() {
        push_unless_repeated(&mut line, &without_xml(&root.to_string()));
    }
    line
}

/// An S3 error body (`<?xml ...><Error><Code>X</Code>...`) shortened to its code.
fn without_xml(text: &str) -> String {
    let Some(at) = text.find("<?xml") else {
        return text.to_string();
    };
    let head = text[..at].trim_end().trim_end_matches(':');
    let code = text[at..]
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code);
    match code {
        Some(code) => format!("{head} ({code})"),
        None => head.to_string(),
    }
}

/// Appends `: text` unless the line already says it.
fn push_unless_repeated(line: &mut String, text: &str) {
    let text = text.trim().trim_end_matches(':').trim_end();
    if text.is_empty() || line.contains(text) {
        return;
    }
    if !line.is_empty() {
        line.push_str(": ");
    }
    line.push_str(text);
}

fn main() -> ExitCode {
    let cli = Cli::parse_ordered();
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dg: error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let full = cli.global.debug || cli.global.verbose >= 2;
            err!("dg: error: {}{}", one_line(&e, full), hint(&e));
            ExitCode::from(exit::status(&e))
        }
    }
}
