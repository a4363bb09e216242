//! The staging conformance suite.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use dg_ports::{BlobRef, Error, Staging};
use dg_testdata::noise;

/// Where an adapter of [`Staging`] keeps what it stages.
#[derive(Clone, Debug, Default)]
pub enum StagedIn {
    /// In memory: blobs and writers have no path, and nothing is left to look for once a
    /// writer or blob is dropped (its memory is freed with it); `reserve` accepts any size.
    #[default]
    Memory,
    /// In files of this directory: writers and blobs name their file there, a dropped writer
    /// or last blob handle removes it, and `reserve` refuses more than the disk holds.
    Dir(PathBuf),
}

fn read_all(blob: &BlobRef) -> Vec<u8> {
    let mut v = Vec::new();
    blob.reader().unwrap().read_to_end(&mut v).unwrap();
    v
}

/// `data` staged in pieces of odd sizes.
fn stage(staging: &dyn Staging, data: &[u8]) -> BlobRef {
    let mut w = staging.create().unwrap();
    for piece in data.chunks(77_777) {
        w.write_all(piece).unwrap();
    }
    w.flush().unwrap();
    w.finish().unwrap()
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Runs every staging rule against `staging`, which keeps its blobs as `place` says (a
/// directory the suite alone writes to while it runs).
pub fn run(staging: &dyn Staging, place: StagedIn) {
    let before = match &place {
        StagedIn::Dir(dir) => entries(dir),
        StagedIn::Memory => 0,
    };

    // round trips: empty, small, larger than any buffer, read any number of times
    for data in [Vec::new(), b"hello".to_vec(), noise(1, 3 << 20)] {
        let blob = stage(staging, &data);
        assert_eq!(
            blob.len(),
            data.len() as u64,
            "a blob has the length written"
        );
        assert_eq!(blob.is_empty(), data.is_empty());
        assert_eq!(read_all(&blob), data, "a reader yields the bytes written");
        assert_eq!(read_all(&blob), data, "a second reader starts at 0 again");
        assert_eq!(
            &*blob.map().unwrap(),
            &data[..],
            "the map is the bytes written"
        );
    }

    // writers are independent of each other
    let (mut one, mut two) = (staging.create().unwrap(), staging.create().unwrap());
    one.write_all(b"first ").unwrap();
    two.write_all(b"second").unwrap();
    one.write_all(b"writer").unwrap();
    let (one, two) = (one.finish().unwrap(), two.finish().unwrap());
    assert_eq!(read_all(&one), b"first writer");
    assert_eq!(read_all(&two), b"second");

    // a blob outlives other blobs and its clones: it is removed with its last handle
    let data = noise(2, 100_000);
    let blob = stage(staging, &data);
    let clone = blob.clone();
    drop(one);
    drop(blob);
    let _more = stage(staging, &noise(3, 1000));
    assert_eq!(
        read_all(&clone),
        data,
        "a blob stays readable while a handle exists"
    );

    match &place {
        StagedIn::Memory => {
            assert!(clone.path().is_none(), "a blob in memory has no path");
            let w = staging.create().unwrap();
            assert!(w.path().is_none(), "a writer in memory has no path");
        }
        StagedIn::Dir(dir) => {
            let path = clone
                .path()
                .expect("a staged file has a path")
                .to_path_buf();
            assert_eq!(
                path.parent(),
                Some(dir.as_path()),
                "blobs are staged in the directory"
            );
            assert_eq!(
                std::fs::read(&path).unwrap(),
                data,
                "the path holds the bytes"
            );
            drop(clone);
            assert!(!path.exists(), "the file goes with the blob's last handle");

            // the writer's path is where the blob's bytes go
            let mut w = staging.create().unwrap();
            let staged_at = w
                .path()
                .expect("a staged file names its path")
                .to_path_buf();
            assert_eq!(staged_at.parent(), Some(dir.as_path()));
            w.write_all(b"named").unwrap();
            let blob = w.finish().unwrap();
            assert_eq!(
                blob.path(),
                Some(staged_at.as_path()),
                "the blob is the staged file"
            );
            drop(blob);

            // room is checked before writing
            let mut w = staging.create().unwrap();
            w.reserve(4096, "a small download").unwrap();
            let refused = w.reserve(u64::MAX / 2, "a huge download");
            assert!(
                matches!(refused, Err(Error::NoSpace { .. })),
                "more than the disk holds is NoSpace: {refused:?}"
            );
        }
    }

    // a writer dropped without finish leaves nothing behind
    let mut w = staging.create().unwrap();
    w.write_all(&noise(4, 200_000)).unwrap();
    drop(w);
    drop(two);
    drop(_more);
    if let StagedIn::Dir(dir) = &place {
        assert_eq!(
            entries(dir),
            before,
            "dropped writers and blobs leave nothing in the directory"
        );
    }
}
