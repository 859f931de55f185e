//! The build, as one pipeline into one output tree: the JSON API of both channels,
//! then the site's pages from the same data; the tree replaces the old output only
//! when every step succeeded.

use std::path::Path;

use indicatif::ProgressBar;
use time::OffsetDateTime;

use crate::keyboard::Keyboards;
use crate::keymap::Keycodes;
use crate::output::{Staging, Written};
use crate::publish::{self, Channel, PublishError};
use crate::site::{self, SiteError};
use crate::source::DataTree;
use crate::spec::Constants;

/// What a build did, for its summary line.
#[derive(Debug)]
pub struct BuildReport {
    /// How many versions each channel published.
    pub channels: Vec<(Channel, usize)>,
    pub keyboards: usize,
    pub pages: usize,
    pub written: Written,
    /// Set when the tree has no lock file, so that every version counted as locked-in.
    pub unlocked: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Site(#[from] SiteError),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// What a build writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outputs {
    /// The JSON API and the site's pages.
    Everything,
    /// The JSON API only.
    JsonOnly,
}

/// Publishes (and renders, unless `JsonOnly`) everything loaded from `tree` into
/// `out`, advancing `progress` as it goes (`ProgressBar::hidden()` for none).
pub fn build(
    tree: &DataTree,
    constants: &Constants,
    keyboards: &Keyboards,
    out: &Path,
    last_updated: OffsetDateTime,
    outputs: Outputs,
    progress: &ProgressBar,
) -> Result<BuildReport, BuildError> {
    let failed = |source| BuildError::Write { path: out.display().to_string(), source };
    let staging = Staging::new(out).map_err(failed)?;
    progress.set_message("publishing the JSON API");
    let publication = publish::write(&staging, tree, constants, keyboards, last_updated)?;
    let pages = match outputs {
        Outputs::Everything => {
            progress.set_message("rendering pages");
            // Keyboard pages draw their JSON keymaps with the newest keycodes.
            let keycodes = Keycodes::for_tree(constants, None, tree).ok();
            site::render(&staging, &publication, keyboards, tree, keycodes.as_ref(), last_updated, progress)?
        }
        Outputs::JsonOnly => 0,
    };
    progress.set_message("replacing the output");
    let channels = Channel::ALL.iter().map(|&c| (c, publication.in_channel(c).count())).collect();
    let unlocked = publication.unlocked.clone();
    drop(publication);
    let written = staging.commit().map_err(failed)?;
    Ok(BuildReport { channels, keyboards: keyboards.len(), pages, written, unlocked })
}
