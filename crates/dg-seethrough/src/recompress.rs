//! Shared driving of streaming codecs for the streams recreated by compressing them again (xz, bzip2).

use super::error::{MismatchFault, SeeThroughError, SelfCheckFault};

/// I/O buffer size.
const BUF: usize = 64 << 10;

/// One call into a library's streaming encoder or decoder.
pub(super) trait Step {
    /// Reads from `input` and writes into `out`; returns the bytes used, the bytes made and
    /// whether the stream has ended. `finish` asks an encoder to end its stream.
    fn step(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        finish: bool,
    ) -> Result<(usize, usize, bool), SeeThroughError>;
}

/// Bytes used and made by one call, from a library's (total in, total out) before and after.
pub(super) fn counted(before: (u64, u64), after: (u64, u64)) -> (usize, usize) {
    let used = usize::try_from(after.0.saturating_sub(before.0)).unwrap_or(0);
    let made = usize::try_from(after.1.saturating_sub(before.1)).unwrap_or(0);
    (used, made)
}

/// Decodes the stream at the start of `data` (without what follows it), giving its plaintext
/// to `emit` in pieces (`emit` returning false stops); returns (compressed length, plaintext
/// length), or `None` when it is not a valid whole stream, `emit` stopped, or its plaintext
/// exceeds `plain_limit`.
pub(super) fn decode(
    dec: &mut dyn Step,
    data: &[u8],
    plain_limit: u64,
    emit: &mut dyn FnMut(&[u8]) -> Result<bool, SeeThroughError>,
) -> Result<Option<(usize, u64)>, SeeThroughError> {
    let mut out = vec![0u8; BUF];
    let (mut used, mut made) = (0usize, 0u64);
    loop {
        let input = data.get(used..).unwrap_or_default();
        let Ok((u, n, end)) = dec.step(input, &mut out, false) else {
            return Ok(None);
        };
        used += u;
        made += n as u64;
        if made > plain_limit {
            return Ok(None);
        }
        if n > 0 && !emit(&out[..n])? {
            return Ok(None);
        }
        if end {
            return Ok(Some((used, made)));
        }
        if u == 0 && n == 0 {
            return Ok(None); // truncated: no progress without more input
        }
    }
}

/// An encoder writing whole pieces to a callback.
pub(super) struct Pump<S> {
    step: S,
    buf: Vec<u8>,
}

impl<S: Step> Pump<S> {
    pub(super) fn new(step: S) -> Self {
        Pump {
            step,
            buf: vec![0u8; BUF],
        }
    }

    fn run(
        &mut self,
        mut input: &[u8],
        finish: bool,
        emit: &mut dyn FnMut(&[u8]) -> Result<bool, SeeThroughError>,
    ) -> Result<bool, SeeThroughError> {
        loop {
            let (used, made, end) = self.step.step(input, &mut self.buf, finish)?;
            input = &input[used.min(input.len())..];
            if made > 0 && !emit(&self.buf[..made])? {
                return Ok(false);
            }
            let done = if finish {
                end
            } else {
                input.is_empty() && made < self.buf.len()
            };
            if done {
                return Ok(true);
            }
            if used == 0 && made == 0 {
                return Err(MismatchFault::NoProgress.into());
            }
        }
    }

    /// Compresses `text`; `emit` returning false stops early (false returned).
    pub(super) fn feed(
        &mut self,
        text: &[u8],
        emit: &mut dyn FnMut(&[u8]) -> Result<bool, SeeThroughError>,
    ) -> Result<bool, SeeThroughError> {
        self.run(text, false, emit)
    }

    /// Ends the stream.
    pub(super) fn finish(
        &mut self,
        emit: &mut dyn FnMut(&[u8]) -> Result<bool, SeeThroughError>,
    ) -> Result<bool, SeeThroughError> {
        self.run(&[], true, emit)
    }
}

/// True when `enc` compresses the plaintext `dec` finds in `stream` into `stream` exactly.
pub(super) fn recreates(
    dec: &mut dyn Step,
    enc: impl Step,
    stream: &[u8],
) -> Result<bool, SeeThroughError> {
    let mut enc = Pump::new(enc);
    let mut matched = 0usize;
    let mut compare = |bytes: &[u8]| -> Result<bool, SeeThroughError> {
        let end = matched + bytes.len();
        if stream.get(matched..end) != Some(bytes) {
            return Ok(false);
        }
        matched = end;
        Ok(true)
    };
    let mut alive = true;
    let decoded = decode(dec, stream, u64::MAX, &mut |text| {
        alive = enc.feed(text, &mut compare)?;
        Ok(alive)
    })?;
    if decoded.is_none() || !alive || !enc.finish(&mut compare)? {
        return Ok(false);
    }
    Ok(matched == stream.len())
}

/// Compresses `text` with `enc`, giving the bytes to `emit`; returns their count.
pub(super) fn compress(
    enc: impl Step,
    text: &[u8],
    emit: &mut dyn FnMut(&[u8]) -> Result<(), SeeThroughError>,
) -> Result<u64, SeeThroughError> {
    let mut enc = Pump::new(enc);
    let mut written = 0u64;
    let mut out = |b: &[u8]| -> Result<bool, SeeThroughError> {
        written += b.len() as u64;
        emit(b)?;
        Ok(true)
    };
    for piece in text.chunks(1 << 20) {
        enc.feed(piece, &mut out)?;
    }
    enc.finish(&mut out)?;
    Ok(written)
}

/// Streams the plaintext of a stream that decoded before (`probe` found it) to `emit`.
pub(super) fn plaintext(
    dec: &mut dyn Step,
    stream: &[u8],
    what: &'static str,
    emit: &mut dyn FnMut(&[u8]) -> Result<(), SeeThroughError>,
) -> Result<u64, SeeThroughError> {
    match decode(dec, stream, u64::MAX, &mut |b| emit(b).map(|_| true))? {
        Some((_, n)) => Ok(n),
        None => Err(SelfCheckFault::NoLongerDecodes { what }.into()),
    }
}
