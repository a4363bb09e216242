//! rsync/librsync deltas on `fast_rsync`, with python-librsync's three calls —
//! [`signature`], [`delta`], [`patch`] — in librsync's wire format (MD4 signatures, so
//! `rdiff signature -H md4 -R rollsum` interoperates), and a diff engine built from them.
//!
//! `fast_rsync` works on whole buffers: inputs are read into memory up to [`MAX_IN_MEMORY`]
//! (references are memory-mapped by callers, so only the new file and the delta are held).

use std::io::{Read, Write};

use dg_ports::{DiffEngine, Error, Result};
use fast_rsync::{apply_limited, diff, Signature, SignatureOptions};

use super::io::read_bounded;

/// librsync signature magic for MD4 signatures.
pub const SIGNATURE_MAGIC: [u8; 4] = [0x72, 0x73, 0x01, 0x36];
/// librsync delta magic.
pub const DELTA_MAGIC: [u8; 4] = [0x72, 0x73, 0x02, 0x36];
/// Largest new file or delta held in memory.
pub const MAX_IN_MEMORY: u64 = 1 << 30;

/// Signature parameters, as `rdiff signature -b BLOCK -S STRONG`.
#[derive(Clone, Copy, Debug)]
pub struct RsyncOptions {
    /// Block length in bytes (rdiff's default 2048).
    pub block_size: u32,
    /// Bytes of each block's MD4 kept in the signature (1–16; rdiff's default for MD4 is 8).
    pub strong_len: u32,
}

impl Default for RsyncOptions {
    fn default() -> Self {
        RsyncOptions {
            block_size: 2048,
            strong_len: 8,
        }
    }
}

fn read_limited(r: &mut dyn Read, what: &str) -> Result<Vec<u8>> {
    read_bounded(r, MAX_IN_MEMORY, "rsync", what)
}

fn invalid(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::InvalidData {
        what: format!("rsync {what}"),
        reason: e.to_string(),
        source: Some(Box::new(e)),
    }
}

/// Writes the signature of `basis`.
pub fn signature(basis: &[u8], out: &mut dyn Write, options: RsyncOptions) -> Result<()> {
    if options.block_size == 0 || !(1..=16).contains(&options.strong_len) {
        return Err(Error::InvalidInput(
            "rsync signatures need a block size above 0 and a strong hash of 1 to 16 bytes".into(),
        ));
    }
    let sig = Signature::calculate(
        basis,
        SignatureOptions {
            block_size: options.block_size,
            crypto_hash_size: options.strong_len,
        },
    );
    out.write_all(sig.serialized())
        .map_err(|e| Error::io("writing an rsync signature", e))
}

/// Writes the delta that turns the file behind `signature` into `new`.
pub fn delta(signature: &mut dyn Read, new: &mut dyn Read, out: &mut dyn Write) -> Result<()> {
    let sig = read_limited(signature, "signature")?;
    if !sig.starts_with(&SIGNATURE_MAGIC) {
        return Err(Error::Unsupported {
            what: "this rsync signature (only MD4 signatures, `rdiff signature -H md4`, are read)"
                .into(),
        });
    }
    let field = |at: usize| {
        sig.get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
    };
    match (field(4), field(8)) {
        (Some(block), Some(strong))
            if (1..=1 << 30).contains(&block) && (1..=16).contains(&strong) => {}
        _ => {
            return Err(Error::invalid(
                "rsync signature",
                "impossible block parameters",
            ))
        }
    }
    let sig = Signature::deserialize(sig).map_err(|e| invalid("signature", e))?;
    let data = read_limited(new, "new file")?;
    let mut buf = Vec::new();
    diff(&sig.index(), &data, &mut buf).map_err(|e| invalid("signature", e))?;
    out.write_all(&buf)
        .map_err(|e| Error::io("writing an rsync delta", e))
}

/// Rebuilds the new file from `basis` and `delta`; returns the bytes written.
pub fn patch(
    basis: &[u8],
    delta: &mut dyn Read,
    out: &mut dyn Write,
    max_output: u64,
) -> Result<u64> {
    let delta = read_limited(delta, "delta")?;
    let limit = usize::try_from(max_output).unwrap_or(usize::MAX);
    let mut rebuilt = Vec::new();
    apply_limited(basis, &delta, &mut rebuilt, limit).map_err(|e| match e {
        fast_rsync::ApplyError::OutputLimit { .. } => Error::LimitExceeded {
            what: "the rsync delta's output".into(),
            limit: max_output,
        },
        other => invalid("delta", other),
    })?;
    out.write_all(&rebuilt)
        .map_err(|e| Error::io("writing a rebuilt file", e))?;
    Ok(rebuilt.len() as u64)
}

/// rsync deltas as a diff engine: the signature is computed from the reference on the fly.
#[derive(Clone, Copy, Debug, Default)]
pub struct RsyncEngine {
    /// Signature parameters.
    pub options: RsyncOptions,
}

impl DiffEngine for RsyncEngine {
    fn name(&self) -> &'static str {
        "rsync"
    }

    fn supports(&self, _reference_len: u64, target_len: u64) -> Result<()> {
        if target_len > MAX_IN_MEMORY {
            return Err(Error::LimitExceeded {
                what: "rsync engine (it holds the file in memory)".into(),
                limit: MAX_IN_MEMORY,
            });
        }
        Ok(())
    }

    fn recognizes(&self, delta_prefix: &[u8]) -> bool {
        delta_prefix.starts_with(&DELTA_MAGIC)
    }

    fn encode(&self, reference: &[u8], target: &mut dyn Read, out: &mut dyn Write) -> Result<()> {
        let mut sig = Vec::new();
        signature(reference, &mut sig, self.options)?;
        delta(&mut &sig[..], target, out)
    }

    fn decode(
        &self,
        reference: &[u8],
        delta: &mut dyn Read,
        out: &mut dyn Write,
        max_output: u64,
    ) -> Result<u64> {
        patch(reference, delta, out, max_output)
    }

    fn command_hint(&self) -> &'static str {
        "rdiff signature -H md4 reference.bin sig && rdiff delta sig {name} {name}.delta"
    }
}
