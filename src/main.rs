//! The command line: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use semver::Version;

use qmk_api::diagnostic::Diagnostics;
use qmk_api::import::{self, ImportError};
use qmk_api::publish::{self, LockError, LockFile, PublishError};
use qmk_api::source::DataTree;
use qmk_api::spec::{self, SpecError};

#[derive(Parser)]
#[command(name = "qmk-api", version, about = "Publishes QMK's versioned constants as its static JSON API")]
struct Cli {
    /// A qmk_firmware checkout to read [default: $QMK_HOME, else the bundled data]
    #[arg(long, global = true, value_name = "ROOT")]
    qmk_home: Option<PathBuf>,
    /// Print errors only
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print each step as it runs
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the constants and the lock, then publish both channels
    Build {
        /// Output directory; replaced as a whole, and only when the build succeeds
        #[arg(long, default_value = "public", value_name = "DIR")]
        out: PathBuf,
    },
    /// Check the constants and the lock without writing anything
    Check,
    /// Lock versions in: record their published bytes in data/constants/constants.lock
    Lock {
        /// Only this subsystem (e.g. keycodes, keycodes_german) [default: all]
        #[arg(long, value_name = "S")]
        subsystem: Option<String>,
        /// Lock every version up to and including this one [default: all]
        #[arg(long, value_name = "V")]
        version: Option<Version>,
        /// Re-lock versions whose content changed since they were locked
        #[arg(long)]
        force: bool,
    },
    /// Write normalized spec files from a QMK tree (--qmk-home) into a data directory
    Import {
        /// The data directory to write (its constants/ is replaced; the lock is kept)
        #[arg(long, default_value = "data", value_name = "DIR")]
        out: PathBuf,
    },
}

/// What went wrong and the exit status it earns: 1 for bad data, 2 for usage or I/O.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn data(message: impl ToString) -> Self {
        Failure { code: 1, message: message.to_string() }
    }

    fn usage(message: impl ToString) -> Self {
        Failure { code: 2, message: message.to_string() }
    }
}

impl From<SpecError> for Failure {
    fn from(error: SpecError) -> Self {
        match error {
            SpecError::Io { .. } => Failure::usage(error),
            SpecError::Invalid(_) | SpecError::Empty(_) => Failure::data(error),
        }
    }
}

impl From<LockError> for Failure {
    fn from(error: LockError) -> Self {
        match error {
            LockError::Read { .. } | LockError::Write { .. } | LockError::ReadOnly => Failure::usage(error),
            _ => Failure::data(error),
        }
    }
}

impl From<PublishError> for Failure {
    fn from(error: PublishError) -> Self {
        match error {
            PublishError::Spec(e) => e.into(),
            PublishError::Lock(e) => e.into(),
            PublishError::Write { .. } | PublishError::Timestamp(_) => Failure::usage(error),
        }
    }
}

impl From<ImportError> for Failure {
    fn from(error: ImportError) -> Self {
        match error {
            ImportError::Invalid(_) | ImportError::Empty(_) => Failure::data(error),
            ImportError::Read { .. } | ImportError::Write { .. } => Failure::usage(error),
        }
    }
}

/// Messages to stderr, filtered by `--quiet` and `--verbose`.
struct Reporter {
    quiet: bool,
    verbose: bool,
}

impl Reporter {
    fn info(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    fn detail(&self, message: impl std::fmt::Display) {
        if self.verbose {
            eprintln!("{message}");
        }
    }

    fn warnings(&self, warnings: &Diagnostics) {
        if !warnings.is_empty() {
            self.info(warnings);
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let reporter = Reporter { quiet: cli.quiet, verbose: cli.verbose };
    match run(cli, &reporter) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn run(cli: Cli, reporter: &Reporter) -> Result<(), Failure> {
    let tree = DataTree::resolve(cli.qmk_home.clone());
    match cli.command {
        Command::Build { out } => build(&tree, &out, reporter),
        Command::Check => check(&tree, reporter),
        Command::Lock { subsystem, version, force } => {
            lock(&tree, subsystem.as_deref(), version.as_ref(), force, reporter)
        }
        Command::Import { out } => {
            let Some(root) = cli.qmk_home else {
                return Err(Failure::usage("import reads a QMK tree: pass --qmk-home ROOT"));
            };
            let imported = import::import_constants(&DataTree::Checkout(root.clone()), &out)?;
            reporter.info(format_args!(
                "imported {} spec files ({} bytes) from {} into {}",
                imported.spec_files,
                imported.spec_bytes,
                root.display(),
                out.join("constants").display()
            ));
            Ok(())
        }
    }
}

fn build(tree: &DataTree, out: &std::path::Path, reporter: &Reporter) -> Result<(), Failure> {
    let started = Instant::now();
    let epoch = std::env::var(publish::SOURCE_DATE_EPOCH).ok();
    let last_updated = publish::build_time(epoch.as_deref())?;
    reporter.detail(format_args!("reading {}", tree.display(std::path::Path::new(spec::CONSTANTS_DIR))));
    let loaded = spec::load(tree)?;
    reporter.warnings(&loaded.warnings);
    let report = publish::build(tree, &loaded.constants, out, last_updated)?;
    if let Some(lock_path) = &report.unlocked {
        reporter.info(format_args!("note: no lock file at {lock_path}: every version counts as locked-in"));
    }
    for (channel, versions) in &report.channels {
        reporter.detail(format_args!(
            "{}: {versions} versions in {}",
            channel.name(),
            out.join(channel.name()).display()
        ));
    }
    let channels: Vec<String> =
        report.channels.iter().map(|(channel, versions)| format!("{} {versions} versions", channel.name())).collect();
    reporter.info(format_args!(
        "built {}: {}, {} files, {} bytes in {} ms",
        out.display(),
        channels.join(", "),
        report.written.files,
        report.written.bytes,
        started.elapsed().as_millis()
    ));
    Ok(())
}

fn check(tree: &DataTree, reporter: &Reporter) -> Result<(), Failure> {
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
        "ok: {} subsystems, {} versions, {} warnings; {lock_state}",
        loaded.constants.subsystems.len(),
        published.len(),
        loaded.warnings.iter().count()
    ));
    Ok(())
}

fn lock(
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
    reporter.info(format_args!(
        "locked {} versions in {}",
        locked.len(),
        tree.display(std::path::Path::new(publish::LOCK_PATH))
    ));
    Ok(())
}
