//! `mass-compile`: QMK's `qmk mass-compile` through the compile service's own builder
//! (its sandbox and cache): each keyboard's test keymap (see `compile::catalogue`) or
//! the keymap asked for, the results recorded in the job store of `--state` for the
//! build-status endpoints.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use qmk_api::compile::catalogue::{self, TestKeymap};
use qmk_api::compile::store::{self, JobStore};
use qmk_api::compile::{Builder, Containment, Database, FirmwareBuilder};
use qmk_api::keyboard::Keyboard;
use qmk_api::keymap::NameField;
use qmk_api::source::DataTree;

use super::{Failure, Reporter, constants, writing};

#[derive(clap::Args)]
pub struct MassCompileOptions {
    /// Keyboards to build (moved keyboards followed) [default: every keyboard]
    #[arg(value_name = "KB")]
    keyboards: Vec<String>,
    /// Build this keymap of the tree; keyboards without it are skipped [default: each keyboard's test keymap]
    #[arg(long, value_name = "NAME")]
    keymap: Option<String>,
    /// Only keyboards whose info.json has KEY (dotted: usb.vid) equal to VALUE, or has KEY at all; may be repeated
    #[arg(short, long, value_name = "KEY[=VALUE]")]
    filter: Vec<String>,
    /// List the builds, run none
    #[arg(short = 'n', long)]
    dry_run: bool,
    /// Where the results are recorded (jobs.sqlite) and builds keep their cache (cache/)
    #[arg(long, default_value = "qmk-api-state", value_name = "DIR")]
    state: PathBuf,
    /// Builds run at once
    #[arg(short = 'j', long = "parallel", default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: u16,
    /// Stop a build that runs longer than this
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = humantime::parse_duration)]
    build_time_limit: Duration,
    /// Build without a sandbox (bubblewrap)
    #[arg(long)]
    no_sandbox: bool,
}

/// How the builds went.
#[derive(Default)]
struct Tally {
    built: usize,
    failed: usize,
    skipped: usize,
}

pub fn mass_compile(tree: &DataTree, options: MassCompileOptions, reporter: &Reporter) -> Result<(), Failure> {
    let started = Instant::now();
    if let Some(problem) = options.keymap.as_deref().and_then(|name| NameField::Keymap.problem(name)) {
        return Err(Failure::usage(format!("--keymap: {problem}")));
    }
    let filters: Vec<(&str, Option<&str>)> = options
        .filter
        .iter()
        .map(|filter| match filter.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (filter.as_str(), None),
        })
        .collect();
    let data = constants::load(tree, reporter)?;
    let keyboards = &data.keyboards;
    let chosen: Vec<&Keyboard> = match options.keyboards.is_empty() {
        true => keyboards.iter().collect(),
        false => options.keyboards.iter().map(|name| keyboards.resolve(name)).collect::<Result<_, _>>()?,
    };
    let chosen: Vec<&Keyboard> = chosen.into_iter().filter(|kb| filters.iter().all(|f| matches(kb, *f))).collect();
    let settings = super::build_settings(options.build_time_limit, options.no_sandbox, Some(&options.state))?;
    let Builder::Firmware(firmware) = Builder::for_tree(tree, settings) else {
        return Err(Failure::usage(
            "mass-compile builds firmware: give it a qmk_firmware checkout (--qmk-home or QMK_HOME) with QMK's build rules",
        ));
    };
    if let Containment::Unavailable(reason) = firmware.containment() {
        return Err(Failure::usage(format!(
            "no firmware can be built: {reason}; pass --no-sandbox to build without one"
        )));
    }
    let digest = firmware.tree_digest().map_err(|e| Failure::usage(format!("cannot read the tree: {e}")))?;
    let firmware = firmware.at(&digest);
    let plan: Vec<(&Keyboard, Result<TestKeymap, String>)> =
        chosen.iter().map(|kb| (*kb, TestKeymap::choose(&firmware, kb, options.keymap.as_deref()))).collect();
    if options.dry_run {
        for (keyboard, keymap) in &plan {
            match keymap {
                Ok(keymap) => writing::line(format_args!("{}:{}", keyboard.name, keymap.name()))?,
                Err(reason) => writing::line(format_args!("{}: skipped: {reason}", keyboard.name))?,
            }
        }
        return Ok(());
    }
    let (store, _) = store::open(&Database::Sqlite, &options.state, u64::MAX, usize::from(options.parallel))
        .map_err(Failure::usage)?;
    let work = options.state.join("work");
    let progress = progress(reporter, plan.len());
    let tally = Mutex::new(Tally::default());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..options.parallel {
            scope.spawn(|| {
                while let Some((keyboard, keymap)) = plan.get(next.fetch_add(1, Ordering::SeqCst)) {
                    progress.set_message(keyboard.name.clone());
                    let outcome = build_one(&firmware, &*store, keyboard, keymap, &work, &digest);
                    let mut tally = tally.lock().unwrap_or_else(|p| p.into_inner());
                    match outcome {
                        Outcome::Built => tally.built += 1,
                        Outcome::Failed(what) => {
                            progress.suspend(|| writing::note(format_args!("failed: {what}")));
                            tally.failed += 1;
                        }
                        Outcome::Skipped(what) => {
                            progress.suspend(|| reporter.detail(format_args!("skipped: {what}")));
                            tally.skipped += 1;
                        }
                    }
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    // Publishes what the builds kept for later builds, the tree unchanged.
    let _ = firmware.tree_digest();
    let tally = tally.into_inner().unwrap_or_else(|p| p.into_inner());
    reporter.info(format_args!(
        "built {}, failed {}, skipped {}, in {:.1} s; results in {}",
        tally.built,
        tally.failed,
        tally.skipped,
        started.elapsed().as_secs_f64(),
        options.state.join("jobs.sqlite").display()
    ));
    match tally.failed {
        0 => Ok(()),
        n => Err(Failure::data(writing::some_of(n, plan.len(), "build", "failed", "failed"))),
    }
}

enum Outcome {
    Built,
    /// What failed: `keyboard:keymap`, and the last line of its output or why no build ran.
    Failed(String),
    Skipped(String),
}

fn build_one(
    firmware: &FirmwareBuilder,
    store: &dyn JobStore,
    keyboard: &Keyboard,
    keymap: &Result<TestKeymap, String>,
    work: &std::path::Path,
    digest: &str,
) -> Outcome {
    let keymap = match keymap {
        Ok(keymap) => keymap,
        Err(reason) => return Outcome::Skipped(format!("{}: {reason}", keyboard.name)),
    };
    let target = format!("{}:{}", keyboard.name, keymap.name());
    let folder = work.join(format!("mass-compile-{}", uuid::Uuid::new_v4()));
    let record = match catalogue::build(firmware, keyboard, keymap, &folder, digest, &|| false, now) {
        Ok(record) => record,
        Err(error) => return Outcome::Failed(format!("{target}: {error}")),
    };
    if let Err(error) = store.record_build(&record) {
        return Outcome::Failed(format!("{target}: built, but not recorded: {error}"));
    }
    if record.works {
        return Outcome::Built;
    }
    match record.message.lines().rev().map(str::trim).find(|line| !line.is_empty()) {
        Some(last) => Outcome::Failed(format!("{target}: {last}")),
        None => Outcome::Failed(target),
    }
}

/// Whether `keyboard`'s info.json has the dotted `key`, equal to `value` when one is given.
fn matches(keyboard: &Keyboard, (key, value): (&str, Option<&str>)) -> bool {
    let mut parts = key.split('.');
    let first = parts.next().and_then(|part| keyboard.info.get(part));
    let found = parts.fold(first, |found, part| found.and_then(|v| v.get(part)));
    match (found, value) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(found), Some(value)) => found.as_str().map_or_else(|| found.to_string() == value, |text| text == value),
    }
}

fn progress(reporter: &Reporter, length: usize) -> ProgressBar {
    let bar = reporter.progress();
    bar.set_length(length as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} keyboards, {elapsed}")
            .expect("a valid progress template")
            .progress_chars("=> "),
    );
    bar
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
