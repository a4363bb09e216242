//! `dg cache info` and `dg cache clear`.

use anyhow::Result;

use crate::args::CacheCommand;
use crate::cache::CacheSetup;
use crate::format::human_size;

pub fn run(setup: &CacheSetup, command: &CacheCommand) -> Result<()> {
    match command {
        CacheCommand::Info => {
            out!("reference cache: {}", setup.description);
            if let Some(fs) = &setup.fs {
                let entries = fs.entries()?;
                let bytes: u64 = entries.iter().map(|e| e.size).sum();
                out!(
                    "entries: {}, {} of {} used",
                    entries.len(),
                    human_size(bytes),
                    human_size(fs.max_bytes())
                );
            }
        }
        CacheCommand::Clear => match &setup.fs {
            Some(fs) if setup.shared => {
                let freed = fs.clear()?;
                out!("cleared {} from {}", human_size(freed), fs.dir().display());
            }
            _ => {
                out!("nothing to clear: this run's cache is private and removed when dg exits")
            }
        },
    }
    Ok(())
}
