//! The RFC 3284 NEAR/SAME address caches, shared by encoder and decoder.

use super::codetable::{FIRST_SAME_MODE, NEAR_SLOTS, SAME_BANKS};
use super::varint;

const SAME_SIZE: usize = SAME_BANKS * 256;

/// Address cache state; reset at the start of every window.
#[derive(Clone)]
pub(super) struct AddrCache {
    near: [u64; NEAR_SLOTS],
    next_slot: usize,
    same: Box<[u64; SAME_SIZE]>,
}

/// How the encoder should write one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Encoded {
    /// Address mode (0 SELF, 1 HERE, 2.. NEAR, 6.. SAME).
    pub mode: u8,
    /// Value to write: a varint for modes below SAME, one byte for SAME.
    pub value: u64,
}

impl Encoded {
    /// Bytes this address takes in the address section.
    pub fn cost(&self) -> usize {
        if self.mode >= FIRST_SAME_MODE {
            1
        } else {
            varint::len(self.value)
        }
    }
}

impl AddrCache {
    pub fn new() -> Self {
        AddrCache {
            near: [0; NEAR_SLOTS],
            next_slot: 0,
            same: Box::new([0; SAME_SIZE]),
        }
    }

    pub fn reset(&mut self) {
        self.near = [0; NEAR_SLOTS];
        self.next_slot = 0;
        self.same.fill(0);
    }

    /// Records a copy address (called after every COPY, encode and decode).
    pub fn update(&mut self, addr: u64) {
        if let Some(slot) = self.near.get_mut(self.next_slot) {
            *slot = addr;
        }
        self.next_slot = (self.next_slot + 1) % NEAR_SLOTS;
        if let Some(s) = self.same.get_mut((addr % SAME_SIZE as u64) as usize) {
            *s = addr;
        }
    }

    /// Chooses the cheapest mode for `addr` (< `here`), without updating.
    pub fn choose(&self, addr: u64, here: u64) -> Encoded {
        let mut best = Encoded {
            mode: 0,
            value: addr,
        };
        let mut best_len = varint::len(addr);
        let consider = |best: &mut Encoded, best_len: &mut usize, mode: u8, value: u64| {
            let l = varint::len(value);
            if l < *best_len {
                *best = Encoded { mode, value };
                *best_len = l;
            }
        };
        if let Some(d) = here.checked_sub(addr) {
            consider(&mut best, &mut best_len, 1, d);
        }
        for (i, &n) in self.near.iter().enumerate() {
            if let Some(d) = addr.checked_sub(n) {
                consider(&mut best, &mut best_len, 2 + i as u8, d);
            }
        }
        if best_len > 1 {
            let idx = (addr % SAME_SIZE as u64) as usize;
            if self.same.get(idx).copied() == Some(addr) {
                best = Encoded {
                    mode: FIRST_SAME_MODE + (idx / 256) as u8,
                    value: (idx % 256) as u64,
                };
            }
        }
        best
    }

    /// Decodes an address given its mode and the raw value read for it.
    /// Returns `None` when the arithmetic over- or underflows.
    pub fn decode(&self, mode: u8, value: u64, here: u64) -> Option<u64> {
        match mode {
            0 => Some(value),
            1 => here.checked_sub(value),
            m if m < FIRST_SAME_MODE => {
                let base = *self.near.get(usize::from(m - 2))?;
                base.checked_add(value)
            }
            m => {
                let bank = usize::from(m - FIRST_SAME_MODE);
                if bank >= SAME_BANKS || value > 255 {
                    return None;
                }
                self.same.get(bank * 256 + value as usize).copied()
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_agree() {
        let mut enc = AddrCache::new();
        let mut dec = AddrCache::new();
        let mut here = 1000u64;
        let mut x = 12345u64;
        for i in 0..5000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let addr = match i % 4 {
                0 => (x >> 33) % here,
                1 => here - 1 - (x >> 60),
                _ => (addr_of(i) * 7) % here,
            };
            let e = enc.choose(addr, here);
            assert_eq!(dec.decode(e.mode, e.value, here), Some(addr));
            enc.update(addr);
            dec.update(addr);
            here += 17;
        }
    }

    fn addr_of(i: u64) -> u64 {
        i / 3
    }
}
