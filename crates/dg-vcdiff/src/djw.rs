//! Decoder for xdelta3's DJW secondary compression (semi-static multi-table Huffman, id 1).
//!
//! Layout of one compressed section (after the varint output size): a 3-bit
//! group count; for several groups a 5-bit sector size; the code-length code
//! (4-bit count + 4-bit lengths); every group's 256 code lengths, MTF and
//! run-length (RUN_0/RUN_1) coded with that code; for several groups the
//! selector code (3-bit lengths) and the MTF/run-coded group of each sector;
//! then the symbols. Bits are read from the least significant bit of each
//! byte first; multi-bit fields are most significant bit first.

const MAX_CODELEN: usize = 20;
const TOTAL_CODES: usize = MAX_CODELEN + 2;
const RUN_1: usize = 1;
const EXTRA_12OFFSET: usize = 7;
const EXTRA_CODE_BITS: u32 = 4;
const CLCLEN_BITS: u32 = 4;
const MAX_CLCLEN: usize = 15;
const GROUP_BITS: u32 = 3;
const SECTORSZ_BITS: u32 = 5;
const SECTORSZ_MULT: usize = 5;
const GBCLEN_BITS: u32 = 3;
const MAX_GBCLEN: usize = 7;
const ALPHABET: usize = 256;

/// Initial MTF order of code lengths: 0, the basic lengths, then the extra ones.
const CLEN_MTF_INIT: [u8; 21] = [
    0, 4, 5, 6, 7, 8, 9, 10, 3, 11, 2, 12, 13, 1, 14, 15, 16, 17, 18, 19, 20,
];

/// Why a DJW section could not be decoded.
pub(super) type DjwError = &'static str;

struct Bits<'a> {
    input: &'a [u8],
    pos: usize,
    byte: u8,
    mask: u16,
}

impl<'a> Bits<'a> {
    fn new(input: &'a [u8]) -> Self {
        Bits {
            input,
            pos: 0,
            byte: 0,
            mask: 0x100,
        }
    }

    fn bit(&mut self) -> Result<bool, DjwError> {
        if self.mask == 0x100 {
            self.byte = *self.input.get(self.pos).ok_or("DJW input ends early")?;
            self.pos += 1;
            self.mask = 1;
        }
        let b = u16::from(self.byte) & self.mask != 0;
        self.mask <<= 1;
        Ok(b)
    }

    fn bits(&mut self, n: u32) -> Result<usize, DjwError> {
        let mut v = 0usize;
        for _ in 0..n {
            v = (v << 1) | usize::from(self.bit()?);
        }
        Ok(v)
    }
}

/// Canonical prefix decoder built from code lengths.
struct Decoder {
    inorder: Vec<u8>,
    base: [u64; TOTAL_CODES + 1],
    limit: [u64; TOTAL_CODES + 1],
    min_len: usize,
    max_len: usize,
}

impl Decoder {
    fn build(clen: &[u8], abs_max: usize) -> Result<Self, DjwError> {
        let mut count = [0u64; TOTAL_CODES + 1];
        for &l in clen {
            *count
                .get_mut(usize::from(l))
                .filter(|_| usize::from(l) <= abs_max)
                .ok_or("DJW code length too large")? += 1;
        }
        let min_len = (1..=abs_max)
            .find(|&i| count[i] != 0)
            .unwrap_or(abs_max + 1);
        let max_len = (1..=abs_max).rev().find(|&i| count[i] != 0).unwrap_or(0);
        let mut d = Decoder {
            inorder: vec![0; clen.len()],
            base: [0; TOTAL_CODES + 1],
            limit: [0; TOTAL_CODES + 1],
            min_len,
            max_len,
        };
        let mut next = [0u64; TOTAL_CODES + 1];
        if max_len == 0 {
            return Ok(d); // no codes: every symbol read is an error
        }
        d.limit[min_len] = count[min_len] - 1;
        for i in min_len + 1..=max_len {
            let first = (d.limit[i - 1].wrapping_add(1)).wrapping_shl(1);
            next[i] = next[i - 1].wrapping_add(count[i - 1]);
            d.limit[i] = first.wrapping_add(count[i]).wrapping_sub(1);
            d.base[i] = first.wrapping_sub(next[i]);
        }
        for (sym, &l) in clen.iter().enumerate() {
            if l != 0 {
                let slot = next
                    .get_mut(usize::from(l))
                    .ok_or("DJW code length too large")?;
                *d.inorder
                    .get_mut(*slot as usize)
                    .ok_or("DJW code table overflow")? = sym as u8;
                *slot += 1;
            }
        }
        Ok(d)
    }

    fn symbol(&self, bits: &mut Bits<'_>) -> Result<usize, DjwError> {
        let mut code = 0u64;
        let mut len = 0usize;
        loop {
            if len == self.max_len {
                return Err("DJW invalid code");
            }
            len += 1;
            code = (code << 1) | u64::from(bits.bit()?);
            if len >= self.min_len && code <= self.limit[len] {
                break;
            }
        }
        let offset = code.checked_sub(self.base[len]).ok_or("DJW invalid code")?;
        self.inorder
            .get(offset as usize)
            .map(|&s| usize::from(s))
            .ok_or("DJW invalid code")
    }
}

/// Decodes `values.len()` MTF + RUN_0/RUN_1 coded values. With `skip != 0`,
/// a value whose counterpart `skip` entries earlier is zero is zero too.
fn decode_mtf_runs(
    bits: &mut Bits<'_>,
    dec: &Decoder,
    mtf: &mut [u8],
    skip: usize,
    values: &mut [u8],
) -> Result<(), DjwError> {
    let (mut n, mut rep, mut pending, mut shift) = (0usize, 0usize, 0usize, 0u32);
    while n < values.len() {
        if skip != 0 && n >= skip && values.get(n - skip) == Some(&0) {
            values[n] = 0;
            n += 1;
            continue;
        }
        if rep != 0 {
            values[n] = *mtf.first().ok_or("DJW empty MTF")?;
            n += 1;
            rep -= 1;
            continue;
        }
        if pending != 0 {
            let sym = *mtf.get(pending).ok_or("DJW MTF index out of range")?;
            mtf.copy_within(0..pending, 1);
            mtf[0] = sym;
            values[n] = sym;
            n += 1;
            pending = 0;
            continue;
        }
        let s = dec.symbol(bits)?;
        if s <= RUN_1 {
            rep = (s + 1)
                .checked_shl(shift)
                .filter(|&r| r <= values.len())
                .ok_or("DJW run too long")?;
            shift += 1;
        } else {
            pending = s - 1;
            shift = 0;
        }
    }
    if rep != 0 {
        return Err("DJW invalid repeat code");
    }
    Ok(())
}

/// Decodes one DJW section into exactly `out_len` bytes; all of `input` must be used.
pub(super) fn decode(input: &[u8], out_len: usize, out: &mut Vec<u8>) -> Result<(), DjwError> {
    out.clear();
    if out_len == 0 {
        return Err("DJW empty output");
    }
    let mut bits = Bits::new(input);
    let groups = bits.bits(GROUP_BITS)? + 1;
    let sector = if groups > 1 {
        (bits.bits(SECTORSZ_BITS)? + 1) * SECTORSZ_MULT
    } else {
        out_len
    };
    let sectors = 1 + (out_len - 1) / sector;

    // The code-length code, then every group's code lengths.
    let num = bits.bits(EXTRA_CODE_BITS)? + EXTRA_12OFFSET;
    let mut cl_clen = [0u8; TOTAL_CODES];
    for c in cl_clen.iter_mut().take(num) {
        *c = bits.bits(CLCLEN_BITS)? as u8;
    }
    let cl_dec = Decoder::build(&cl_clen, MAX_CLCLEN)?;
    let mut cl_mtf = CLEN_MTF_INIT;
    let mut clen = vec![0u8; ALPHABET * groups];
    decode_mtf_runs(&mut bits, &cl_dec, &mut cl_mtf, ALPHABET, &mut clen)?;
    let decoders = clen
        .chunks(ALPHABET)
        .map(|c| Decoder::build(c, MAX_CODELEN))
        .collect::<Result<Vec<_>, _>>()?;

    // Which group codes each sector.
    let mut selectors = vec![0u8; if groups > 1 { sectors } else { 0 }];
    if groups > 1 {
        let mut sel_clen = vec![0u8; groups + 1];
        for c in sel_clen.iter_mut() {
            *c = bits.bits(GBCLEN_BITS)? as u8;
        }
        let mut sel_mtf: Vec<u8> = (0..=groups as u8).collect();
        let sel_dec = Decoder::build(&sel_clen, MAX_GBCLEN)?;
        decode_mtf_runs(&mut bits, &sel_dec, &mut sel_mtf, 0, &mut selectors)?;
    }

    out.reserve(out_len.min(1 << 20));
    for c in 0..sectors {
        let g = usize::from(selectors.get(c).copied().unwrap_or(0));
        let dec = decoders.get(g).ok_or("DJW selector out of range")?;
        let n = sector.min(out_len - out.len());
        for _ in 0..n {
            out.push(dec.symbol(&mut bits)? as u8);
        }
    }
    if bits.pos != input.len() {
        return Err("DJW unused input");
    }
    Ok(())
}
