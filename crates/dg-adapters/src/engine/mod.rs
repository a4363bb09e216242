//! Diff engines behind the [`dg_ports::DiffEngine`] port.

#[cfg(feature = "zstd")]
mod compress;
mod io;
pub mod lzma;
pub mod rsync;
mod vcdiff_engine;
#[cfg(feature = "xdelta3")]
mod xdelta3_lib;
#[cfg(feature = "zstd")]
mod zstd;

#[cfg(feature = "zstd")]
pub use self::compress::ZstdCompressor;
pub use self::io::{decode_error, input_error, SinkWriter};
pub use self::lzma::{LzmaEngine, LZMA_DEFAULT_LIMIT};
pub use self::rsync::RsyncEngine;
pub use self::vcdiff_engine::VcdiffEngine;
#[cfg(feature = "xdelta3")]
pub use self::xdelta3_lib::{Xdelta3LibEngine, XDELTA3_LIB_LIMIT, XDELTA3_LIB_MIN};
#[cfg(feature = "zstd")]
pub use self::zstd::ZstdEngine;
