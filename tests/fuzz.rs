//! Fuzz targets for every parser that takes input from outside: hjson spec files,
//! keymap JSON, keycode expressions and the compile API's request body. Each runs a
//! fixed number of generated inputs (set `QMK_API_FUZZ_CASES` for more) from a fixed
//! seed, so CI is repeatable; none may panic or take a second, and whatever reaches
//! `keymap.c` must stay data there. Each prints its figures (`--nocapture` shows them).

mod common;

use std::cell::RefCell;
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRng, TestRunner};
use qmk_api::compile::{self, Builder, Submission};
use qmk_api::keyboard::{self, Keyboards};
use qmk_api::keymap::{self, Context, Keycodes, Source};
use qmk_api::source::DataTree;
use qmk_api::spec::{self, SpecError};
use serde_json::{Value, json};

/// No input may take longer than this.
const TIME_LIMIT: Duration = Duration::from_secs(1);

static KEYBOARDS: LazyLock<Keyboards> = LazyLock::new(|| keyboard::load(&DataTree::Bundled).unwrap());
static KEYCODES: LazyLock<Keycodes> =
    LazyLock::new(|| Keycodes::new(&spec::load(&DataTree::Bundled).unwrap().constants, None).unwrap());

fn context() -> Context<'static> {
    Context { keyboards: &KEYBOARDS, keycodes: &KEYCODES }
}

/// The slowest input so far, and how many ran.
#[derive(Default)]
struct Figures {
    inputs: usize,
    slowest: Duration,
    slowest_input: String,
}

/// Runs `target` on `cases` inputs of `strategy` (times `QMK_API_FUZZ_CASES / 100` when
/// set), failing on a panic, on an input over [`TIME_LIMIT`], or on what `target` refuses.
fn fuzz<S: Strategy>(name: &str, cases: u32, strategy: S, target: impl Fn(&S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let scale = std::env::var("QMK_API_FUZZ_CASES").ok().and_then(|v| v.parse::<u32>().ok()).unwrap_or(100);
    let config = Config { cases: cases * scale / 100, failure_persistence: None, ..Config::default() };
    let rng = TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let figures = RefCell::new(Figures::default());
    let started = Instant::now();
    let outcome = runner.run(&strategy, |input| {
        let begun = Instant::now();
        let result = target(&input);
        let took = begun.elapsed();
        let mut figures = figures.borrow_mut();
        figures.inputs += 1;
        if took > figures.slowest {
            figures.slowest = took;
            let shown = format!("{input:?}");
            figures.slowest_input = format!("{} bytes: {}", shown.len(), shown.chars().take(60).collect::<String>());
        }
        prop_assert!(took < TIME_LIMIT, "took {took:?}");
        result
    });
    let figures = figures.into_inner();
    eprintln!(
        "fuzz {name}: {} inputs in {:.1?}, {} panics, slowest {:.1?} ({})",
        figures.inputs,
        started.elapsed(),
        usize::from(outcome.is_err()),
        figures.slowest,
        figures.slowest_input
    );
    if let Err(error) = outcome {
        panic!("fuzz {name}: {error}");
    }
}

// ---- generators -------------------------------------------------------------------

/// Texts that have broken parsers or tried to break out of C before.
const HOSTILE: &[&str] = &[
    "",
    " ",
    "\"",
    "\"\"",
    "\\",
    "a\\",
    "\n",
    "\r\n",
    "\t",
    "\0",
    "\u{feff}",
    "\u{2028}",
    "é",
    "😀",
    "KC_A)\n#include \"/etc/passwd\"\n//",
    "KC_A); evil(",
    "\"); evil(); //",
    "*/ evil(); /*",
    "??/",
    "${jndi:x}",
    "../../etc/passwd",
    "%s%n",
    "__KEYMAP_GOES_HERE__",
    "0x",
    "0xFFFFFFFFFFFF",
    "-1",
    "1e309",
    "NaN",
];

/// Names, some known, some near misses, some not keycodes at all.
const NAMES: &[&str] = &[
    "KC_A",
    "KC_TRNS",
    "KC_NO",
    "QK_BOOT",
    "RESET",
    "KC_NOPE",
    "KC_ENTR",
    "MOD_LCTL",
    "MOD_RALT",
    "MOD_HYPR",
    "LT",
    "MO",
    "LCTL",
    "DE_Z",
    "QK_MACRO_0",
    "KC_TILD",
    "TD",
    "ANY",
    "OSM",
    "MT",
    "LM",
    "X",
];

const FUNCTIONS: &[&str] = &[
    "LT", "MO", "TG", "TO", "DF", "PDF", "OSL", "TT", "LM", "MT", "OSM", "TD", "ANY", "LCTL", "S", "C_S_T", "lt", "FOO",
];

const SEPARATORS: &[&str] = &[",", ", ", " ,", "|", " | ", ",,", ")", "(", " "];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(HOSTILE).prop_map(str::to_owned),
        4 => proptest::collection::vec(any::<char>(), 0..24).prop_map(|c| c.into_iter().collect()),
        1 => (1usize..100_000, select(&["A", "(", ")", ",", "|", " ", "\"", "\\", ":", "é"][..])).prop_map(|(n, s)| s.repeat(n)),
    ]
}

/// Keycode expressions, from well-formed to garbage, nested, and of any length.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => select(NAMES).prop_map(str::to_owned),
        1 => any::<u32>().prop_map(|n| n.to_string()),
        1 => any::<u32>().prop_map(|n| format!("0x{n:X}")),
        1 => text(),
        1 => (1usize..120_000).prop_map(|n| format!("KC_{}", "A".repeat(n))),
    ];
    leaf.prop_recursive(12, 256, 4, |inner| {
        prop_oneof![
            (select(FUNCTIONS), proptest::collection::vec(inner.clone(), 0..4), select(SEPARATORS))
                .prop_map(|(function, args, separator)| format!("{function}({})", args.join(separator))),
            proptest::collection::vec(inner.clone(), 1..4).prop_map(|terms| terms.join(" | ")),
            (inner, text()).prop_map(|(expression, noise)| format!("{expression}{noise}")),
        ]
    })
}

/// Any JSON value, mostly small.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::from),
        expression().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::vec((text(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A key of a layer: mostly a real keycode, so that many keymaps are valid.
fn keycode() -> impl Strategy<Value = String> {
    prop_oneof![8 => select(&["KC_A", "KC_TRNS", "MO(1)", "LT(1, KC_B)", "QK_BOOT"][..]).prop_map(str::to_owned), 1 => expression()]
}

fn macro_step() -> impl Strategy<Value = Value> {
    let key = prop_oneof![4 => select(&["A", "LCTL", "ENTER", "KC_A"][..]).prop_map(str::to_owned), 1 => text()];
    prop_oneof![
        text().prop_map(Value::from),
        (select(&["tap", "down", "up", "beep", "delay", "dance"][..]), proptest::collection::vec(key, 0..4))
            .prop_map(|(action, keycodes)| json!({"action": action, "keycodes": keycodes})),
        any::<u32>().prop_map(|duration| json!({"action": "delay", "duration": duration})),
        json_value(),
    ]
}

/// A keymap for a bundled keyboard, each field right or wrong, as JSON.
fn keymap_value() -> impl Strategy<Value = Value> {
    let layer = proptest::collection::vec(keycode(), 70..76);
    (
        prop_oneof![4 => Just(json!("clueboard/66/rev2")), 1 => json_value()],
        prop_oneof![4 => Just(json!("LAYOUT_all")), 1 => json_value()],
        prop_oneof![6 => proptest::collection::vec(layer, 1..4).prop_map(Value::from), 1 => json_value()],
        proptest::option::of(proptest::collection::vec(proptest::collection::vec((keycode(), keycode()), 0..3), 0..3)),
        proptest::option::of(proptest::collection::vec((keycode(), keycode()), 0..3)),
        proptest::option::of(proptest::collection::vec(proptest::collection::vec(macro_step(), 0..5), 0..3)),
        proptest::option::of(prop_oneof![Just(json!("german")), json_value()]),
        proptest::option::of(json_value()),
        proptest::option::of((text(), json_value())),
    )
        .prop_map(|(keyboard, layout, layers, encoders, switches, macros, language, config, other)| {
            let mut keymap = json!({"keyboard": keyboard, "keymap": "fuzz", "layout": layout, "layers": layers});
            let fields = [
                (
                    "encoders",
                    encoders.map(|e| {
                        json!(
                            e.iter()
                                .map(|l| l.iter().map(|(ccw, cw)| json!({"ccw": ccw, "cw": cw})).collect::<Vec<_>>())
                                .collect::<Vec<_>>()
                        )
                    }),
                ),
                (
                    "dip_switches",
                    switches
                        .map(|s| json!(s.iter().map(|(on, off)| json!({"on": on, "off": off})).collect::<Vec<_>>())),
                ),
                ("macros", macros.map(Value::from)),
                ("host_language", language),
                ("config", config),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    keymap[name] = value;
                }
            }
            if let Some((name, value)) = other {
                keymap[name.as_str()] = value;
            }
            keymap
        })
}

/// Byte-level damage to a text: insertions of structural or hostile pieces, cuts.
fn damaged(base: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        select(
            &["{", "}", "[", "]", ":", ",", "\"", "'''", "//", "#", "/*", "\n", "!reset!", "!delete!", "\u{feff}"][..]
        )
        .prop_map(|p| p.as_bytes().to_vec()),
        text().prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..8),
        (1usize..400).prop_map(|n| "[".repeat(n).into_bytes()),
    ];
    let edit = (any::<proptest::sample::Index>(), 0usize..16, proptest::option::of(piece));
    (base, proptest::collection::vec(edit, 0..6)).prop_map(|(base, edits)| {
        let mut bytes = base.into_bytes();
        for (at, cut, piece) in edits {
            let at = at.index(bytes.len() + 1);
            let end = (at + cut).min(bytes.len());
            bytes.splice(at..end, piece.unwrap_or_default());
        }
        bytes
    })
}

// ---- what generated C may hold -------------------------------------------------------

/// Lines of keymap.c that come from json2c's template, never from the keymap.
const TEMPLATE_DIRECTIVES: &[&str] = &[
    "#include QMK_KEYBOARD_H",
    "#if __has_include(\"keymap.h\")",
    "#    include \"keymap.h\"",
    "#endif",
    "#if defined(ENCODER_ENABLE) && defined(ENCODER_MAP_ENABLE)",
    "#endif // defined(ENCODER_ENABLE) && defined(ENCODER_MAP_ENABLE)",
    "#if defined(DIP_SWITCH_ENABLE) && defined(DIP_SWITCH_MAP_ENABLE)",
    "#endif // defined(DIP_SWITCH_ENABLE) && defined(DIP_SWITCH_MAP_ENABLE)",
    "#ifdef OTHER_KEYMAP_C",
    "#    include OTHER_KEYMAP_C",
    "#endif // OTHER_KEYMAP_C",
];

/// Checks that `c` holds no code or directive of the keymap's own: its preprocessor
/// lines are the template's (and the host language's two includes), its only comment is
/// the template's, every string literal ends on its line, and brackets balance.
fn keymap_data_stays_data(c: &str) -> Result<(), TestCaseError> {
    let mut comments = 0;
    let mut depth = 0i64;
    for line in c.lines() {
        let code = line.trim_start();
        if code.starts_with('#') {
            let language_include = ["#include \"keymap_", "#include \"sendstring_"].iter().any(|start| {
                code.strip_prefix(start).and_then(|rest| rest.strip_suffix(".h\"")).is_some_and(|name| {
                    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                })
            });
            prop_assert!(TEMPLATE_DIRECTIVES.contains(&code) || language_include, "directive {code:?} in:\n{c}");
            continue;
        }
        let mut chars = code.chars().peekable();
        while let Some(ch) = chars.next() {
            match ch {
                '"' => loop {
                    match chars.next() {
                        Some('\\') => {
                            chars.next();
                        }
                        Some('"') => break,
                        Some(_) => {}
                        None => return Err(TestCaseError::fail(format!("a string runs past its line: {line:?}"))),
                    }
                },
                '/' if chars.peek() == Some(&'*') => {
                    comments += 1;
                    break;
                }
                '/' if chars.peek() == Some(&'/') => {
                    return Err(TestCaseError::fail(format!("a comment in {line:?}")));
                }
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                '*' if code.starts_with("*/") || code.starts_with('*') => break,
                _ => {}
            }
        }
    }
    prop_assert_eq!(comments, 1, "the template's one comment");
    prop_assert_eq!(depth, 0, "brackets balance");
    Ok(())
}

/// Generates the keymap.c of `text` as the json2c command does, if the text is a keymap
/// that reads without errors, and checks it.
fn json2c_stays_data(text: &str) -> Result<(), TestCaseError> {
    let (keymap, findings) = keymap::read(&Source::new("fuzz.json", text), KEYBOARDS.settings());
    if let Some(keymap) = keymap.filter(|_| !findings.iter().any(|d| d.is_error()))
        && let Ok(c) = keymap::json2c(&keymap)
    {
        keymap_data_stays_data(&c)?;
    }
    Ok(())
}

// ---- the targets ---------------------------------------------------------------------

#[test]
fn fuzz_keycode_expressions() {
    fuzz("keycode expression", 3000, expression(), |text| {
        let _ = KEYCODES.resolve(text);
        Ok(())
    });
}

#[test]
fn fuzz_keymap_json() {
    let text = prop_oneof![
        3 => keymap_value().prop_map(|v| v.to_string().into_bytes()),
        1 => damaged(keymap_value().prop_map(|v| serde_json::to_string_pretty(&v).unwrap())),
    ];
    fuzz("keymap JSON", 1500, text, |bytes| {
        let Ok(text) = std::str::from_utf8(bytes) else { return Ok(()) };
        let source = Source::new("fuzz.json", text);
        let (keymap, report) = keymap::check(&source, None, context());
        if let Some(keymap) = keymap.filter(|_| report.is_valid()) {
            let c = keymap::json2c(&keymap).map_err(|e| TestCaseError::fail(format!("valid, yet no keymap.c: {e}")))?;
            keymap_data_stays_data(&c)?;
            let _ = keymap::migrate(&keymap, &KEYCODES, Some(&KEYBOARDS));
            // Its picture is well-formed, whatever the keymap's text holds.
            let legends = keymap::legends(&keymap, &report, context())
                .ok_or_else(|| TestCaseError::fail("valid, yet not drawn"))?;
            let svg = qmk_api::picture::Picture::new(&keymap, &legends, context()).svg();
            roxmltree::Document::parse(&svg).map_err(|e| TestCaseError::fail(format!("the picture is no XML: {e}")))?;
        }
        json2c_stays_data(text)
    });
}

#[test]
fn fuzz_http_request_body() {
    let dir = tempfile::tempdir().unwrap();
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        keymap_value().prop_map(|v| v.to_string().into_bytes()),
        damaged(keymap_value().prop_map(|v| v.to_string())),
    ];
    fuzz("HTTP request body", 1500, body, |body| {
        let Ok(submission) = Submission::parse(body) else { return Ok(()) };
        let outcome = compile::run(&submission.canonical, context(), &Builder::KeymapOnly, dir.path())
            .map_err(|e| TestCaseError::fail(format!("a keymap-only job failed on I/O: {e}")))?;
        if let Some(sources) = outcome.sources {
            keymap_data_stays_data(&sources.keymap_c)?;
        }
        Ok(())
    });
}

/// Small bundled spec files, as bases to damage.
fn spec_bases() -> Vec<String> {
    ["keycodes_0.0.1.hjson", "keycodes_0.0.1_macro.hjson", "keycodes_0.0.2_kb.hjson", "keycodes_0.0.1_steno.hjson"]
        .iter()
        .map(|name| {
            let path = Path::new("data/constants/keycodes").join(name);
            String::from_utf8(DataTree::Bundled.read(&path).unwrap().into_owned()).unwrap()
        })
        .collect()
}

#[test]
fn fuzz_hjson_spec_files() {
    let bases = spec_bases();
    let file = || damaged(select(bases.clone()));
    let tree = common::Fixture::new();
    let dir = tree.root().join("data/constants/keycodes");
    std::fs::create_dir_all(&dir).unwrap();
    fuzz("hjson spec", 800, (file(), proptest::option::of(file())), |(base, later)| {
        std::fs::write(dir.join("keycodes_0.0.1.hjson"), base).unwrap();
        let second = dir.join("keycodes_0.0.2_extra.hjson");
        match later {
            Some(later) => std::fs::write(&second, later).unwrap(),
            None => drop(std::fs::remove_file(&second)),
        }
        let _ = spec::hjson::parse(&String::from_utf8_lossy(base));
        match spec::load(&DataTree::Checkout(tree.root().to_owned())) {
            Ok(_) | Err(SpecError::Empty(_)) => Ok(()),
            Err(SpecError::Invalid(diagnostics)) => {
                for diagnostic in diagnostics.iter().filter(|d| d.file.is_some()) {
                    prop_assert!(diagnostic.line.is_some(), "no line: {diagnostic}");
                }
                Ok(())
            }
            Err(other) => Err(TestCaseError::fail(format!("not a finding: {other}"))),
        }
    });
}

#[test]
fn the_c_oracle_catches_code_that_leaves_its_literal() {
    let template = keymap::json2c(&keymap::Keymap::default()).unwrap();
    assert!(keymap_data_stays_data(&template).is_ok());
    for injected in ["SEND_STRING(\"\\\"\\SS_TAP(X_A)\"); evil(); //\");", "#include \"/etc/passwd\"", "x(\"a);"] {
        let c = template.replace("\n\n\n", &format!("\n{injected}\n\n"));
        assert!(keymap_data_stays_data(&c).is_err(), "{injected}");
    }
}
