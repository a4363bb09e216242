//! Arbitrary op lists and plain streams through the see-through `rebuild`: an error or at most
//! the declared output, never a panic. The harness wraps the ops in a valid header and trailer
//! (with the recipe checksum fixed up), so the fuzzer reaches the op interpreter and the zlib,
//! xz and bzip2 recompressors instead of stopping at the checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Output the recipe declares and rebuild may write.
const LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((split, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes(*split)).min(rest.len());
    let (ops, plain) = rest.split_at(split);
    let mut recipe = b"dgST\x05\x00".to_vec();
    recipe.extend_from_slice(ops);
    recipe.extend_from_slice(&(plain.len() as u64).to_le_bytes());
    recipe.extend_from_slice(&LIMIT.to_le_bytes());
    recipe.extend_from_slice(&0u32.to_le_bytes()); // output CRC: checked last
    let crc = crc32fast::hash(&recipe);
    recipe.extend_from_slice(&crc.to_le_bytes());
    let mut out = Vec::new();
    let result = dg_seethrough::rebuild(plain, &recipe, &mut out, LIMIT);
    assert!(out.len() as u64 <= LIMIT, "wrote {} bytes past the limit", out.len());
    if let Ok(n) = result {
        assert_eq!(n, out.len() as u64);
    }
});
