//! keymap.c → keymap JSON, measured against QMK: its own `c2json` over the tree's
//! keymap.c files, and the round trip of its real keymap.json through json2c.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use qmk_api::convert::{self, Input, c::CKeymap};
use qmk_api::keyboard::Keyboards;
use qmk_api::keymap::{Context, Keycodes};
use qmk_api::source::DataTree;

/// Every keymap.c below the tree's keyboards/, relative to the tree, sorted.
fn keymap_c_files(qmk: &Path) -> Vec<String> {
    let mut files: Vec<String> = walkdir::WalkDir::new(qmk.join("keyboards"))
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| {
            e.file_name() == "keymap.c"
                && e.path().parent().and_then(|p| p.parent()).is_some_and(|p| p.ends_with("keymaps"))
        })
        .map(|e| e.path().strip_prefix(qmk).unwrap().display().to_string())
        .collect();
    files.sort();
    files
}

/// The keyboard and keymap a tree's keymap file is for, from its path.
fn names_of(file: &str) -> (String, String) {
    let inside = file.strip_prefix("keyboards/").unwrap();
    let (keyboard, rest) = inside.rsplit_once("/keymaps/").unwrap();
    (keyboard.to_owned(), rest.split('/').next().unwrap().to_owned())
}

fn read_c(qmk: &Path, tree: &DataTree, context: Context, file: &str) -> Result<CKeymap, String> {
    let (keyboard, keymap) = names_of(file);
    let path = qmk.join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let input = Input {
        shown: file,
        text: &text,
        keyboard: Some(&keyboard),
        keymap: Some(&keymap),
        folder: path.parent(),
        tree: Some(tree),
    };
    convert::c::read(context, &input).map_err(|e| e.to_string())
}

/// What QMK's `c2json` printed for each file, or `None` where it failed: read from the
/// JSON lines `QMK_API_C2JSON_REFERENCE` names (`file`, `ok`, `output`), else run in
/// one process of QMK's Python over `files`; `None` when neither is to hand.
fn qmk_c2json(qmk: &Path, files: &[String]) -> Option<BTreeMap<String, Option<serde_json::Value>>> {
    let lines = match std::env::var_os("QMK_API_C2JSON_REFERENCE") {
        Some(reference) => std::fs::read_to_string(reference).ok()?,
        None => run_qmk_python(qmk, files)?,
    };
    let mut results = BTreeMap::new();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let output = record["output"].as_str().and_then(|o| serde_json::from_str(o).ok());
        let output = if record["ok"] == true { output } else { None };
        results.insert(record["file"].as_str().unwrap().to_owned(), output);
    }
    Some(results)
}

/// QMK's c2json as its command runs it (keyboard and keymap from the path, cpp on),
/// once per file in one Python process of QMK's CLI.
fn run_qmk_python(qmk: &Path, files: &[String]) -> Option<String> {
    let python = dirs_venv_python()?;
    let script = r#"
import json, os, re, sys
sys.path.append(os.path.join(os.environ['QMK_HOME'], 'lib', 'python'))
os.chdir(os.environ['QMK_HOME'])
import qmk_cli.script_qmk
sys.argv = ['qmk', 'c2json']
import qmk.cli
from qmk.keymap import c2json, generate_json
for rel in sys.stdin.read().split():
    keyboard, keymap = re.match(r'keyboards/(.+)/keymaps/([^/]+)/', rel).groups()
    try:
        got = c2json(keyboard, keymap, os.path.abspath(rel), use_cpp=True)
        got = generate_json(got['keymap'], got['keyboard'], got['layout'], got['layers'])
        print(json.dumps({'file': rel, 'ok': True, 'output': json.dumps(got)}))
    except Exception as error:
        print(json.dumps({'file': rel, 'ok': False, 'output': None}))
"#;
    let mut child = Command::new(python)
        .args(["-c", script])
        .env("QMK_HOME", qmk)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take().unwrap().write_all(files.join("\n").as_bytes()).unwrap();
    let output = child.wait_with_output().ok()?;
    output.status.success().then(|| String::from_utf8(output.stdout).unwrap())
}

/// The Python of QMK's CLI as CI installs it.
fn dirs_venv_python() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let python = PathBuf::from(home).join(".cache/qmk-api-ci/venv/bin/python");
    let works = Command::new(&python).args(["-c", "import qmk_cli, pygments"]).output().ok()?.status.success();
    works.then_some(python)
}

/// How one file's layers compare with QMK's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Same,
    /// QMK lists layers in the order written; C places `[N] =` layers at N, leaves
    /// the layers it skips KC_NO and keeps the last of a layer given twice.
    QmkIgnoresDesignators,
    /// A layer written with another LAYOUT macro than layer 0's: QMK keeps its keys as
    /// written under layer 0's layout, qmk-api moves them by matrix position.
    QmkKeepsOtherLayouts,
    /// A layer of QMK's has another number of keys than the layout: a name its cpp
    /// could not expand (a header it cannot see) kept as one key, or tokens its lexer
    /// dropped or joined.
    QmkKeyCountWrong,
    /// QMK kept a name C has no value for here (a macro of a header its cpp cannot see).
    QmkNameUnknown,
    /// QMK's cpp runs without the keyboard's features: a layer inside `#ifdef
    /// BACKLIGHT_ENABLE` is left out on a keyboard that has a backlight.
    QmkDecidesIfWithoutFeatures,
    /// Another number of layers: unexplained.
    LayerCountDiffers,
    /// Layers whose keys differ in value: unexplained.
    ValueDiffers,
    QmkFailsQmkApiReads,
    BothFail,
    QmkApiFails,
}

fn normalized(text: &str) -> String {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    match text.as_str() {
        "_______" => "KC_TRNS".to_owned(),
        "XXXXXXX" => "KC_NO".to_owned(),
        _ => text,
    }
}

fn compare(
    ours: &CKeymap,
    text: &str,
    qmk: &serde_json::Value,
    keycodes: &Keycodes,
    layout_keys: Option<usize>,
) -> Outcome {
    let theirs: Vec<Vec<String>> = qmk["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer.as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_owned()).collect())
        .collect();
    let same_key = |a: &str, b: &str| {
        normalized(a) == normalized(b)
            || matches!((ours.value_of(keycodes, a), ours.value_of(keycodes, b)), (Some(x), Some(y)) if x == y)
    };
    let same_layer = |a: &[String], b: &[String]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_key(x, y));
    let same_count = ours.layers.len() == theirs.len();
    if same_count && ours.layers.iter().zip(&theirs).all(|(o, t)| same_layer(o, t)) {
        return Outcome::Same;
    }
    let present: Vec<&Vec<String>> =
        ours.layers.iter().enumerate().filter(|(i, _)| !ours.missing_layers.contains(i)).map(|(_, l)| l).collect();
    let all_found = present.iter().all(|o| theirs.iter().any(|t| same_layer(o, t)));
    if all_found && theirs.len() == present.len() + ours.overridden_layers {
        return Outcome::QmkIgnoresDesignators;
    }
    if !ours.relaid_layers.is_empty() {
        return Outcome::QmkKeepsOtherLayouts;
    }
    if theirs.iter().any(|t| Some(t.len()) != layout_keys) {
        return Outcome::QmkKeyCountWrong;
    }
    if theirs.iter().flatten().any(|k| ours.value_of(keycodes, k).is_none()) {
        return Outcome::QmkNameUnknown;
    }
    if decides_features(text) {
        return Outcome::QmkDecidesIfWithoutFeatures;
    }
    if !same_count {
        return Outcome::LayerCountDiffers;
    }
    Outcome::ValueDiffers
}

/// Whether a conditional directive of the keymap asks for a feature (`#ifdef
/// BACKLIGHT_ENABLE`), which QMK's cpp, run without the build's definitions, takes as off.
fn decides_features(text: &str) -> bool {
    text.lines().map(str::trim_start).any(|line| {
        let directive = line.strip_prefix('#').map(str::trim_start).unwrap_or_default();
        (directive.starts_with("if") || directive.starts_with("elif")) && line.contains("_ENABLE")
    })
}

/// QMK's c2json and qmk-api's over the tree's keymap.c files: every `QMK_API_C2JSON_EVERY`-th
/// (20 unless set; 1 reads all 4386), each difference classified by its cause.
#[test]
fn c2json_reads_what_qmks_c2json_reads_and_more() {
    let Some(shared) = common::shared() else { return };
    let qmk = shared.join("qmk");
    let every: usize = std::env::var("QMK_API_C2JSON_EVERY").ok().and_then(|n| n.parse().ok()).unwrap_or(20);
    let files: Vec<String> = keymap_c_files(&qmk).into_iter().step_by(every).collect();
    let Some(reference) = qmk_c2json(&qmk, &files) else {
        eprintln!("skipped: QMK's CLI (~/.cache/qmk-api-ci/venv) is not installed, nor QMK_API_C2JSON_REFERENCE set");
        return;
    };
    let tree = DataTree::Checkout(qmk.clone());
    let (keyboards, keycodes): (Keyboards, Keycodes) = common::load_tree(&qmk);
    let context = Context { keyboards: &keyboards, keycodes: &keycodes };
    let mut outcomes: BTreeMap<Outcome, Vec<String>> = BTreeMap::new();
    let mut invalid: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut carried = [0usize; 4];
    for file in &files {
        let ours = read_c(&qmk, &tree, context, file);
        if let Ok(ours) = &ours {
            let extended = &ours.extended;
            carried[0] += usize::from(!extended.combos.is_empty());
            carried[1] += usize::from(!extended.tap_dances.is_empty());
            carried[2] += usize::from(!extended.key_overrides.is_empty());
            carried[3] += usize::from(ours.layer_names.is_some());
            let json = qmk_api::keymap::to_keymap_json(&ours.document());
            let source = qmk_api::keymap::Source::new(file, &json).with_folder_of(&qmk.join(file));
            let (_, report) = qmk_api::keymap::check(&source, None, context);
            if let Some(error) = report.diagnostics.iter().find(|d| d.severity == qmk_api::diagnostic::Severity::Error)
            {
                let message: String = error.message.chars().take(90).collect();
                invalid.entry(message).or_default().push(file.clone());
            }
        }
        let theirs = reference.get(file).cloned().flatten();
        let outcome = match (&ours, &theirs) {
            (Ok(ours), Some(theirs)) => {
                let layout_keys = keyboards
                    .resolve(&ours.keyboard)
                    .ok()
                    .and_then(|k| k.layout(ours.layout.as_deref()?))
                    .map(|(_, layout)| layout.keys.len());
                let text = std::fs::read_to_string(qmk.join(file)).unwrap();
                compare(ours, &text, theirs, &keycodes, layout_keys)
            }
            (Ok(_), None) => Outcome::QmkFailsQmkApiReads,
            (Err(_), None) => Outcome::BothFail,
            (Err(error), Some(_)) => {
                eprintln!("{file}: {error}");
                Outcome::QmkApiFails
            }
        };
        outcomes.entry(outcome).or_default().push(file.clone());
    }
    for (outcome, files) in &outcomes {
        eprintln!("{outcome:?}: {}", files.len());
        if *outcome != Outcome::Same && *outcome != Outcome::QmkFailsQmkApiReads {
            for file in files {
                eprintln!("    {file}");
            }
        }
    }
    let [combos, dances, overrides, layer_names] = carried;
    eprintln!(
        "carried: layer names from {layer_names} files, combos from {combos}, tap dances from {dances}, key overrides from {overrides}"
    );
    let invalid_count: usize = invalid.values().map(Vec::len).sum();
    eprintln!("qmk-api's keymap JSON has errors for {invalid_count} files:");
    let mut by_count: Vec<(&String, &Vec<String>)> = invalid.iter().collect();
    by_count.sort_by_key(|(_, files)| std::cmp::Reverse(files.len()));
    for (message, files) in by_count {
        eprintln!("  {:4} {message} (e.g. {})", files.len(), files[0]);
    }
    let unexplained: Vec<&String> = [Outcome::ValueDiffers, Outcome::LayerCountDiffers, Outcome::QmkApiFails]
        .iter()
        .flat_map(|o| outcomes.get(o))
        .flatten()
        .collect();
    assert!(unexplained.is_empty(), "differences without a known cause: {unexplained:?}");
    assert!(outcomes.get(&Outcome::Same).is_some_and(|same| same.len() * 10 > files.len() * 9));
}

/// json2c then c2json gives back the layout, layers (each key with its value) and
/// encoders of every real keymap.json, and the layer names when the keymap has them.
#[test]
fn json2c_then_c2json_gives_back_every_real_keymap_json() {
    let Some(shared) = common::shared() else { return };
    let qmk = shared.join("qmk");
    let tree = DataTree::Checkout(qmk.clone());
    let (keyboards, keycodes) = common::load_tree(&qmk);
    let context = Context { keyboards: &keyboards, keycodes: &keycodes };
    let settings = keyboards.settings();
    let (mut plain, mut named, mut without_layers) = (0, 0, Vec::new());
    for (path, text) in common::keymap_files(&qmk) {
        let shown = path.display().to_string();
        let (keymap, _) = qmk_api::keymap::read(&qmk_api::keymap::Source::new(&shown, &text), settings);
        let mut keymap = keymap.unwrap();
        let Some(layers) = keymap.layers.clone() else {
            without_layers.push(shown);
            continue;
        };
        for with_names in [false, true] {
            if with_names {
                keymap.extensions.layer_names = (0..layers.len()).map(|i| format!("QA_LAYER_{i}")).collect();
            }
            let c = qmk_api::keymap::json2c(&keymap).unwrap();
            let folder = qmk.join("keyboards").join(&path).parent().unwrap().to_owned();
            let keyboard = keymap.keyboard.clone().unwrap_or_else(|| names_of(&format!("keyboards/{shown}")).0);
            let input = Input {
                shown: &shown,
                text: &c,
                keyboard: Some(&keyboard),
                keymap: keymap.keymap.as_deref(),
                folder: Some(&folder),
                tree: Some(&tree),
            };
            let back = convert::c::read(context, &input).unwrap_or_else(|e| panic!("{shown}: {e}"));
            assert_eq!(back.layout, keymap.layout, "{shown}");
            assert_eq!(back.layers.len(), layers.len(), "{shown}");
            for (index, (theirs, ours)) in layers.iter().zip(&back.layers).enumerate() {
                assert_eq!(theirs.len(), ours.len(), "{shown}: layer {index}");
                for (a, b) in theirs.iter().zip(ours) {
                    let same =
                        normalized(a) == normalized(b) || back.value_of(&keycodes, a) == back.value_of(&keycodes, b);
                    assert!(same, "{shown}: layer {index}: `{a}` came back as `{b}`");
                }
            }
            let names = keymap.extensions.layer_names.clone();
            assert_eq!(back.layer_names.clone().unwrap_or_default(), names, "{shown}");
            if let Some(encoders) = &keymap.encoders {
                let back_encoders = back.encoders.as_ref().unwrap_or_else(|| panic!("{shown}: no encoders came back"));
                assert_eq!(back_encoders.as_array().map(|a| a.len()), Some(encoders.len()), "{shown}");
            }
            if with_names { named += 1 } else { plain += 1 }
        }
    }
    eprintln!("{plain} real keymap.json came back through json2c and c2json, and {named} with layer names");
    eprintln!("without layers (nothing to write as C): {without_layers:?}");
    assert_eq!((plain + without_layers.len(), named), (142, plain));
}
