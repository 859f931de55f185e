//! `cargo bench --bench catalogue`: QMK's catalogue built as its service tests it, on a
//! fixed sample of keyboards over every platform, in one run: QMK's own
//! `qmk mass-compile -j2` of each keyboard's `default` keymap, then `qmk-api mass-compile
//! -j 2` of the same keyboards with empty caches (cold) and once more (warm: the
//! cache the first run filled, as every later test of the catalogue finds it). Reports
//! each side's time, the verdicts that differ, and the projection for the whole
//! catalogue.
//!
//! The sample: the keyboards of ../shared/qmk whose test keymap is their tree's
//! `default` (so both sides build the same keymap), by platform in the catalogue's
//! proportions (at least one of each), each platform's keyboards ordered by the SHA-256
//! of their names. `QMK_API_BENCH_KEYBOARDS` sets its size (12), or, as `json`, takes
//! instead every keyboard whose default keymap is a keymap.json. Needs make, qmk,
//! gcc-avr, gcc-arm-none-eabi and dfu-suffix on PATH.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::firmware::on_path;
use sha2::{Digest, Sha256};

const PLATFORMS: [&str; 4] = ["AVR", "STM32", "RP2040", "other"];

fn main() {
    let Some(shared) = common::shared() else { return };
    let missing: Vec<&str> =
        ["make", "qmk", "avr-gcc", "arm-none-eabi-gcc", "dfu-suffix"].into_iter().filter(|p| !on_path(p)).collect();
    if !missing.is_empty() {
        println!("skipped: {missing:?} not on PATH");
        return;
    }
    let asked = std::env::var("QMK_API_BENCH_KEYBOARDS").unwrap_or_default();
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let copy = |name: &str| {
        let tree = scratch.path().join(name);
        assert!(Command::new("cp").arg("-al").arg(shared.join("qmk")).arg(&tree).status().unwrap().success());
        tree
    };
    let (make_tree, our_tree) = (copy("make"), copy("qmk-api"));
    let (keyboards, _) = common::load_tree(&our_tree);
    let catalogue: BTreeMap<&str, &str> =
        keyboards.iter().map(|kb| (kb.name.as_str(), platform(kb.info.get("processor")))).collect();
    let testable = testable(&our_tree);
    let sample = match asked.as_str() {
        "json" => testable.into_iter().filter(|kb| default_is_json(&our_tree, kb)).collect(),
        size => sample(&testable, &catalogue, size.parse().unwrap_or(12)),
    };
    let per_platform: BTreeMap<&str, usize> = sample.iter().fold(BTreeMap::new(), |mut counts, kb| {
        *counts.entry(catalogue[kb.as_str()]).or_default() += 1;
        counts
    });
    println!("Catalogue builds of {} keyboards {per_platform:?}; load average {}", sample.len(), load());
    println!("  {}", sample.join(" "));

    let targets: Vec<String> = sample.iter().map(|kb| format!("{kb}:default")).collect();
    let (took, output) = timed(|| {
        Command::new("qmk")
            .args(["mass-compile", "-j", "2"])
            .args(&targets)
            .current_dir(&make_tree)
            .env("QMK_HOME", &make_tree)
            .output()
            .unwrap()
    });
    let make_failed = qmk_failures(&String::from_utf8_lossy(&output.stdout), &sample);
    report("QMK's qmk mass-compile -j2", took, &make_failed, sample.len());

    let state = scratch.path().join("state");
    let mut ours = Vec::new();
    for run in ["cold", "warm"] {
        let (took, output) = timed(|| {
            Command::new(env!("CARGO_BIN_EXE_qmk-api"))
                .arg("--qmk-home")
                .arg(&our_tree)
                .arg("mass-compile")
                .arg("--state")
                .arg(&state)
                .args(["-j", "2"])
                .args(&sample)
                .output()
                .unwrap()
        });
        let stderr = String::from_utf8_lossy(&output.stderr);
        let failed = our_failures(&stderr, &sample);
        report(&format!("qmk-api mass-compile -j 2, {run}"), took, &failed, sample.len());
        for keyboard in failed.symmetric_difference(&make_failed) {
            let verdict = |failed: &BTreeSet<String>| if failed.contains(keyboard) { "fails" } else { "builds" };
            println!("    disagreement: {keyboard}: QMK {}, qmk-api {}", verdict(&make_failed), verdict(&failed));
            for line in qmk_errors(&make_tree, keyboard) {
                println!("      QMK: {line}");
            }
            let marker = format!("failed: {keyboard}:");
            for line in stderr.lines().filter(|line| line.contains(&marker)) {
                println!("      qmk-api: {line}");
            }
        }
        ours.push(took);
    }
    let (make, cold, warm) = (took.as_secs_f64(), ours[0].as_secs_f64(), ours[1].as_secs_f64());
    let whole = |seconds: f64| seconds / sample.len() as f64 * catalogue.len() as f64 / 3600.0;
    println!(
        "  cold/make {:.2}, warm/make {:.2}; the whole catalogue of {} keyboards at this rate: QMK {:.1} h, qmk-api cold {:.1} h, warm {:.1} h; load average {}",
        cold / make,
        warm / make,
        catalogue.len(),
        whole(make),
        whole(cold),
        whole(warm),
        load()
    );
}

/// The platform of a processor as info.json names it.
fn platform(processor: Option<&qmk_api::spec::Value>) -> &'static str {
    match processor.and_then(|p| p.as_str()).unwrap_or_default() {
        p if p.starts_with("at") => "AVR",
        p if p.starts_with("STM32") => "STM32",
        "RP2040" => "RP2040",
        _ => "other",
    }
}

/// The keyboards whose test keymap is the tree's `default`, as `mass-compile --dry-run` lists them.
fn testable(tree: &Path) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_qmk-api"))
        .arg("--qmk-home")
        .arg(tree)
        .args(["mass-compile", "--dry-run"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_suffix(":default"))
        .map(str::to_owned)
        .collect()
}

/// Whether the `default` keymap QMK finds for `keyboard` (in its folder or the nearest
/// parent's) is a keymap.json.
fn default_is_json(tree: &Path, keyboard: &str) -> bool {
    let folder = tree.join("keyboards").join(keyboard);
    let default = folder.ancestors().map(|f| f.join("keymaps/default")).find(|keymap| keymap.is_dir());
    default.is_some_and(|keymap| keymap.join("keymap.json").is_file())
}

/// `size` keyboards of `testable` (or more, for at least one of each platform), shared
/// among the platforms as the catalogue is (largest remainders first), each platform's
/// taken in the order of their names' SHA-256.
fn sample(testable: &BTreeSet<String>, catalogue: &BTreeMap<&str, &str>, size: usize) -> Vec<String> {
    let exact: Vec<usize> =
        PLATFORMS.iter().map(|platform| catalogue.values().filter(|p| *p == platform).count() * size).collect();
    let mut shares: Vec<usize> = exact.iter().map(|e| e / catalogue.len()).collect();
    let mut by_remainder: Vec<usize> = (0..PLATFORMS.len()).collect();
    by_remainder.sort_by_key(|&at| std::cmp::Reverse(exact[at] % catalogue.len()));
    let short = size.saturating_sub(shares.iter().sum());
    for &at in by_remainder.iter().take(short) {
        shares[at] += 1;
    }
    let mut chosen = Vec::new();
    for (platform, share) in PLATFORMS.into_iter().zip(shares) {
        let mut candidates: Vec<&String> =
            testable.iter().filter(|kb| catalogue.get(kb.as_str()) == Some(&platform)).collect();
        candidates.sort_by_key(|kb| Sha256::digest(kb.as_bytes()));
        chosen.extend(candidates.into_iter().take(share.max(1)).cloned());
    }
    chosen
}

/// The keyboards QMK's mass-compile reports `[ERRORS]` for, or does not report at all.
fn qmk_failures(stdout: &str, sample: &[String]) -> BTreeSet<String> {
    let built: BTreeSet<&str> = stdout
        .lines()
        .filter(|line| line.contains("[OK]") || line.contains("[WARNINGS]"))
        .filter_map(|line| line.strip_prefix("Build ")?.split(':').next())
        .collect();
    sample.iter().filter(|kb| !built.contains(kb.as_str())).cloned().collect()
}

/// The error lines of `keyboard`'s log that QMK's mass-compile kept as failed.
fn qmk_errors(tree: &Path, keyboard: &str) -> Vec<String> {
    let suffix = format!(".{}.default", keyboard.replace('/', "_"));
    let logs = std::fs::read_dir(tree.join(".build")).into_iter().flatten().flatten();
    let log = logs.map(|entry| entry.path()).find(|path| {
        path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("failed.log.") && n.ends_with(&suffix))
    });
    let text = log.and_then(|path| std::fs::read_to_string(path).ok()).unwrap_or_default();
    text.lines().filter(|line| line.contains("error") || line.contains("Error")).take(3).map(str::to_owned).collect()
}

/// The keyboards qmk-api's mass-compile names as failed (`failed: <kb>:<keymap>: ...`).
fn our_failures(stderr: &str, sample: &[String]) -> BTreeSet<String> {
    let failed: BTreeSet<&str> =
        stderr.lines().filter_map(|line| line.split("failed: ").nth(1)?.split(':').next()).collect();
    sample.iter().filter(|kb| failed.contains(kb.as_str())).cloned().collect()
}

fn report(what: &str, took: Duration, failed: &BTreeSet<String>, total: usize) {
    println!(
        "  {what}: {:.1} s ({:.1} s a keyboard), {} built, {} failed {failed:?}",
        took.as_secs_f64(),
        took.as_secs_f64() / total as f64,
        total - failed.len(),
        failed.len()
    );
}

fn timed(run: impl FnOnce() -> Output) -> (Duration, Output) {
    let started = Instant::now();
    let output = run();
    (started.elapsed(), output)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" ")
}
