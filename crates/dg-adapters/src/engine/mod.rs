//! Diff engines behind the [`dg_ports::DiffEngine`] port.

mod io;
#[cfg(feature = "zstd")]
mod zstd;

pub use self::io::{decode_error, SinkWriter};
#[cfg(feature = "zstd")]
pub use self::zstd::ZstdEngine;
