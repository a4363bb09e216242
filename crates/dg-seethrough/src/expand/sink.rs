//! Recipe writing: the sink of one op list (plain bytes to the plain stream, ops to the recipe)
//! and the records `expand` writes into it.

use std::io::Write;

use crate::wire::{put_varint, CHUNK_MORE, OP_COPY, OP_END, OP_LIT};

/// Destination of one op list: the plain stream and the recipe body.
/// Consecutive raw regions are merged into one `OP_COPY`.
pub(crate) struct Sink<'w> {
    pub(super) plain: &'w mut dyn Write,
    recipe: &'w mut dyn Write,
    pending_copy: u64,
    /// Offset of this sink's first plain byte in the whole plain stream.
    pub(crate) base: u64,
    pub(crate) plain_len: u64,
    pub(crate) recipe_len: u64,
    scratch: Vec<u8>,
}

impl<'w> Sink<'w> {
    pub(crate) fn new(plain: &'w mut dyn Write, recipe: &'w mut dyn Write) -> Self {
        Sink {
            plain,
            recipe,
            pending_copy: 0,
            base: 0,
            plain_len: 0,
            recipe_len: 0,
            scratch: Vec::with_capacity(32),
        }
    }

    /// A raw region: its bytes go to plain, and an `OP_COPY` (merged) to the recipe.
    pub(crate) fn copy(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.plain.write_all(bytes)?;
        self.plain_len += bytes.len() as u64;
        self.pending_copy += bytes.len() as u64;
        Ok(())
    }

    /// Plaintext belonging to a deflate op.
    pub(crate) fn text(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.plain.write_all(bytes)?;
        self.plain_len += bytes.len() as u64;
        Ok(())
    }

    /// True while raw bytes wait for their `OP_COPY`.
    pub(crate) fn has_pending_copy(&self) -> bool {
        self.pending_copy > 0
    }

    fn flush_copy(&mut self) -> std::io::Result<()> {
        if self.pending_copy > 0 {
            self.scratch.clear();
            self.scratch.push(OP_COPY);
            put_varint(&mut self.scratch, self.pending_copy);
            self.recipe.write_all(&self.scratch)?;
            self.recipe_len += self.scratch.len() as u64;
            self.pending_copy = 0;
        }
        Ok(())
    }

    /// Raw recipe bytes (after flushing any pending copy).
    pub(crate) fn op(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.flush_copy()?;
        self.recipe.write_all(bytes)?;
        self.recipe_len += bytes.len() as u64;
        Ok(())
    }

    pub(crate) fn lit(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut h = vec![OP_LIT];
        put_varint(&mut h, bytes.len() as u64);
        self.op(&h)?;
        self.op(bytes)
    }

    /// Ends the op list with `OP_END`.
    pub(crate) fn finish(&mut self) -> std::io::Result<()> {
        self.op(&[OP_END])
    }
}

/// Encodes one chunk record.
pub(super) fn chunk_record(plain_len: u64, comp_len: u64, corr: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(corr.len() + 16);
    b.push(CHUNK_MORE);
    put_varint(&mut b, plain_len);
    put_varint(&mut b, comp_len);
    put_varint(&mut b, corr.len() as u64);
    b.extend_from_slice(corr);
    b
}

/// Writes a nested op list's declared plaintext length and the list itself (its plain bytes
/// are already in the plain stream).
pub(super) fn nested_list(text_len: usize, ops: &[u8], sink: &mut Sink<'_>) -> std::io::Result<()> {
    let mut b = Vec::new();
    put_varint(&mut b, text_len as u64);
    sink.op(&b)?;
    sink.op(ops)
}
