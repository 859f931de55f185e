//! The static JSON API of keyboards.qmk.fm, one tree per channel:
//! `<channel>/v1/constants_metadata.json` and `<channel>/v1/constants/<subsystem>_<version>.json`,
//! the keyboards (see [`keyboards`]) and the copy of QMK's `data/` (see [`data_copy`]).
//!
//! **master** publishes the locked-in versions, **develop** every version.

mod data_copy;
pub mod keyboards;
pub mod lock;
pub mod pyjson;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use semver::Version;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::keyboard::Keyboards;
use crate::output::Staging;
use crate::source::DataTree;
use crate::spec::{Constants, Object, SpecError, hjson};

pub use lock::{LOCK_PATH, LockError, LockFile, Violation};

/// The environment variable reproducible builds set to fix their clock.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Master,
    Develop,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Master, Channel::Develop];

    pub fn name(self) -> &'static str {
        match self {
            Channel::Master => "master",
            Channel::Develop => "develop",
        }
    }
}

/// One version's published file.
#[derive(Debug, Clone)]
pub struct Published<'a> {
    pub subsystem: String,
    pub version: Version,
    pub content: &'a Object,
    pub bytes: Vec<u8>,
}

impl Published<'_> {
    pub fn is(&self, subsystem: &str, version: &Version) -> bool {
        self.subsystem == subsystem && &self.version == version
    }

    /// Its path inside a channel.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("v1/constants/{}_{}.json", self.subsystem, self.version))
    }
}

/// Renders every version of every subsystem as QMK's API publishes it.
pub fn render(constants: &Constants) -> Vec<Published<'_>> {
    let versions: Vec<_> =
        constants.subsystems.iter().flat_map(|s| s.versions.iter().map(move |v| (s.name.as_str(), v))).collect();
    versions
        .into_par_iter()
        .map(|(subsystem, v)| Published {
            subsystem: subsystem.to_owned(),
            version: v.version.clone(),
            content: &v.content,
            bytes: pyjson::to_indented(&v.content),
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Unreadable { path: String, message: String },
    #[error("{SOURCE_DATE_EPOCH} must be whole seconds since 1970 within the calendar: `{0}`")]
    Timestamp(String),
}

/// What was published: every version once, and which versions each channel holds.
pub struct Publication<'c> {
    pub published: Vec<Published<'c>>,
    /// For each channel, indexes into `published`, in subsystem then version order.
    channels: Vec<(Channel, Vec<usize>)>,
    /// Set when the tree has no lock file, so that every version counted as locked-in.
    pub unlocked: Option<String>,
}

impl<'c> Publication<'c> {
    /// The versions a channel publishes.
    pub fn in_channel(&self, channel: Channel) -> impl Iterator<Item = &Published<'c>> {
        let indexes = self.channels.iter().find(|(c, _)| *c == channel).map(|(_, i)| i.as_slice()).unwrap_or_default();
        indexes.iter().map(|&i| &self.published[i])
    }

    /// Whether master publishes this version too (a develop-only version may still change).
    pub fn is_locked_in(&self, item: &Published) -> bool {
        self.in_channel(Channel::Master).any(|p| p.is(&item.subsystem, &item.version))
    }
}

/// Writes the JSON API of both channels into `staging`, after checking the
/// constants against the tree's lock.
pub fn write<'c>(
    staging: &Staging,
    tree: &DataTree,
    constants: &'c Constants,
    keyboards: &Keyboards,
    last_updated: OffsetDateTime,
) -> Result<Publication<'c>, PublishError> {
    let published = render(constants);
    let keyboard_files = keyboards::render(keyboards, tree, &format_timestamp(last_updated))?;
    let data_files = data_copy::render(tree)?;
    let lock = LockFile::read_verified(tree, &published)?;
    let mut channels = Vec::new();
    let mut files: Vec<(PathBuf, Cow<[u8]>)> = Vec::new();
    for channel in Channel::ALL {
        let in_channel: Vec<usize> = (0..published.len())
            .filter(|&i| {
                let p = &published[i];
                channel == Channel::Develop || lock.as_ref().is_none_or(|l| l.is_locked(&p.subsystem, &p.version))
            })
            .collect();
        let root = Path::new(channel.name());
        let items: Vec<&Published> = in_channel.iter().map(|&i| &published[i]).collect();
        files.extend(items.iter().map(|item| (root.join(item.path()), Cow::Borrowed(item.bytes.as_slice()))));
        files.push((root.join("v1/constants_metadata.json"), Cow::Owned(metadata(&items, last_updated))));
        let shared = keyboard_files.iter().chain(&data_files);
        files.extend(shared.map(|(path, bytes)| (root.join(path), Cow::Borrowed(bytes.as_slice()))));
        channels.push((channel, in_channel));
    }
    files.par_iter().try_for_each(|(path, bytes)| {
        staging.write(path, bytes).map_err(|source| PublishError::Write { path: path.display().to_string(), source })
    })?;
    drop(files);
    let unlocked = lock.is_none().then(|| tree.display(Path::new(LOCK_PATH)));
    Ok(Publication { published, channels, unlocked })
}

/// `{"last_updated": ..., "constants": {"keycodes": ["0.0.1", ...]}}`, on one line as QMK writes it.
fn metadata(published: &[&Published], last_updated: OffsetDateTime) -> Vec<u8> {
    let mut constants = Map::new();
    for item in published {
        let versions = constants.entry(item.subsystem.clone()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(versions) = versions {
            versions.push(Value::String(item.version.to_string()));
        }
    }
    pyjson::to_line(&json!({"last_updated": format_timestamp(last_updated), "constants": constants}))
}

/// A file of the tree, its path in the error when it cannot be read.
fn read(tree: &DataTree, path: &Path) -> Result<Cow<'static, [u8]>, PublishError> {
    tree.read(path).map_err(|source| PublishError::Read { path: tree.display(path), source })
}

/// A JSON or hjson file of the tree as read by [`read`].
fn parse(tree: &DataTree, path: &Path, bytes: &[u8]) -> Result<crate::spec::Value, PublishError> {
    hjson::parse(&String::from_utf8_lossy(bytes))
        .map_err(|e| PublishError::Unreadable { path: tree.display(path), message: e.to_string() })
}

/// `2026-08-10 00:00:00 GMT`.
pub fn format_timestamp(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] GMT");
    at.to_offset(time::UtcOffset::UTC).format(&format).expect("a UTC time formats")
}

/// The build's clock: `SOURCE_DATE_EPOCH` when set, else now.
pub fn build_time(source_date_epoch: Option<&str>) -> Result<OffsetDateTime, PublishError> {
    match source_date_epoch.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(OffsetDateTime::now_utc()),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
            .ok_or_else(|| PublishError::Timestamp(raw.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_like_qmk() {
        let at = build_time(Some("1786320000")).unwrap();
        assert_eq!(format_timestamp(at), "2026-08-10 00:00:00 GMT");
        assert!(build_time(Some("yesterday")).is_err());
        assert!(build_time(Some("99999999999999999")).is_err());
    }
}
