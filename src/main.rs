//! The command line: parses arguments and calls the library.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use semver::Version;

use commands::compile::CompileOptions;
use commands::keymaps::Format;
use commands::mass_compile::MassCompileOptions;
use commands::serve::{JobOptions, ServeOptions};
use commands::{Failure, Reporter, compile, constants, keymaps, mass_compile, serve};
use qmk_api::source::DataTree;

#[derive(Parser)]
#[command(name = "qmk-api", version, about = "QMK's versioned constants, keyboards and keymaps, in one binary")]
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
    /// Check the constants and the lock, then publish both channels: JSON API and site
    Build {
        /// Output directory; replaced as a whole, and only when the build succeeds
        #[arg(long, default_value = "public", value_name = "DIR")]
        out: PathBuf,
        /// Publish the JSON API only, without the site's pages
        #[arg(long)]
        json_only: bool,
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
    /// Write normalized data from a QMK tree (--qmk-home) into a data directory
    Import {
        /// The data directory to write (its constants/, keyboards/ and mappings/ are replaced; the lock is kept)
        #[arg(long, default_value = "data", value_name = "DIR")]
        out: PathBuf,
        /// A keyboard to bundle (repeatable) [default: clueboard/66/rev2 and a few popular boards]
        #[arg(long = "keyboard", value_name = "KB")]
        keyboards: Vec<String>,
    },
    /// Print the 16-bit value of keycode expressions, e.g. 'LT(1, KC_A)'
    Keycode {
        /// The constants version to resolve against [default: the newest]
        #[arg(long, value_name = "V")]
        keycodes_version: Option<Version>,
        #[arg(required = true, value_name = "EXPR")]
        expressions: Vec<String>,
        /// Treat warnings (what C silently changes) as errors
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Check keymap files (QMK configurator JSON, or hjson) against their keyboard and the keycodes
    Validate {
        /// The constants version to check against [default: the newest]
        #[arg(long, value_name = "V")]
        keycodes_version: Option<Version>,
        /// `text` reads like rustc, `json` prints one object per file for tools
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Treat warnings as errors: a keymap with warnings is invalid
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Draw every layer of a keymap file on its keyboard's layout, as SVG
    Draw {
        file: PathBuf,
        /// The constants version to check and label against [default: the newest]
        #[arg(long, value_name = "V")]
        keycodes_version: Option<Version>,
        /// Write here instead of to stdout
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Write the keymap.c of a keymap file, as QMK's json2c does, once the keymap validates
    Json2c {
        file: PathBuf,
        /// Write here instead of to stdout
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        /// Write keymap.c from any keymap that reads, as QMK's json2c does, without validating its keycodes and layers
        #[arg(long)]
        unchecked: bool,
    },
    /// Run a compile job on a keymap file: validate it, write its keymap.c, keymap.json and sources, and
    /// build its firmware when --qmk-home is a qmk_firmware checkout
    Compile(CompileOptions),
    /// Build keyboards' firmware as QMK's `qmk mass-compile` does, through the compile service's builder, and record the results for the build-status endpoints
    MassCompile(MassCompileOptions),
    /// Serve the compile API (api.qmk.fm's /v1/compile) and the built site of one channel
    Serve(ServeOptions),
    /// Run compile jobs from a job store shared with `serve` nodes (--database postgres://…), without HTTP
    Worker(JobOptions),
    /// Rewrite retired keycode and layout names in a keymap file to current ones
    Migrate {
        file: PathBuf,
        /// The constants version to migrate to [default: the newest]
        #[arg(long, value_name = "VERSION")]
        to: Option<Version>,
        /// Write here instead of to stdout
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // QMK's make runs its CLI and compiler through `qmk-api launch` (see
    // `compile::launch`) hundreds of times a build: their arguments pass untouched,
    // with no parsing of ours in the way.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == qmk_api::compile::launch::SUBCOMMAND) {
        return ExitCode::from(u8::try_from(qmk_api::compile::launch::run(&args[1..])).unwrap_or(255));
    }
    let cli = Cli::parse();
    let reporter = Reporter { quiet: cli.quiet, verbose: cli.verbose };
    match run(cli, &reporter) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                commands::writing::note(&failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

fn run(cli: Cli, reporter: &Reporter) -> Result<(), Failure> {
    let tree = DataTree::resolve(cli.qmk_home.clone());
    match cli.command {
        Command::Build { out, json_only } => constants::build(&tree, &out, json_only, reporter),
        Command::Check => constants::check(&tree, reporter),
        Command::Lock { subsystem, version, force } => {
            constants::lock(&tree, subsystem.as_deref(), version.as_ref(), force, reporter)
        }
        Command::Import { out, keyboards } => constants::import(cli.qmk_home, &out, &keyboards, reporter),
        Command::Keycode { keycodes_version, expressions, deny_warnings } => {
            keymaps::keycode(&tree, keycodes_version.as_ref(), &expressions, deny_warnings)
        }
        Command::Validate { keycodes_version, format, files, deny_warnings } => {
            keymaps::validate(&tree, keycodes_version.as_ref(), format, &files, deny_warnings, reporter)
        }
        Command::Draw { file, keycodes_version, output } => {
            keymaps::draw(&tree, keycodes_version.as_ref(), &file, output.as_deref(), reporter)
        }
        Command::Json2c { file, output, unchecked } => {
            keymaps::json2c(&tree, &file, output.as_deref(), unchecked, reporter)
        }
        Command::Compile(options) => compile::compile(&tree, options, reporter),
        Command::MassCompile(options) => mass_compile::mass_compile(&tree, options, reporter),
        Command::Serve(options) => {
            init_logging(reporter);
            serve::serve(&tree, options, reporter)
        }
        Command::Worker(options) => {
            init_logging(reporter);
            serve::worker(&tree, options, reporter)
        }
        Command::Migrate { file, to, output } => {
            keymaps::migrate(&tree, &file, to.as_ref(), output.as_deref(), reporter)
        }
    }
}

/// Log lines on stderr: `RUST_LOG` if set, else info (warnings with `--quiet`).
fn init_logging(reporter: &Reporter) {
    let default = if reporter.quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let colored = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(colored).with_writer(std::io::stderr).init();
}
