//! What QMK's data says about the settings a keyboard has, and so about what a
//! keymap's `config` may hold: QMK's JSON schemas (the keymap schema takes `config`
//! to be a keyboard definition), which settings QMK's generators write into
//! `config.h` and `rules.mk` and as what (the mapping files), and the community
//! modules a keymap may name.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use super::KeyboardError;
use super::mappings::{Mapping, Mappings};
use crate::schema::Schemas;
use crate::source::DataTree;

/// Where QMK keeps community modules: `modules/<owner>/<name>/qmk_module.json`.
const MODULES_DIR: &str = "modules";
const MODULE_FILE: &str = "qmk_module.json";

#[derive(Debug)]
pub struct Settings {
    pub schemas: Schemas,
    /// `config.h` defines and the info.json keys they come from (`info_config.hjson`).
    pub config_h: Vec<Mapping>,
    /// `rules.mk` settings and their info.json keys (`info_rules.hjson`).
    pub rules_mk: Vec<Mapping>,
    pub modules: Modules,
}

/// The community modules a keymap may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modules {
    /// A tree's: each folder below `modules/` with a `qmk_module.json`, by its path
    /// there (`qmk/hello_world`), as QMK's CLI finds them.
    Tree(BTreeSet<String>),
    /// The bundled data holds no modules: a name is only held to a module name's shape.
    Unlisted,
}

static BUNDLED: LazyLock<Arc<Settings>> = LazyLock::new(|| {
    Arc::new(Settings::load(&DataTree::Bundled).expect("the bundled schemas and mapping files are valid"))
});

impl Settings {
    /// The settings of `tree`: its schemas, mapping files and modules.
    pub fn load(tree: &DataTree) -> Result<Settings, KeyboardError> {
        Settings::with_mappings(tree, &Mappings::load(tree)?)
    }

    /// The bundled data's settings, read once.
    pub fn bundled() -> Arc<Settings> {
        Arc::clone(&BUNDLED)
    }

    /// The settings of `tree`, with its mapping files already read.
    pub(super) fn with_mappings(tree: &DataTree, mappings: &Mappings) -> Result<Settings, KeyboardError> {
        Ok(Settings {
            schemas: Schemas::load(tree)?,
            config_h: mappings.config_h.clone(),
            rules_mk: mappings.rules_mk.clone(),
            modules: Modules::find(tree)?,
        })
    }
}

impl Modules {
    /// The modules of a tree that has a `modules/` folder; `Unlisted` for one without.
    fn find(tree: &DataTree) -> Result<Modules, KeyboardError> {
        let folder = Path::new(MODULES_DIR);
        if tree.checkout_root().is_none() || !tree.exists(folder) {
            return Ok(Modules::Unlisted);
        }
        let files =
            tree.files_below(folder).map_err(|source| KeyboardError::Io { path: tree.display(folder), source })?;
        let names = files
            .iter()
            .filter(|file| file.file_name().is_some_and(|name| name == MODULE_FILE))
            .filter_map(|file| file.parent()?.strip_prefix(folder).ok()?.to_str().map(str::to_owned));
        Ok(Modules::Tree(names.collect()))
    }
}
