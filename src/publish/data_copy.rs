//! The copy of QMK's `data/` that `qmk generate-api` puts in `v1/`: hjson files as
//! compact JSON (renamed `.json`), schemas as JSON with Python's default
//! separators, anything else as it is; and the API's own readme at the channel
//! root: a tree's, or with the bundled data (which holds no prose of QMK's) a short
//! one of this project's. The keycode spec files are left out (the API publishes
//! them merged), and so is what this project keeps in its own `data/` beside QMK's.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::keyboards::File;
use super::{PublishError, parse, pyjson, read};
use crate::source::DataTree;

/// The readme at the root of QMK's API tree.
const API_README_PATH: &str = "data/templates/api/readme.md";
/// The readme of an API built from the bundled data.
const BUNDLED_API_README: &str = include_str!("bundled_api_readme.md");

/// Paths below `data/` that are not part of the copy: the spec files, and the
/// project's own files (the lock, the bundled keyboards and facts, this README).
const LEFT_OUT: &[&str] = &[
    "constants/keycodes",
    "constants/constants.lock",
    "keyboards",
    "keyboard",
    "keymap",
    "README.md",
    crate::output::MARKER,
];

/// Every file of the copy, with its path inside a channel.
pub fn render(tree: &DataTree) -> Result<Vec<File>, PublishError> {
    let data = Path::new("data");
    let files = tree.files_below(data).map_err(|source| PublishError::Read { path: tree.display(data), source })?;
    let copied: Vec<&PathBuf> = files
        .iter()
        .filter(|file| {
            let inside = file.strip_prefix(data).unwrap_or(file);
            !LEFT_OUT.iter().any(|left| inside.starts_with(left) || inside.file_name().is_some_and(|n| n == *left))
        })
        .collect();
    let mut out: Vec<File> = copied.into_par_iter().map(|file| copy(tree, file)).collect::<Result<_, _>>()?;
    let readme = Path::new(API_README_PATH);
    match tree {
        DataTree::Bundled => out.push((PathBuf::from("readme.md"), BUNDLED_API_README.as_bytes().to_vec())),
        DataTree::Checkout(_) if tree.exists(readme) => {
            out.push((PathBuf::from("readme.md"), read(tree, readme)?.into_owned()));
        }
        DataTree::Checkout(_) => {}
    }
    Ok(out)
}

fn copy(tree: &DataTree, file: &Path) -> Result<File, PublishError> {
    let bytes = read(tree, file)?;
    let target = Path::new("v1").join(file.strip_prefix("data").unwrap_or(file));
    Ok(match file.extension().and_then(|e| e.to_str()) {
        Some("hjson") => (target.with_extension("json"), pyjson::to_compact(&parse(tree, file, &bytes)?)),
        Some("jsonschema") => (target, pyjson::to_line(&parse(tree, file, &bytes)?)),
        _ => (target, bytes.into_owned()),
    })
}
