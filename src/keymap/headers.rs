//! The definitions of QMK's keycode headers that `keymap.c` gets by default
//! (`LT()`, `KC_MEH`, `OS_LSFT`, `SAFE_RANGE`...): read from a qmk_firmware
//! checkout's headers, else from the facts `qmk-api import` wrote into the data.
//!
//! `keycodes.h` and `keymap_us.h` are generated from the spec files, which the
//! keycodes of each version come from directly, so they are not read here.

use std::collections::BTreeMap;
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

/// The headers QMK's build adds for a feature that define keycodes: `quantum.h`
/// includes them when the feature is on (`STENO_ENABLE` → `process_steno.h` →
/// `steno_keycodes.h`), so a keymap has their names when its keyboard or itself turns
/// the feature on. Each entry: the feature's key under `features`, the other info key
/// QMK's `info_rules.hjson` maps its `_ENABLE` to, and the header. Among QMK's headers
/// only these and [`HEADERS`] declare keycodes from QMK's ranges (a test checks this
/// against a tree).
pub const FEATURE_HEADERS: &[(&str, &str, &str)] = &[("steno", "stenography.enabled", "quantum/steno_keycodes.h")];

/// Where `import` keeps the headers' definitions in a data directory.
pub const FACTS_PATH: &str = "data/keymap/c_headers.json";

/// The facts file: which headers were read and what they define; a feature's
/// headers apart, by feature.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderFacts {
    pub headers: Vec<String>,
    pub definitions: Vec<Definition>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub features: BTreeMap<String, Vec<Definition>>,
}

static BUNDLED: LazyLock<HeaderFacts> = LazyLock::new(|| {
    let bytes = DataTree::Bundled.read(Path::new(FACTS_PATH)).expect("the bundled data has the C header facts");
    serde_json::from_slice(&bytes).expect("the bundled C header facts are valid")
});

/// The facts bundled in the binary.
pub fn bundled() -> &'static HeaderFacts {
    &BUNDLED
}

/// The headers of a qmk_firmware checkout, scanned; `None` for a tree without them.
/// A header that is there but cannot be read (a link out of the tree...) is an error:
/// the header as shown, and why.
pub fn scan(tree: &DataTree) -> Result<Option<HeaderFacts>, (String, std::io::Error)> {
    let mut facts = HeaderFacts::default();
    for header in HEADERS {
        let Some(definitions) = read(tree, header)? else { continue };
        facts.headers.push((*header).to_owned());
        for definition in definitions {
            if !facts.definitions.iter().any(|d| d.name == definition.name) {
                facts.definitions.push(definition);
            }
        }
    }
    if facts.headers.is_empty() {
        return Ok(None);
    }
    for (feature, _, header) in FEATURE_HEADERS {
        if let Some(definitions) = read(tree, header)? {
            facts.headers.push((*header).to_owned());
            facts.features.insert((*feature).to_owned(), definitions);
        }
    }
    Ok(Some(facts))
}

/// The C expressions a header defines; `None` for a header that is not there.
fn read(tree: &DataTree, header: &str) -> Result<Option<Vec<Definition>>, (String, std::io::Error)> {
    let bytes = match tree.read(Path::new(header)) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err((tree.display(Path::new(header)), error)),
    };
    let definitions = c::scan(&String::from_utf8_lossy(&bytes)).definitions;
    Ok(Some(definitions.into_iter().filter(Definition::is_expression).collect()))
}

/// The facts for a tree: its headers, else its own facts file, else the bundled ones.
pub fn load(tree: &DataTree) -> HeaderFacts {
    if let Ok(Some(facts)) = scan(tree) {
        return facts;
    }
    let facts =
        tree.read(Path::new(FACTS_PATH)).ok().and_then(|bytes| serde_json::from_slice::<HeaderFacts>(&bytes).ok());
    facts.unwrap_or_else(|| bundled().clone())
}
