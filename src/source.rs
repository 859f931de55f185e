//! Where the data comes from: a QMK checkout on disk or the copy bundled in the binary.
//!
//! Every reader goes through [`DataTree`], with paths relative to the tree's root
//! (`data/constants/...`, `keyboards/...`), so the same code runs on both.
//!
//! A checkout is read as a tree: everything read or listed through it stays inside its
//! root. A symbolic link is followed where it leads inside the root (as QMK's Python
//! follows it) and refused, with an error naming it and where it leads, where it leads
//! out (`rules.mk` → `/etc/shadow`, a folder → `/`); the root itself may be a link. A
//! file read is a regular file of at most [`MAX_INPUT_BYTES`], checked before it is
//! opened: a FIFO, a device or a socket where a file is expected is refused, never
//! opened (a FIFO would block the reader, a device could be endless).

use std::borrow::Cow;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use include_dir::{Dir, include_dir};
use rustix::fs::OFlags;

/// The project's own `data/`, imported from a QMK tree by `qmk-api import`.
static BUNDLED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/data");

/// The environment variable QMK's own tools use for a checkout's location.
pub const QMK_HOME_ENV: &str = "QMK_HOME";

/// Input files larger than this are refused: no keymap or data file comes near it.
pub const MAX_INPUT_BYTES: u64 = 64 << 20;

/// Reads a whole input file of at most [`MAX_INPUT_BYTES`]. The size is checked while
/// reading, not beforehand, so that a device (`/dev/zero`) or a pipe, whose size is not
/// known, is refused too: with an error of kind `FileTooLarge`.
pub fn read_input(path: &Path) -> io::Result<Vec<u8>> {
    read_capped(File::open(path)?)
}

fn read_capped(file: File) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

fn too_large() -> io::Error {
    let message = format!("more than {} MiB: too large for an input file", MAX_INPUT_BYTES >> 20);
    io::Error::new(io::ErrorKind::FileTooLarge, message)
}

#[derive(Debug, Clone)]
pub enum DataTree {
    /// A qmk_firmware checkout (or anything laid out like one).
    Checkout(PathBuf),
    /// The data bundled into the binary; laid out as a checkout whose `data/` is ours.
    Bundled,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub name: String,
    /// A folder, or a symbolic link to one.
    pub is_dir: bool,
}

/// The files below a folder of a tree, and the links to folders out of the tree that the
/// walk did not enter.
#[derive(Debug, Default)]
pub struct Listing {
    /// Relative to the tree's root, sorted: everything but folders, so links to files,
    /// FIFOs and devices too, which [`DataTree::read`] refuses, naming them.
    pub files: Vec<PathBuf>,
    /// Each link to a folder out of the tree, relative to the tree's root, and why it was not entered.
    pub refused: Vec<(PathBuf, io::Error)>,
}

impl DataTree {
    /// `--qmk-home` if given, else `$QMK_HOME`, else the bundled data.
    pub fn resolve(qmk_home: Option<PathBuf>) -> DataTree {
        qmk_home
            .or_else(|| std::env::var_os(QMK_HOME_ENV).filter(|v| !v.is_empty()).map(PathBuf::from))
            .map_or(DataTree::Bundled, DataTree::Checkout)
    }

    /// The root on disk, when there is one to write to.
    pub fn checkout_root(&self) -> Option<&Path> {
        match self {
            DataTree::Checkout(root) => Some(root),
            DataTree::Bundled => None,
        }
    }

    /// How a path inside the tree is shown to the user.
    pub fn display(&self, relative: &Path) -> String {
        match self {
            DataTree::Checkout(root) => root.join(relative).display().to_string(),
            DataTree::Bundled => format!("<bundled>/{}", relative.display()),
        }
    }

    /// Reads a whole file: a regular file inside the tree of at most [`MAX_INPUT_BYTES`].
    pub fn read(&self, relative: &Path) -> io::Result<Cow<'static, [u8]>> {
        match self {
            DataTree::Checkout(root) => read_capped(open_inside(root, relative)?).map(Cow::Owned),
            DataTree::Bundled => {
                bundled_file(relative).map(|file| Cow::Borrowed(file.contents())).ok_or_else(|| not_found(relative))
            }
        }
    }

    /// Whether [`DataTree::read`] would read the file, without reading it: the same
    /// checks (inside the tree, a regular file, not too large), for files read later.
    pub fn check_readable(&self, relative: &Path) -> io::Result<()> {
        match self {
            DataTree::Checkout(root) => checked_file(root, relative).map(drop),
            DataTree::Bundled => bundled_file(relative).map(drop).ok_or_else(|| not_found(relative)),
        }
    }

    pub fn exists(&self, relative: &Path) -> bool {
        match self {
            DataTree::Checkout(root) => root.join(relative).exists(),
            DataTree::Bundled => bundled_path(relative).is_some_and(|p| BUNDLED.get_entry(p).is_some()),
        }
    }

    /// Every file below `relative`, as paths relative to the tree's root, sorted;
    /// a missing directory has none. A link to a folder out of the tree is an error naming it.
    pub fn files_below(&self, relative: &Path) -> io::Result<Vec<PathBuf>> {
        let listing = self.walk(relative)?;
        match listing.refused.into_iter().next() {
            Some((link, error)) => Err(io::Error::new(error.kind(), format!("{}: {error}", self.display(&link)))),
            None => Ok(listing.files),
        }
    }

    /// Every file below `relative` (see [`Listing`]): links to folders inside the tree
    /// are followed, each folder through the first link met only (so a link to a folder
    /// above it, or a maze of links, walks nothing twice); links to folders out of it are
    /// not, and are listed as refused.
    pub fn walk(&self, relative: &Path) -> io::Result<Listing> {
        let mut listing = match self {
            DataTree::Checkout(root) => walk_on_disk(root, relative)?,
            DataTree::Bundled => {
                let mut files = Vec::new();
                if let Some(dir) = bundled_dir(relative) {
                    collect_bundled(dir, relative, bundled_path(relative).unwrap_or(relative), &mut files);
                }
                Listing { files, refused: Vec::new() }
            }
        };
        listing.files.sort();
        Ok(listing)
    }

    /// The entries of one directory, sorted by name; a missing directory is empty, and
    /// one that leads out of the tree is an error naming it.
    pub fn list(&self, relative: &Path) -> io::Result<Vec<Entry>> {
        let mut entries = match self {
            DataTree::Checkout(root) => list_on_disk(root, relative)?,
            DataTree::Bundled => list_bundled(relative),
        };
        entries.sort();
        Ok(entries)
    }
}

/// Where `relative` leads, which must be inside `root`: the path with every link
/// resolved, or an error naming where it leads out to.
fn inside(root: &Path, relative: &Path) -> io::Result<PathBuf> {
    let joined = root.join(relative);
    let resolved = joined.canonicalize()?;
    // A root given as its own canonical path (the usual case) needs no resolving.
    if resolved.starts_with(root) || resolved.starts_with(root.canonicalize()?) {
        return Ok(resolved);
    }
    let how = match joined.components().any(|c| c == Component::ParentDir) {
        true => "leads out of the tree",
        false => "a symbolic link out of the tree",
    };
    Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("{how}, to {}: not read", resolved.display())))
}

/// The file `relative` leads to, checked to be a regular file inside the tree and not
/// too large, with its metadata.
fn checked_file(root: &Path, relative: &Path) -> io::Result<(PathBuf, Metadata)> {
    let path = inside(root, relative)?;
    let metadata = std::fs::metadata(&path)?;
    regular(&metadata)?;
    if metadata.len() > MAX_INPUT_BYTES {
        return Err(too_large());
    }
    Ok((path, metadata))
}

/// Opens a file of the tree once [`checked_file`] passed it. It is opened without
/// following a link (there is none left in its path) and without blocking, and checked
/// again once open, so that a file swapped in between is refused too.
fn open_inside(root: &Path, relative: &Path) -> io::Result<File> {
    let (path, _) = checked_file(root, relative)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32)
        .open(&path)?;
    regular(&file.metadata()?)?;
    Ok(file)
}

/// Refuses anything but a regular file, saying what it is.
fn regular(metadata: &Metadata) -> io::Result<()> {
    match metadata.file_type() {
        kind if kind.is_file() => Ok(()),
        kind => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}, not a regular file: not read", file_kind(kind)),
        )),
    }
}

/// What a file that is not a regular file is, for messages: `a folder`, `a FIFO`...
pub fn file_kind(kind: std::fs::FileType) -> &'static str {
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

fn walk_on_disk(root: &Path, relative: &Path) -> io::Result<Listing> {
    let base = root.join(relative);
    if !base.is_dir() {
        return Ok(Listing::default());
    }
    inside(root, relative)?;
    let canonical_root = root.canonicalize()?;
    let mut refused = Vec::new();
    let mut files = Vec::new();
    // Each folder a link leads to is walked through one link only: links to the same
    // folders, nested, cannot multiply the walk.
    let mut entered = std::collections::HashSet::new();
    let in_tree = |path: &Path| relative.join(path.strip_prefix(&base).unwrap_or(path));
    let walker = walkdir::WalkDir::new(&base).follow_links(true).into_iter().filter_entry(|entry| {
        if !entry.path_is_symlink() || !entry.file_type().is_dir() {
            return true;
        }
        match entry.path().canonicalize() {
            Ok(target) if target.starts_with(&canonical_root) => entered.insert(target),
            Ok(_) => {
                let link = in_tree(entry.path());
                let error = inside(root, &link).err().unwrap_or_else(|| io::Error::other("a link out of the tree"));
                refused.push((link, error));
                false
            }
            Err(_) => false,
        }
    });
    for entry in walker {
        match entry {
            // FIFOs, devices and sockets too: reading one is refused, naming it.
            Ok(entry) if !entry.file_type().is_dir() => files.push(in_tree(entry.path())),
            Ok(_) => {}
            // A link to a folder above it: that folder is walked once.
            Err(error) if error.loop_ancestor().is_some() => {}
            // A link to nothing: absent, as QMK's Python sees it.
            Err(error) if error.path().is_some_and(is_dangling) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(Listing { files, refused })
}

fn is_dangling(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) && !path.exists()
}

fn list_on_disk(root: &Path, relative: &Path) -> io::Result<Vec<Entry>> {
    let dir = root.join(relative);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    inside(root, relative)?;
    walkdir::WalkDir::new(&dir)
        .min_depth(1)
        .max_depth(1)
        .into_iter()
        .map(|entry| {
            let entry = entry.map_err(io::Error::from)?;
            // A link counts as what it leads to: reading through it is checked when it happens.
            let is_dir = entry.file_type().is_dir() || (entry.path_is_symlink() && entry.path().is_dir());
            Ok(Entry { name: entry.file_name().to_string_lossy().into_owned(), is_dir })
        })
        .collect()
}

fn bundled_dir(relative: &Path) -> Option<&'static Dir<'static>> {
    match bundled_path(relative) {
        Some(p) if p.as_os_str().is_empty() => Some(&BUNDLED),
        Some(p) => BUNDLED.get_dir(p),
        None => None,
    }
}

/// Files below a bundled directory, named by their path in the tree (`relative/...`).
fn collect_bundled(dir: &'static Dir<'static>, relative: &Path, inside: &Path, files: &mut Vec<PathBuf>) {
    for file in dir.files() {
        files.push(relative.join(file.path().strip_prefix(inside).unwrap_or(file.path())));
    }
    for sub in dir.dirs() {
        collect_bundled(sub, relative, inside, files);
    }
}

fn list_bundled(relative: &Path) -> Vec<Entry> {
    let Some(dir) = bundled_dir(relative) else { return Vec::new() };
    dir.entries()
        .iter()
        .map(|entry| Entry {
            name: entry.path().file_name().unwrap_or_default().to_string_lossy().into_owned(),
            is_dir: entry.as_dir().is_some(),
        })
        .collect()
}

/// The bundle is our `data/` folder: it stands for the tree's `data/`, and its
/// `keyboards/` for the tree's. Other paths are not in it.
fn bundled_path(relative: &Path) -> Option<&Path> {
    relative.strip_prefix("data").ok().or_else(|| relative.starts_with("keyboards").then_some(relative))
}

fn bundled_file(relative: &Path) -> Option<&'static include_dir::File<'static>> {
    bundled_path(relative).and_then(|p| BUNDLED.get_file(p))
}

fn not_found(relative: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} is not in the bundled data", relative.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A tree with a file, links inside and out of it, a dangling link, a FIFO and a loop.
    fn hostile_tree() -> (tempfile::TempDir, tempfile::TempDir, DataTree) {
        let (root, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let at = |p: &str| root.path().join(p);
        std::fs::create_dir_all(at("keyboards/a/sub")).unwrap();
        std::fs::write(at("keyboards/a/rules.mk"), "A = 1\n").unwrap();
        std::fs::write(outside.path().join("secret"), "hunter2").unwrap();
        symlink("../rules.mk", at("keyboards/a/sub/inside.mk")).unwrap();
        symlink(outside.path().join("secret"), at("keyboards/a/out.mk")).unwrap();
        symlink("/proc/self/environ", at("keyboards/a/environ.mk")).unwrap();
        symlink(outside.path(), at("keyboards/a/outer")).unwrap();
        symlink("..", at("keyboards/a/sub/again")).unwrap();
        symlink("nowhere", at("keyboards/a/dangling.mk")).unwrap();
        // A maze: each level links twice to the next, 2^24 paths if each link were walked.
        for level in 0..24 {
            let folder = at(&format!("keyboards/maze/{level}"));
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("rules.mk"), "").unwrap();
            for link in ["x", "y"] {
                symlink(format!("../{}", level + 1), folder.join(link)).unwrap();
            }
        }
        std::fs::create_dir_all(at("keyboards/maze/24")).unwrap();
        let fifo = std::ffi::CString::new(at("keyboards/a/fifo.mk").display().to_string()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let tree = DataTree::Checkout(root.path().to_owned());
        (root, outside, tree)
    }

    #[test]
    fn reads_stay_inside_the_tree_and_take_regular_files_only() {
        let (_root, outside, tree) = hostile_tree();
        let read = |p: &str| tree.read(Path::new(p)).map(|b| b.into_owned()).map_err(|e| e.to_string());
        assert_eq!(read("keyboards/a/rules.mk").unwrap(), b"A = 1\n");
        assert_eq!(read("keyboards/a/sub/inside.mk").unwrap(), b"A = 1\n", "a link inside is followed");
        let secret = outside.path().canonicalize().unwrap().join("secret");
        assert_eq!(
            read("keyboards/a/out.mk").unwrap_err(),
            format!("a symbolic link out of the tree, to {}: not read", secret.display())
        );
        assert!(read("keyboards/a/environ.mk").unwrap_err().starts_with("a symbolic link out of the tree, to /proc/"));
        assert!(read("keyboards/a/outer/secret").unwrap_err().starts_with("a symbolic link out of the tree"));
        assert!(read("keyboards/../../etc/passwd").is_err());
        assert_eq!(read("keyboards/a/fifo.mk").unwrap_err(), "a FIFO, not a regular file: not read");
        assert_eq!(read("keyboards/a/sub").unwrap_err(), "a folder, not a regular file: not read");
        assert!(tree.check_readable(Path::new("keyboards/a/out.mk")).is_err());
        assert!(!tree.exists(Path::new("keyboards/a/dangling.mk")));
        let listed = tree.list(Path::new("keyboards/a/outer")).unwrap_err().to_string();
        assert!(listed.starts_with("a symbolic link out of the tree"), "{listed}");
        let entries = tree.list(Path::new("keyboards/a/sub")).unwrap();
        assert!(entries.contains(&Entry { name: "again".into(), is_dir: true }), "{entries:?}");
    }

    #[test]
    fn a_walk_lists_what_is_refused_and_never_leaves_the_tree_or_loops() {
        let (_root, _outside, tree) = hostile_tree();
        let listing = tree.walk(Path::new("keyboards")).unwrap();
        let files: Vec<String> = listing.files.iter().map(|f| f.display().to_string()).collect();
        assert!(files.contains(&"keyboards/a/rules.mk".into()) && files.contains(&"keyboards/a/sub/inside.mk".into()));
        assert!(files.contains(&"keyboards/a/out.mk".into()), "refused when read, naming it: {files:?}");
        assert!(files.contains(&"keyboards/a/fifo.mk".into()), "refused when read, naming it: {files:?}");
        assert!(!files.iter().any(|f| f.contains("secret") || f.contains("dangling")), "{files:?}");
        let maze = files.iter().filter(|f| f.starts_with("keyboards/maze/")).count();
        assert!((24..=48).contains(&maze), "each folder of the maze is walked once or twice: {maze}");
        let refused: Vec<&Path> = listing.refused.iter().map(|(p, _)| p.as_path()).collect();
        assert_eq!(refused, [Path::new("keyboards/a/outer")]);
        let error = tree.files_below(Path::new("keyboards")).unwrap_err().to_string();
        assert!(error.contains("keyboards/a/outer: a symbolic link out of the tree"), "{error}");
    }
}
