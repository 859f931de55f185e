//! The definitions of QMK's keycode headers that `keymap.c` gets by default
//! (`LT()`, `KC_MEH`, `OS_LSFT`, `SAFE_RANGE`...): read from a qmk_firmware
//! checkout's headers, else from the facts `qmk-api import` wrote into the data.
//!
//! `keycodes.h` and `keymap_us.h` are generated from the spec files, which the
//! keycodes of each version come from directly, so they are not read here.

use std::path::Path;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::c::{self, Definition};
use crate::source::DataTree;

/// The headers holding QMK's keycode macros, in the order `quantum_keycodes.h` includes them.
pub const HEADERS: &[&str] = &[
    "quantum/modifiers.h",
    "quantum/keycode.h",
    "quantum/quantum_keycodes.h",
    "quantum/sequencer/sequencer.h",
    "quantum/quantum_keycodes_legacy.h",
];

/// Where `import` keeps the headers' definitions in a data directory.
pub const FACTS_PATH: &str = "data/keymap/c_headers.json";

/// The facts file: which headers were read and what they define.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderFacts {
    pub headers: Vec<String>,
    pub definitions: Vec<Definition>,
}

static BUNDLED: LazyLock<HeaderFacts> = LazyLock::new(|| {
    let bytes = DataTree::Bundled.read(Path::new(FACTS_PATH)).expect("the bundled data has the C header facts");
    serde_json::from_slice(&bytes).expect("the bundled C header facts are valid")
});

/// The definitions bundled in the binary.
pub fn bundled() -> &'static [Definition] {
    &BUNDLED.definitions
}

/// The headers of a qmk_firmware checkout, scanned; `None` for a tree without them.
/// A header that is there but cannot be read (a link out of the tree...) is an error:
/// the header as shown, and why.
pub fn scan(tree: &DataTree) -> Result<Option<HeaderFacts>, (String, std::io::Error)> {
    let mut facts = HeaderFacts::default();
    for header in HEADERS {
        let bytes = match tree.read(Path::new(header)) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err((tree.display(Path::new(header)), error)),
        };
        facts.headers.push((*header).to_owned());
        for definition in
            c::scan(&String::from_utf8_lossy(&bytes)).definitions.into_iter().filter(Definition::is_expression)
        {
            if !facts.definitions.iter().any(|d| d.name == definition.name) {
                facts.definitions.push(definition);
            }
        }
    }
    Ok((!facts.headers.is_empty()).then_some(facts))
}

/// The definitions for a tree: its headers, else its own facts file, else the bundled ones.
pub fn load(tree: &DataTree) -> Vec<Definition> {
    if let Ok(Some(facts)) = scan(tree) {
        return facts.definitions;
    }
    let facts =
        tree.read(Path::new(FACTS_PATH)).ok().and_then(|bytes| serde_json::from_slice::<HeaderFacts>(&bytes).ok());
    facts.map_or_else(|| bundled().to_vec(), |f| f.definitions)
}
