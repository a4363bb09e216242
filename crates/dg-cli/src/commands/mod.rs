//! One module per command.

pub mod buckets;
pub mod cp;
pub mod ls;
pub mod rm;
pub mod verify;
