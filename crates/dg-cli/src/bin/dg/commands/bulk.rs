//! The shared run of cp -r, sync and rm -r: plans executed (or, in a dry run, listed) with one
//! reporter, then a summary.

use std::io::IsTerminal;

use anyhow::Result;
use dg_core::PutRequest;

use crate::context::Context;
use crate::filters::Filters;
use crate::transfer::{Plan, Reporter, Runner};

/// One bulk command in progress.
#[derive(Debug)]
pub struct Bulk {
    pub reporter: Reporter,
    runner: Runner,
    jobs: usize,
    dryrun: bool,
}

impl Bulk {
    /// Starts reporting for `plans` (the progress bar counts all of them); `skipped` files
    /// need nothing.
    pub fn new(ctx: &Context, put: PutRequest, dryrun: bool, plans: &[Plan], skipped: u64) -> Self {
        let files = plans.iter().map(|p| p.len() as u64).sum();
        let bytes = plans.iter().map(Plan::bytes).fold(0, u64::saturating_add);
        let mut reporter = Reporter::new(ctx.json, ctx.quiet, dryrun, files, bytes)
            .with_retries(ctx.client.retry_counter());
        reporter.tally.skipped = skipped;
        let runner = Runner {
            client: ctx.client.clone(),
            put,
            progress: reporter.progress(),
        };
        Bulk {
            reporter,
            runner,
            jobs: ctx.jobs,
            dryrun,
        }
    }

    /// Runs a plan to its end (in a dry run: lists its jobs in path order).
    pub async fn run(&mut self, plan: Plan) {
        if plan.is_empty() {
            return;
        }
        if self.dryrun {
            for job in &plan.jobs {
                self.reporter.planned(job);
            }
        } else {
            self.runner
                .execute(plan, self.jobs, &mut self.reporter)
                .await;
        }
    }

    /// Prints the summary; fails when any file failed.
    pub fn finish(self, command: &str) -> Result<()> {
        self.reporter.finish(command)
    }

    /// Records each file a walk or listing could not take as failed (named on stderr, exit 1).
    pub fn problems(&mut self, problems: &[crate::tree::Problem], action: &'static str) {
        for p in problems {
            self.reporter.tally.planned += 1;
            self.reporter.failed_item(action, &p.what, &p.reason);
        }
    }
}

/// The filters of a command; a bad glob is a usage error.
pub fn filters(ordered: &[(crate::filters::Rule, String)]) -> Result<Filters> {
    match Filters::new(ordered) {
        Ok(f) => Ok(f),
        Err(e) => crate::exit::usage!("{e:#}"),
    }
}

/// True when a progress bar would show, so looking up sizes for it is worth a request.
pub fn progress_visible(ctx: &Context) -> bool {
    !ctx.quiet && !ctx.json && std::io::stderr().is_terminal()
}
