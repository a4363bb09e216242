//! I/O plumbing shared by engines: telling output failures apart from bad input.

use std::io::{self, Read, Write};

use dg_ports::Error;

/// Wraps an engine's output writer and remembers whether it failed, so a decode error can be
/// blamed on the delta (bad input) or on the output (disk full, budget reached).
#[derive(Debug)]
pub struct SinkWriter<W> {
    inner: W,
    written: u64,
    limit: u64,
    failed: Option<io::ErrorKind>,
}

impl<W: Write> SinkWriter<W> {
    /// Wraps `inner`, refusing more than `limit` bytes.
    pub fn new(inner: W, limit: u64) -> Self {
        SinkWriter {
            inner,
            written: 0,
            limit,
            failed: None,
        }
    }
}

impl<W> SinkWriter<W> {
    /// Bytes written.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// True when the output (not the input) caused a failure.
    pub fn failed(&self) -> bool {
        self.failed.is_some()
    }

    /// True when the limit was hit.
    pub fn over_limit(&self) -> bool {
        self.failed == Some(io::ErrorKind::FileTooLarge)
    }
}

impl<W: Write> Write for SinkWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written.saturating_add(buf.len() as u64) > self.limit {
            self.failed = Some(io::ErrorKind::FileTooLarge);
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "output exceeds the expected size",
            ));
        }
        match self.inner.write(buf) {
            Ok(n) => {
                self.written += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed = Some(e.kind());
                Err(e)
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner
            .flush()
            .inspect_err(|e| self.failed = Some(e.kind()))
    }
}

/// Maps an error met while decoding: the sink's own failure stays an I/O error (or a limit),
/// anything else means the delta is bad.
pub fn decode_error<W>(engine: &str, sink: &SinkWriter<W>, e: io::Error) -> Error {
    input_error(
        engine,
        "delta",
        "it does not decode against its reference",
        sink,
        e,
    )
}

/// Like [`decode_error`], naming what was read and why it is bad.
pub fn input_error<W>(
    format: &str,
    what: &str,
    reason: &str,
    sink: &SinkWriter<W>,
    e: io::Error,
) -> Error {
    if sink.over_limit() {
        Error::LimitExceeded {
            what: format!("the {format} {what}'s output"),
            limit: sink.limit,
        }
    } else if sink.failed() {
        Error::io("writing a rebuilt file", e)
    } else {
        Error::InvalidData {
            what: format!("{format} {what}"),
            reason: reason.into(),
            source: Some(Box::new(e)),
        }
    }
}

/// Reads all of `input` into memory, refusing more than `limit` bytes: `LimitExceeded` naming
/// `engine`'s `what` (for engines that need a whole file at once).
pub fn read_bounded(
    input: &mut dyn Read,
    limit: u64,
    engine: &str,
    what: &str,
) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    input
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(format!("reading the {what}"), e))?;
    if buf.len() as u64 > limit {
        return Err(Error::LimitExceeded {
            what: format!("the {engine} {what}"),
            limit,
        });
    }
    Ok(buf)
}
