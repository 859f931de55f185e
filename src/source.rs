//! Where the data comes from: a QMK checkout on disk or the copy bundled in the binary.
//!
//! Every reader goes through [`DataTree`], with paths relative to the tree's root
//! (`data/constants/...`, `keyboards/...`), so the same code runs on both.

use std::borrow::Cow;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

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
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        let message = format!("more than {} MiB: too large for an input file", MAX_INPUT_BYTES >> 20);
        return Err(io::Error::new(io::ErrorKind::FileTooLarge, message));
    }
    Ok(bytes)
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
    pub is_dir: bool,
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

    /// Reads a whole file.
    pub fn read(&self, relative: &Path) -> io::Result<Cow<'static, [u8]>> {
        match self {
            DataTree::Checkout(root) => read_input(&root.join(relative)).map(Cow::Owned),
            DataTree::Bundled => {
                bundled_file(relative).map(|file| Cow::Borrowed(file.contents())).ok_or_else(|| not_found(relative))
            }
        }
    }

    pub fn exists(&self, relative: &Path) -> bool {
        match self {
            DataTree::Checkout(root) => root.join(relative).exists(),
            DataTree::Bundled => bundled_path(relative).is_some_and(|p| BUNDLED.get_entry(p).is_some()),
        }
    }

    /// Every file below `relative`, as paths relative to the tree's root, sorted;
    /// a missing directory has none.
    pub fn files_below(&self, relative: &Path) -> io::Result<Vec<PathBuf>> {
        let mut files = match self {
            DataTree::Checkout(root) => {
                let base = root.join(relative);
                if !base.is_dir() {
                    return Ok(Vec::new());
                }
                let mut files = Vec::new();
                for entry in walkdir::WalkDir::new(&base) {
                    let entry = entry.map_err(io::Error::from)?;
                    if entry.file_type().is_file() {
                        files.push(relative.join(entry.path().strip_prefix(&base).unwrap_or(entry.path())));
                    }
                }
                files
            }
            DataTree::Bundled => {
                let mut files = Vec::new();
                if let Some(dir) = bundled_dir(relative) {
                    collect_bundled(dir, relative, bundled_path(relative).unwrap_or(relative), &mut files);
                }
                files
            }
        };
        files.sort();
        Ok(files)
    }

    /// The entries of one directory, sorted by name; a missing directory is empty.
    pub fn list(&self, relative: &Path) -> io::Result<Vec<Entry>> {
        let mut entries = match self {
            DataTree::Checkout(root) => list_on_disk(&root.join(relative))?,
            DataTree::Bundled => list_bundled(relative),
        };
        entries.sort();
        Ok(entries)
    }
}

fn list_on_disk(dir: &Path) -> io::Result<Vec<Entry>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .max_depth(1)
        .into_iter()
        .map(|entry| {
            let entry = entry.map_err(io::Error::from)?;
            Ok(Entry { name: entry.file_name().to_string_lossy().into_owned(), is_dir: entry.file_type().is_dir() })
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
