//! Diff engines behind the [`dg_ports::DiffEngine`] port.

#[cfg(feature = "zstd")]
mod compress;
mod io;
pub mod rsync;
pub mod vcdiff;
mod vcdiff_engine;
#[cfg(feature = "zstd")]
mod zstd;

#[cfg(feature = "zstd")]
pub use self::compress::ZstdCompressor;
pub use self::io::{decode_error, input_error, SinkWriter};
pub use self::rsync::RsyncEngine;
pub use self::vcdiff_engine::VcdiffEngine;
#[cfg(feature = "zstd")]
pub use self::zstd::ZstdEngine;
