//! `qmk-api import`: the bundled `data/` is written from a QMK tree by this code,
//! never copied by hand. Files keep QMK's names and layout; their content is
//! normalized (comments and formatting dropped, order kept) and checked on the way.

use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostics;
use crate::output::Staging;
use crate::publish::LOCK_PATH;
use crate::source::DataTree;
use crate::spec::{self, CONSTANTS_DIR};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("no spec files under {0}")]
    Empty(String),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub spec_files: usize,
    pub spec_bytes: u64,
}

/// Replaces `data_dir/constants` with the normalized spec files of `from`,
/// keeping the destination's lock file. Nothing is written unless every file parses.
pub fn import_constants(from: &DataTree, data_dir: &Path) -> Result<Imported, ImportError> {
    let mut diagnostics = Diagnostics::default();
    let read_failed = |path: &Path| {
        let path = from.display(path);
        move |source| ImportError::Read { path, source }
    };
    let files = spec::discover(from, &mut diagnostics).map_err(read_failed(Path::new(CONSTANTS_DIR)))?;
    if files.is_empty() && diagnostics.is_empty() {
        return Err(ImportError::Empty(from.display(Path::new(CONSTANTS_DIR))));
    }
    let mut normalized = Vec::new();
    for file in &files {
        let bytes = from.read(&file.path).map_err(read_failed(&file.path))?;
        match spec::hjson::parse(&String::from_utf8_lossy(&bytes)) {
            Ok(value) => {
                let mut text = serde_json::to_vec_pretty(&value).expect("a JSON value serializes");
                text.push(b'\n');
                normalized.push((file.path.strip_prefix("data").unwrap_or(&file.path).to_owned(), text));
            }
            Err(e) => diagnostics.push(
                crate::diagnostic::Diagnostic::error(e.message)
                    .in_file(from.display(&file.path))
                    .at_line(e.line)
                    .at_column(e.column),
            ),
        }
    }
    if diagnostics.has_errors() {
        return Err(ImportError::Invalid(diagnostics));
    }

    let target = data_dir.join("constants");
    let write_failed = |path: PathBuf| move |source| ImportError::Write { path: path.display().to_string(), source };
    let staging = Staging::new(&target).map_err(write_failed(target.clone()))?;
    for (relative, text) in &normalized {
        let inside = relative.strip_prefix("constants").unwrap_or(relative);
        staging.write(inside, text).map_err(write_failed(data_dir.join(relative)))?;
    }
    let lock = data_dir.join(Path::new(LOCK_PATH).strip_prefix("data").unwrap_or(Path::new(LOCK_PATH)));
    if lock.exists() {
        let bytes = std::fs::read(&lock).map_err(write_failed(lock.clone()))?;
        staging.write(lock.strip_prefix(&target).unwrap_or(&lock), &bytes).map_err(write_failed(lock.clone()))?;
    }
    staging.commit().map_err(write_failed(target))?;
    Ok(Imported {
        spec_files: normalized.len(),
        spec_bytes: normalized.iter().map(|(_, text)| text.len() as u64).sum(),
    })
}
