//! The see-through expander conformance suite.

use dg_ports::{Expander, Similar};
use dg_testdata::{noise, text};

/// A file expanded: its plain form and recipe.
struct Expanded {
    plain: Vec<u8>,
    recipe: Vec<u8>,
    summary: dg_ports::ExpandSummary,
}

fn expand(e: &dyn Expander, input: &[u8]) -> Option<Expanded> {
    let (mut plain, mut recipe) = (Vec::new(), Vec::new());
    let summary = e
        .expand(input, &mut plain, &mut recipe)
        .unwrap_or_else(|err| panic!("{} expands {} bytes: {err}", e.name(), input.len()))?;
    Some(Expanded {
        plain,
        recipe,
        summary,
    })
}

fn rebuild(e: &dyn Expander, plain: &[u8], recipe: &[u8], max: u64) -> dg_ports::Result<Vec<u8>> {
    let mut out = Vec::new();
    let n = e.rebuild(plain, recipe, &mut out, max)?;
    assert_eq!(
        n,
        out.len() as u64,
        "{}: rebuild returns the bytes it wrote",
        e.name()
    );
    Ok(out)
}

/// True when `plain` and `recipe` turn out to be `original` by any of the ways back.
fn passes_for(e: &dyn Expander, plain: &[u8], recipe: &[u8], original: &[u8]) -> bool {
    let rebuilt =
        matches!(rebuild(e, plain, recipe, original.len() as u64), Ok(out) if out == original);
    let verified = matches!(e.verify(plain, recipe, original, &[]), Ok(true));
    rebuilt || verified
}

/// Runs every expander rule against `e`. `samples` are files it sees through (each must
/// expand), at least two of them different; the suite adds inputs with nothing to see through
/// (empty, text, noise), which must expand to `None` or to a plain form and recipe that rebuild
/// them exactly.
pub fn run(e: &dyn Expander, samples: &[Vec<u8>]) {
    let name = e.name();
    assert!(!name.is_empty(), "an expander has a name");
    assert!(samples.len() >= 2, "the suite needs two samples");

    let mut expanded = Vec::new();
    for (i, input) in samples.iter().enumerate() {
        let len = input.len() as u64;
        let x = expand(e, input).unwrap_or_else(|| panic!("{name}: sample {i} is seen through"));
        // the round trip, and the check expand's caller makes
        assert_eq!(
            rebuild(e, &x.plain, &x.recipe, len).unwrap(),
            *input,
            "{name}: sample {i} rebuilds exactly"
        );
        assert!(
            e.verify(&x.plain, &x.recipe, input, &x.summary.reused_spans)
                .unwrap(),
            "{name}: sample {i} verifies"
        );
        // deterministic
        let again = expand(e, input).unwrap();
        assert!(
            again.plain == x.plain && again.recipe == x.recipe,
            "{name}: sample {i} expands the same way twice"
        );
        // the output limit
        let mut out = Vec::new();
        let over = e.rebuild(&x.plain, &x.recipe, &mut out, len - 1);
        assert!(over.is_err(), "{name}: sample {i} over max_output fails");
        assert!(
            (out.len() as u64) < len,
            "{name}: sample {i}: at most max_output bytes are written"
        );
        // with an index: its own, a foreign one, garbage; learning or not
        let (mut plain, mut recipe) = (Vec::new(), Vec::new());
        let learned = e
            .expand_with(input, &mut plain, &mut recipe, None, true)
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: sample {i} is seen through when learning"));
        assert!(
            passes_for(e, &plain, &recipe, input),
            "{name}: sample {i} learning rebuilds"
        );
        let garbage = noise(i as u64 + 50, 300);
        let indexes = [learned.index.clone(), Some(garbage), Some(Vec::new())];
        for known in indexes.iter().flatten() {
            let (mut plain, mut recipe) = (Vec::new(), Vec::new());
            let got = e
                .expand_with(input, &mut plain, &mut recipe, Some(known), false)
                .unwrap();
            assert!(
                got.is_some(),
                "{name}: sample {i} is seen through with an index"
            );
            assert!(
                passes_for(e, &plain, &recipe, input),
                "{name}: sample {i} rebuilds whatever index it was given"
            );
        }
        expanded.push(x);
    }

    // beside a similar file: the same output whatever the similar file holds
    let (a, b) = (&expanded[0], &expanded[1]);
    let (input_a, input_b) = (&samples[0], &samples[1]);
    let similar_b = Similar {
        original: input_b,
        plain: &b.plain,
        recipe: &b.recipe,
    };
    let lying = Similar {
        original: input_a,
        plain: &b.plain,
        recipe: &b.recipe,
    };
    for (what, similar) in [("a similar file", similar_b), ("a file that lies", lying)] {
        let mut out = Vec::new();
        e.rebuild_beside(&a.plain, &a.recipe, &mut out, input_a.len() as u64, similar)
            .unwrap_or_else(|err| panic!("{name}: rebuilding beside {what}: {err}"));
        assert_eq!(
            out, *input_a,
            "{name}: the output beside {what} is the file"
        );
    }

    // foreign and damaged recipes never pass for the original
    let len = input_a.len() as u64;
    let cut = &a.recipe[..a.recipe.len() / 2];
    let mut flipped = a.recipe.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x5a;
    let foreign = noise(77, a.recipe.len().max(64));
    for (what, recipe) in [
        ("an empty recipe", &[][..]),
        ("a truncated recipe", cut),
        ("garbage", &foreign[..]),
    ] {
        assert!(
            rebuild(e, &a.plain, recipe, len * 2).is_err(),
            "{name}: {what} is refused"
        );
    }
    for (what, plain, recipe) in [
        ("a damaged recipe", &a.plain[..], &flipped[..]),
        ("another file's recipe", &a.plain[..], &b.recipe[..]),
        (
            "a truncated plain form",
            &a.plain[..a.plain.len() / 2],
            &a.recipe[..],
        ),
    ] {
        assert!(
            !passes_for(e, plain, recipe, input_a),
            "{name}: {what} does not pass for the file"
        );
    }

    // nothing to see through: None, or an exact round trip
    for (what, input) in [
        ("empty input", Vec::new()),
        ("text", text(5, 50_000)),
        ("noise", noise(6, 50_000)),
    ] {
        if let Some(x) = expand(e, &input) {
            assert_eq!(
                rebuild(e, &x.plain, &x.recipe, input.len() as u64).unwrap(),
                input,
                "{name}: {what}, when expanded, rebuilds exactly"
            );
        }
    }
}
