//! The files of a tree that keyboards are built from, each read and parsed once:
//! definitions (`info.json`, `keyboard.json`), `config.h` defines, `rules.mk`
//! text, `<folder>/<folder>.h` layout macros, the community layouts' names, and an
//! index of every file below `keyboards/` for the lookups QMK makes by existence
//! (C sources, readmes, keymaps). Also the reduced form in which `qmk-api import`
//! bundles `config.h` and `rules.mk`.
//!
//! A file that cannot be read (too large, not a regular file, a link out of the tree,
//! unreadable) does not stop the others: it is kept among the [`Sources::problems`], and
//! the keyboards built from it are left out. The files read later (C sources, readmes,
//! JSON keymaps) are checked the same way now, so that what is published later does not
//! fail on them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::layout::Layout;
use super::mappings::Mappings;
use super::rules_mk::{Rules, reduce_rules_mk};
use super::{INFO_FILE, KEYBOARDS_DIR, KEYMAP_JSON, KEYMAPS_DIR, README_FILE, TARGET_FILE};
use crate::c_source::{Defines, MacroLayouts, find_layout_macros, parse_defines, reduce_config_h};
use crate::diagnostic::Diagnostic;
use crate::source::DataTree;
use crate::spec::{Object, Value, hjson};

/// Where QMK looks for a community layout: `layouts/default/<name>`.
pub const COMMUNITY_LAYOUTS_DIR: &str = "layouts/default";
/// Where the bundle, which has no `layouts/`, lists the community layouts' names.
pub const COMMUNITY_LAYOUTS_FACTS: &str = "data/keyboard/community_layouts.json";

/// A definition file as read.
#[derive(Debug, Clone)]
pub enum Definition {
    Parsed(Parsed),
    /// Valid JSON whose root is not an object (QMK reports it as a parse error).
    NotAnObject,
    /// Text that does not parse (QMK stops there).
    Unreadable(Diagnostic),
}

/// A definition object, its layouts read into compact keys at once (they are
/// most of the data, and every keyboard below the file takes them again) and
/// set apart with the layout aliases, which merge differently from the rest.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub info: Object,
    pub layout_aliases: Option<Value>,
    /// `Err` when `layouts` is not an object.
    pub layouts: Option<Result<NamedLayouts, String>>,
}

/// Each layout of a file by name, or why it is unusable.
pub type NamedLayouts = Vec<(String, Result<Layout, String>)>;

pub struct Sources<'t> {
    pub tree: &'t DataTree,
    pub mappings: Mappings,
    files: HashSet<PathBuf>,
    definitions: HashMap<PathBuf, Definition>,
    config_h: HashMap<PathBuf, Defines>,
    rules_mk: HashMap<PathBuf, String>,
    headers: HashMap<PathBuf, MacroLayouts>,
    community_layouts: HashSet<String>,
    /// Files below `keyboards/` that cannot be read, and why (links to folders out of the tree too).
    problems: BTreeMap<PathBuf, String>,
    /// Which of the problems are links to folders out of the tree, which were not walked.
    folders_refused: HashSet<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Definition,
    ConfigH,
    RulesMk,
    Header,
    /// Read later, when the keyboard is built or published: checked now.
    Later,
}

impl<'t> Sources<'t> {
    /// Reads every file below the `folders` of `keyboards/` (all of it when they are
    /// `keyboards/` itself) that a keyboard may be built from.
    pub fn read(tree: &'t DataTree, mappings: Mappings, folders: &[PathBuf]) -> std::io::Result<Sources<'t>> {
        let (mut all, mut refused) = (Vec::new(), Vec::new());
        for folder in folders {
            let listing = tree.walk(folder)?;
            all.extend(listing.files);
            refused.extend(listing.refused);
        }
        let wanted: Vec<(&PathBuf, Kind)> = all.iter().filter_map(|f| to_read(f).map(|k| (f, k))).collect();
        // Each file is parsed as soon as it is read, so that the texts are not all held at once.
        let parsed: Vec<(PathBuf, std::io::Result<Read>)> = wanted
            .par_iter()
            .map(|(path, kind)| {
                let read = || {
                    if *kind == Kind::Later {
                        return tree.check_readable(path).map(|()| Read::Later);
                    }
                    let bytes = tree.read(path)?;
                    let text = String::from_utf8_lossy(&bytes);
                    Ok(match kind {
                        Kind::Definition => Read::Definition(parse_definition(tree, path, &text)),
                        Kind::ConfigH => Read::Defines(parse_defines(&text)),
                        Kind::RulesMk => Read::Rules(text.into_owned()),
                        Kind::Header => Read::Header(find_layout_macros(&text)),
                        Kind::Later => Read::Later,
                    })
                };
                ((*path).clone(), read())
            })
            .collect();
        let mut sources = Sources {
            tree,
            mappings,
            files: all.into_iter().collect(),
            definitions: HashMap::new(),
            config_h: HashMap::new(),
            rules_mk: HashMap::new(),
            headers: HashMap::new(),
            community_layouts: HashSet::new(),
            folders_refused: refused.iter().map(|(path, _)| path.clone()).collect(),
            problems: refused.into_iter().map(|(path, error)| (path, error.to_string())).collect(),
        };
        for (path, parsed) in parsed {
            match parsed {
                Ok(Read::Definition(d)) => drop(sources.definitions.insert(path, d)),
                Ok(Read::Defines(d)) => drop(sources.config_h.insert(path, d)),
                Ok(Read::Rules(r)) => drop(sources.rules_mk.insert(path, r)),
                Ok(Read::Header(h)) => drop(sources.headers.insert(path, h)),
                Ok(Read::Later) => {}
                Err(error) => drop(sources.problems.insert(path, error.to_string())),
            }
        }
        sources.community_layouts = community_layouts(tree)?.into_iter().collect();
        Ok(sources)
    }

    /// The build targets: folders holding a `keyboard.json` (one that cannot be read too), as names.
    pub fn targets(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .files
            .iter()
            .filter(|p| p.file_name().is_some_and(|n| n == TARGET_FILE) && !in_keymaps(p))
            .filter_map(|p| p.parent()?.strip_prefix(KEYBOARDS_DIR).ok())
            .map(|folder| folder.to_string_lossy().replace('\\', "/"))
            .collect();
        names.sort();
        names
    }

    pub fn exists(&self, path: &Path) -> bool {
        self.files.contains(path)
    }

    /// Every file below `keyboards/`.
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        self.files.iter()
    }

    pub fn definition(&self, path: &Path) -> Option<&Definition> {
        self.definitions.get(path)
    }

    pub fn defines(&self, path: &Path) -> Option<&Defines> {
        self.config_h.get(path)
    }

    pub fn rules_text(&self, path: &Path) -> Option<&str> {
        self.rules_mk.get(path).map(String::as_str)
    }

    pub fn header(&self, path: &Path) -> Option<&MacroLayouts> {
        self.headers.get(path)
    }

    /// Files below `keyboards/` that cannot be read, with why.
    pub fn problems(&self) -> &BTreeMap<PathBuf, String> {
        &self.problems
    }

    /// Whether a problem is a link to a folder out of the tree, which was not walked.
    pub fn is_refused_folder(&self, path: &Path) -> bool {
        self.folders_refused.contains(path)
    }

    pub fn has_community_layout(&self, name: &str) -> bool {
        self.community_layouts.contains(name)
    }

    /// A C source, read when asked for (few keyboards need theirs).
    pub fn read_text(&self, path: &Path) -> Option<String> {
        self.exists(path).then(|| self.tree.read(path).ok()).flatten().map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

/// The community layouts' names, sorted: the folders of a tree's `layouts/default`,
/// or the list `qmk-api import` recorded in the bundle.
pub fn community_layouts(tree: &DataTree) -> std::io::Result<Vec<String>> {
    match tree {
        DataTree::Checkout(_) => {
            let entries = tree.list(Path::new(COMMUNITY_LAYOUTS_DIR))?;
            Ok(entries.into_iter().filter(|e| e.is_dir).map(|e| e.name).collect())
        }
        DataTree::Bundled => {
            let facts = Path::new(COMMUNITY_LAYOUTS_FACTS);
            serde_json::from_slice(&tree.read(facts)?).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", tree.display(facts)))
            })
        }
    }
}

/// A `config.h` or `rules.mk` reduced to what the builder reads from it (comments,
/// licence headers, blank lines and other lines dropped), checked to read the same
/// as the whole file. `Err` says why it cannot be.
pub fn reduce_settings(path: &Path, text: &str) -> Result<String, String> {
    let (reduced, same) = match kind(path) {
        Some(Kind::ConfigH) => {
            let reduced = reduce_config_h(text);
            let same = parse_defines(&reduced) == parse_defines(text);
            (reduced, same)
        }
        Some(Kind::RulesMk) => {
            let reduced = reduce_rules_mk(text);
            let same = Rules::of(&reduced) == Rules::of(text);
            (reduced, same)
        }
        _ => return Err("only a config.h or a rules.mk is bundled reduced".into()),
    };
    if same {
        Ok(reduced)
    } else {
        Err("its comments hide or make up settings: reduced, it would read differently".into())
    }
}

enum Read {
    Definition(Definition),
    Defines(Defines),
    Rules(String),
    Header(MacroLayouts),
    Later,
}

/// Whether a path lies in a `keymaps` folder.
fn in_keymaps(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == KEYMAPS_DIR)
}

/// What a file below `keyboards/` is to the builder, if anything: what it reads now,
/// and what it reads later (`<folder>.c` for an LED table, readmes, JSON keymaps).
fn to_read(path: &Path) -> Option<Kind> {
    if !in_keymaps(path) {
        return kind(path);
    }
    let in_keymap_folder = path.parent()?.parent()?.file_name()? == KEYMAPS_DIR;
    (path.file_name()? == KEYMAP_JSON && in_keymap_folder).then_some(Kind::Later)
}

/// What a file is to the builder by its name, wherever it is.
fn kind(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_str()?;
    match name {
        TARGET_FILE | INFO_FILE => Some(Kind::Definition),
        "config.h" => Some(Kind::ConfigH),
        "rules.mk" => Some(Kind::RulesMk),
        README_FILE => Some(Kind::Later),
        _ => {
            let folder = path.parent()?.file_name()?.to_str()?;
            let stem = name.strip_suffix(".h").map(|s| (s, Kind::Header));
            let (stem, kind) = stem.or_else(|| name.strip_suffix(".c").map(|s| (s, Kind::Later)))?;
            (stem == folder).then_some(kind)
        }
    }
}

fn parse_definition(tree: &DataTree, path: &Path, text: &str) -> Definition {
    match hjson::parse(text) {
        Ok(Value::Object(mut info)) => {
            let layout_aliases = info.shift_remove("layout_aliases");
            let layouts = info.shift_remove("layouts").map(|layouts| match layouts {
                Value::Object(layouts) => {
                    Ok(layouts.into_iter().map(|(name, layout)| (name.to_string(), Layout::read(&layout))).collect())
                }
                other => Err(format!("`layouts` must be an object, not {}", other.kind())),
            });
            Definition::Parsed(Parsed { info, layout_aliases, layouts })
        }
        Ok(_) => Definition::NotAnObject,
        Err(e) => Definition::Unreadable(
            Diagnostic::error(e.message).in_file(tree.display(path)).at_line(e.line).at_column(e.column),
        ),
    }
}
