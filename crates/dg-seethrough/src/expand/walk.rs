//! The container walkers of `expand`: gzip members, zip entries, xz and bzip2 streams one
//! after the other, and the members of ar, tar, cpio and rpm archives.

use super::{nested_list, Expander, Outcome, Sink};
use crate::error::{SeeThroughError, SelfCheckFault};
use crate::wire::{put_varint, MAX_NESTED_PLAIN, OP_BZIP2, OP_GZIP_TRAILER, OP_NESTED, OP_XZ};
use crate::{ar, bzip2_exact, cpio, gzip, rpm, tar, xz_exact, zip};

impl Expander<'_> {
    /// Expands `data` if it is a gzip or zip container (and `depth_left > 0`), writing
    /// ops for all of `data`. Returns false (having written nothing) otherwise.
    pub(crate) fn container(
        &mut self,
        data: &[u8],
        sink: &mut Sink<'_>,
        depth_left: u8,
    ) -> Result<bool, SeeThroughError> {
        if depth_left == 0 {
            return Ok(false);
        }
        if gzip::header_len(data).is_some() {
            self.gzip(data, sink, depth_left)?;
            return Ok(true);
        }
        if let Some(at) = rpm::payload_start(data) {
            // the lead and headers are copied; the payload is a compressed cpio archive
            let payload = &data[at..];
            if depth_left > 1 && compressed(payload) {
                sink.copy(&data[..at])?;
                if !self.container(payload, sink, depth_left - 1)? {
                    sink.copy(payload)?;
                }
                return Ok(true);
            }
            return Ok(false);
        }
        if let Some(spans) = tar::member_spans(data).or_else(|| cpio::member_spans(data)) {
            // a tar or cpio archive with nothing compressed inside is left alone, not copied
            // for nothing; nor is a tar taken for a zip with data before it when its last
            // member is a `.jar`
            if depth_left > 1 && spans.iter().any(|s| compressed(&data[s.start..s.end])) {
                self.archive(data, &spans, sink, depth_left)?;
                return Ok(true);
            }
            return Ok(false);
        }
        if let Some(spans) = zip::member_spans(data) {
            self.zip(data, &spans, sink, depth_left)?;
            return Ok(true);
        }
        if xz_exact::looks_like_xz(data) {
            self.series(data, sink, Series::Xz, depth_left)?;
            return Ok(true);
        }
        if bzip2_exact::looks_like_bzip2(data) {
            self.series(data, sink, Series::Bzip2, depth_left)?;
            return Ok(true);
        }
        if let Some(spans) = ar::member_spans(data) {
            self.archive(data, &spans, sink, depth_left)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// xz or bzip2 streams one after the other (xz with stream padding between): each that
    /// its library recreates becomes one op and its plaintext (or `OP_NESTED`, where that
    /// plaintext is a container seen through in its turn); from the first that it does not,
    /// the rest is copied.
    fn series(
        &mut self,
        data: &[u8],
        sink: &mut Sink<'_>,
        kind: Series,
        depth_left: u8,
    ) -> Result<(), SeeThroughError> {
        let mut pos = 0usize;
        while kind.starts(&data[pos..]) {
            self.stats.streams += 1;
            let Some((record, comp_len, plain_len)) = kind.probe(&data[pos..], self.budget)? else {
                self.stats.kept_raw += 1;
                self.note(format!(
                    "{} stream at {pos} kept raw: {}",
                    kind.name(),
                    kind.unmatched()
                ));
                break;
            };
            let stream = &data[pos..pos + comp_len];
            self.budget = self.budget.saturating_sub(plain_len);
            let max_nested = self.opts.max_nested.min(MAX_NESTED_PLAIN);
            // The first bytes of the plaintext decide: a container (a tar of `.jar`s) is held to
            // be seen through in its turn, anything else is written as it comes.
            let mut held: Vec<u8> = Vec::new();
            let mut holding = depth_left > 1 && plain_len <= max_nested;
            let written = kind.plaintext(stream, &mut |text| {
                if !holding {
                    return Ok(sink.text(text)?);
                }
                let undecided = held.len() < PEEK;
                held.extend_from_slice(text);
                if undecided && held.len() >= PEEK && !worth_nesting(&held) {
                    holding = false;
                    sink.text(&held)?;
                    held = Vec::new();
                }
                Ok(())
            })?;
            let sub = match holding && written == plain_len && worth_nesting(&held) {
                true => self.sub_expand(&held, sink, depth_left)?,
                false => None,
            };
            if let Some(ops) = sub {
                sink.op(&[OP_NESTED])?;
                nested_list(held.len(), &ops, sink)?;
            } else if holding {
                sink.text(&held)?;
            }
            // (plaintext written before its op: the plain stream is read in the same order)
            sink.op(&record)?;
            if written != plain_len {
                return Err(SelfCheckFault::StreamPlaintext {
                    what: kind.name(),
                    at: pos as u64,
                    written,
                    expected: plain_len,
                }
                .into());
            }
            self.stats.reproduced += 1;
            match kind {
                Series::Xz => self.stats.xz += 1,
                Series::Bzip2 => self.stats.bzip2 += 1,
            }
            pos += comp_len;
            let padding = kind.padding(&data[pos..]);
            sink.copy(&data[pos..pos + padding])?;
            pos += padding;
        }
        sink.copy(&data[pos..])?;
        Ok(())
    }

    /// An ar archive (`.deb`), a tar (`.gem`, a `.tar.gz` of `.jar`s) or a cpio archive (an
    /// RPM's payload): members that are gzip, zip, xz or bzip2 are seen through; everything
    /// else is copied.
    fn archive(
        &mut self,
        data: &[u8],
        spans: &[ar::Span],
        sink: &mut Sink<'_>,
        depth_left: u8,
    ) -> Result<(), SeeThroughError> {
        let mut cur = 0usize;
        for s in spans {
            sink.copy(&data[cur..s.start])?;
            let member = &data[s.start..s.end];
            if !(depth_left > 1
                && compressed(member)
                && self.container(member, sink, depth_left - 1)?)
            {
                sink.copy(member)?;
            }
            cur = s.end;
        }
        sink.copy(&data[cur..])?;
        Ok(())
    }

    fn gzip(
        &mut self,
        data: &[u8],
        sink: &mut Sink<'_>,
        depth_left: u8,
    ) -> Result<(), SeeThroughError> {
        let mut pos = 0usize;
        while pos < data.len() {
            let Some(h) = gzip::header_len(&data[pos..]) else {
                break;
            };
            let body = &data[pos + h..];
            match self.deflate(body, sink, depth_left, Some(&data[pos..pos + h]), pos)? {
                Outcome::Raw => break,
                Outcome::Partial { consumed } => {
                    pos += h + consumed;
                    break;
                }
                Outcome::Complete {
                    consumed,
                    crc,
                    plain_len,
                } => {
                    let t = pos + h + consumed;
                    pos = t;
                    let Some(trailer) = data.get(t..t + 8) else {
                        break;
                    };
                    if trailer[..4] != crc.to_le_bytes()
                        || trailer[4..] != (plain_len as u32).to_le_bytes()
                    {
                        self.note(format!(
                            "gzip member trailer at {t} does not match its data"
                        ));
                        break;
                    }
                    sink.op(&[OP_GZIP_TRAILER])?;
                    pos = t + 8;
                }
            }
        }
        sink.copy(&data[pos..])?;
        Ok(())
    }

    fn zip(
        &mut self,
        data: &[u8],
        spans: &[zip::Span],
        sink: &mut Sink<'_>,
        depth_left: u8,
    ) -> Result<(), SeeThroughError> {
        let helpers = self.opts.parallel.then(crate::parallel::helpers).flatten();
        let mut jobs = crate::zip_jobs::Batch::new(helpers.as_ref());
        let mut cur = 0usize;
        for s in spans {
            let member = &data[s.start..s.end];
            let deflated = s.method == zip::Method::Deflated
                && member.len() as u64 >= self.opts.min_stream_len;
            if deflated && jobs.takes() {
                jobs.push(s.start, member);
                if jobs.full() {
                    cur = jobs.flush(self, data, cur, sink, depth_left)?;
                }
                continue;
            }
            cur = jobs.flush(self, data, cur, sink, depth_left)?;
            sink.copy(&data[cur..s.start])?;
            match s.method {
                _ if deflated => match self.deflate(member, sink, depth_left, None, s.start)? {
                    Outcome::Raw => sink.copy(member)?,
                    Outcome::Partial { consumed } | Outcome::Complete { consumed, .. } => {
                        sink.copy(&member[consumed..])?
                    }
                },
                zip::Method::Stored if depth_left > 1 && worth_nesting(member) => {
                    if !self.container(member, sink, depth_left - 1)? {
                        sink.copy(member)?;
                    }
                }
                _ => sink.copy(member)?,
            }
            cur = s.end;
        }
        cur = jobs.flush(self, data, cur, sink, depth_left)?;
        sink.copy(&data[cur..])?;
        Ok(())
    }
}

/// Plaintext bytes enough to tell a container from anything else (a tar header's length).
const PEEK: usize = 512;

/// A member of an archive that is itself compressed in a format seen through.
fn compressed(member: &[u8]) -> bool {
    gzip::looks_like_gzip(member)
        || zip::looks_like_zip(member)
        || xz_exact::looks_like_xz(member)
        || bzip2_exact::looks_like_bzip2(member)
}

/// Plaintext that is worth holding to see through as a container in its turn: a gzip, a zip,
/// a tar or a cpio archive (whose members may be compressed: the `.jar`s of a Java
/// distribution's `.tar.gz`, the gzipped manual pages of an RPM's payload).
pub(super) fn worth_nesting(text: &[u8]) -> bool {
    gzip::looks_like_gzip(text)
        || zip::looks_like_zip(text)
        || tar::looks_like_tar(text)
        || cpio::looks_like_cpio(text)
}

/// A format whose streams are recreated by compressing their plaintext again.
#[derive(Clone, Copy, Debug)]
enum Series {
    Xz,
    Bzip2,
}

impl Series {
    fn name(self) -> &'static str {
        match self {
            Series::Xz => "xz",
            Series::Bzip2 => "bzip2",
        }
    }

    fn starts(self, data: &[u8]) -> bool {
        match self {
            Series::Xz => xz_exact::looks_like_xz(data),
            Series::Bzip2 => bzip2_exact::looks_like_bzip2(data),
        }
    }

    /// Why a stream was not recreated, for the notes.
    fn unmatched(self) -> &'static str {
        match self {
            Series::Xz => {
                "liblzma does not recreate it from any preset (another encoder, custom \
                 filters, or over the plaintext budget)"
            }
            Series::Bzip2 => {
                "libbzip2 does not recreate it (another encoder such as lbzip2, or over the \
                 plaintext budget)"
            }
        }
    }

    /// The stream at the start of `data` if its library recreates it: (op record,
    /// compressed length, plaintext length).
    fn probe(
        self,
        data: &[u8],
        budget: u64,
    ) -> Result<Option<(Vec<u8>, usize, u64)>, SeeThroughError> {
        Ok(match self {
            Series::Xz => xz_exact::probe(data, budget)?.map(|s| {
                let mut record = vec![OP_XZ];
                put_varint(&mut record, u64::from(s.params.preset));
                record.push(s.params.check);
                put_varint(&mut record, s.params.block_size);
                put_varint(&mut record, s.plain_len);
                put_varint(&mut record, s.comp_len as u64);
                (record, s.comp_len, s.plain_len)
            }),
            Series::Bzip2 => bzip2_exact::probe(data, budget)?.map(|s| {
                let mut record = vec![OP_BZIP2, s.level];
                put_varint(&mut record, s.plain_len);
                put_varint(&mut record, s.comp_len as u64);
                (record, s.comp_len, s.plain_len)
            }),
        })
    }

    fn plaintext(
        self,
        stream: &[u8],
        emit: &mut dyn FnMut(&[u8]) -> Result<(), SeeThroughError>,
    ) -> Result<u64, SeeThroughError> {
        match self {
            Series::Xz => xz_exact::plaintext(stream, emit),
            Series::Bzip2 => bzip2_exact::plaintext(stream, emit),
        }
    }

    /// Bytes between this stream and the next: xz's stream padding (groups of four zero
    /// bytes); bzip2 streams follow each other directly.
    fn padding(self, rest: &[u8]) -> usize {
        match self {
            Series::Xz => rest.chunks_exact(4).take_while(|c| c == &[0u8; 4]).count() * 4,
            Series::Bzip2 => 0,
        }
    }
}
