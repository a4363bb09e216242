//! Diff engines behind the [`dg_ports::DiffEngine`] port.

#[cfg(feature = "zstd")]
mod compress;
mod io;
#[cfg(feature = "zstd")]
mod zstd;

#[cfg(feature = "zstd")]
pub use self::compress::ZstdCompressor;
pub use self::io::{decode_error, input_error, SinkWriter};
#[cfg(feature = "zstd")]
pub use self::zstd::ZstdEngine;
