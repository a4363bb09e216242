//! The RFC 3284 default instruction code table and the opcode choices the encoder makes from it.

/// Kind of one half of a code-table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// No instruction in this half.
    Noop,
    /// Append bytes from the data section.
    Add,
    /// Repeat one data-section byte.
    Run,
    /// Copy with the given address mode (0..=8 in the default table).
    Copy(u8),
}

/// One half-instruction: a kind and an immediate size (0 = size follows in
/// the instruction section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Half {
    pub kind: Kind,
    pub size: u8,
}

/// One entry of the code table: up to two half-instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    pub first: Half,
    pub second: Half,
}

/// Number of NEAR address-cache slots in the default table.
pub(super) const NEAR_SLOTS: usize = 4;
/// Number of SAME address-cache banks (of 256 entries) in the default table.
pub(super) const SAME_BANKS: usize = 3;
/// Address modes: SELF, HERE, 4 NEAR, 3 SAME.
pub(super) const MODES: u8 = 2 + NEAR_SLOTS as u8 + SAME_BANKS as u8;
/// First SAME mode.
pub(super) const FIRST_SAME_MODE: u8 = 2 + NEAR_SLOTS as u8;

const NOOP: Half = Half {
    kind: Kind::Noop,
    size: 0,
};

const fn half(kind: Kind, size: u8) -> Half {
    Half { kind, size }
}

const fn single(kind: Kind, size: u8) -> Entry {
    Entry {
        first: half(kind, size),
        second: NOOP,
    }
}

/// Builds the default table exactly as RFC 3284 section 5.6 lays it out.
const fn build() -> [Entry; 256] {
    let mut t = [single(Kind::Noop, 0); 256];
    let mut i = 0usize;
    t[i] = single(Kind::Run, 0);
    i += 1;
    // ADD sizes 0 (explicit), 1..=17.
    let mut s = 0u8;
    while s <= 17 {
        t[i] = single(Kind::Add, s);
        i += 1;
        s += 1;
    }
    // COPY, each mode: size 0 (explicit) then 4..=18.
    let mut m = 0u8;
    while m < MODES {
        t[i] = single(Kind::Copy(m), 0);
        i += 1;
        let mut s = 4u8;
        while s <= 18 {
            t[i] = single(Kind::Copy(m), s);
            i += 1;
            s += 1;
        }
        m += 1;
    }
    // ADD(1..=4) + COPY: modes 0..=5 with copy sizes 4..=6, modes 6..=8 with size 4.
    let mut m = 0u8;
    while m < MODES {
        let max_copy = if m < FIRST_SAME_MODE { 6 } else { 4 };
        let mut a = 1u8;
        while a <= 4 {
            let mut c = 4u8;
            while c <= max_copy {
                t[i] = Entry {
                    first: half(Kind::Add, a),
                    second: half(Kind::Copy(m), c),
                };
                i += 1;
                c += 1;
            }
            a += 1;
        }
        m += 1;
    }
    // COPY(4) + ADD(1), every mode.
    let mut m = 0u8;
    while m < MODES {
        t[i] = Entry {
            first: half(Kind::Copy(m), 4),
            second: half(Kind::Add, 1),
        };
        i += 1;
        m += 1;
    }
    t
}

/// The default code table.
pub(super) static DEFAULT_TABLE: [Entry; 256] = build();

/// Opcode of a lone ADD of `size` bytes (immediate when 1..=17).
pub(super) fn add_opcode(size: u64) -> (u8, bool) {
    if (1..=17).contains(&size) {
        (1 + size as u8, false)
    } else {
        (1, true)
    }
}

/// Opcode of a lone COPY of `size` bytes in `mode`; `true` when the size
/// must follow explicitly.
pub(super) fn copy_opcode(mode: u8, size: u64) -> (u8, bool) {
    let base = 19 + 16 * mode;
    if (4..=18).contains(&size) {
        (base + (size as u8 - 3), false)
    } else {
        (base, true)
    }
}

/// Opcode of the combined ADD(`add`) + COPY(`copy`, `mode`), if the table has one.
pub(super) fn add_copy_opcode(add: u64, mode: u8, copy: u64) -> Option<u8> {
    if !(1..=4).contains(&add) {
        return None;
    }
    let a = add as u8;
    if mode < FIRST_SAME_MODE {
        if (4..=6).contains(&copy) {
            return Some(163 + mode * 12 + (a - 1) * 3 + (copy as u8 - 4));
        }
    } else if mode < MODES && copy == 4 {
        return Some(235 + (mode - FIRST_SAME_MODE) * 4 + (a - 1));
    }
    None
}

/// Opcode of the combined COPY(`copy`, `mode`) + ADD(`add`), if the table has one.
pub(super) fn copy_add_opcode(mode: u8, copy: u64, add: u64) -> Option<u8> {
    if copy == 4 && add == 1 && mode < MODES {
        Some(247 + mode)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_landmarks() {
        assert_eq!(DEFAULT_TABLE[0], single(Kind::Run, 0));
        assert_eq!(DEFAULT_TABLE[18], single(Kind::Add, 17));
        assert_eq!(DEFAULT_TABLE[19], single(Kind::Copy(0), 0));
        assert_eq!(DEFAULT_TABLE[162], single(Kind::Copy(8), 18));
        assert_eq!(
            DEFAULT_TABLE[163],
            Entry {
                first: half(Kind::Add, 1),
                second: half(Kind::Copy(0), 4)
            }
        );
        assert_eq!(
            DEFAULT_TABLE[246],
            Entry {
                first: half(Kind::Add, 4),
                second: half(Kind::Copy(8), 4)
            }
        );
        assert_eq!(
            DEFAULT_TABLE[255],
            Entry {
                first: half(Kind::Copy(8), 4),
                second: half(Kind::Add, 1)
            }
        );
    }

    #[test]
    fn encoder_opcodes_agree_with_table() {
        for size in 0..40u64 {
            let (op, explicit) = add_opcode(size);
            let e = DEFAULT_TABLE[op as usize];
            assert_eq!(e.first.kind, Kind::Add);
            assert_eq!(e.second.kind, Kind::Noop);
            assert_eq!(explicit, e.first.size == 0);
            if !explicit {
                assert_eq!(u64::from(e.first.size), size);
            }
            for mode in 0..MODES {
                let (op, explicit) = copy_opcode(mode, size);
                let e = DEFAULT_TABLE[op as usize];
                assert_eq!(e.first.kind, Kind::Copy(mode));
                assert_eq!(explicit, e.first.size == 0);
                if !explicit {
                    assert_eq!(u64::from(e.first.size), size);
                }
                for add in 0..6u64 {
                    if let Some(op) = add_copy_opcode(add, mode, size) {
                        let e = DEFAULT_TABLE[op as usize];
                        assert_eq!(e.first, half(Kind::Add, add as u8));
                        assert_eq!(e.second, half(Kind::Copy(mode), size as u8));
                    }
                    if let Some(op) = copy_add_opcode(mode, size, add) {
                        let e = DEFAULT_TABLE[op as usize];
                        assert_eq!(e.first, half(Kind::Copy(mode), size as u8));
                        assert_eq!(e.second, half(Kind::Add, add as u8));
                    }
                }
            }
        }
    }
}
