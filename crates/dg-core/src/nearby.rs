//! References near a deltaspace that has none: its sibling prefixes' and its parent's, ranked
//! for one file by similarity sketch and by name, within fixed bounds on what is listed and read.
//!
//! Release buckets often keep one version per prefix (`releases/1.4.2/app.zip`): each version
//! starts a deltaspace of its own, and without this every one is stored whole. Looking next
//! door costs at most [`MAX_LIST_PAGES`] listing pages and [`MAX_CANDIDATES`] HEAD requests,
//! and only when a file is the first of its deltaspace.

use std::cmp::Ordering;

use dg_ports::{ListRequest, Location, ObjectInfo, ObjectStorageExt, Result};
use futures::StreamExt;
use tracing::debug;

use crate::format;
use crate::keys::{file_name, is_internal_key, DeltaSpace, REFERENCE_NAME};
use crate::meta::{self, field};
use crate::service::{DeltaGlider, Format};
use crate::sketch::Sketch;

/// Listing pages of the parent prefix read at most (each up to 1,000 names).
pub const MAX_LIST_PAGES: usize = 3;
/// References looked at (one HEAD request each) at most for one file.
pub const MAX_CANDIDATES: usize = 16;
/// Least estimated share of content-defined chunks in common for a reference to be tried.
pub const MIN_SIMILARITY: f64 = 0.1;

/// How far an upload looks for a reference when its own deltaspace has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReferenceScope {
    /// Only the file's own prefix, as every DeltaGlider before: its first file becomes its
    /// reference, its only one.
    Prefix,
    /// Also the references of its sibling prefixes (and of its parent prefix): a file that
    /// is like one of them is stored as a delta against it. Native deltaspaces whose files
    /// drift also gain newer references ([`crate::layers`]).
    #[default]
    Siblings,
}

impl ReferenceScope {
    /// `prefix` or `siblings`.
    pub fn name(self) -> &'static str {
        match self {
            ReferenceScope::Prefix => "prefix",
            ReferenceScope::Siblings => "siblings",
        }
    }
}

impl std::fmt::Display for ReferenceScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ReferenceScope {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "prefix" => Ok(ReferenceScope::Prefix),
            "siblings" => Ok(ReferenceScope::Siblings),
            other => Err(format!(
                "unknown reference scope `{other}` (prefix or siblings)"
            )),
        }
    }
}

/// A reference another deltaspace has, as seen for one file.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    /// The reference object.
    pub info: ObjectInfo,
    /// Estimated share of chunks in common with the file, when both have a sketch.
    pub similarity: Option<f64>,
    /// The reference's file has the file's name but for its digits (`app-1.2.zip`, `app-1.3.zip`).
    pub same_shape: bool,
    /// How far its prefix is from the file's, in name order (1: next to it).
    pub distance: usize,
    /// The reference's sketch, when it has one.
    pub sketch: Option<Sketch>,
}

impl Candidate {
    /// True when the candidate is worth a delta.
    fn promising(&self) -> bool {
        match self.similarity {
            Some(s) => s >= MIN_SIMILARITY,
            None => self.same_shape,
        }
    }
}

/// The candidate a file is most likely to be a delta against, judged before its sketch is
/// made: the nearest whose file's name matches but for digits. None when no name matches: the
/// file then more likely starts a reference of its own, whose plain form needs no other's index.
pub(crate) fn likely(candidates: &[Candidate]) -> Option<&Candidate> {
    candidates
        .iter()
        .filter(|c| c.same_shape)
        .min_by_key(|c| c.distance)
}

/// The best of `candidates` for the file whose sketch is `ours`, if any is promising: the most
/// similar by sketch, then one without a sketch whose name matches, nearest first.
pub(crate) fn best(mut candidates: Vec<Candidate>, ours: Option<&Sketch>) -> Option<Candidate> {
    for c in &mut candidates {
        c.similarity = match (ours, &c.sketch) {
            (Some(ours), Some(theirs)) => Some(ours.similarity(theirs)),
            _ => None,
        };
    }
    candidates.retain(Candidate::promising);
    candidates.sort_by(|a, b| {
        let by_sketch = match (a.similarity, b.similarity) {
            (Some(x), Some(y)) => y.partial_cmp(&x).unwrap_or(Ordering::Equal),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_sketch
            .then(b.same_shape.cmp(&a.same_shape))
            .then(a.distance.cmp(&b.distance))
    });
    candidates.into_iter().next()
}

/// A file name with its runs of digits folded: versions of one artifact share it.
pub(crate) fn name_shape(name: &str) -> String {
    let mut shape = String::with_capacity(name.len());
    let mut in_digits = false;
    for c in name.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                shape.push('#');
            }
            in_digits = true;
        } else {
            shape.push(c);
            in_digits = false;
        }
    }
    shape
}

/// Orders names as people order versions: runs of digits by their value (`v9` < `v10`), a
/// trailing `/` ignored (`v1.10/` < `v1.10.1/`), leading zeros only to break a tie.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.trim_end_matches('/'), b.trim_end_matches('/'));
    let mut tie = Ordering::Equal;
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return tie,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = split_digits(a);
                let (db, rb) = split_digits(b);
                let (va, vb) = (da.trim_start_matches('0'), db.trim_start_matches('0'));
                let order = va.len().cmp(&vb.len()).then_with(|| va.cmp(vb));
                if order != Ordering::Equal {
                    return order;
                }
                if tie == Ordering::Equal {
                    tie = da.len().cmp(&db.len());
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(&y);
                }
                (a, b) = (
                    a.strip_prefix(x).unwrap_or_default(),
                    b.strip_prefix(y).unwrap_or_default(),
                );
            }
        }
    }
}

fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// The prefixes to look at for `own` (a list prefix ending in `/`) among `siblings`, nearest
/// in name order first, earlier ones first at equal distance (releases are uploaded in order).
pub(crate) fn nearest(own: &str, mut siblings: Vec<String>, take: usize) -> Vec<(String, usize)> {
    siblings.retain(|s| s != own);
    siblings.sort_by(|a, b| natural_cmp(a, b));
    let at = siblings.partition_point(|s| natural_cmp(s, own) == Ordering::Less);
    let (before, after) = siblings.split_at(at);
    let mut out = Vec::with_capacity(take);
    let (mut back, mut ahead) = (before.iter().rev(), after.iter());
    let mut distance = 1;
    while out.len() < take {
        let (b, a) = (back.next(), ahead.next());
        if b.is_none() && a.is_none() {
            break;
        }
        for prefix in [b, a].into_iter().flatten() {
            if out.len() < take {
                out.push((prefix.clone(), distance));
            }
        }
        distance += 1;
    }
    out
}

impl DeltaGlider {
    /// References of other deltaspaces near `space` that a file of `format` named `name` could
    /// be a delta against (ranked later, by [`best`], once the file's sketch is made).
    pub(crate) async fn nearby_references(
        &self,
        space: &DeltaSpace,
        format: Format,
        name: &str,
    ) -> Result<Vec<Candidate>> {
        if space.prefix.is_empty() {
            return Ok(Vec::new()); // the bucket root has no siblings
        }
        let own = space.list_prefix();
        let parent = DeltaSpace::of(&Location::new(space.bucket.clone(), space.prefix.clone()));
        let mut request = ListRequest {
            bucket: space.bucket.clone(),
            prefix: parent.list_prefix(),
            delimiter: Some("/".into()),
            start_after: None,
            max_keys: 1000,
        };
        let mut siblings = Vec::new();
        for _ in 0..MAX_LIST_PAGES {
            let page = self.storage().list(&request).await?;
            siblings.extend(
                page.common_prefixes
                    .into_iter()
                    .filter(|p| !is_internal_key(p)),
            );
            match page.next {
                Some(next) => request.start_after = Some(next),
                None => break,
            }
        }
        let mut places: Vec<(Location, usize)> = nearest(&own, siblings, MAX_CANDIDATES - 1)
            .into_iter()
            .map(|(prefix, distance)| {
                (
                    Location::new(space.bucket.clone(), format!("{prefix}{REFERENCE_NAME}")),
                    distance,
                )
            })
            .collect();
        places.push((parent.reference(), 1));
        let shape = name_shape(name);
        let found: Vec<Option<Candidate>> = futures::stream::iter(places)
            .map(|(location, distance)| {
                let shape = &shape;
                async move {
                    let info = self.storage().head_opt(&location).await?;
                    Ok::<_, dg_ports::Error>(
                        info.and_then(|info| candidate(info, format, shape, distance)),
                    )
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_>>()?;
        let candidates: Vec<Candidate> = found.into_iter().flatten().collect();
        debug!(deltaspace = %own, found = candidates.len(), "references nearby");
        Ok(candidates)
    }
}

/// `info` as a candidate for a file of `format`, when it is a reference of that format.
fn candidate(info: ObjectInfo, format: Format, shape: &str, distance: usize) -> Option<Candidate> {
    let is_reference = meta::get(&info.metadata, field::FILE_SHA256).is_some()
        && !matches!(
            meta::classify(&info.location.key, &info.metadata),
            Ok(meta::ObjectKind::Delta(_)) | Err(_)
        );
    if !is_reference || format::of_reference(&info.metadata) != format {
        return None;
    }
    let sketch = meta::get(&info.metadata, field::SKETCH).and_then(Sketch::parse);
    let same_shape = meta::get(&info.metadata, field::SOURCE_NAME)
        .is_some_and(|source| name_shape(file_name(source)) == shape);
    Some(Candidate {
        info,
        similarity: None,
        same_shape,
        distance,
        sketch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_as_people_sort_them() {
        let mut names = vec![
            "v1.10/", "v1.9/", "v1.2/", "v2.0/", "v1.10.1/", "beta/", "v01.3/",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            ["beta/", "v1.2/", "v01.3/", "v1.9/", "v1.10/", "v1.10.1/", "v2.0/"]
        );
        assert_eq!(natural_cmp("a", "a"), Ordering::Equal);
        assert_eq!(natural_cmp("v1/", "v1"), Ordering::Equal);
        assert_eq!(natural_cmp("v01", "v1"), Ordering::Greater);
        assert_eq!(natural_cmp("é1", "é2"), Ordering::Less);
    }

    #[test]
    fn nearest_prefixes_come_first_earlier_ones_before_later() {
        let siblings: Vec<String> = (1..=30).map(|v| format!("r/v{v}/")).collect();
        let got = nearest("r/v20/", siblings.clone(), 5);
        let names: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["r/v19/", "r/v21/", "r/v18/", "r/v22/", "r/v17/"]);
        assert_eq!(got[0].1, 1);
        assert_eq!(got[4].1, 3);
        // the newest version looks back only
        let last = nearest("r/v31/", siblings, 3);
        assert_eq!(last[0].0, "r/v30/");
        assert_eq!(last[2].0, "r/v28/");
        assert!(nearest("r/x/", vec!["r/x/".into()], 4).is_empty());
    }

    #[test]
    fn shapes_fold_digits_and_ranking_prefers_the_sketch() {
        assert_eq!(name_shape("app-1.2.10.zip"), "app-#.#.#.zip");
        assert_eq!(name_shape("app-1.3.zip"), "app-#.#.zip");
        let info = |key: &str| ObjectInfo {
            location: Location::new("b", key),
            size: 1,
            last_modified: None,
            etag: None,
            metadata: Default::default(),
        };
        // a sketch that shares about `similarity` of its chunks with `ours`
        let ours = Sketch::of(&dg_testdata::noise(1, 400_000));
        let like = |similarity: Option<f64>| {
            similarity.map(|s: f64| {
                let mut data = dg_testdata::noise(1, 400_000);
                let cut = (400_000.0 * s) as usize;
                data.splice(cut.., dg_testdata::noise(7, 400_000 - cut));
                Sketch::of(&data)
            })
        };
        let c = |key: &str, similarity, same_shape, distance| Candidate {
            info: info(key),
            similarity: None,
            same_shape,
            distance,
            sketch: like(similarity),
        };
        let picked = best(
            vec![
                c("near", Some(0.5), true, 1),
                c("far", Some(0.95), false, 5),
                c("unsketched", None, true, 1),
                c("unlike", Some(0.0), true, 1),
            ],
            Some(&ours),
        );
        assert_eq!(picked.map(|p| p.info.location.key), Some("far".into()));
        let picked = best(
            vec![
                c("unlike", Some(0.0), true, 1),
                c("unsketched", None, true, 2),
                c("other", None, false, 1),
            ],
            Some(&ours),
        );
        assert_eq!(
            picked.map(|p| p.info.location.key),
            Some("unsketched".into())
        );
        assert!(best(
            vec![c("unlike", Some(0.0), true, 1), c("other", None, false, 1)],
            Some(&ours)
        )
        .is_none());
        let all = [
            c("a", None, false, 1),
            c("b", None, true, 3),
            c("c", None, true, 2),
        ];
        assert_eq!(
            likely(&all).map(|l| l.info.location.key.as_str()),
            Some("c")
        );
        assert!(likely(&[c("a", None, false, 1)]).is_none());
    }
}
