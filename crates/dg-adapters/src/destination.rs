//! A local directory that downloads write into and syncs delete from, without ever following a
//! symbolic link below it: nothing outside the directory the user named is created, replaced
//! or removed, whatever links it holds.
//!
//! The root itself is opened as the user named it (a link there is the user's own choice).
//! Below it every directory is entered with `openat(…, O_NOFOLLOW | O_DIRECTORY)`, files are
//! written under a temp name in their directory and `renameat`ed into place, and deletes are
//! `unlinkat` in the opened parent, so a link swapped in at any moment is refused, not followed.
//! A path through a link fails with [`Error::InvalidInput`] naming the link.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use dg_ports::{BlobRef, Error, Result, StagedBlob};
use rustix::fs::{AtFlags, Mode, OFlags};

use crate::blob::HandleBlob;

/// The directory a download or sync writes into.
#[derive(Debug)]
pub struct DestinationDir {
    root: PathBuf,
    fd: OwnedFd,
}

/// How a path below the root is used.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parents {
    /// Create missing directories on the way.
    Create,
    /// Only walk existing ones.
    Existing,
}

impl DestinationDir {
    /// Opens `root` (created with its parents when missing).
    pub fn open(root: impl Into<PathBuf>) -> Result<Arc<Self>> {
        let root = root.into();
        let shown = if root.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            root
        };
        std::fs::create_dir_all(&shown)
            .map_err(|e| Error::from_io(shown.display(), "creating", e))?;
        let fd = rustix::fs::open(
            &shown,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::from_io(shown.display(), "opening", e.into()))?;
        Ok(Arc::new(DestinationDir { root: shown, fd }))
    }

    /// The directory as the user named it.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `relative` (a `/`-separated path below the root) is, for messages.
    pub fn display(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Starts writing the file `relative`; it appears under its name only when finished, with
    /// `modified` as its modification time when given.
    pub fn create(
        self: &Arc<Self>,
        relative: &str,
        modified: Option<SystemTime>,
    ) -> Result<DestinationFile> {
        let (parent, name) = self.parent(relative, Parents::Create)?;
        let mut attempt = 0u32;
        let (file, temp) = loop {
            let temp = temp_name(&name);
            match rustix::fs::openat(
                &parent,
                temp.as_str(),
                OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o666),
            ) {
                Ok(fd) => break (File::from(fd), temp),
                Err(rustix::io::Errno::EXIST) if attempt < 16 => attempt += 1,
                Err(e) => {
                    return Err(Error::from_io(
                        self.display(relative).display(),
                        "creating a temp file for",
                        e.into(),
                    ))
                }
            }
        };
        Ok(DestinationFile {
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            parent: Arc::new(parent),
            temp,
            name,
            shown: self.display(relative),
            modified,
            finished: false,
        })
    }

    /// Deletes the file (or link) `relative`, never what a link points to. A missing file is
    /// not an error.
    pub fn remove(&self, relative: &str) -> Result<()> {
        let (parent, name) = match self.parent(relative, Parents::Existing) {
            Ok(found) => found,
            Err(Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        match rustix::fs::unlinkat(&parent, name.as_str(), AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(Error::from_io(
                self.display(relative).display(),
                "deleting",
                e.into(),
            )),
        }
    }

    /// The opened parent directory of `relative` and the file's name in it.
    fn parent(&self, relative: &str, parents: Parents) -> Result<(OwnedFd, String)> {
        let segments: Vec<&str> = relative.split('/').collect();
        let Some((name, dirs)) = segments.split_last() else {
            return Err(self.bad_path(relative));
        };
        if segments
            .iter()
            .any(|s| s.is_empty() || *s == "." || *s == ".." || s.contains('\0'))
        {
            return Err(self.bad_path(relative));
        }
        let mut dir = rustix::io::dup(&self.fd)
            .map_err(|e| Error::from_io(self.root.display(), "opening", e.into()))?;
        for (i, segment) in dirs.iter().enumerate() {
            let shown = || self.display(&dirs[..=i].join("/"));
            let opened = match open_dir(&dir, segment) {
                Err(rustix::io::Errno::NOENT) if parents == Parents::Create => {
                    match rustix::fs::mkdirat(&dir, *segment, Mode::from_raw_mode(0o777)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => {
                            return Err(Error::from_io(shown().display(), "creating", e.into()))
                        }
                    }
                    open_dir(&dir, segment)
                }
                other => other,
            };
            dir = match opened {
                Ok(fd) => fd,
                Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR)
                    if is_link(&dir, segment) =>
                {
                    return Err(Error::InvalidInput(format!(
                        "{} is a symbolic link; dg does not write or delete through links inside a destination (remove the link, or choose another directory)",
                        shown().display()
                    )))
                }
                Err(rustix::io::Errno::NOTDIR) => {
                    return Err(Error::InvalidInput(format!(
                        "{} is a file, so {} cannot be written below it",
                        shown().display(),
                        self.display(relative).display()
                    )))
                }
                Err(rustix::io::Errno::NOENT) => {
                    return Err(Error::not_found(shown().display()));
                }
                Err(e) => return Err(Error::from_io(shown().display(), "opening", e.into())),
            };
        }
        Ok((dir, (*name).to_string()))
    }

    fn bad_path(&self, relative: &str) -> Error {
        Error::InvalidInput(format!(
            "{:?} has an empty, `.` or `..` segment, so it has no place below {}",
            relative,
            self.root.display()
        ))
    }
}

fn open_dir(dir: &OwnedFd, name: &str) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn is_link(dir: &OwnedFd, name: &str) -> bool {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink)
        .unwrap_or(false)
}

/// A hidden, unique name next to `name` for the file while it is written.
fn temp_name(name: &str) -> String {
    let mut random = [0u8; 6];
    let tag = match getrandom::fill(&mut random) {
        Ok(()) => random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        Err(_) => format!(
            "{:x}{:x}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ),
    };
    // keep the temp name within NAME_MAX whatever the file's name
    let stem: String = name.chars().take(64).collect();
    format!(".{stem}.dg-{tag}.part")
}

/// A file being written below a [`DestinationDir`], renamed into place by
/// [`StagedBlob::finish`]. Dropped unfinished, it leaves nothing behind.
#[derive(Debug)]
pub struct DestinationFile {
    out: Option<BufWriter<File>>,
    parent: Arc<OwnedFd>,
    temp: String,
    name: String,
    shown: PathBuf,
    modified: Option<SystemTime>,
    finished: bool,
}

impl DestinationFile {
    /// Starts writing what will become the file `destination` (its parent created when
    /// missing; the path is taken as the user named it).
    pub fn create(destination: impl Into<PathBuf>) -> Result<Self> {
        let destination = destination.into();
        let name = destination
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Error::InvalidInput(format!("{} has no file name", destination.display()))
            })?;
        let parent = destination
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        DestinationDir::open(parent)?.create(&name, None)
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("the download output is already finished"))
    }
}

impl Write for DestinationFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer()?.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer()?.flush()
    }
}

impl StagedBlob for DestinationFile {
    fn finish(mut self: Box<Self>) -> Result<BlobRef> {
        let shown = self.shown.display().to_string();
        let out = self
            .out
            .take()
            .ok_or_else(|| Error::invalid(&shown, "finished twice"))?;
        let file = out
            .into_inner()
            .map_err(|e| Error::io(format!("writing {shown}"), e.into_error()))?;
        if let Some(t) = self.modified {
            file.set_modified(t)
                .map_err(|e| Error::io(format!("setting the modification time of {shown}"), e))?;
        }
        file.sync_all()
            .map_err(|e| Error::io(format!("syncing {shown}"), e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("reading {shown}"), e))?
            .len();
        rustix::fs::renameat(
            self.parent.as_fd(),
            self.temp.as_str(),
            self.parent.as_fd(),
            self.name.as_str(),
        )
        .map_err(|e| {
            let e: io::Error = e.into();
            if e.kind() == io::ErrorKind::IsADirectory || e.raw_os_error() == Some(39) {
                Error::InvalidInput(format!(
                    "{shown} is a directory, so the file cannot be written there"
                ))
            } else {
                Error::from_io(&shown, "renaming a finished download to", e)
            }
        })?;
        self.finished = true;
        Ok(HandleBlob::shared(file, len))
    }

    fn reserve(&mut self, len: u64, what: &str) -> Result<()> {
        let shown = self.shown.display().to_string();
        let file = self
            .writer()
            .map_err(|e| Error::io(format!("writing {shown}"), e))?
            .get_ref();
        crate::space::check_free(file, len, what, &shown)
    }
}

impl Drop for DestinationFile {
    fn drop(&mut self) {
        if !self.finished {
            self.out = None;
            let _ = rustix::fs::unlinkat(self.parent.as_fd(), self.temp.as_str(), AtFlags::empty());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn writes_appear_only_when_finished_and_never_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep.txt"), b"precious").unwrap();
        let root = dir.path().join("out");
        let dest = DestinationDir::open(&root).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();

        let mut w = dest.create("a/b/new.bin", None).unwrap();
        w.write_all(b"data").unwrap();
        assert!(!root.join("a/b/new.bin").exists());
        let blob = Box::new(w).finish().unwrap();
        assert_eq!(blob.len(), 4);
        assert_eq!(std::fs::read(root.join("a/b/new.bin")).unwrap(), b"data");

        let err = dest.create("link/new.bin", None).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let err = dest.remove("link/keep.txt").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(
            std::fs::read(outside.path().join("keep.txt")).unwrap(),
            b"precious"
        );
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
        // the link itself may be removed: it is inside the destination
        dest.remove("link").unwrap();
        assert!(!root.join("link").exists());
        assert!(outside.path().join("keep.txt").exists());

        assert!(dest.create("../x", None).is_err());
        assert!(dest.create("a//x", None).is_err());
        // unfinished writes leave nothing
        drop(dest.create("a/b/gone.bin", None).unwrap());
        let names: Vec<_> = std::fs::read_dir(root.join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["new.bin"]);
    }
}
