//! Streams shared with a reference reuse the reference's records: the same plain form and
//! recipe as a full expansion, checked without recompressing what was reused, and nothing
//! reused from an index that does not describe the stream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "seethrough_common/mod.rs"]
mod common;

use common::*;
use dg_seethrough::{
    expand, expand_with, rebuild, rebuild_trusting, ExpandStats, Reused, StreamIndex,
};

fn run(input: &[u8], known: Option<&StreamIndex>, learn: bool) -> (Vec<u8>, Vec<u8>, ExpandStats) {
    let (mut plain, mut recipe) = (Vec::new(), Vec::new());
    let stats = expand_with(input, &mut plain, &mut recipe, &opts(), known, learn)
        .unwrap()
        .expect("a zip is seen through");
    (plain, recipe, stats)
}

#[test]
fn shared_streams_reuse_the_reference_and_change_nothing() {
    let reference = release(&[], b"v1");
    let (_, _, ref_stats) = run(&reference, None, true);
    let index = ref_stats.index.expect("learned");
    assert!(index.len() >= 12, "every stream learned: {}", index.len());
    let index = StreamIndex::decode(&index.encode()).unwrap();

    // a new release: two members changed, and every gzip member's header
    let target = release(&[1, 3], b"v2");
    let (plain_full, recipe_full, full) = run(&target, None, false);
    let (plain, recipe, reused) = run(&target, Some(&index), false);
    assert_eq!(full.reused, 0);
    assert!(reused.reused >= 8, "reused {}", reused.reused);
    assert_eq!(plain, plain_full, "the same plain form");
    assert_eq!(recipe, recipe_full, "the same recipe");
    assert!(
        reused
            .reused_spans
            .iter()
            .any(|(_, r)| matches!(r, Reused::Held(_))),
        "streams inside gzip members reused too"
    );
    assert!(reused
        .reused_spans
        .iter()
        .any(|(_, r)| matches!(r, Reused::InInput { .. })));

    let mut out = Vec::new();
    rebuild_trusting(&plain, &recipe, &mut out, &target, &reused.reused_spans).unwrap();
    assert_eq!(out, target, "the check rebuilds the file");
    let mut out = Vec::new();
    rebuild(&plain, &recipe, &mut out, target.len() as u64).unwrap();
    assert_eq!(out, target, "and so does a full rebuild");
}

#[test]
fn a_changed_stream_is_never_taken_for_a_known_one() {
    let reference = release(&[], b"v1");
    let (_, _, ref_stats) = run(&reference, None, true);
    let index = ref_stats.index.unwrap();
    // every member changed: nothing matches by bytes, so nothing is reused
    let target = release(&(0..12).collect::<Vec<_>>(), b"v1");
    let (plain, recipe, stats) = run(&target, Some(&index), false);
    assert_eq!(stats.reused, 0);
    let mut out = Vec::new();
    rebuild(&plain, &recipe, &mut out, target.len() as u64).unwrap();
    assert_eq!(out, target);
    // a plain expansion learns nothing and reuses nothing
    let (mut p, mut r) = (Vec::new(), Vec::new());
    let stats = expand(&target, &mut p, &mut r, &opts()).unwrap().unwrap();
    assert!(stats.index.is_none() && stats.reused == 0);
}

#[test]
fn the_check_still_catches_a_wrong_plain_form() {
    let reference = release(&[], b"v1");
    let index = run(&reference, None, true).2.index.unwrap();
    let target = release(&[1], b"v2");
    let (mut plain, recipe, stats) = run(&target, Some(&index), false);
    // damage plaintext the check does not take as given: the last byte of the plain form
    let last = plain.len() - 1;
    plain[last] ^= 1;
    let mut out = Vec::new();
    let rebuilt = rebuild_trusting(&plain, &recipe, &mut out, &target, &stats.reused_spans);
    assert!(rebuilt.is_err() || out != target);
}

/// Members analysed on helper threads give exactly what one thread gives: the same plain form,
/// recipe, statistics and learned streams, also where members are too large for a helper,
/// stored, nested or not reproducible.
#[test]
fn members_analysed_in_parallel_give_what_one_thread_gives() {
    let mut members: Vec<(String, Vec<u8>, Option<i64>)> = Vec::new();
    for i in 0..40u64 {
        let text = texty(100 + i, 3_000 + 1_500 * i as usize);
        match i % 5 {
            0 => {
                let gz = gzip_with_header(&text, &deflate(&text, 9), Some(b"n"), None, None, false);
                members.push((format!("d/{i}.json.gz"), gz, Some(6)));
            }
            1 => members.push((format!("s/{i}.txt"), text, None)),
            2 => members.push((format!("w/{i}.bin"), weird_deflate(&text, i), None)),
            _ => members.push((format!("p/{i}.py"), text, Some((i % 9 + 1) as i64))),
        }
    }
    // one member whose plaintext is too large to hold on a helper
    members.push(("big/all.txt".into(), texty(7, 6 << 20), Some(6)));
    let refs: Vec<(&str, &[u8], Option<i64>)> = members
        .iter()
        .map(|(n, b, l)| (n.as_str(), &b[..], *l))
        .collect();
    let zip = zip_crate(&refs, false, false);
    let run_with = |parallel: bool, known: Option<&StreamIndex>| {
        let o = dg_seethrough::ExpandOptions { parallel, ..opts() };
        let (mut plain, mut recipe) = (Vec::new(), Vec::new());
        let stats = expand_with(&zip, &mut plain, &mut recipe, &o, known, true)
            .unwrap()
            .unwrap();
        (plain, recipe, stats)
    };
    let one = run_with(false, None);
    for _ in 0..3 {
        let many = run_with(true, None);
        assert_eq!(many.0, one.0, "plain form");
        assert_eq!(many.1, one.1, "recipe");
        assert_eq!(many.2, one.2, "statistics, notes and learned streams");
    }
    let index = one.2.index.clone().unwrap();
    let reused_one = run_with(false, Some(&index));
    let reused_many = run_with(true, Some(&index));
    assert_eq!(reused_many.2, reused_one.2);
    assert_eq!(reused_many.1, reused_one.1);
    assert!(reused_one.2.reused > 20, "{}", reused_one.2.reused);
    let mut out = Vec::new();
    rebuild_trusting(
        &reused_many.0,
        &reused_many.1,
        &mut out,
        &zip,
        &reused_many.2.reused_spans,
    )
    .unwrap();
    assert_eq!(out, zip);
    let mut out = Vec::new();
    rebuild(&one.0, &one.1, &mut out, zip.len() as u64).unwrap();
    assert_eq!(out, zip);
}

#[test]
fn streams_zlib_wrote_are_recorded_as_their_level_and_checked_without_compressing_again() {
    let file = release(&[], b"v1");
    let (plain, recipe, stats) = run(&file, None, false);
    // every member and every gzip inside one was written by zlib: each is a level alone
    assert_eq!(stats.zlib, stats.streams, "{stats:?}");
    assert_eq!(stats.reused, 0, "nothing known, nothing reused");
    // each proven stream is taken as it is by the check, but for the four members holding a
    // gzip: those are rebuilt from their contents, whose own stream is taken as it is
    assert_eq!(stats.streams, 16);
    assert_eq!(stats.reused_spans.len(), 12);
    let mut out = Vec::new();
    rebuild_trusting(&plain, &recipe, &mut out, &file, &stats.reused_spans).unwrap();
    assert_eq!(out, file);
}

#[test]
fn the_check_catches_damaged_plaintext_even_in_a_stream_taken_as_it_is() {
    let file = release(&[], b"v1");
    let (mut plain, recipe, stats) = run(&file, None, false);
    let (at, _) = stats
        .reused_spans
        .iter()
        .find(|(_, r)| matches!(r, Reused::InInput { .. }))
        .expect("a stream taken as it is");
    plain[usize::try_from(*at).unwrap() + 10] ^= 0x01;
    let mut out = Vec::new();
    let rebuilt = rebuild_trusting(&plain, &recipe, &mut out, &file, &stats.reused_spans);
    assert!(rebuilt.is_err(), "damaged plaintext went unnoticed");
}
