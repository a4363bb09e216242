//! One TCP connection speaking frames: buffered, byte-counted, with streams of `Data` frames
//! readable and writable as ordinary `Read`/`Write`.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::frame::{self, Kind, HEADER_LEN};
use super::wire::{Dec, Enc};
use crate::{Error, Result};

/// Raw bytes per `Data` frame.
pub(crate) const CHUNK: usize = 1 << 20;

/// A framed connection.
#[derive(Debug)]
pub(crate) struct Conn {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    pub peer: String,
    /// Bytes written to the socket (headers included).
    pub sent: u64,
    /// Bytes read from the socket (headers included).
    pub received: u64,
    /// A read failed: the stream is out of step and must be closed.
    pub broken: bool,
    /// A `Data` stream is being read and its `End` has not come yet.
    in_stream: bool,
    /// The largest frame payload accepted from the peer now.
    pub max_frame: usize,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream, timeout: Duration) -> Result<Conn> {
        let peer = stream
            .peer_addr()
            .map_or_else(|_| "unknown peer".to_string(), |a| a.to_string());
        let net = |e| Error::Network {
            peer: peer.clone(),
            source: e,
        };
        stream.set_nodelay(true).map_err(net)?;
        stream.set_read_timeout(Some(timeout)).map_err(net)?;
        stream.set_write_timeout(Some(timeout)).map_err(net)?;
        let clone = stream.try_clone().map_err(net)?;
        Ok(Conn {
            reader: BufReader::with_capacity(256 << 10, stream),
            writer: BufWriter::with_capacity(256 << 10, clone),
            peer,
            sent: 0,
            received: 0,
            broken: false,
            in_stream: false,
            max_frame: frame::MAX_PAYLOAD,
        })
    }

    fn net(&self, e: io::Error) -> Error {
        Error::Network {
            peer: self.peer.clone(),
            source: e,
        }
    }

    /// Queues one frame.
    pub(crate) fn send(&mut self, kind: Kind, payload: &[u8]) -> Result<()> {
        frame::write_frame(&mut self.writer, kind, payload).map_err(|e| self.net(e))?;
        self.sent += (HEADER_LEN + payload.len()) as u64;
        Ok(())
    }

    /// Pushes queued frames to the peer.
    pub(crate) fn flush(&mut self) -> Result<()> {
        self.writer.flush().map_err(|e| self.net(e))
    }

    /// Sends and flushes one frame.
    pub(crate) fn send_now(&mut self, kind: Kind, payload: &[u8]) -> Result<()> {
        self.send(kind, payload)?;
        self.flush()
    }

    /// Reports a fatal error to the peer (best effort).
    pub(crate) fn send_error(&mut self, message: &str) {
        let _ = self.send_now(Kind::Error, &Enc::new().str(message).0);
    }

    /// Reads the next frame; an `Error` frame from the peer becomes an error here.
    pub(crate) fn recv(&mut self) -> Result<(Kind, Vec<u8>)> {
        let (kind, payload) = frame::read_frame_max(&mut self.reader, &self.peer, self.max_frame)
            .inspect_err(|_| self.broken = true)?;
        self.received += (HEADER_LEN + payload.len()) as u64;
        if kind == Kind::Busy {
            self.broken = true;
            let reason = Dec::new(&payload, &self.peer)
                .str()
                .unwrap_or("(unreadable reason)")
                .to_string();
            return Err(Error::Busy {
                peer: self.peer.clone(),
                reason,
            });
        }
        if kind == Kind::Error {
            self.broken = true;
            let message = Dec::new(&payload, &self.peer)
                .str()
                .unwrap_or("(unreadable message)")
                .to_string();
            return Err(Error::Protocol {
                peer: self.peer.clone(),
                what: format!("peer reported: {message}"),
            });
        }
        Ok((kind, payload))
    }

    /// Reads the next frame and requires it to be of `kind`.
    pub(crate) fn expect(&mut self, kind: Kind) -> Result<Vec<u8>> {
        let (got, payload) = self.recv()?;
        if got != kind {
            return Err(Error::Protocol {
                peer: self.peer.clone(),
                what: format!("expected {kind:?}, got {got:?}"),
            });
        }
        Ok(payload)
    }

    /// A writer that sends what it is given as `Data` frames; call [`DataWriter::finish`].
    pub(crate) fn data_writer(&mut self) -> DataWriter<'_> {
        DataWriter {
            conn: self,
            buf: Vec::with_capacity(CHUNK),
            payload: 0,
        }
    }

    /// A reader over the `Data` frames up to the next `End`, refusing more than `limit` bytes.
    pub(crate) fn data_reader(&mut self, limit: u64) -> DataReader<'_> {
        self.in_stream = true;
        DataReader {
            conn: self,
            cur: Vec::new(),
            pos: 0,
            done: false,
            left: limit,
        }
    }
}

impl Conn {
    /// Notes that a `Data` stream follows which nothing will read (see [`Conn::skip_stream`]).
    pub(crate) fn expect_stream(&mut self) {
        self.in_stream = true;
    }

    /// After a failed read of a stream: skips to its `End` so the next message lines up.
    /// Does nothing if the stream ended or the connection is broken.
    pub(crate) fn skip_stream(&mut self) -> Result<()> {
        if self.in_stream && !self.broken {
            return self.data_reader(u64::MAX).drain();
        }
        Ok(())
    }
}

/// Turns a byte stream into `Data` frames.
#[derive(Debug)]
pub(crate) struct DataWriter<'a> {
    conn: &'a mut Conn,
    buf: Vec<u8>,
    /// Stream bytes sent so far.
    pub payload: u64,
}

impl DataWriter<'_> {
    fn ship(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.conn
                .send(Kind::Data, &self.buf)
                .map_err(io::Error::other)?;
            self.payload += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// Sends the rest and the `End` frame; returns the stream bytes sent.
    pub(crate) fn finish(mut self) -> Result<u64> {
        self.ship().map_err(|e| self.conn.net(e))?;
        self.conn.send(Kind::End, &[])?;
        self.conn.flush()?;
        Ok(self.payload)
    }
}

impl Write for DataWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.ship()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads the `Data` frames of one stream.
#[derive(Debug)]
pub(crate) struct DataReader<'a> {
    conn: &'a mut Conn,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
    left: u64,
}

impl DataReader<'_> {
    /// Reads the whole stream into memory (within the limit).
    pub(crate) fn into_vec(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_to_end(&mut out).map_err(|e| self.conn.net(e))?;
        Ok(out)
    }

    /// Skips the rest of the stream, so the connection stays usable after an error.
    pub(crate) fn drain(mut self) -> Result<()> {
        self.left = u64::MAX;
        io::copy(&mut self, &mut io::sink())
            .map(|_| ())
            .map_err(|e| self.conn.net(e))
    }
}

impl Read for DataReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            if self.done {
                return Ok(0);
            }
            let (kind, payload) = self.conn.recv().map_err(io::Error::other)?;
            match kind {
                Kind::Data => {
                    if payload.len() as u64 > self.left {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "stream longer than announced",
                        ));
                    }
                    self.left -= payload.len() as u64;
                    self.cur = payload;
                    self.pos = 0;
                }
                Kind::End => {
                    self.done = true;
                    self.conn.in_stream = false;
                }
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{other:?} frame inside a data stream"),
                    ))
                }
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
