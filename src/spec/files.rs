//! Finding the spec files of every subsystem and reading their names.
//!
//! `constants/<name>/<name>_<version>[_<fragment>].hjson` belongs to subsystem `<name>`;
//! `constants/<name>/extras/<name>_<extra>_<version>[_<fragment>].hjson` to `<name>_<extra>`.
//! A folder with no `<name>_*.hjson` file at all holds other data: skipped silently
//! when its files are named by version alone (a qmk_firmware checkout keeps
//! `module_hooks/<version>.hjson` there), else with a warning (a subsystem's files
//! misnamed, perhaps).

use std::path::{Path, PathBuf};

use semver::Version;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::source::DataTree;

pub const CONSTANTS_DIR: &str = "data/constants";
const EXTRAS_DIR: &str = "extras";

/// One spec file, identified by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecFile {
    pub subsystem: String,
    pub version: Version,
    /// `None` for a version's base file.
    pub fragment: Option<String>,
    /// Relative to the data tree's root.
    pub path: PathBuf,
}

/// Every spec file in the tree, in a stable order; names that cannot be read are reported.
pub fn discover(tree: &DataTree, diagnostics: &mut Diagnostics) -> std::io::Result<Vec<SpecFile>> {
    let root = Path::new(CONSTANTS_DIR);
    let mut files = Vec::new();
    for family in tree.list(root)?.into_iter().filter(|e| e.is_dir) {
        let dir = root.join(&family.name);
        let prefix = format!("{}_", family.name);
        let entries = tree.list(&dir)?;
        if !entries.iter().any(|e| !e.is_dir && e.name.starts_with(&prefix) && e.name.ends_with(".hjson")) {
            let versioned = |name: &str| name.strip_suffix(".hjson").is_some_and(|v| Version::parse(v).is_ok());
            if !entries.iter().filter(|e| !e.is_dir).all(|e| versioned(&e.name)) {
                let message = format!("no {prefix}<version>.hjson file: not a constants subsystem, skipped");
                diagnostics.push(Diagnostic::warning(message).in_file(tree.display(&dir)));
            }
            continue;
        }
        collect(tree, &dir, &family.name, false, &mut files, diagnostics)?;
        collect(tree, &dir.join(EXTRAS_DIR), &family.name, true, &mut files, diagnostics)?;
    }
    Ok(files)
}

fn collect(
    tree: &DataTree,
    dir: &Path,
    family: &str,
    extras: bool,
    files: &mut Vec<SpecFile>,
    diagnostics: &mut Diagnostics,
) -> std::io::Result<()> {
    for entry in tree.list(dir)? {
        let Some(stem) = entry.name.strip_suffix(".hjson").filter(|_| !entry.is_dir) else {
            continue;
        };
        let path = dir.join(&entry.name);
        match parse_name(stem, family, extras) {
            Ok((subsystem, version, fragment)) => files.push(SpecFile { subsystem, version, fragment, path }),
            Err(message) => diagnostics.push(Diagnostic::error(message).in_file(tree.display(&path)).at_line(Some(1))),
        }
    }
    Ok(())
}

/// Splits a file stem into subsystem, version and fragment.
fn parse_name(stem: &str, family: &str, extras: bool) -> Result<(String, Version, Option<String>), String> {
    let expected = if extras {
        format!("expected {family}_<extra>_<version>[_<fragment>].hjson")
    } else {
        format!("expected {family}_<version>[_<fragment>].hjson")
    };
    let rest = stem
        .strip_prefix(family)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or_else(|| format!("file name `{stem}.hjson` does not start with `{family}_`: {expected}"))?;
    let parts: Vec<&str> = rest.split('_').collect();
    let at = parts
        .iter()
        .position(|p| p.starts_with(|c: char| c.is_ascii_digit()))
        .ok_or_else(|| format!("file name `{stem}.hjson` has no version: {expected}"))?;
    let (extra, version, fragment) = (&parts[..at], parts[at], &parts[at + 1..]);
    if extras == extra.is_empty() || extra.iter().any(|p| p.is_empty()) {
        return Err(format!("file name `{stem}.hjson` does not fit its folder: {expected}"));
    }
    let version = Version::parse(version)
        .map_err(|e| format!("unparseable version `{version}` in file name `{stem}.hjson`: {e}"))?;
    let subsystem = if extras { format!("{family}_{}", extra.join("_")) } else { family.to_owned() };
    let fragment = (!fragment.is_empty()).then(|| fragment.join("_"));
    if fragment.as_deref() == Some("") {
        return Err(format!("file name `{stem}.hjson` has an empty fragment name: {expected}"));
    }
    Ok((subsystem, version, fragment))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn reads_base_fragment_and_extra_names() {
        assert_eq!(parse_name("keycodes_0.0.1", "keycodes", false), Ok(("keycodes".into(), v("0.0.1"), None)));
        assert_eq!(
            parse_name("keycodes_0.0.1_programmable_button", "keycodes", false),
            Ok(("keycodes".into(), v("0.0.1"), Some("programmable_button".into())))
        );
        assert_eq!(
            parse_name("keycodes_us_international_linux_0.0.10", "keycodes", true),
            Ok(("keycodes_us_international_linux".into(), v("0.0.10"), None))
        );
    }

    #[test]
    fn rejects_bad_names() {
        assert!(parse_name("keycodes_0.0.x", "keycodes", false).unwrap_err().contains("unparseable version `0.0.x`"));
        assert!(parse_name("keycodes_1.2", "keycodes", false).unwrap_err().contains("unparseable version"));
        assert!(parse_name("keycodes_latest", "keycodes", false).unwrap_err().contains("no version"));
        assert!(parse_name("keycodes_german_0.0.1", "keycodes", false).unwrap_err().contains("does not fit"));
        assert!(parse_name("keycodes_0.0.1", "keycodes", true).unwrap_err().contains("does not fit"));
        assert!(parse_name("other_0.0.1", "keycodes", false).unwrap_err().contains("does not start with"));
        assert!(parse_name("keycodes_0.0.1_", "keycodes", false).unwrap_err().contains("empty fragment"));
    }
}
