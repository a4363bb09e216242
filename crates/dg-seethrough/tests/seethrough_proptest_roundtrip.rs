//! Property tests: random plaintext (and edits) through gzip by zlib (flate2) and by miniz_oxide,
//! and the zip crate, deflate levels 1-9.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "seethrough_common/mod.rs"]
mod common;

use common::*;
use proptest::prelude::*;

/// Random plaintext: a mix of random bytes and repeated snippets (so matches occur).
fn plaintext() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            (prop::collection::vec(any::<u8>(), 1..24), 1usize..40).prop_map(|(s, n)| s.repeat(n)),
            (0u64..1000, 1usize..4000).prop_map(|(seed, n)| texty(seed, n)),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// Random edits: insert / delete / overwrite a few ranges.
fn edit(mut v: Vec<u8>, edits: &[(u16, u16, u8)]) -> Vec<u8> {
    for &(pos, len, kind) in edits {
        let p = if v.is_empty() {
            0
        } else {
            pos as usize % (v.len() + 1)
        };
        let l = len as usize % 300;
        match kind % 3 {
            0 => {
                let ins: Vec<u8> = (0..l).map(|i| (i as u8).wrapping_mul(kind)).collect();
                v.splice(p..p, ins);
            }
            1 => {
                let e = (p + l).min(v.len());
                v.drain(p..e);
            }
            _ => {
                for b in v.iter_mut().skip(p).take(l) {
                    *b ^= kind | 1;
                }
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn gzip_roundtrip(data in plaintext(), level in 1u32..=9, edits in prop::collection::vec(any::<(u16, u16, u8)>(), 0..5)) {
        for d in [data.clone(), edit(data, &edits)] {
            // zlib (flate2) output is recorded as its level; miniz_oxide's goes through preflate
            for (gz, raw) in [(gzip(&d, level), deflate(&d, level)),
                              (gzip_miniz(&d, level), deflate_miniz(&d, level))] {
                let e = roundtrip(&gz, &opts()); // asserts byte-exact rebuild when Some
                if reproducible(&raw) {
                    let e = e.expect("gzip must expand");
                    prop_assert_eq!(e.stats.streams, 1);
                    prop_assert_eq!(e.stats.reproduced, 1, "{:?}", e.stats.notes);
                    prop_assert!(e.plain == d);
                } else {
                    prop_assert!(e.is_none());
                }
            }
        }
    }

    #[test]
    fn zip_roundtrip(files in prop::collection::vec((plaintext(), 1u32..=9, any::<bool>()), 1..6),
                     stream in any::<bool>()) {
        let names: Vec<String> = (0..files.len()).map(|i| format!("dir/file{i}.txt")).collect();
        let members: Vec<(&str, &[u8], Option<i64>)> = files
            .iter()
            .zip(&names)
            .map(|((d, l, stored), n)| (n.as_str(), &d[..], if *stored { None } else { Some(i64::from(*l)) }))
            .collect();
        let z = zip_crate(&members, stream, false);
        let accepted = zip_raw_deflated(&z).iter().filter(|raw| reproducible(raw)).count();
        match roundtrip(&z, &opts()) {
            None => prop_assert_eq!(accepted, 0),
            Some(e) => {
                // every deflated member zlib or preflate-rs recreates is reproduced, the others raw
                prop_assert_eq!(e.stats.reproduced, accepted, "{:?}", e.stats);
                prop_assert_eq!(e.stats.partial, 0);
                prop_assert_eq!(e.stats.streams, zip_raw_deflated(&z).len());
            }
        }
    }
}
