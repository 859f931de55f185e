//! What a firmware build depends on in a qmk_firmware tree, as one digest: the content
//! of every file a build can read, and the programs it runs. Computed when a job is
//! taken, so that a result is reused only for the tree as it is now, whether the tree
//! is a clean checkout, a modified one or no checkout at all.
//!
//! Hashing 150 MB on every job would cost seconds; a file's digest is kept beside its
//! size, times and inode, and only files whose metadata changed are read again, as
//! git's index does. A walk that finds nothing changed costs one `stat` per file. The
//! digests are kept in an index file too, so that a new process (the CLI's next
//! compile) does not read the whole tree again.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::builder::is_firmware_file;
use super::launch::shelf;

/// Programs whose version changes the firmware; their metadata joins the digest.
const TOOLS: [&str; 4] = ["make", "qmk", "avr-gcc", "arm-none-eabi-gcc"];

pub struct TreeState {
    root: PathBuf,
    /// Folders inside the root that no build sees.
    private: Vec<PathBuf>,
    /// Digests of the files seen by the last walk, by path.
    known: Mutex<HashMap<PathBuf, Known>>,
    /// Where the digests are kept between processes.
    index: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    inode: u64,
}

struct Known {
    stamp: Stamp,
    digest: [u8; 32],
}

impl std::fmt::Debug for TreeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeState").field("root", &self.root).finish_non_exhaustive()
    }
}

impl TreeState {
    /// The state of the tree at `root`, leaving out `private`; `index` keeps the files'
    /// digests between processes.
    pub fn new(root: &Path, private: &[PathBuf], index: Option<PathBuf>) -> TreeState {
        TreeState { root: root.to_owned(), private: private.to_vec(), known: Mutex::new(HashMap::new()), index }
    }

    /// The digest of the tree as it is now, in hex. One digest at a time: a second
    /// caller waits and then finds the files read by the first.
    pub fn digest(&self) -> std::io::Result<String> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.is_empty() {
            *known = self.index.as_deref().map(read_index).unwrap_or_default();
        }
        let files = self.files()?;
        let entries: Vec<(PathBuf, Known)> = files
            .into_par_iter()
            .map(|(path, stamp)| {
                let digest = match known.get(&path) {
                    Some(seen) if seen.stamp == stamp => seen.digest,
                    _ => file_digest(&self.root.join(&path))?,
                };
                Ok((path, Known { stamp, digest }))
            })
            .collect::<std::io::Result<_>>()?;
        let mut hasher = Sha256::new();
        for (path, seen) in &entries {
            hasher.update(path.as_os_str().as_encoded_bytes());
            hasher.update([0]);
            hasher.update(seen.digest);
        }
        for tool in TOOLS {
            hasher.update(program_stamp(OsStr::new(tool)).as_bytes());
            hasher.update(b"\n");
        }
        let changed = entries.len() != known.len()
            || entries.iter().any(|(path, seen)| known.get(path).is_none_or(|old| old.stamp != seen.stamp));
        *known = entries.into_iter().collect();
        if let (Some(index), true) = (&self.index, changed) {
            // Only a later start is slower without it.
            if let Err(error) = shelf::write_whole(index, &index_text(&known)) {
                tracing::warn!(index = %index.display(), %error, "cannot keep the tree's digests");
            }
        }
        Ok(hex(&hasher.finalize()))
    }

    /// Every file a build may read, relative to the root and sorted, with its metadata.
    fn files(&self) -> std::io::Result<Vec<(PathBuf, Stamp)>> {
        let root = std::fs::metadata(&self.root)?;
        self.files_in(&self.root, &[(root.dev(), root.ino())])
    }

    /// The files below `folder`, in the order of a walk that reads each folder's entries
    /// sorted by name; `ancestors` are the folders above it (device and inode), the
    /// root first. Folders are read in parallel: a walk is one `stat` per file, which a
    /// job waits for. Links are followed (submodules may be links to checkouts
    /// elsewhere); a link to nothing is left out, as no build can read it either.
    fn files_in(&self, folder: &Path, ancestors: &[(u64, u64)]) -> std::io::Result<Vec<(PathBuf, Stamp)>> {
        let mut names = std::fs::read_dir(folder)?
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect::<std::io::Result<Vec<_>>>()?;
        names.sort();
        let found = names
            .par_iter()
            .map(|name| {
                let path = folder.join(name);
                let metadata = match std::fs::metadata(&path) {
                    Ok(metadata) => metadata,
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(error) => return Err(error),
                };
                if self.is_skipped(&path, ancestors.len(), metadata.is_dir()) {
                    return Ok(Vec::new());
                }
                if metadata.is_dir() {
                    let folder = (metadata.dev(), metadata.ino());
                    if ancestors.contains(&folder) {
                        return Err(std::io::Error::other(format!(
                            "{}: a link back to a folder above it",
                            path.display()
                        )));
                    }
                    return self.files_in(&path, &[ancestors, &[folder]].concat());
                }
                let relative = path.strip_prefix(&self.root).unwrap_or(&path).to_owned();
                Ok(vec![(relative, Stamp::of(&metadata))])
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(found.concat())
    }

    /// What no build of a job reads: git's data, build output and Python's byte code
    /// (both written by builds made in the tree itself), the keymaps in keyboard
    /// folders (a job's build is given its own keymap folder), and the private folders.
    /// `depth` is 1 for what the root holds.
    fn is_skipped(&self, path: &Path, depth: usize, is_dir: bool) -> bool {
        if self.private.iter().any(|private| path == private) {
            return true;
        }
        let name = path.file_name().unwrap_or_default();
        let at_root = depth == 1;
        if is_dir {
            let in_keyboards = path.strip_prefix(&self.root).is_ok_and(|p| p.starts_with("keyboards"));
            name == ".git"
                || name == "__pycache__"
                || (at_root && name == ".build")
                || (in_keyboards && name == "keymaps")
        } else {
            name == ".git" || (at_root && is_firmware_file(Path::new(name)))
        }
    }
}

impl Stamp {
    fn of(metadata: &std::fs::Metadata) -> Stamp {
        Stamp {
            len: metadata.len(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
            inode: metadata.ino(),
        }
    }
}

/// The index's text: a line per file, `len mtime mtime_ns ctime ctime_ns inode digest
/// path` (paths with a line break are left out: they are read again).
fn index_text(known: &HashMap<PathBuf, Known>) -> Vec<u8> {
    let mut text = Vec::new();
    for (path, Known { stamp, digest }) in known {
        let path = path.as_os_str().as_encoded_bytes();
        if path.contains(&b'\n') {
            continue;
        }
        let Stamp { len, mtime, ctime, inode } = stamp;
        let fields = format!("{len} {} {} {} {} {inode} {} ", mtime.0, mtime.1, ctime.0, ctime.1, hex(digest));
        text.extend_from_slice(fields.as_bytes());
        text.extend_from_slice(path);
        text.push(b'\n');
    }
    text
}

/// The digests an index holds; a line it cannot read is left out (its file is read again).
fn read_index(index: &Path) -> HashMap<PathBuf, Known> {
    let Ok(text) = std::fs::read(index) else { return HashMap::new() };
    text.split(|byte| *byte == b'\n').filter_map(index_line).collect()
}

fn index_line(line: &[u8]) -> Option<(PathBuf, Known)> {
    let mut fields = line.splitn(8, |byte| *byte == b' ');
    let mut number = || std::str::from_utf8(fields.next()?).ok()?.parse::<i64>().ok();
    let (len, mtime, mtime_ns, ctime, ctime_ns, inode) =
        (number()?, number()?, number()?, number()?, number()?, number()?);
    let stamp = Stamp {
        len: u64::try_from(len).ok()?,
        mtime: (mtime, mtime_ns),
        ctime: (ctime, ctime_ns),
        inode: u64::try_from(inode).ok()?,
    };
    let hex_digest = std::str::from_utf8(fields.next()?).ok()?;
    let mut digest = [0u8; 32];
    if hex_digest.len() != 64 {
        return None;
    }
    for (byte, pair) in digest.iter_mut().zip(hex_digest.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    let path = std::ffi::OsStr::from_bytes(fields.next()?);
    Some((PathBuf::from(path), Known { stamp, digest }))
}

/// The SHA-256 of a file's content.
pub fn file_digest(path: &Path) -> std::io::Result<[u8; 32]> {
    Ok(Sha256::digest(std::fs::read(path)?).into())
}

/// A file as a version of a program: its path, size, modification time and inode.
pub fn file_stamp(path: &Path) -> String {
    match path.metadata() {
        Ok(m) => format!("{} {} {}.{} {}", path.display(), m.len(), m.mtime(), m.mtime_nsec(), m.ino()),
        Err(_) => format!("{} absent", path.display()),
    }
}

/// The stamp of the file `program` names on PATH.
pub fn program_stamp(program: &OsStr) -> String {
    find_program(&program.to_string_lossy())
        .map_or_else(|| format!("{} absent", program.to_string_lossy()), |p| file_stamp(&p))
}

/// The first executable file named `program` on `PATH`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.metadata().is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in [
            ("keyboards/a/keyboard.json", "{}"),
            ("keyboards/a/keymaps/default/keymap.json", "{}"),
            ("quantum/quantum.c", "int x;"),
            ("lib/python/qmk/__pycache__/x.pyc", "1"),
            (".build/obj/x.o", "1"),
            ("a_default.hex", ":00"),
        ] {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn a_changed_file_changes_the_digest_even_with_the_same_size_and_time() {
        let dir = tree();
        let state = TreeState::new(dir.path(), &[], None);
        let before = state.digest().unwrap();
        assert_eq!(state.digest().unwrap(), before, "nothing changed");
        let file = dir.path().join("keyboards/a/keyboard.json");
        let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::fs::write(&file, "[]").unwrap();
        std::fs::File::options().write(true).open(&file).unwrap().set_modified(mtime).unwrap();
        let after = state.digest().unwrap();
        assert_ne!(after, before);
        assert_eq!(
            TreeState::new(dir.path(), &[], None).digest().unwrap(),
            after,
            "a new process sees the same tree alike"
        );
    }

    #[test]
    fn a_new_process_takes_the_digests_of_unchanged_files_from_the_index() {
        let dir = tree();
        let index = dir.path().join("qmk-api-state/tree-index");
        let private = [dir.path().join("qmk-api-state")];
        let fresh = TreeState::new(dir.path(), &private, None).digest().unwrap();
        assert_eq!(TreeState::new(dir.path(), &private, Some(index.clone())).digest().unwrap(), fresh);
        // An index that lies about a file whose metadata did not change is believed:
        // the file is not read again.
        let text = std::fs::read_to_string(&index).unwrap();
        let line = text.lines().find(|line| line.ends_with("quantum/quantum.c")).unwrap();
        let forged: Vec<&str> = line.split(' ').collect();
        let lie = line.replace(forged[6], &"0".repeat(64));
        std::fs::write(&index, text.replace(line, &lie)).unwrap();
        assert_ne!(TreeState::new(dir.path(), &private, Some(index.clone())).digest().unwrap(), fresh);
        // A changed file is read again, whatever the index says.
        std::fs::write(&index, text.replace(line, &lie)).unwrap();
        std::fs::write(dir.path().join("quantum/quantum.c"), "int y;").unwrap();
        let changed = TreeState::new(dir.path(), &private, None).digest().unwrap();
        assert_eq!(TreeState::new(dir.path(), &private, Some(index.clone())).digest().unwrap(), changed);
        // So is every file when the index cannot be read.
        std::fs::write(&index, "not an index\n").unwrap();
        assert_eq!(TreeState::new(dir.path(), &private, Some(index)).digest().unwrap(), changed);
    }

    #[test]
    fn files_are_listed_in_name_order_through_links_and_a_link_loop_is_an_error() {
        let dir = tree();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("chibios.h"), "#pragma once").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("lib/chibios")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join("quantum/dangling.h")).unwrap();
        let state = TreeState::new(dir.path(), &[], None);
        let listed: Vec<PathBuf> = state.files().unwrap().into_iter().map(|(path, _)| path).collect();
        let expected = ["keyboards/a/keyboard.json", "lib/chibios/chibios.h", "quantum/quantum.c"];
        assert_eq!(listed, expected.map(PathBuf::from));
        std::os::unix::fs::symlink(dir.path(), dir.path().join("quantum/loop")).unwrap();
        let error = state.digest().unwrap_err().to_string();
        assert!(error.contains("quantum/loop: a link back to a folder above it"), "{error}");
    }

    #[test]
    fn build_output_keymap_folders_and_the_services_state_do_not_count() {
        let dir = tree();
        let private = dir.path().join("qmk-api-state");
        let state = TreeState::new(dir.path(), std::slice::from_ref(&private), None);
        let before = state.digest().unwrap();
        std::fs::create_dir_all(private.join("cache")).unwrap();
        std::fs::write(private.join("jobs.sqlite"), "a job store").unwrap();
        for path in [
            "keyboards/a/keymaps/default/keymap.json",
            "lib/python/qmk/__pycache__/x.pyc",
            ".build/obj/x.o",
            "a_default.hex",
            "b_default.uf2",
        ] {
            std::fs::write(dir.path().join(path), "changed").unwrap();
        }
        assert_eq!(state.digest().unwrap(), before);
        std::fs::write(dir.path().join("keyboards/a/config.h"), "#define X").unwrap();
        assert_ne!(state.digest().unwrap(), before, "a new file counts");
    }
}
