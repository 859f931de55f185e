//! The resolver against the C compiler itself: expressions compiled with QMK's keycode
//! headers and QMK's warning flags (`-Wall -Werror`, gnu11) must be accepted exactly
//! when the resolver accepts them, with the same value. Needs ../shared and `gcc`.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use qmk_api::keymap::Keycodes;
use qmk_api::source::DataTree;
use qmk_api::spec;

/// Expressions beyond the reference files: what C's grammar and GCC's checks allow.
const EDGE_CASES: &[&str] = &[
    "(KC_A)",
    "((KC_A))",
    "KC_A + 1",
    "QK_USER + 2",
    "-1",
    "-32768",
    "-32769",
    "0xFFFF",
    "0x10000",
    "~KC_A",
    "!KC_A",
    "+KC_A",
    "KC_A - - 1",
    "KC_A ? KC_B : KC_C",
    "1 ? 2 : 1 / 0",
    "0 && 1 / 0",
    "1 / 0",
    "KC_A % 0",
    "010",
    "0b101",
    "0B11",
    "08",
    "1u",
    "1UL",
    "1uu",
    "0x7FFF + 1",
    "2147483647 + 1",
    "1 << 31",
    "2 << 31",
    "1 << 32",
    "1 << -1",
    "-1 << 2",
    "1u << 31",
    "0x8000 << 16",
    "KC_A | KC_B & KC_C",
    "KC_A & KC_B + 1",
    "KC_A << 1 + 1",
    "KC_A && KC_B || KC_C",
    "KC_A < KC_B < KC_C",
    "KC_A == KC_B == KC_C",
    "!KC_A == KC_B",
    "!KC_A | KC_B",
    "!KC_A | (KC_A == 1)",
    "KC_A == QK_BASIC",
    "(KC_A) == QK_BASIC",
    "KC_A + 0 == QK_BASIC",
    "KC_A == MOD_LCTL",
    "SAFE_RANGE == KC_A",
    "KC_HYPR == QK_BASIC",
    "KC_TILD == KC_A",
    "(1, 2)",
    "MO((1))",
    "MO (1)",
    "MO",
    "MO(1, 2)",
    "LCTL()",
    "'a'",
    "'\\n'",
    "KC_MEH",
    "OS_MEH",
    "MOD_HYPR",
    "MOD_MASK_CSAG",
    "MOD_BIT(KC_LSFT)",
    "LCSG(KC_A)",
    "SAGR(KC_A)",
    "UC(0x41)",
    "UC(0x10000)",
    "UM(5)",
    "UP(1, 2)",
    "SH_T(KC_A)",
    "SQ_S(1)",
    "SQ_S(2 * 1)",
    "SQ_S(0 ? 5 : 1)",
    "SQ_S(1 | 2)",
    "SEQUENCER_STEP_MAX",
    "QK_MODS_GET_BASIC_KEYCODE(KC_EXLM)",
    "IS_QK_BASIC(KC_A)",
    "MIDI_TONE_MIN",
    "QK_OUTPUT_AUTO",
    "LT(1, KC_A) | 1",
    "MT(MOD_LCTL | MOD_RALT, KC_A)",
    "OSM(KC_A | KC_B)",
];

fn c_flags(qmk: &Path) -> Vec<String> {
    let include = |dir: &str| format!("-I{}", qmk.join(dir).display());
    let mut flags: Vec<String> = ["-std=gnu11", "-Wall", "-Werror", "-Os"].map(String::from).to_vec();
    flags.extend(["quantum", "quantum/keymap_extras", "quantum/sequencer"].map(include));
    flags
}

/// Whether GCC accepts `expression` as an element of a `uint16_t` table.
fn gcc_accepts(dir: &Path, qmk: &Path, expression: &str) -> bool {
    let source = dir.join("one.c");
    let text = format!(
        "#include <stdint.h>\n#include \"keycode.h\"\n#include \"quantum_keycodes.h\"\nconst uint16_t k[] = {{ {expression} }};\n"
    );
    std::fs::write(&source, text).unwrap();
    let output = Command::new("gcc").args(c_flags(qmk)).args(["-fsyntax-only"]).arg(&source).output().unwrap();
    output.status.success()
}

/// The values GCC gives `expressions`, all compiled and printed by one program.
fn gcc_values(dir: &Path, qmk: &Path, expressions: &[&str]) -> Vec<u16> {
    let source = dir.join("values.c");
    let table: Vec<String> = expressions.iter().map(|e| format!("    {e},")).collect();
    let text = format!(
        "#include <stdint.h>\n#include <stdio.h>\n#include \"keycode.h\"\n#include \"quantum_keycodes.h\"\n\
         const uint16_t k[] = {{\n{}\n}};\nint main(void) {{ for (unsigned i = 0; i < sizeof k / sizeof k[0]; i++) printf(\"%u\\n\", k[i]); return 0; }}\n",
        table.join("\n")
    );
    std::fs::write(&source, text).unwrap();
    let binary = dir.join("values");
    let output = Command::new("gcc").args(c_flags(qmk)).arg(&source).arg("-o").arg(&binary).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = Command::new(&binary).output().unwrap();
    String::from_utf8(printed.stdout).unwrap().lines().map(|l| l.parse().unwrap()).collect()
}

#[test]
fn the_resolver_accepts_exactly_what_gcc_accepts_with_the_same_value() {
    let Some(shared) = shared() else { return };
    if Command::new("gcc").arg("--version").output().is_err() {
        eprintln!("skipped: gcc is not installed");
        return;
    }
    let qmk = shared.join("qmk");
    let tree = DataTree::Checkout(qmk.clone());
    let constants = spec::load(&tree).unwrap().constants;
    let keycodes = Keycodes::with_headers(&constants, None, &qmk_api::keymap::headers::load(&tree)).unwrap();
    let read = |file: &str| std::fs::read_to_string(shared.join("expected").join(file)).unwrap();
    let mut expressions: Vec<String> = EDGE_CASES.iter().map(|e| (*e).to_owned()).collect();
    for file in ["keycode_lossy.tsv", "keycode_values_c.tsv"] {
        let text = read(file);
        expressions.extend(
            text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split('\t').next()).map(str::to_owned),
        );
    }
    // One in 25 of the 2567 vectors; the whole file is checked against its own values elsewhere.
    let values = read("keycode_values.tsv");
    expressions.extend(
        values
            .lines()
            .filter(|l| !l.starts_with('#'))
            .step_by(25)
            .filter_map(|l| l.split('\t').next())
            .map(str::to_owned),
    );
    // Lines C rejects as a table element; blank ones are about LAYOUT()'s arguments, not C expressions.
    let invalid = read("keycode_invalid.txt");
    let invalid = invalid.lines().filter(|l| !l.starts_with('#')).map(|l| serde_json::from_str::<String>(l).unwrap());
    expressions.extend(invalid.filter(|e| !e.trim().is_empty()));

    let dir = tempfile::tempdir().unwrap();
    let mut accepted = Vec::new();
    let mut disagreements = Vec::new();
    for expression in &expressions {
        let ours = keycodes.resolve(expression);
        let gcc = gcc_accepts(dir.path(), &qmk, expression);
        match (&ours, gcc) {
            (Ok(resolved), true) => accepted.push((expression.as_str(), resolved.value)),
            (Err(_), false) => {}
            _ => disagreements.push(format!("{expression}: ours {ours:?}, gcc accepts: {gcc}")),
        }
    }
    let exprs: Vec<&str> = accepted.iter().map(|(e, _)| *e).collect();
    for ((expression, ours), gcc) in accepted.iter().zip(gcc_values(dir.path(), &qmk, &exprs)) {
        if *ours != gcc {
            disagreements.push(format!("{expression}: ours 0x{ours:04X}, gcc 0x{gcc:04X}"));
        }
    }
    eprintln!(
        "{} expressions: {} accepted by both, {} disagreements",
        expressions.len(),
        accepted.len(),
        disagreements.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
