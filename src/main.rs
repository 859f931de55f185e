//! The command line: parses arguments and calls the library.

mod commands;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use semver::Version;

use commands::compile::CompileOptions;
use commands::keymaps::Format;
use commands::mass_compile::MassCompileOptions;
use commands::serve::{JobOptions, ServeOptions};
use commands::{Failure, Reporter, compile, constants, keymaps, mass_compile, serve};
use qmk_api::convert::Format as FileFormat;
use qmk_api::source::DataTree;

#[derive(Parser)]
#[command(
    name = "qmk-api",
    version,
    long_version = LONG_VERSION,
    about = "QMK's versioned constants, keyboards and keymaps, in one binary",
    after_help = "Examples:\n  qmk-api validate my_keymap.json        check a keymap against its keyboard\n  qmk-api draw my_keymap.json -o my.svg  draw its layers\n  qmk-api build                          publish the JSON API and the site into public/\n\nA guide: docs/guide.md, or guide/ in the built site."
)]
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
    #[command(
        after_help = "Examples:\n  qmk-api build\n  qmk-api --qmk-home ~/qmk_firmware build --out /srv/keyboards"
    )]
    Build {
        /// Output directory; replaced as a whole, and only when the build succeeds
        #[arg(long, default_value = "public", value_name = "DIR")]
        out: PathBuf,
        /// Publish the JSON API only, without the site's pages
        #[arg(long)]
        json_only: bool,
    },
    /// Check the constants and the lock without writing anything
    #[command(after_help = "Example:\n  qmk-api --qmk-home ~/qmk_firmware check")]
    Check,
    /// Lock versions in: record their published bytes in data/constants/constants.lock
    #[command(
        after_help = "Examples:\n  qmk-api --qmk-home ~/qmk_firmware lock --up-to 0.0.8\n  qmk-api --qmk-home . lock --subsystem keycodes"
    )]
    Lock {
        /// Only this subsystem (e.g. keycodes, keycodes_german) [default: all]
        #[arg(long, value_name = "S")]
        subsystem: Option<String>,
        /// Lock every version up to and including this one [default: all]
        #[arg(long, value_name = "VERSION", alias = "version")]
        up_to: Option<Version>,
        /// Re-lock versions whose content changed since they were locked
        #[arg(long)]
        force: bool,
    },
    /// Write normalized data from a QMK tree (--qmk-home) into a data directory
    #[command(
        after_help = "Example:\n  qmk-api --qmk-home ~/qmk_firmware import --keyboard dz60 --keyboard planck/rev6"
    )]
    Import {
        /// The data directory to write (its constants/, keyboards/ and mappings/ are replaced; the lock is kept)
        #[arg(long, default_value = "data", value_name = "DIR")]
        out: PathBuf,
        /// A keyboard to bundle (repeatable) [default: clueboard/66/rev2 and a few popular boards]
        #[arg(long = "keyboard", value_name = "KB")]
        keyboards: Vec<String>,
    },
    /// Print the 16-bit value of keycode expressions, e.g. 'LT(1, KC_A)'
    #[command(
        after_help = "Examples:\n  qmk-api keycode 'LT(1, KC_A)' KC_TILD\n  qmk-api keycode --keycodes-version 0.0.3 QK_BOOT"
    )]
    Keycode {
        /// The constants version to resolve against [default: the newest]
        #[arg(long, value_name = "V")]
        keycodes_version: Option<Version>,
        /// Keycode expressions as a keymap holds them: names, numbers and QMK's macros
        #[arg(required = true, value_name = "EXPR")]
        expressions: Vec<String>,
        /// Treat warnings (what C silently changes) as errors
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Check keymap files (QMK configurator JSON, or hjson) against their keyboard and the keycodes
    #[command(
        after_help = "Examples:\n  qmk-api validate my_keymap.json\n  qmk-api --qmk-home ~/qmk_firmware validate --format json keymaps/*.json"
    )]
    Validate {
        /// The constants version to check against [default: the newest]
        #[arg(long, value_name = "V")]
        keycodes_version: Option<Version>,
        /// `text` reads like rustc, `json` prints one object per file for tools
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Keymap files: JSON as QMK Configurator exports it, hjson, or a keymap.c (read as C)
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Treat warnings as errors: a keymap with warnings is invalid
        #[arg(long)]
        deny_warnings: bool,
        #[command(flatten)]
        target: KeymapTarget,
    },
    /// Draw every layer of a keymap file on its keyboard's layout, as SVG
    #[command(after_help = "Example:\n  qmk-api draw my_keymap.json -o my_keymap.svg")]
    Draw {
        /// The keymap file to draw, once it validates: keymap JSON, or a keymap.c (read as C)
        file: PathBuf,
        #[command(flatten)]
        options: FileOptions,
    },
    /// Write the keymap.c of a keymap file, as QMK's json2c does, once the keymap validates
    #[command(
        after_help = "Examples:\n  qmk-api json2c my_keymap.json -o keymap.c\n  qmk-api json2c my_keymap.json --folder ~/qmk_firmware/keyboards/planck/keymaps/mine"
    )]
    Json2c {
        /// The keymap file to write as C
        file: PathBuf,
        /// Write here instead of to stdout
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        /// Write keymap.c from any keymap that reads, as QMK's json2c does, without validating its keycodes and layers
        #[arg(long, conflicts_with = "folder")]
        unchecked: bool,
        /// Write the keymap folder QMK's make builds into DIR instead: keymap.json, and the keymap.h, keymap.c,
        /// rules.mk and config.h of layer names, combos, tap dances, key overrides and the features keys need
        #[arg(long, value_name = "DIR", conflicts_with = "output")]
        folder: Option<PathBuf>,
    },
    /// Read a keymap.c as QMK's C compiler does and write it as a keymap JSON; what JSON cannot hold is
    /// listed as notes. The same as `convert --from c --to json`
    #[command(
        after_help = "Examples:\n  qmk-api --qmk-home ~/qmk_firmware c2json keyboards/planck/keymaps/default/keymap.c\n  qmk-api c2json my_keymap.c --keyboard planck/rev6 --keymap mine -o mine.json"
    )]
    C2json {
        /// The keymap.c; keyboard and keymap come from its path when it lies in a tree's keyboards/<kb>/keymaps/<km>/
        file: PathBuf,
        #[command(flatten)]
        options: FileOptions,
    },
    /// Convert a file from one format to another: keymap.c, keymap JSON, VIA, Vial, KLE and info.json
    #[command(
        after_help = "Examples:\n  qmk-api convert --from via --to json backup.json --keyboard planck/rev6\n  qmk-api convert --from kle --to info layout.txt\n  qmk-api convert --from info --to via --keyboard planck/rev6"
    )]
    Convert {
        /// The input's format
        #[arg(long, value_parser = commands::convert::format_parser())]
        from: FileFormat,
        /// The output's format
        #[arg(long, value_parser = commands::convert::format_parser())]
        to: FileFormat,
        /// The input file (not needed with --from info, which reads --keyboard's definition)
        file: Option<PathBuf>,
        #[command(flatten)]
        options: FileOptions,
    },
    /// Run a compile job on a keymap file: validate it, write its keymap.c, keymap.json and sources, and
    /// build its firmware when --qmk-home is a qmk_firmware checkout
    #[command(
        after_help = "Examples:\n  qmk-api compile my_keymap.json --out compiled\n  qmk-api --qmk-home ~/qmk_firmware compile my_keymap.json"
    )]
    Compile(CompileOptions),
    /// Build keyboards' firmware as QMK's `qmk mass-compile` does, through the compile service's builder, and record the results for the build-status endpoints
    #[command(
        after_help = "Examples:\n  qmk-api --qmk-home ~/qmk_firmware mass-compile -j 2 dz60 planck/rev6\n  qmk-api --qmk-home ~/qmk_firmware mass-compile -f processor=RP2040 --dry-run"
    )]
    MassCompile(MassCompileOptions),
    /// Serve the compile API (api.qmk.fm's /v1/compile) and the built site of one channel
    #[command(
        after_help = "Examples:\n  qmk-api serve --listen 127.0.0.1:8080\n  qmk-api --qmk-home ~/qmk_firmware serve --workers 2 --state /var/lib/qmk-api"
    )]
    Serve(ServeOptions),
    /// Run compile jobs from a job store shared with `serve` nodes (--database postgres://…), without HTTP
    #[command(after_help = "Example:\n  qmk-api --qmk-home ~/qmk_firmware worker --database postgres://qmk@db/qmk_api")]
    Worker(JobOptions),
    /// Rewrite retired keycode and layout names in a keymap file to current ones
    #[command(after_help = "Example:\n  qmk-api migrate my_keymap.json -o my_keymap.json")]
    Migrate {
        /// The keymap file; only the renamed strings change, where they are written
        file: PathBuf,
        /// The constants version to migrate to [default: the newest]
        #[arg(long, value_name = "VERSION")]
        to: Option<Version>,
        /// Write here instead of to stdout
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Print a shell's completion script
    #[command(
        after_help = "Examples:\n  qmk-api completions bash > ~/.local/share/bash-completion/completions/qmk-api\n  qmk-api completions zsh > ~/.zfunc/_qmk-api"
    )]
    Completions {
        /// The shell to complete in
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff)
    #[command(after_help = "Example:\n  qmk-api man > ~/.local/share/man/man1/qmk-api.1")]
    Man,
}

/// The keyboard and keymap of keymap files that do not say them.
#[derive(clap::Args)]
struct KeymapTarget {
    /// The keyboard, where a file's content or path does not say it
    #[arg(long, value_name = "KB")]
    keyboard: Option<String>,
    /// The keymap's name, where a file's path does not say it
    #[arg(long, value_name = "KM")]
    keymap: Option<String>,
}

impl KeymapTarget {
    fn as_target(&self) -> keymaps::Target<'_> {
        keymaps::Target { keyboard: self.keyboard.as_deref(), keymap: self.keymap.as_deref() }
    }
}

/// The keyboard and keymap of a file that does not say them, the keycodes to read it
/// with, and where to write what it becomes.
#[derive(clap::Args)]
struct FileOptions {
    #[command(flatten)]
    target: KeymapTarget,
    /// The constants version to read keycodes with [default: the newest]
    #[arg(long, value_name = "V")]
    keycodes_version: Option<Version>,
    /// Write here instead of to stdout
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
}

/// `--version`: the commit built and the constants bundled.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("QMK_API_COMMIT"),
    ")\nbundled constants: keycodes ",
    env!("QMK_API_KEYCODES"),
);

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
            // One style for every command: the last word is an error, as diagnostics are.
            match failure.message.as_str() {
                "" => {}
                message if message.starts_with("error:") => commands::writing::note(message),
                message => commands::writing::note(&format!("error: {message}")),
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
        Command::Lock { subsystem, up_to, force } => {
            constants::lock(&tree, subsystem.as_deref(), up_to.as_ref(), force, reporter)
        }
        Command::Import { out, keyboards } => constants::import(cli.qmk_home, &out, &keyboards, reporter),
        Command::Keycode { keycodes_version, expressions, deny_warnings } => {
            keymaps::keycode(&tree, keycodes_version.as_ref(), &expressions, deny_warnings)
        }
        Command::Validate { keycodes_version, format, files, deny_warnings, target } => {
            let target = target.as_target();
            keymaps::validate(&tree, keycodes_version.as_ref(), format, &files, deny_warnings, target, reporter)
        }
        Command::Draw { file, options } => {
            let FileOptions { target, keycodes_version, output } = &options;
            keymaps::draw(&tree, keycodes_version.as_ref(), &file, output.as_deref(), target.as_target(), reporter)
        }
        Command::Json2c { file, output, unchecked, folder } => {
            let out = match &folder {
                Some(folder) => keymaps::Json2cOut::Folder(folder),
                None => keymaps::Json2cOut::File(output.as_deref()),
            };
            keymaps::json2c(&tree, &file, out, unchecked, reporter)
        }
        Command::C2json { file, options } => {
            convert_file(&tree, FileFormat::C, FileFormat::Json, Some(&file), &options)
        }
        Command::Convert { from, to, file, options } => convert_file(&tree, from, to, file.as_deref(), &options),
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
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "qmk-api", &mut script);
            commands::writing::stdout(&script)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page).map_err(|e| Failure::usage(e.to_string()))?;
            commands::writing::stdout(&page)
        }
    }
}

fn convert_file(
    tree: &DataTree,
    from: FileFormat,
    to: FileFormat,
    file: Option<&Path>,
    options: &FileOptions,
) -> Result<(), Failure> {
    commands::convert::convert(
        tree,
        commands::convert::Request {
            from,
            to,
            file,
            target: options.target.as_target(),
            keycodes_version: options.keycodes_version.as_ref(),
            output: options.output.as_deref(),
        },
    )
}

/// Log lines on stderr: `RUST_LOG` if set, else info (warnings with `--quiet`).
fn init_logging(reporter: &Reporter) {
    let default = if reporter.quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let colored = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(colored).with_writer(std::io::stderr).init();
}
