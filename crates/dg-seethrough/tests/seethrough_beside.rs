//! Rebuilding beside a similar file kept whole: the streams both files share are copied from
//! it, nested ones included, the output is always exactly `rebuild`'s, and a similar file
//! that is not what its recipe says is refused before anything is copied.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "seethrough_common/mod.rs"]
mod common;

use common::*;
use dg_seethrough::{expand, rebuild, rebuild_beside, RawStreams};

fn seen(input: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut plain, mut recipe) = (Vec::new(), Vec::new());
    expand(input, &mut plain, &mut recipe, &opts())
        .unwrap()
        .expect("a zip is seen through");
    (plain, recipe)
}

#[test]
fn shared_streams_are_copied_and_the_output_is_exact() {
    let reference = release(&[], b"v1");
    let (ref_plain, ref_recipe) = seen(&reference);
    let raw = RawStreams::new(&ref_plain, &ref_recipe, &reference).unwrap();
    assert!(
        raw.len() >= 12,
        "members and the streams inside gzip members: {}",
        raw.len()
    );

    // a new build: two members changed, and every gzip member's header
    let target = release(&[1, 3], b"v2");
    let (plain, recipe) = seen(&target);
    let mut out = Vec::new();
    rebuild_beside(&plain, &recipe, &mut out, target.len() as u64, &raw).unwrap();
    assert_eq!(out, target);
    // 7 unchanged `.py` members at the top, 3 unchanged JSON streams inside gzip members
    assert!(raw.copied() >= 10, "copied {}", raw.copied());

    // the reference itself: everything but its gzip members' outer streams is copied
    let before = raw.copied();
    let mut out = Vec::new();
    rebuild_beside(
        &ref_plain,
        &ref_recipe,
        &mut out,
        reference.len() as u64,
        &raw,
    )
    .unwrap();
    assert_eq!(out, reference);
    assert!(raw.copied() - before >= 12);

    // an unrelated file: nothing to copy, and the same output as a plain rebuild
    let other: Vec<u8> = zip_crate(&[("x.txt", &texty(99, 50_000)[..], Some(6))], false, false);
    let (p, r) = seen(&other);
    let before = raw.copied();
    let mut out = Vec::new();
    rebuild_beside(&p, &r, &mut out, other.len() as u64, &raw).unwrap();
    assert_eq!(out, other);
    assert_eq!(raw.copied(), before);
    let mut plain_out = Vec::new();
    rebuild(&p, &r, &mut plain_out, other.len() as u64).unwrap();
    assert_eq!(out, plain_out);
}

#[test]
fn a_similar_file_that_is_not_what_its_recipe_rebuilds_is_refused() {
    let reference = release(&[], b"v1");
    let (ref_plain, ref_recipe) = seen(&reference);
    let mut damaged = reference.clone();
    let at = damaged.len() / 2;
    damaged[at] ^= 1;
    assert!(RawStreams::new(&ref_plain, &ref_recipe, &damaged).is_err());
    assert!(RawStreams::new(&ref_plain, &ref_recipe, &reference[1..]).is_err());
    let mut short_plain = ref_plain.clone();
    short_plain.pop();
    assert!(RawStreams::new(&short_plain, &ref_recipe, &reference).is_err());
    let mut bad_recipe = ref_recipe.clone();
    bad_recipe[10] ^= 1;
    assert!(RawStreams::new(&ref_plain, &bad_recipe, &reference).is_err());
    // another file's bytes under this recipe
    let other = release(&[5], b"v1");
    assert!(RawStreams::new(&ref_plain, &ref_recipe, &other).is_err());
}

#[test]
fn a_wrong_plain_form_is_still_caught_beside_a_similar_file() {
    let reference = release(&[], b"v1");
    let (ref_plain, ref_recipe) = seen(&reference);
    let raw = RawStreams::new(&ref_plain, &ref_recipe, &reference).unwrap();
    let target = release(&[2], b"v2");
    let (mut plain, recipe) = seen(&target);
    // damage a byte of a member that the reference shares: no copy may hide it
    let at = plain.len() / 3;
    plain[at] ^= 0x01;
    let mut out = Vec::new();
    let r = rebuild_beside(&plain, &recipe, &mut out, target.len() as u64, &raw);
    assert!(
        r.is_err() || out != target,
        "damage must not rebuild the original"
    );
}
