//! The files of a tree that keyboards are built from, each read and parsed once:
//! definitions (`info.json`, `keyboard.json`), `config.h` defines, `rules.mk`
//! text, `<folder>/<folder>.h` layout macros, the community layouts' names, and an
//! index of every file below `keyboards/` for the lookups QMK makes by existence
//! (C sources, readmes, keymaps). Also the reduced form in which `qmk-api import`
//! bundles `config.h` and `rules.mk`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::layout::Layout;
use super::mappings::Mappings;
use super::rules_mk::{Rules, reduce_rules_mk};
use super::{INFO_FILE, KEYBOARDS_DIR, TARGET_FILE};
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Definition,
    ConfigH,
    RulesMk,
    Header,
}

impl<'t> Sources<'t> {
    /// Reads every file below `keyboards/` that a keyboard may be built from.
    pub fn read(tree: &'t DataTree, mappings: Mappings) -> std::io::Result<Sources<'t>> {
        let all = tree.files_below(Path::new(KEYBOARDS_DIR))?;
        let wanted: Vec<(&PathBuf, Kind)> = all
            .iter()
            .filter(|f| !f.components().any(|c| c.as_os_str() == "keymaps"))
            .filter_map(|f| kind(f).map(|k| (f, k)))
            .collect();
        // Each file is parsed as soon as it is read, so that the texts are not all held at once.
        let parsed: Vec<(PathBuf, Read)> = wanted
            .par_iter()
            .map(|(path, kind)| {
                let bytes = tree.read(path)?;
                let text = String::from_utf8_lossy(&bytes);
                let parsed = match kind {
                    Kind::Definition => Read::Definition(parse_definition(tree, path, &text)),
                    Kind::ConfigH => Read::Defines(parse_defines(&text)),
                    Kind::RulesMk => Read::Rules(text.into_owned()),
                    Kind::Header => Read::Header(find_layout_macros(&text)),
                };
                Ok(((*path).clone(), parsed))
            })
            .collect::<std::io::Result<_>>()?;
        let mut sources = Sources {
            tree,
            mappings,
            files: all.into_iter().collect(),
            definitions: HashMap::new(),
            config_h: HashMap::new(),
            rules_mk: HashMap::new(),
            headers: HashMap::new(),
            community_layouts: HashSet::new(),
        };
        for (path, parsed) in parsed {
            match parsed {
                Read::Definition(d) => drop(sources.definitions.insert(path, d)),
                Read::Defines(d) => drop(sources.config_h.insert(path, d)),
                Read::Rules(r) => drop(sources.rules_mk.insert(path, r)),
                Read::Header(h) => drop(sources.headers.insert(path, h)),
            }
        }
        sources.community_layouts = community_layouts(tree)?.into_iter().collect();
        Ok(sources)
    }

    /// The build targets: folders holding a `keyboard.json`, as names.
    pub fn targets(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .definitions
            .keys()
            .filter(|p| p.file_name().is_some_and(|n| n == TARGET_FILE))
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
}

/// What a file below `keyboards/` is to the builder, if anything.
fn kind(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_str()?;
    match name {
        TARGET_FILE | INFO_FILE => Some(Kind::Definition),
        "config.h" => Some(Kind::ConfigH),
        "rules.mk" => Some(Kind::RulesMk),
        _ => {
            let folder = path.parent()?.file_name()?.to_str()?;
            (name.strip_suffix(".h") == Some(folder)).then_some(Kind::Header)
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
