//! Instruction emitter: turns ADD/COPY steps into the three window sections using the default code table.

use super::addrcache::AddrCache;
use super::codetable::{
    add_copy_opcode, add_opcode, copy_add_opcode, copy_opcode, FIRST_SAME_MODE,
};
use super::varint;

#[derive(Clone, Copy)]
enum Pending {
    None,
    Add(u64),
    Copy(u8, u64),
}

/// Builds the data, instruction and address sections of one window.
pub(super) struct Emitter {
    cache: AddrCache,
    pending: Pending,
    pub data: Vec<u8>,
    pub inst: Vec<u8>,
    pub addr: Vec<u8>,
}

impl Emitter {
    pub fn new() -> Self {
        Emitter {
            cache: AddrCache::new(),
            pending: Pending::None,
            data: Vec::new(),
            inst: Vec::new(),
            addr: Vec::new(),
        }
    }

    /// Starts a new window (the address cache restarts with every window).
    pub fn begin(&mut self) {
        self.cache.reset();
        self.pending = Pending::None;
        self.data.clear();
        self.inst.clear();
        self.addr.clear();
    }

    /// Literal bytes.
    pub fn add(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.data.extend_from_slice(bytes);
        let size = bytes.len() as u64;
        if let Pending::Copy(mode, copy) = self.pending {
            if let Some(op) = copy_add_opcode(mode, copy, size) {
                self.inst.push(op);
                self.pending = Pending::None;
                return;
            }
        }
        self.flush();
        self.pending = Pending::Add(size);
    }

    /// A copy of `size` bytes from window address `addr`, at position `here`.
    pub fn copy(&mut self, addr: u64, here: u64, size: u64) {
        let enc = self.cache.choose(addr, here);
        if enc.mode >= FIRST_SAME_MODE {
            self.addr.push(enc.value as u8);
        } else {
            varint::write(&mut self.addr, enc.value);
        }
        self.cache.update(addr);
        if let Pending::Add(add) = self.pending {
            if let Some(op) = add_copy_opcode(add, enc.mode, size) {
                self.inst.push(op);
                self.pending = Pending::None;
                return;
            }
        }
        self.flush();
        self.pending = Pending::Copy(enc.mode, size);
    }

    /// Writes out the instruction held back for pairing.
    pub fn flush(&mut self) {
        let (op, explicit, size) = match self.pending {
            Pending::None => return,
            Pending::Add(size) => {
                let (op, e) = add_opcode(size);
                (op, e, size)
            }
            Pending::Copy(mode, size) => {
                let (op, e) = copy_opcode(mode, size);
                (op, e, size)
            }
        };
        self.inst.push(op);
        if explicit {
            varint::write(&mut self.inst, size);
        }
        self.pending = Pending::None;
    }
}
