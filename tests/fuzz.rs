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
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestRng, TestRunner};
use qmk_api::compile::{self, Builder, Submission};
use qmk_api::keyboard::{self, Keyboards};
use qmk_api::keymap::{self, Context, Keycodes, Source};
use qmk_api::source::DataTree;
use qmk_api::spec::{self, SpecError};
use serde_json::{Value, json};

/// No input may take more of the CPU than this: a guard against run-away work (a
/// backtracking or quadratic path), not a speed goal, measured in this thread's CPU
/// time so that a loaded machine does not trip it.
const TIME_LIMIT: Duration = Duration::from_secs(5);

static KEYBOARDS: LazyLock<Keyboards> = LazyLock::new(|| keyboard::load(&DataTree::Bundled).unwrap());
static KEYCODES: LazyLock<Keycodes> =
    LazyLock::new(|| Keycodes::new(&spec::load(&DataTree::Bundled).unwrap().constants, None).unwrap());

fn context() -> Context<'static> {
    Context { keyboards: &KEYBOARDS, keycodes: &KEYCODES }
}

/// The CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    // SAFETY: clock_gettime writes into the struct it is given and nothing else.
    let time = unsafe {
        let mut time: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time);
        time
    };
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
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
        let begun = thread_cpu_time();
        let result = target(&input);
        let took = thread_cpu_time() - begun;
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

// ---- QMK's own generators on what qmk-api accepts ---------------------------------------

/// Keymaps run through QMK's generators per run (times `QMK_API_FUZZ_CASES / 100`):
/// QMK's CLI takes a third of a second per file and generator, so the fuzzed values
/// are packed many to a keymap.
const QMK_KEYMAPS: usize = 6;

/// Candidate values generated for them, of which qmk-api accepts some.
const QMK_CANDIDATES: usize = 3000;

/// Values for settings: words QMK means, and what has broken out of make and C before.
const SETTING_TEXTS: &[&str] = &[
    "vendor",
    "B0",
    "GP17",
    "NO_PIN",
    "cortex-m4",
    "atmel-dfu",
    "0xFEED",
    "1.0.2",
    "LAYOUT_all",
    "vendor$(shell id >/tmp/x)",
    "vendor$(info $(shell head -2 /etc/passwd))",
    "`id`",
    "a b",
    "a#b",
    "a;b",
    "a|b",
    "-x",
    "x\\",
    "'",
    "\"",
    "a\"b\\\"c",
    "\\\"); evil(); //",
    "# x",
    "é",
    "x\ny",
    "B1\n",
    "1.0.0\n",
];

/// An entry to put into a keymap: a setting, a module, a keycode, a macro, a name.
#[derive(Debug, Clone)]
enum Entry {
    Setting(Vec<String>, Value),
    Module(String),
    Keycode(String, Vec<String>),
    Macro(Vec<Value>),
    Keymap(String),
}

/// A setting's value, or one of its keys: from the texts above, numbers at the edges
/// of what C and Python write, lists and objects.
fn setting_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => select(SETTING_TEXTS).prop_map(Value::from),
        2 => text().prop_map(Value::from),
        1 => select(&[0.0, 5.0, -1.0, 255.0, 1.5, 1e12, 4294967295.0, 4294967296.0, -2147483649.0][..]).prop_map(|f: f64| {
            if f.fract() == 0.0 && f.abs() < 1e15 { json!(f as i64) } else { json!(f) }
        }),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(Value::Null),
    ];
    prop_oneof![
        4 => leaf.clone(),
        1 => proptest::collection::vec(leaf.clone(), 0..4).prop_map(Value::from),
        1 => proptest::collection::vec((select(SETTING_TEXTS), leaf), 1..3)
            .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
    ]
}

fn entry(paths: Vec<Vec<String>>) -> impl Strategy<Value = Entry> {
    let key = prop_oneof![
        select(&["MY_KEY", "MK", "MY_2", "kc_x", "MY KEY", "MY_KEY\n", "MY$", "A"][..]),
        select(SETTING_TEXTS)
    ];
    prop_oneof![
        10 => (select(paths), setting_value(), proptest::option::of(select(SETTING_TEXTS))).prop_map(|(mut path, value, key)| {
            // The keys of some settings become names too (features, animations, aliases).
            if let Some(key) = key.filter(|_| path.last().is_some_and(|l| ["features", "animations", "layout_aliases"].contains(&l.as_str()))) {
                path.push(key.to_owned());
            }
            Entry::Setting(path, value)
        }),
        2 => select(&["qmk/hello_world", "qmk/super_alt_tab", "qmk/flow_rgb_matrix_effect", "qmk/x$(shell id)", "qmk/nope", "../qmk/hello_world", "qmk/hello_world\n"][..])
            .prop_map(|m| Entry::Module(m.to_owned())),
        2 => (key.clone(), proptest::collection::vec(key, 0..3))
            .prop_map(|(k, a)| Entry::Keycode(k.to_owned(), a.into_iter().map(str::to_owned).collect())),
        2 => proptest::collection::vec(prop_oneof![3 => select(SETTING_TEXTS).prop_map(Value::from), 1 => Just(json!({"action": "tap", "keycodes": ["A"]})), 1 => Just(json!({"action": "beep"}))], 1..5)
            .prop_map(Entry::Macro),
        1 => prop_oneof![select(&["mine", "my-keymap_2", "-km", "$(shell id)", "../x", "a b"][..]).prop_map(str::to_owned), text()]
            .prop_map(Entry::Keymap),
    ]
}

/// `entry` laid into `keymap`; `false` where it cannot go (a setting under a value that is no object).
fn lay(keymap: &mut Value, entry: &Entry) -> bool {
    match entry {
        Entry::Setting(path, value) => {
            let mut at = &mut keymap["config"];
            for step in &path[..path.len() - 1] {
                if at.get(step).is_some_and(|v| !v.is_object()) {
                    return false;
                }
                at = &mut at[step.as_str()];
            }
            at[path.last().unwrap().as_str()] = value.clone();
        }
        Entry::Module(name) => keymap["modules"].as_array_mut().unwrap().push(json!(name)),
        Entry::Keycode(key, aliases) => {
            let declaration =
                if aliases.is_empty() { json!({"key": key}) } else { json!({"key": key, "aliases": aliases}) };
            keymap["keycodes"].as_array_mut().unwrap().push(declaration);
        }
        Entry::Macro(steps) => keymap["macros"].as_array_mut().unwrap().push(json!(steps)),
        Entry::Keymap(name) => keymap["keymap"] = json!(name),
    }
    true
}

/// The paths of every setting QMK's generators write from a keymap's `config`: the
/// mapping files' (from the tree, as qmk-api reads them) and those QMK's code writes.
fn written_settings(settings: &qmk_api::keyboard::Settings) -> Vec<Vec<String>> {
    let mapped = settings.config_h.iter().chain(&settings.rules_mk).filter(|m| m.to_c).map(|m| m.info_key.clone());
    let by_code = [
        "matrix_size.cols",
        "matrix_pins.cols",
        "matrix_pins.direct",
        "split.handedness.matrix_grid",
        "encoder.rotary",
        "rgb_matrix.default.animation",
        "rgblight.animations",
        "features",
        "layout_aliases",
    ];
    mapped.chain(by_code.iter().map(|p| (*p).to_owned())).map(|p| p.split('.').map(str::to_owned).collect()).collect()
}

/// The lines of a generated `rules.mk` that are not comments must each be one
/// assignment of words (or QMK's `-include` of a module's rules, or its
/// `$(wildcard ...)` of a module's source): nothing make would expand, run or read as
/// a comment.
fn rules_mk_is_words(text: &str, file: &str) -> Result<(), String> {
    static LINE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^(?:[A-Z0-9_]+ ?(?::=|\+=|\?=|=) ?|-include )(?:\$\(wildcard ([^()]*)\)|([^$]*))$").unwrap()
    });
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let value = LINE.captures(line).and_then(|c| c.get(1).or(c.get(2))).map(|m| m.as_str());
        let words = value.is_some_and(|v| v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-./ =".contains(&b)));
        if !words {
            return Err(format!("{file}: make would read code in {line:?}"));
        }
    }
    Ok(())
}

/// A generated C header: its comment block, then directives whose names are C
/// identifiers and whose values hold words, numbers, `{ , }`, and string literals
/// that close on their line; no other quote, `#`, `$`, backtick, `\` or comment.
fn c_header_is_data(text: &str, file: &str) -> Result<(), String> {
    let mut in_comment = false;
    for line in text.lines() {
        if in_comment || line.starts_with("/*") {
            in_comment = !line.trim_end().ends_with("*/");
            continue;
        }
        let code = line.trim();
        let licence = ["// Copyright ", "// SPDX-License-Identifier: "].iter().any(|start| code.starts_with(start));
        if code.is_empty() || licence || TEMPLATE_HEADER_LINES.contains(&code) {
            continue;
        }
        let value = if let Some(rest) = code.strip_prefix("#define ").or_else(|| code.strip_prefix("#undef ")) {
            let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
            if !is_c_identifier(name) {
                return Err(format!("{file}: the macro name {name:?} in {line:?}"));
            }
            value
        } else if let Some(member) = code.strip_suffix(',') {
            // An enumerator of keymap.h: `KEY = QK_USER_0,` or `KEY,`.
            let name = member.strip_suffix(" = QK_USER_0").unwrap_or(member);
            if !is_c_identifier(name) {
                return Err(format!("{file}: the enumerator {name:?} in {line:?}"));
            }
            continue;
        } else {
            return Err(format!("{file}: a line of the keymap's own: {line:?}"));
        };
        let mut chars = value.chars();
        while let Some(ch) = chars.next() {
            match ch {
                '"' => loop {
                    match chars.next() {
                        Some('\\') => drop(chars.next()),
                        Some('"') => break,
                        Some(_) => {}
                        None => return Err(format!("{file}: a string runs past its line: {line:?}")),
                    }
                },
                c if c.is_ascii_alphanumeric() || " _{},()+-".contains(c) => {}
                c => return Err(format!("{file}: {c:?} outside a string in {line:?}")),
            }
        }
    }
    Ok(())
}

/// A check of a generated file's text (named by the second argument for messages).
type Oracle = fn(&str, &str) -> Result<(), String>;

/// The lines of QMK's config.h and keymap.h templates.
const TEMPLATE_HEADER_LINES: &[&str] = &[
    "#pragma once",
    "// clang-format off",
    "#if __has_include_next(\"keymap.h\")",
    "#    include_next \"keymap.h\"",
    "#endif",
    "enum keymap_keycodes {",
    "};",
];

fn is_c_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The QMK tree and CLI this target needs, or why it skips.
fn qmk_with_cli() -> Option<std::path::PathBuf> {
    let tree = common::shared()?.join("qmk");
    if !common::firmware::on_path("qmk") {
        assert!(std::env::var_os("CI").is_none(), "CI installs QMK's CLI (`qmk`), yet it is not on PATH");
        eprintln!("skipped: QMK's CLI (`qmk`) is not on PATH (`.ci/run` installs it)");
        return None;
    }
    Some(tree)
}

/// Runs one of QMK's generators on `keymap` (a file), writing `out`; what it printed when it fails.
fn qmk_generator(tree: &Path, args: &[&str], keymap: &Path, out: &Path) -> Result<String, String> {
    let output = std::process::Command::new("qmk")
        .args(args)
        .arg("--output")
        .arg(out)
        .arg(keymap)
        .env("QMK_HOME", tree)
        // QMK's tree is only read: no byte code is written into it.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .map_err(|e| format!("qmk: {e}"))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        return Err(format!("`qmk {}` failed on {}:\n{said}", args.join(" "), keymap.display()));
    }
    std::fs::read_to_string(out).map_err(|e| format!("{}: {e}", out.display()))
}

#[test]
fn fuzz_qmks_generators_with_keymaps_qmk_api_accepts() {
    let Some(tree) = qmk_with_cli() else { return };
    let started = Instant::now();
    let scale = std::env::var("QMK_API_FUZZ_CASES").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(100);
    let settings = qmk_api::keyboard::Settings::load(&DataTree::Checkout(tree.clone())).unwrap();
    let accepts = |keymap: &Value| {
        let (read, findings) = keymap::read(&Source::new("fuzz.json", &keymap.to_string()), &settings);
        read.is_some() && !findings.iter().any(|d| d.is_error())
    };
    let base = json!({"keyboard": "clueboard/66/rev2", "keymap": "fuzz", "layout": "LAYOUT_all",
        "layers": [common::layer("KC_A")], "config": {}, "modules": [], "keycodes": [], "macros": []});

    // Candidates from a fixed seed, each laid into a keymap while qmk-api accepts it.
    let config = Config { failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config.clone(), TestRng::deterministic_rng(config.rng_algorithm));
    let strategy = entry(written_settings(&settings));
    let mut keymaps = vec![base; (QMK_KEYMAPS * scale / 100).max(1)];
    let (mut candidates, mut accepted) = (0, 0);
    while candidates < QMK_CANDIDATES * scale / 100 {
        let entry = strategy.new_tree(&mut runner).unwrap().current();
        candidates += 1;
        let count = keymaps.len();
        let keymap = &mut keymaps[accepted % count];
        let mut tried = keymap.clone();
        if lay(&mut tried, &entry) && accepts(&tried) {
            *keymap = tried;
            accepted += 1;
        }
    }
    let chosen = started.elapsed();
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = keymaps
        .iter()
        .enumerate()
        .map(|(index, keymap)| {
            let file = dir.path().join(format!("keymap{index}.json"));
            std::fs::write(&file, serde_json::to_string_pretty(keymap).unwrap()).unwrap();
            (index, file, !keymap["modules"].as_array().unwrap().is_empty())
        })
        .collect();

    // QMK's generators, on two threads: what each writes must stay data.
    let generators: &[(&[&str], Oracle)] = &[
        (&["generate-rules-mk"], rules_mk_is_words),
        (&["generate-config-h"], c_header_is_data),
        (&["generate-keymap-h"], c_header_is_data),
        (&["json2c"], |c, _| keymap_data_stays_data(c).map_err(|e| e.to_string())),
        (&["generate-community-modules-rules-mk", "-kb", "clueboard/66/rev2"], rules_mk_is_words),
    ];
    let runs = std::sync::atomic::AtomicUsize::new(0);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(files.len().div_ceil(2).max(1))
            .map(|chunk| {
                let (tree, runs) = (&tree, &runs);
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for (index, file, has_modules) in chunk {
                        for (number, (args, stays_data)) in generators.iter().enumerate() {
                            if number == 4 && !has_modules {
                                continue;
                            }
                            runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let out = file.with_extension(format!("out{number}"));
                            let shown = format!("keymap{index}.json: {}", args[0]);
                            match qmk_generator(tree, args, file, &out) {
                                Ok(text) => failures.extend(stays_data(&text, &shown).err()),
                                Err(failed) => failures.push(failed),
                            }
                        }
                    }
                    failures
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().unwrap()).collect()
    });
    assert!(accepted * 10 > candidates, "{accepted} of {candidates} accepted: too few to say much");
    eprintln!(
        "fuzz QMK's generators: {candidates} candidates, {accepted} accepted into {} keymaps in {chosen:.1?}, \
         {} runs of QMK's CLI in {:.1?}",
        keymaps.len(),
        runs.into_inner(),
        started.elapsed() - chosen
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_oracles_of_generated_files_catch_what_make_or_c_would_run() {
    let rules = "# Copyright 2026 QMK\nEEPROM_DRIVER = vendor\nMCU = cortex-m4\nLAYOUTS = 60_ansi tkl\nSRC += $(wildcard /q/modules/qmk/a/a.c)\n-include /q/modules/qmk/a/rules.mk\nCONSOLE_ENABLE=yes\n";
    assert_eq!(rules_mk_is_words(rules, "rules.mk"), Ok(()));
    for injected in [
        "EEPROM_DRIVER = vendor$(shell id >/tmp/x)",
        "PLATFORM_KEY = {'a$(x)': 1}",
        "CAPS_WORD\n_ENABLE = yes",
        "JOYSTICK_DRIVER = a`id`",
        "X = a # b",
        "SRC += $(wildcard $(shell id))",
    ] {
        assert!(rules_mk_is_words(&format!("{rules}{injected}\n"), "rules.mk").is_err(), "{injected}");
    }
    let header = "// Copyright 2026 QMK\n/*****\n  \"Y88P\" '\n*****/\n#pragma once\n#undef X\n#define X { B0, -1, NO_PIN }\n#define M \"a\\\"b\\\\\"\n  KEY = QK_USER_0,\n  OTHER,\n";
    assert_eq!(c_header_is_data(header, "config.h"), Ok(()));
    for injected in [
        "#define MANUFACTURER \"x\n#include </etc/passwd>",
        "#define X a'b",
        "#define X a\\",
        "#define X a /* b */",
        "#define A( B",
        "  MY_KEY\n = QK_USER_0,",
        "#include \"/etc/passwd\"",
    ] {
        assert!(c_header_is_data(&format!("{header}{injected}\n"), "config.h").is_err(), "{injected}");
    }
}
