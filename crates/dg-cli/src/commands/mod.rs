//! One module per command.

pub mod buckets;
pub mod cache;
pub mod codec;
pub mod cp;
pub mod ls;
pub mod rm;
pub mod verify;
