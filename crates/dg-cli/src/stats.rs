//! [`Client::stats`]: what a prefix costs (the domain computes it; see [`dg_core::stats`]).

pub use dg_core::stats::{Stats, StatsCache, StatsMode, StatsOptions};
use dg_ports::Result;

use crate::Client;

impl Client {
    /// Original vs stored bytes under `prefix` of `bucket`, cached in the bucket while the
    /// listing is unchanged (see [`StatsOptions`]).
    pub async fn stats(&self, bucket: &str, prefix: &str, options: StatsOptions) -> Result<Stats> {
        self.service().stats(bucket, prefix, options).await
    }
}
