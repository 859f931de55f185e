//! `compile`: one compile job on a keymap file, as the service runs it. Firmware builds
//! keep what they compile in the user's cache folder, as cargo and ccache do, so that
//! the next keymap of a keyboard builds warm; the cache follows the service's trust
//! rule (only a keyboard's reference build fills it) and stays within its size bound.

use std::path::{Path, PathBuf};
use std::time::Duration;

use qmk_api::compile::{self, Builder, Containment, FirmwareBuilder};
use qmk_api::keyboard::Keyboards;
use qmk_api::keymap::{self, Context, Source};
use qmk_api::source::DataTree;

use super::keymaps::{keyboards_for, keycodes, read_keymap_file};
use super::writing::{self, emit};
use super::{Failure, Reporter};

#[derive(clap::Args)]
pub struct CompileOptions {
    /// The keymap file (QMK Configurator's JSON)
    file: PathBuf,
    /// Where the job's files go
    #[arg(long, default_value = "compiled", value_name = "DIR")]
    out: PathBuf,
    /// Stop a firmware build that runs longer than this
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = humantime::parse_duration)]
    build_time_limit: Duration,
    /// Refuse a keymap with warnings, before the job runs
    #[arg(long)]
    deny_warnings: bool,
    /// Build firmware without a sandbox (bubblewrap): the keymap's build may then run code as this user
    #[arg(long)]
    no_sandbox: bool,
    /// Where firmware builds keep what later builds reuse [default: $XDG_CACHE_HOME/qmk-api, else ~/.cache/qmk-api]
    #[arg(long, value_name = "DIR", env = "QMK_API_CACHE", conflicts_with = "no_cache")]
    cache: Option<PathBuf>,
    /// Build everything anew and keep nothing
    #[arg(long)]
    no_cache: bool,
    /// The most the cache may hold, in MiB: past it, what was used least recently goes
    #[arg(long, default_value_t = 4096, value_name = "MIB")]
    cache_limit: u64,
}

/// Runs a job with the builder of `tree` and writes what it made into `--out`; with
/// `--deny-warnings`, a keymap with warnings fails before the job runs.
pub fn compile(tree: &DataTree, options: CompileOptions, reporter: &Reporter) -> Result<(), Failure> {
    let keycodes = keycodes(tree, None)?;
    let request = read_keymap_file(&options.file)?;
    let keyboards = keyboards_for(tree, [keymap::keyboard_needed(&options.file, &request)])?;
    let context = Context { keyboards: &keyboards, keycodes: &keycodes };
    let shown = options.file.display().to_string();
    let (_, mut report) = keymap::check(&Source::new(&shown, &request), None, context);
    if options.deny_warnings && report.diagnostics.iter().any(|d| !d.is_error()) {
        report.deny_warnings();
        let diagnostics: Vec<String> = report.diagnostics.iter().map(ToString::to_string).collect();
        return Err(Failure::data(format!("{}\n{shown}: warnings denied by --deny-warnings", diagnostics.join("\n"))));
    }
    let cache = match options.no_cache {
        true => None,
        false => Some(options.cache.clone().map_or_else(user_cache, Ok)?),
    };
    let settings = super::build_settings(options.build_time_limit, options.no_sandbox, cache.as_deref())?;
    let builder = match (Builder::for_tree(tree, settings), &cache) {
        (Builder::Firmware(firmware), Some(cache)) if report.is_valid() => {
            Builder::Firmware(warm(firmware, report.keyboard.as_deref(), &keyboards, cache, reporter)?)
        }
        (builder, _) => builder,
    };
    let out = &options.out;
    let failed = |e: std::io::Error| Failure::usage(format!("cannot write {}: {e}", out.display()));
    let outcome = compile::run(&request, context, &builder, out).map_err(failed)?;
    writing::line(&outcome.output)?;
    if let Some(sources) = &outcome.sources {
        let zip = sources.zip().map_err(failed)?;
        let files = [
            ("keymap.c", sources.keymap_c.as_bytes()),
            ("keymap.json", sources.keymap_json.as_bytes()),
            ("source.zip", zip.as_slice()),
        ];
        std::fs::create_dir_all(out).map_err(failed)?;
        for (name, bytes) in files {
            emit(bytes, Some(&out.join(name)))?;
            writing::line(format_args!("wrote {}", out.join(name).display()))?;
        }
    }
    if let Some(firmware) = &outcome.firmware {
        writing::line(format_args!("wrote {}", firmware.display()))?;
    }
    if let (Builder::Firmware(firmware), Some(cache)) = (&builder, &cache) {
        let limit = options.cache_limit.saturating_mul(1 << 20);
        match firmware.bound_cache(limit) {
            Ok(size) => reporter.detail(format_args!("the cache {} holds {} MiB", cache.display(), size >> 20)),
            Err(error) => reporter.info(format_args!("warning: cannot prune the cache {}: {error}", cache.display())),
        }
    }
    match outcome.returncode {
        0 => Ok(()),
        code => Err(Failure::data(format!("the job failed (return code {code})"))),
    }
}

/// The user's cache folder for qmk-api: `$XDG_CACHE_HOME/qmk-api`, else `~/.cache/qmk-api`.
fn user_cache() -> Result<PathBuf, Failure> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .ok_or_else(|| {
            Failure::usage("no cache folder: set XDG_CACHE_HOME or HOME, pass --cache DIR, or --no-cache")
        })?;
    Ok(base.join("qmk-api"))
}

/// `firmware` keyed on the tree as it is now; when the cache lacks `keyboard`'s
/// reference build, that build runs first, so that this job's build is warm.
fn warm(
    firmware: FirmwareBuilder,
    keyboard: Option<&str>,
    keyboards: &Keyboards,
    cache: &Path,
    reporter: &Reporter,
) -> Result<FirmwareBuilder, Failure> {
    if let Containment::Unavailable(_) = firmware.containment() {
        return Ok(firmware);
    }
    let unreadable = |e: std::io::Error| Failure::usage(format!("cannot use the cache {}: {e}", cache.display()));
    let digest = firmware.tree_digest().map_err(unreadable)?;
    let firmware = firmware.at(&digest);
    let Some(keyboard) = keyboard.and_then(|name| keyboards.resolve(name).ok()) else { return Ok(firmware) };
    if firmware.needs_reference(&keyboard.name) {
        reporter.info(format_args!(
            "{}: first build of this keyboard with the cache {}: its reference keymap builds first, and what it compiles serves this keymap and every later one",
            keyboard.name,
            cache.display()
        ));
        let folder = cache.join("work").join(format!("reference-{}", uuid::Uuid::new_v4()));
        firmware.fill_cache(keyboard, &folder).map_err(unreadable)?;
        // Publishes what the reference build kept.
        firmware.tree_digest().map_err(unreadable)?;
    }
    Ok(firmware)
}
