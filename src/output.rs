//! All-or-nothing output: a build writes into a fresh directory beside the target
//! and swaps it into place only once everything is written.
//!
//! A file whose bytes equal the previous output's, or another file of the same
//! build, is hard-linked instead of written again: creating inodes is most of a
//! build's cost, and published files are never modified in place, so sharing them
//! is safe.
//!
//! Nothing half-written outlives its build: a staging folder is held with an advisory
//! lock (`flock`) while its build runs, so the next build removes those whose build
//! died (killed, power lost); a process stopped by a signal removes its own first
//! ([`remove_unfinished`]).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tempfile::TempDir;

/// An output tree being written. Dropping it without [`Staging::commit`] leaves
/// the target as it was and removes what was written.
pub struct Staging {
    dir: TempDir,
    /// Held while the build runs: a staging folder nobody holds is an abandoned one.
    _held: Held,
    target: PathBuf,
    /// The output being replaced, to link unchanged files from.
    previous: Option<PathBuf>,
    /// Files written so far, by length and hash of their bytes, to link duplicates to.
    written: Mutex<HashMap<(usize, u64), PathBuf>>,
    files: AtomicUsize,
    bytes: AtomicU64,
}

/// The file that marks a directory as qmk-api's to replace.
pub const MARKER: &str = ".qmk-api-output";
const MARKER_TEXT: &str = "Written by qmk-api, which replaces this directory as a whole on every run.\n";

/// What a committed build wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub files: usize,
    pub bytes: u64,
}

impl Staging {
    /// Starts replacing `target`, which must be absent, empty, or an earlier output
    /// (it holds the [`MARKER`] file): anything else is refused, never deleted.
    pub fn new(target: &Path) -> io::Result<Staging> {
        refuse_foreign(target)?;
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(parent)?;
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
        let prefix = format!(".{name}.staging-");
        remove_abandoned(parent, &prefix);
        let dir = tempfile::Builder::new().prefix(&prefix).tempdir_in(parent)?;
        let held = Held::new(dir.path())?;
        std::fs::write(dir.path().join(MARKER), MARKER_TEXT)?;
        let previous = target.is_dir().then(|| target.to_owned());
        Ok(Staging {
            dir,
            _held: held,
            target: target.to_owned(),
            previous,
            written: Mutex::default(),
            files: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
        })
    }

    /// Writes one file at `relative` inside the output; files may be written from several threads.
    pub fn write(&self, relative: &Path, bytes: &[u8]) -> io::Result<()> {
        let path = self.dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let unchanged = self.previous.as_ref().map(|previous| previous.join(relative));
        if !unchanged.is_some_and(|old| same_bytes(&old, bytes) && std::fs::hard_link(&old, &path).is_ok()) {
            self.write_new(&path, bytes)?;
        }
        self.files.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Writes a file this build has not written yet, or links the copy it already wrote.
    fn write_new(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let key = (bytes.len(), hash(bytes));
        let twin = self.lock_written().get(&key).cloned();
        if twin.is_some_and(|twin| same_bytes(&twin, bytes) && std::fs::hard_link(&twin, path).is_ok()) {
            return Ok(());
        }
        std::fs::write(path, bytes)?;
        self.lock_written().entry(key).or_insert_with(|| path.to_owned());
        Ok(())
    }

    fn lock_written(&self) -> std::sync::MutexGuard<'_, HashMap<(usize, u64), PathBuf>> {
        // The map only caches paths: one left by a panicking writer is still usable.
        self.written.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Puts the written tree in the target's place; the previous tree is removed.
    pub fn commit(self) -> io::Result<Written> {
        let written = Written { files: self.files.into_inner(), bytes: self.bytes.into_inner() };
        // Staging directories are private to their creator; the output is for everyone to read.
        set_readable(self.dir.path())?;
        if !self.target.exists() {
            std::fs::rename(self.dir.path(), &self.target)?;
            // Already moved: nothing is left for the TempDir to remove.
            let _ = self.dir.keep();
            return Ok(written);
        }
        swap(self.dir.path(), &self.target)?;
        // The staging path now holds the previous output, which TempDir removes on drop.
        drop(self.dir);
        Ok(written)
    }
}

/// Staging folders of this process's builds in progress, for [`remove_unfinished`].
static UNFINISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes the staging folders of this process's builds in progress: what a process
/// stopped by a signal does last, so that nothing half-written stays beside an output.
pub fn remove_unfinished() {
    let unfinished = std::mem::take(&mut *UNFINISHED.lock().unwrap_or_else(|p| p.into_inner()));
    for folder in unfinished {
        let _ = std::fs::remove_dir_all(folder);
    }
}

/// A staging folder held: locked against [`remove_abandoned`] and listed for
/// [`remove_unfinished`] until dropped.
struct Held {
    folder: PathBuf,
    _lock: File,
}

impl Held {
    fn new(folder: &Path) -> io::Result<Held> {
        let lock = lock(folder)?;
        UNFINISHED.lock().unwrap_or_else(|p| p.into_inner()).push(folder.to_owned());
        Ok(Held { folder: folder.to_owned(), _lock: lock })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        UNFINISHED.lock().unwrap_or_else(|p| p.into_inner()).retain(|folder| *folder != self.folder);
    }
}

/// Removes the staging folders in `parent` (named `prefix…`, holding the [`MARKER`])
/// that no build holds: those of builds that died. One that cannot be removed stays.
fn remove_abandoned(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let folder = entry.path();
        let ours = entry.file_name().to_str().is_some_and(|name| name.starts_with(prefix));
        if !ours || !entry.file_type().is_ok_and(|t| t.is_dir()) || !folder.join(MARKER).is_file() {
            continue;
        }
        if lock(&folder).is_ok() {
            let _ = std::fs::remove_dir_all(&folder);
        }
    }
}

/// `folder` locked for this process, unless another holds it.
fn lock(folder: &Path) -> io::Result<File> {
    let lock = File::open(folder)?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
    Ok(lock)
}

fn refuse_foreign(target: &Path) -> io::Result<()> {
    let refuse = |why: &str| Err(io::Error::new(io::ErrorKind::AlreadyExists, why.to_owned()));
    let Ok(metadata) = std::fs::symlink_metadata(target) else { return Ok(()) };
    if metadata.file_type().is_symlink() {
        return refuse("it is a symbolic link; pass the directory it points to");
    }
    if !metadata.is_dir() {
        return refuse("it exists and is not a directory");
    }
    if target.join(MARKER).is_file() || std::fs::read_dir(target)?.next().is_none() {
        return Ok(());
    }
    refuse(&format!("it is not empty and was not written by qmk-api (it has no {MARKER} file); refusing to replace it"))
}

fn hash(bytes: &[u8]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hasher::write(&mut hasher, bytes);
    std::hash::Hasher::finish(&hasher)
}

fn same_bytes(path: &Path, bytes: &[u8]) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64)
        && std::fs::read(path).is_ok_and(|old| old == bytes)
}

#[cfg(unix)]
fn set_readable(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn set_readable(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Exchanges two directories in one step where the system can, else in two renames.
fn swap(staged: &Path, target: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        if renameat_with(CWD, staged, CWD, target, RenameFlags::EXCHANGE).is_ok() {
            return Ok(());
        }
    }
    let aside = staged.with_extension("previous");
    std::fs::rename(target, &aside)?;
    if let Err(error) = std::fs::rename(staged, target) {
        std::fs::rename(&aside, target)?;
        return Err(error);
    }
    std::fs::rename(&aside, staged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_replace_what_it_did_not_write() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        std::fs::create_dir(&home).unwrap();
        std::fs::write(home.join("notes.txt"), b"precious").unwrap();
        let error = Staging::new(&home).err().unwrap();
        assert!(error.to_string().contains("was not written by qmk-api"), "{error}");
        std::fs::write(root.path().join("file"), b"").unwrap();
        assert!(Staging::new(&root.path().join("file")).is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&home, root.path().join("link")).unwrap();
            assert!(Staging::new(&root.path().join("link")).err().unwrap().to_string().contains("symbolic link"));
        }
        assert_eq!(std::fs::read(home.join("notes.txt")).unwrap(), b"precious");
        assert!(Staging::new(&root.path().join("empty-or-new")).is_ok());
    }

    #[test]
    fn a_build_removes_the_staging_folders_of_dead_builds_and_keeps_running_ones() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("public");
        let running = Staging::new(&target).unwrap();
        running.write(Path::new("a.json"), b"1").unwrap();
        // A dead build's folder: as a killed process leaves it, unlocked.
        let dead = root.path().join(".public.staging-dead");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join(MARKER), MARKER_TEXT).unwrap();
        // Not qmk-api's: no marker.
        let foreign = root.path().join(".public.staging-foreign");
        std::fs::create_dir(&foreign).unwrap();
        let next = Staging::new(&target).unwrap();
        assert!(!dead.exists(), "the dead build's folder is removed");
        assert!(foreign.exists() && running.dir.path().join("a.json").exists(), "the others stay");
        assert!(UNFINISHED.lock().unwrap().contains(&next.dir.path().to_owned()));
        let folder = next.dir.path().to_owned();
        drop(next);
        assert!(!UNFINISHED.lock().unwrap().contains(&folder), "a dropped build is no longer listed");
    }

    #[test]
    fn commit_replaces_and_drop_keeps_the_previous_output() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("public");

        let first = Staging::new(&target).unwrap();
        first.write(Path::new("a/one.json"), b"1").unwrap();
        assert_eq!(first.commit().unwrap(), Written { files: 1, bytes: 1 });
        assert_eq!(std::fs::read(target.join("a/one.json")).unwrap(), b"1");

        let abandoned = Staging::new(&target).unwrap();
        abandoned.write(Path::new("b/two.json"), b"2").unwrap();
        drop(abandoned);
        assert!(target.join("a/one.json").exists() && !target.join("b").exists());

        let second = Staging::new(&target).unwrap();
        second.write(Path::new("b/two.json"), b"22").unwrap();
        second.commit().unwrap();
        assert!(!target.join("a").exists());
        assert_eq!(std::fs::read(target.join("b/two.json")).unwrap(), b"22");

        // Unchanged bytes are shared with the previous tree, changed ones are new files.
        let third = Staging::new(&target).unwrap();
        third.write(Path::new("b/two.json"), b"22").unwrap();
        third.write(Path::new("c/three.json"), b"3").unwrap();
        let linked = std::fs::metadata(third.dir.path().join("b/two.json")).unwrap();
        third.commit().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            assert_eq!(linked.nlink(), 2);
            assert_eq!(std::fs::metadata(target.join("b/two.json")).unwrap().nlink(), 1, "the old tree is gone");
        }
        assert_eq!(std::fs::read(target.join("c/three.json")).unwrap(), b"3");

        // Within one build, a second file with the same bytes is a link to the first.
        let fourth = Staging::new(&target).unwrap();
        fourth.write(Path::new("master/x.json"), b"same").unwrap();
        fourth.write(Path::new("develop/x.json"), b"same").unwrap();
        fourth.commit().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            assert_eq!(std::fs::metadata(target.join("develop/x.json")).unwrap().nlink(), 2);
        }
        let leftovers: Vec<_> = std::fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, ["public"]);
        assert!(target.join(MARKER).is_file());
    }
}
