//! `HOST:PORT/path` destinations, and connecting to one with the token handshake.

use std::net::{TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::time::Duration;

use super::auth::{nonce, Token};
use super::conn::Conn;
use super::frame::Kind;
use super::wire::Enc;
use crate::{Error, Result};

/// A destination on a copy server: `HOST:PORT/path` (`[v6addr]:PORT/path` for IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `HOST:PORT`.
    pub addr: String,
    /// The path under the server root, `/`-separated, no leading or trailing `/`
    /// (empty for the root itself).
    pub path: String,
    /// Whether the text ended with `/` (copy a file *into* that directory).
    pub trailing_slash: bool,
}

impl FromStr for Remote {
    type Err = Error;

    fn from_str(spec: &str) -> Result<Remote> {
        let bad = || Error::BadRemote {
            spec: spec.to_string(),
        };
        let (host, rest) = if let Some(v6) = spec.strip_prefix('[') {
            let close = v6.find("]:").ok_or_else(bad)?;
            (&spec[..close + 2], &v6[close + 2..])
        } else {
            let colon = spec.find(':').ok_or_else(bad)?;
            (&spec[..colon], &spec[colon + 1..])
        };
        let digits = rest.find('/').unwrap_or(rest.len());
        let port: u16 = rest[..digits].parse().map_err(|_| bad())?;
        if host.is_empty() || host.contains('/') {
            return Err(bad());
        }
        let path = &rest[digits..];
        Ok(Remote {
            addr: format!("{host}:{port}"),
            path: path.trim_matches('/').to_string(),
            trailing_slash: path.ends_with('/') && path.len() > 1,
        })
    }
}

impl Remote {
    /// Whether `spec` reads as a remote destination (and is no existing local path).
    pub fn looks_remote(spec: &str) -> bool {
        spec.parse::<Remote>().is_ok() && !std::path::Path::new(spec).exists()
    }

    /// Connects and proves the token both ways.
    pub(crate) fn connect(&self, token: &Token, timeout: Duration) -> Result<Conn> {
        let connect_err = |e| Error::Connect {
            addr: self.addr.clone(),
            source: e,
        };
        let addrs = self.addr.to_socket_addrs().map_err(connect_err)?;
        let mut last =
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address for this host");
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, Duration::from_secs(10)) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or_else(|| connect_err(last))?;
        let mut conn = Conn::new(stream, timeout)?;
        let hello = conn.expect(Kind::Hello)?;
        let server_nonce: [u8; 32] = hello.as_slice().try_into().map_err(|_| Error::Protocol {
            peer: conn.peer.clone(),
            what: "bad hello".into(),
        })?;
        let client_nonce = nonce()?;
        let proof = token.client_proof(&server_nonce, &client_nonce)?;
        conn.send_now(Kind::Auth, &Enc::new().hash(&client_nonce).hash(&proof).0)?;
        let reply = match conn.expect(Kind::AuthOk) {
            Ok(r) => r,
            Err(Error::Protocol { peer, .. }) => return Err(Error::AuthFailed { peer }),
            Err(e) => return Err(e),
        };
        if !token.verify_server(&server_nonce, &client_nonce, &reply) {
            return Err(Error::AuthFailed {
                peer: conn.peer.clone(),
            });
        }
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let r: Remote = "build01:31337/builds/42/".parse().unwrap();
        assert_eq!(
            (r.addr.as_str(), r.path.as_str(), r.trailing_slash),
            ("build01:31337", "builds/42", true)
        );
        let r: Remote = "[::1]:9/x".parse().unwrap();
        assert_eq!((r.addr.as_str(), r.path.as_str()), ("[::1]:9", "x"));
        let r: Remote = "h:1".parse().unwrap();
        assert_eq!(r.path, "");
        for bad in ["nohost", ":1/x", "h:/x", "h:99999/x", "a/b:1/c"] {
            assert!(bad.parse::<Remote>().is_err(), "{bad}");
        }
    }
}
