//! One module per command.

pub mod analyze;
pub mod buckets;
pub mod bulk;
pub mod cache;
pub mod codec;
pub mod cp;
pub mod ls;
pub mod migrate;
pub mod purge;
pub mod rm;
pub mod stats;
pub mod sync;
pub mod verify;
