//! Turning global flags into a configured [`Client`] (the library builds storage, cache and
//! engines; environment variables fill in what the flags leave open).

use anyhow::Result;
use dg::{Client, ClientBuilder};

use crate::args::Global;

/// Everything a command needs.
pub struct Context {
    /// The library client the commands run on: their only way into the domain.
    pub client: Client,
    pub quiet: bool,
    /// One JSON object per line instead of text.
    pub json: bool,
    /// Files transferred at once.
    pub jobs: usize,
}

/// The client the global flags describe, the environment filling in the rest.
pub fn client(global: &Global) -> Result<Client> {
    let mut builder = ClientBuilder::from_env().no_sign_request(global.no_sign_request);
    if let Some(url) = &global.endpoint_url {
        builder = builder.endpoint(url);
    }
    if let Some(region) = &global.region {
        builder = builder.region(region);
    }
    if let Some(profile) = &global.profile {
        builder = builder.profile(profile);
    }
    if let Some(n) = global.max_attempts {
        builder = builder.max_attempts(n as usize);
    }
    Ok(builder.build()?)
}

/// `-j N`, or the number of CPUs (at most 16).
fn jobs(flag: Option<usize>) -> Result<usize> {
    match flag {
        Some(0) => crate::exit::usage!("-j/--jobs must be at least 1"),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(4)
            .min(16)),
    }
}

impl Context {
    /// Builds the client for these global flags.
    pub fn new(global: &Global) -> Result<Self> {
        Ok(Context {
            client: client(global)?,
            quiet: global.quiet,
            json: global.json,
            jobs: jobs(global.jobs)?,
        })
    }
}
