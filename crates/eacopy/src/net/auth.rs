//! The shared-secret handshake: both sides prove they hold the token with HMAC-SHA256 over
//! fresh nonces, so the token itself never crosses the wire.
//!
//! ```text
//! server → client  Hello  { server_nonce[32] }
//! client → server  Auth   { client_nonce[32], HMAC(token, "eacopy-v1 client" ‖ server_nonce ‖ client_nonce) }
//! server → client  AuthOk { HMAC(token, "eacopy-v1 server" ‖ client_nonce ‖ server_nonce) }
//! ```
//! A wrong proof gets an `Error` frame and the connection is closed before any file work.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::{Error, Result};

/// The shared secret of a server and its clients. Its `Debug` form never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Vec<u8>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(<{} bytes>)", self.0.len())
    }
}

impl Token {
    /// A token from secret bytes (at least 16, e.g. `head -c 32 /dev/urandom | base64`).
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Token> {
        let secret = secret.into();
        if secret.len() < 16 {
            return Err(Error::InvalidConfig {
                what: "token shorter than 16 bytes; make one with `head -c 32 /dev/urandom | base64 > token`".into(),
            });
        }
        Ok(Token(secret))
    }

    /// A token from the contents of a token file (surrounding whitespace removed).
    pub fn from_file_contents(text: &[u8]) -> Result<Token> {
        let start = text
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(text.len());
        let end = text
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(start, |e| e + 1);
        Token::new(&text[start..end.max(start)])
    }

    fn mac(&self, label: &[u8], a: &[u8; 32], b: &[u8; 32]) -> Result<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).map_err(|_| {
            Error::InvalidConfig {
                what: "HMAC refused the token length".into(),
            }
        })?;
        mac.update(label);
        mac.update(a);
        mac.update(b);
        Ok(mac)
    }

    /// The client's proof for the nonces.
    pub fn client_proof(
        &self,
        server_nonce: &[u8; 32],
        client_nonce: &[u8; 32],
    ) -> Result<[u8; 32]> {
        Ok(self
            .mac(CLIENT_LABEL, server_nonce, client_nonce)?
            .finalize()
            .into_bytes()
            .into())
    }

    /// The server's proof for the nonces.
    pub fn server_proof(
        &self,
        server_nonce: &[u8; 32],
        client_nonce: &[u8; 32],
    ) -> Result<[u8; 32]> {
        Ok(self
            .mac(SERVER_LABEL, client_nonce, server_nonce)?
            .finalize()
            .into_bytes()
            .into())
    }

    /// Checks a client's proof in constant time.
    pub fn verify_client(
        &self,
        server_nonce: &[u8; 32],
        client_nonce: &[u8; 32],
        proof: &[u8],
    ) -> bool {
        self.mac(CLIENT_LABEL, server_nonce, client_nonce)
            .is_ok_and(|m| m.verify_slice(proof).is_ok())
    }

    /// Checks a server's proof in constant time.
    pub fn verify_server(
        &self,
        server_nonce: &[u8; 32],
        client_nonce: &[u8; 32],
        proof: &[u8],
    ) -> bool {
        self.mac(SERVER_LABEL, client_nonce, server_nonce)
            .is_ok_and(|m| m.verify_slice(proof).is_ok())
    }
}

const CLIENT_LABEL: &[u8] = b"eacopy-v1 client";
const SERVER_LABEL: &[u8] = b"eacopy-v1 server";

/// 32 fresh random bytes.
pub(crate) fn nonce() -> Result<[u8; 32]> {
    let mut n = [0u8; 32];
    getrandom::fill(&mut n).map_err(|e| Error::InvalidConfig {
        what: format!("no system randomness for nonces: {e}"),
    })?;
    Ok(n)
}
