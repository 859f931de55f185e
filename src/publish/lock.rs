//! The lock: which versions are locked-in, and a fingerprint of what each published.
//!
//! `data/constants/constants.lock` is JSON:
//! `{"format": 1, "subsystems": {"keycodes": {"0.0.1": {"sha256": "...", "entries": {...}}}}}`.
//! `sha256` covers the version's published bytes and decides whether it changed;
//! `entries` holds a short digest per entry (`keycodes/0x7C00`, `ranges/0x0000/0x00FF`,
//! `version`) so that a violation can name what changed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use semver::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Published;
use crate::source::DataTree;
use crate::spec::{Object, Value};

pub const LOCK_PATH: &str = "data/constants/constants.lock";
const FORMAT: u32 = 1;
/// Hex digits kept of each entry's digest: enough to name a change, while `sha256` proves it.
const ENTRY_DIGEST_LEN: usize = 8;
/// Changes listed in one violation before the rest are counted.
const CHANGES_SHOWN: usize = 20;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    format: u32,
    subsystems: BTreeMap<String, BTreeMap<Version, Fingerprint>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fingerprint {
    sha256: String,
    entries: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not a valid lock file: {message}")]
    Invalid { path: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error(
        "the bundled data is read-only: pass --qmk-home with a checkout to lock its versions (this repository's own data: --qmk-home .)"
    )]
    ReadOnly,
    #[error("no subsystem `{0}`")]
    UnknownSubsystem(String),
    #[error("no version {0} in the selected subsystems")]
    UnknownVersion(Version),
    #[error("{}", list(.0))]
    Violations(Vec<Violation>),
}

fn list(violations: &[Violation]) -> String {
    violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// A locked version whose published content is no longer what was locked.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub subsystem: String,
    pub version: Version,
    /// Empty when the version is gone altogether.
    pub changes: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {} {} is locked-in, ", self.subsystem, self.version)?;
        if self.changes.is_empty() {
            return write!(f, "but the data no longer has it");
        }
        write!(f, "but its content changed:")?;
        for change in self.changes.iter().take(CHANGES_SHOWN) {
            write!(f, "\n  {change}")?;
        }
        if self.changes.len() > CHANGES_SHOWN {
            write!(f, "\n  ... and {} more", self.changes.len() - CHANGES_SHOWN)?;
        }
        Ok(())
    }
}

impl LockFile {
    /// The tree's lock file, if it has one.
    pub fn read(tree: &DataTree) -> Result<Option<LockFile>, LockError> {
        let path = Path::new(LOCK_PATH);
        if !tree.exists(path) {
            return Ok(None);
        }
        let shown = tree.display(path);
        let bytes = tree.read(path).map_err(|source| LockError::Read { path: shown.clone(), source })?;
        let lock: LockFile = serde_json::from_slice(&bytes)
            .map_err(|e| LockError::Invalid { path: shown.clone(), message: e.to_string() })?;
        if lock.format != FORMAT {
            let message = format!("format {} is not the supported format {FORMAT}", lock.format);
            return Err(LockError::Invalid { path: shown, message });
        }
        Ok(Some(lock))
    }

    /// The tree's lock file, if it has one, after checking that no locked-in version changed.
    pub fn read_verified(tree: &DataTree, published: &[Published]) -> Result<Option<LockFile>, LockError> {
        let lock = LockFile::read(tree)?;
        if let Some(lock) = &lock {
            let violations = lock.verify(published);
            if !violations.is_empty() {
                return Err(LockError::Violations(violations));
            }
        }
        Ok(lock)
    }

    pub fn is_locked(&self, subsystem: &str, version: &Version) -> bool {
        self.subsystems.get(subsystem).is_some_and(|versions| versions.contains_key(version))
    }

    /// Every locked version whose content differs from what was locked.
    pub fn verify(&self, published: &[Published]) -> Vec<Violation> {
        let mut violations = Vec::new();
        for (subsystem, versions) in &self.subsystems {
            for (version, locked) in versions {
                let current = published.iter().find(|p| &p.subsystem == subsystem && &p.version == version);
                let changes = match current {
                    None => Vec::new(),
                    Some(current) if sha256_hex(&current.bytes) == locked.sha256 => continue,
                    Some(current) => locked.changes_to(current.content),
                };
                violations.push(Violation { subsystem: subsystem.clone(), version: version.clone(), changes });
            }
        }
        violations
    }

    /// Locks the selected versions (all, or one subsystem's, or every version up to
    /// `up_to`, so that master stays a prefix of develop). A locked version that changed
    /// is refused unless `force`. Returns what was newly locked, as `subsystem version`.
    pub fn lock(
        &mut self,
        published: &[Published],
        subsystem: Option<&str>,
        up_to: Option<&Version>,
        force: bool,
    ) -> Result<Vec<String>, LockError> {
        if let Some(name) = subsystem.filter(|name| !published.iter().any(|p| p.subsystem == *name)) {
            return Err(LockError::UnknownSubsystem(name.to_owned()));
        }
        let selected: Vec<&Published> = published
            .iter()
            .filter(|p| subsystem.is_none_or(|name| p.subsystem == name))
            .filter(|p| up_to.is_none_or(|v| &p.version <= v))
            .collect();
        if let Some(v) = up_to.filter(|v| !selected.iter().any(|p| &p.version == *v)) {
            return Err(LockError::UnknownVersion(v.clone()));
        }
        let changed: Vec<Violation> = self
            .verify(published)
            .into_iter()
            .filter(|v| selected.iter().any(|p| p.is(&v.subsystem, &v.version)))
            .collect();
        if !changed.is_empty() && !force {
            return Err(LockError::Violations(changed));
        }
        self.format = FORMAT;
        let mut locked = Vec::new();
        for item in selected {
            let fingerprint = Fingerprint::of(item);
            let versions = self.subsystems.entry(item.subsystem.clone()).or_default();
            if versions.get(&item.version) != Some(&fingerprint) {
                versions.insert(item.version.clone(), fingerprint);
                locked.push(format!("{} {}", item.subsystem, item.version));
            }
        }
        Ok(locked)
    }

    /// Writes the lock into a checkout, replacing the old file in one step.
    pub fn write(&self, tree: &DataTree) -> Result<(), LockError> {
        let root = tree.checkout_root().ok_or(LockError::ReadOnly)?;
        let path = root.join(LOCK_PATH);
        let failed = |source| LockError::Write { path: path.display().to_string(), source };
        let dir = path.parent().unwrap_or(root);
        std::fs::create_dir_all(dir).map_err(failed)?;
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
        std::io::Write::write_all(&mut file, self.to_text().as_bytes()).map_err(failed)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(failed)?;
        }
        file.persist(&path).map_err(|e| failed(e.error))?;
        Ok(())
    }

    /// One line per locked version: a locked line never changes, so the lock's
    /// history shows exactly which versions were locked when.
    fn to_text(&self) -> String {
        let mut text = format!("{{\n  \"format\": {},\n  \"subsystems\": {{", self.format);
        for (s, (subsystem, versions)) in self.subsystems.iter().enumerate() {
            text += if s == 0 { "\n" } else { ",\n" };
            text += &format!("    {}: {{", json(subsystem));
            for (v, (version, fingerprint)) in versions.iter().enumerate() {
                text += if v == 0 { "\n" } else { ",\n" };
                text += &format!("      {}: {}", json(&version.to_string()), json(fingerprint));
            }
            text += "\n    }";
        }
        text + "\n  }\n}\n"
    }
}

impl Fingerprint {
    fn of(published: &Published) -> Fingerprint {
        Fingerprint { sha256: sha256_hex(&published.bytes), entries: entry_digests(published.content) }
    }

    /// What differs between the locked entries and `content`, entry by entry.
    fn changes_to(&self, content: &Object) -> Vec<String> {
        let current = entry_digests(content);
        let mut changes = Vec::new();
        for (entry, digest) in &self.entries {
            match current.get(entry) {
                None => changes.push(format!("{entry} removed")),
                Some(now) if now != digest => changes.push(format!("{entry}{} changed", name_of(content, entry))),
                Some(_) => {}
            }
        }
        for entry in current.keys().filter(|entry| !self.entries.contains_key(*entry)) {
            changes.push(format!("{entry}{} added", name_of(content, entry)));
        }
        if changes.is_empty() {
            changes.push("entry order or formatting changed".to_owned());
        }
        changes
    }
}

/// A digest per entry: each member of an object section, or the section itself.
fn entry_digests(content: &Object) -> BTreeMap<String, String> {
    let mut digests = BTreeMap::new();
    for (section, value) in content.iter() {
        match value {
            Value::Object(members) => {
                for (key, member) in members.iter() {
                    digests.insert(format!("{section}/{key}"), short_digest(member));
                }
            }
            other => {
                digests.insert(section.to_owned(), short_digest(other));
            }
        }
    }
    digests
}

/// ` (QK_BOOT)` for an entry that names itself with `key` or `define`.
fn name_of(content: &Object, entry: &str) -> String {
    let Some((section, key)) = entry.split_once('/') else {
        return String::new();
    };
    content
        .get(section)
        .and_then(|s| s.get(key))
        .and_then(|e| e.get("key").or_else(|| e.get("define")))
        .and_then(Value::as_str)
        .map(|name| format!(" ({name})"))
        .unwrap_or_default()
}

fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("lock data serializes")
}

fn short_digest(value: &Value) -> String {
    let bytes = serde_json::to_vec(value).expect("a JSON value serializes");
    let mut digest = sha256_hex(&bytes);
    digest.truncate(ENTRY_DIGEST_LEN);
    digest
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
