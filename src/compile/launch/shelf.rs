//! Where warm builds keep what they reuse: the cache folder, read by every build, and
//! a build's own staging folder, where what it keeps waits until the builder publishes
//! it. The builder publishes a build's entries only once it has seen the tree with the
//! digest the build was keyed on, after the build: an entry made while the tree was
//! changing under the build never reaches the cache.
//!
//! Entries are files and folders at the same relative paths in both folders; each is
//! written aside and renamed into place whole, so a reader finds one complete or none.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{CACHE_ENV, STAGING_ENV};
use crate::compile::builder::remove_folder;

#[derive(Debug)]
pub struct Shelf {
    cache: PathBuf,
    /// This build's own folder; `None` keeps straight into the cache.
    staging: Option<PathBuf>,
}

impl Shelf {
    /// The shelf of the build that runs this process, from its environment.
    pub fn from_env() -> Option<Shelf> {
        let cache = PathBuf::from(std::env::var_os(CACHE_ENV)?);
        Some(Shelf { cache, staging: std::env::var_os(STAGING_ENV).map(PathBuf::from) })
    }

    #[cfg(test)]
    pub fn new(cache: PathBuf, staging: Option<PathBuf>) -> Shelf {
        Shelf { cache, staging }
    }

    pub fn cache(&self) -> &Path {
        &self.cache
    }

    /// The entry at `relative`: the published one, else the one this build kept.
    pub fn find(&self, relative: &Path) -> Option<PathBuf> {
        std::iter::once(&self.cache)
            .chain(&self.staging)
            .map(|root| root.join(relative))
            .find(|path| path.symlink_metadata().is_ok())
    }

    /// Where this build keeps a new entry at `relative`.
    pub fn new_entry(&self, relative: &Path) -> PathBuf {
        self.staging.as_ref().unwrap_or(&self.cache).join(relative)
    }
}

/// Where the entry `key` of `kind` lives: in a folder named by the key's first two
/// characters, so that no folder grows too long.
pub fn sharded(kind: &Path, key: &str) -> PathBuf {
    kind.join(&key[..2]).join(key)
}

/// Writes `bytes` aside, then renames them to `path` (whose folders are created).
pub fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let mut file = tempfile::NamedTempFile::new_in(parent)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Fills a folder written aside with `fill`, then moves it to `path` whole (see
/// [`rename_whole`]).
pub fn write_folder_whole(path: &Path, fill: impl FnOnce(&Path) -> std::io::Result<()>) -> std::io::Result<()> {
    let parent = path.parent().unwrap_or(path);
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::tempdir_in(parent)?;
    fill(staging.path())?;
    rename_whole(&staging.keep(), path)
}

/// Moves `folder` (written aside) to `path` whole; another build's copy, already
/// there, is kept instead.
fn rename_whole(folder: &Path, path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if std::fs::rename(folder, path).is_err() {
        std::fs::remove_dir_all(folder)?;
    }
    Ok(())
}

/// Moves every entry of a build's staging folder into the cache, then removes the
/// staging folder. An entry the cache already has stays as it is there.
pub fn publish(staging: &Path, cache: &Path) -> std::io::Result<()> {
    merge(staging, cache)?;
    remove_folder(staging)
}

fn merge(from: &Path, to: &Path) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(from) else { return Ok(()) };
    std::fs::create_dir_all(to)?;
    for entry in entries {
        let entry = entry?;
        let target = to.join(entry.file_name());
        match target.symlink_metadata() {
            Err(_) => {
                // A concurrent publisher may have put it there meanwhile; either serves.
                let _ = std::fs::rename(entry.path(), &target);
            }
            Ok(existing) if existing.is_dir() && entry.file_type()?.is_dir() => merge(&entry.path(), &target)?,
            Ok(_) => {}
        }
    }
    Ok(())
}

/// Marks an entry as used, for pruning.
pub fn touch(path: &Path) {
    let _ = std::fs::File::options().write(true).open(path).and_then(|f| f.set_modified(SystemTime::now()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_finds_what_it_kept_and_publishing_moves_it_into_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, staging) = (dir.path().join("cache"), dir.path().join("staging"));
        let shelf = Shelf::new(cache.clone(), Some(staging.clone()));
        let entry = Path::new("kind/ab/abcd");
        assert_eq!(shelf.find(entry), None);
        write_whole(&shelf.new_entry(entry), b"kept").unwrap();
        assert_eq!(shelf.find(entry), Some(staging.join(entry)), "the build finds its own entry");
        let other = Shelf::new(cache.clone(), None);
        assert_eq!(other.find(entry), None, "other builds do not, before it is published");
        write_whole(&cache.join("kind/ab/abce"), b"there").unwrap();
        write_whole(&staging.join("kind/ab/abce"), b"again").unwrap();
        publish(&staging, &cache).unwrap();
        assert_eq!(std::fs::read(cache.join(entry)).unwrap(), b"kept");
        assert_eq!(std::fs::read(cache.join("kind/ab/abce")).unwrap(), b"there", "what the cache has stays");
        assert!(!staging.exists());
    }
}
