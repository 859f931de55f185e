//! `build`, `check`, `lock` and `import`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use semver::Version;

use super::writing::counted;
use super::{Failure, Reporter};
use qmk_api::build;
use qmk_api::import;
use qmk_api::keyboard::{self, Keyboards};
use qmk_api::publish::{self, LockError, LockFile};
use qmk_api::source::DataTree;
use qmk_api::spec::{self, Constants};

/// A tree's checked constants and its keyboards: what a build reads, and a server too.
pub struct TreeData {
    pub constants: Constants,
    pub keyboards: Keyboards,
}

/// Loads and checks the constants (printing their warnings) and the keyboards; each
/// keyboard file that cannot be read is an error on stderr naming it and the keyboards
/// left out for it, and the rest load.
pub fn load(tree: &DataTree, reporter: &Reporter) -> Result<TreeData, Failure> {
    reporter.detail(format_args!("reading {}", tree.display(Path::new(spec::CONSTANTS_DIR))));
    let loaded = spec::load(tree)?;
    reporter.warnings(&loaded.warnings);
    reporter.detail(format_args!("reading {}", tree.display(Path::new(keyboard::KEYBOARDS_DIR))));
    let keyboards = keyboard::load(tree)?;
    if !keyboards.problems().is_empty() {
        super::writing::note(keyboards.problems());
    }
    Ok(TreeData { constants: loaded.constants, keyboards })
}

/// Publishes a tree's data into `out`. A keyboard left out (a file of it cannot be read)
/// does not stop the build: the rest is published and replaces `out`, and the command
/// then fails (exit 1) saying how many were left out, so that a script notices.
pub fn build(tree: &DataTree, out: &Path, json_only: bool, reporter: &Reporter) -> Result<(), Failure> {
    super::clean_up_on_signal();
    let started = Instant::now();
    let data = load(tree, reporter)?;
    publish(tree, &data, out, json_only, reporter, started)?;
    let problems = data.keyboards.problems().iter().count();
    match (problems, data.keyboards.left_out().len()) {
        (0, _) => Ok(()),
        (files, left_out) => Err(Failure::data(format!(
            "{} could not be used: {} left out of {}",
            counted(files, "keyboard file"),
            counted(left_out, "keyboard"),
            out.display()
        ))),
    }
}

/// Publishes loaded data into `out`; the summary counts the time since `started`.
pub fn publish(
    tree: &DataTree,
    data: &TreeData,
    out: &Path,
    json_only: bool,
    reporter: &Reporter,
    started: Instant,
) -> Result<(), Failure> {
    let epoch = std::env::var(publish::SOURCE_DATE_EPOCH).ok();
    let last_updated = publish::build_time(epoch.as_deref())?;
    let progress = reporter.progress();
    let outputs = if json_only { build::Outputs::JsonOnly } else { build::Outputs::Everything };
    let report = build::build(tree, &data.constants, &data.keyboards, out, last_updated, outputs, &progress);
    progress.finish_and_clear();
    let report = report?;
    if let Some(lock_path) = &report.unlocked {
        reporter.info(format_args!("note: no lock file at {lock_path}: every version counts as locked-in"));
    }
    for (channel, versions) in &report.channels {
        reporter.detail(format_args!(
            "{}: {} in {}",
            channel.name(),
            counted(*versions, "version"),
            out.join(channel.name()).display()
        ));
    }
    let channels: Vec<String> = report
        .channels
        .iter()
        .map(|(channel, versions)| format!("{} {}", channel.name(), counted(*versions, "version")))
        .collect();
    reporter.info(format_args!(
        "built {}: {}, {}, {}, {}, {} bytes in {} ms",
        out.display(),
        channels.join(", "),
        counted(report.keyboards, "keyboard"),
        counted(report.pages, "page"),
        counted(report.written.files, "file"),
        report.written.bytes,
        started.elapsed().as_millis()
    ));
    Ok(())
}

pub fn check(tree: &DataTree, reporter: &Reporter) -> Result<(), Failure> {
    let loaded = spec::load(tree)?;
    reporter.warnings(&loaded.warnings);
    let published = publish::render(&loaded.constants);
    let lock_state = match LockFile::read_verified(tree, &published)? {
        None => "no lock file: every version counts as locked-in".to_owned(),
        Some(lock) => {
            let locked = published.iter().filter(|p| lock.is_locked(&p.subsystem, &p.version)).count();
            format!("{locked} locked-in versions unchanged")
        }
    };
    reporter.info(format_args!(
        "ok: {}, {}, {}; {lock_state}",
        counted(loaded.constants.subsystems.len(), "subsystem"),
        counted(published.len(), "version"),
        counted(loaded.warnings.iter().count(), "warning")
    ));
    Ok(())
}

pub fn lock(
    tree: &DataTree,
    subsystem: Option<&str>,
    version: Option<&Version>,
    force: bool,
    reporter: &Reporter,
) -> Result<(), Failure> {
    if tree.checkout_root().is_none() {
        return Err(LockError::ReadOnly.into());
    }
    let loaded = spec::load(tree)?;
    let published = publish::render(&loaded.constants);
    let mut lock = LockFile::read(tree)?.unwrap_or_default();
    let locked = lock.lock(&published, subsystem, version, force)?;
    lock.write(tree)?;
    for item in &locked {
        reporter.detail(format_args!("locked {item}"));
    }
    reporter.info(format_args!("locked {} versions in {}", locked.len(), tree.display(Path::new(publish::LOCK_PATH))));
    Ok(())
}

pub fn import(qmk_home: Option<PathBuf>, out: &Path, keyboards: &[String], reporter: &Reporter) -> Result<(), Failure> {
    super::clean_up_on_signal();
    let Some(root) = qmk_home else {
        return Err(Failure::usage("import reads a QMK tree: pass --qmk-home ROOT"));
    };
    let keyboards: Vec<&str> = if keyboards.is_empty() {
        import::DEFAULT_KEYBOARDS.to_vec()
    } else {
        keyboards.iter().map(String::as_str).collect()
    };
    let imported = import::import(&DataTree::Checkout(root.clone()), out, &keyboards)?;
    reporter.info(format_args!(
        "imported {} spec files, {} C header definitions and {} keyboards ({} definition files, {} C definitions) from {} into {}",
        imported.spec_files,
        imported.header_definitions,
        keyboards.len(),
        imported.keyboard_files,
        imported.keyboard_definitions,
        root.display(),
        out.display()
    ));
    Ok(())
}
