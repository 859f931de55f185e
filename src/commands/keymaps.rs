//! `keycode`, `validate`, `draw`, `json2c` and `migrate`.

use std::path::{Path, PathBuf};

use semver::Version;

use super::writing::{self, counted, emit, note, some_of};
use super::{Failure, Reporter};
use qmk_api::convert::Format as FileFormat;
use qmk_api::convert::{self, Input, c::CKeymap};
use qmk_api::keyboard::{self, Keyboards, Settings};
use qmk_api::keymap::{self, Context, Keycodes, Source};
use qmk_api::picture;
use qmk_api::source::{self, DataTree};
use qmk_api::spec;

/// The keycodes of `version`, with the keycode headers of `tree` when it has them.
pub(super) fn keycodes(tree: &DataTree, version: Option<&Version>) -> Result<Keycodes, Failure> {
    Ok(Keycodes::for_tree(&spec::load(tree)?.constants, version, tree)?)
}

/// A keymap file's text. Too large (past 64 MiB, whatever kind of file) or not text is
/// bad data (exit 1); a file that cannot be read is an I/O error (exit 2).
pub(super) fn read_keymap_file(path: &Path) -> Result<String, Failure> {
    let bytes = source::read_input(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::FileTooLarge => Failure::data(format!("{}: {e}", path.display())),
        _ => Failure::usage(format!("cannot read {}: {e}", path.display())),
    })?;
    String::from_utf8(bytes).map_err(|e| Failure::data(format!("{}: not UTF-8 text: {e}", path.display())))
}

/// The keyboards that checking keymaps needs: the folders of the `needed` keyboards
/// (one per keymap, see [`keymap::keyboard_needed`]) when every one is known and in
/// the tree, else the whole tree (which then says what a name might have meant).
pub(super) fn keyboards_for(
    tree: &DataTree,
    needed: impl IntoIterator<Item = Option<String>>,
) -> Result<Keyboards, Failure> {
    if let Some(needed) = needed.into_iter().collect::<Option<Vec<String>>>() {
        let names: Vec<&str> = needed.iter().map(String::as_str).collect();
        if let Some(keyboards) = keyboard::load_for(tree, &names)? {
            return Ok(keyboards);
        }
    }
    Ok(keyboard::load(tree)?)
}

/// A keymap.c (by its extension) read as C into keymap JSON, its notes printed; `None`
/// for any other file, which is keymap JSON already.
pub(super) fn keymap_c_as_json(
    tree: &DataTree,
    path: &Path,
    text: &str,
    target: &Target,
    context: Context,
) -> Result<Option<(String, CKeymap)>, Failure> {
    if path.extension().is_none_or(|e| e != "c") {
        return Ok(None);
    }
    let (keyboard, keymap) = super::convert::implied_names(Some(path), FileFormat::C, target);
    let shown = path.display().to_string();
    let input = Input {
        shown: &shown,
        text,
        keyboard: keyboard.as_deref(),
        keymap: keymap.as_deref(),
        folder: path.parent(),
        tree: Some(tree),
    };
    let read = convert::c::read(context, &input).map_err(|e| Failure::data(format!("{shown}: {e}")))?;
    super::convert::print_notes(&read.notes);
    Ok(Some((qmk_api::keymap::to_keymap_json(&read.document()), read)))
}

/// The keyboard and keymap given on the command line, for files that do not say them.
#[derive(Clone, Copy, Default)]
pub struct Target<'a> {
    pub keyboard: Option<&'a str>,
    pub keymap: Option<&'a str>,
}

/// The keyboard a keymap file needs: `--keyboard`, else what the file or its path says.
fn needed_keyboard(path: &Path, text: &str, target: &Target) -> Option<String> {
    target.keyboard.map(str::to_owned).or_else(|| keymap::keyboard_needed(path, text))
}

/// Prints each expression's value; what C silently changes is a warning on stderr,
/// an error with `deny_warnings`.
pub fn keycode(
    tree: &DataTree,
    version: Option<&Version>,
    expressions: &[String],
    deny_warnings: bool,
) -> Result<(), Failure> {
    let keycodes = keycodes(tree, version)?;
    let (mut failed, mut warned) = (0, 0);
    for expression in expressions {
        match keycodes.resolve(expression) {
            Ok(resolved) => {
                writing::line(format_args!("{expression}\t0x{:04X}", resolved.value))?;
                let severity = if deny_warnings { "error" } else { "warning" };
                for warning in &resolved.warnings {
                    note(format_args!("{expression}\t{severity}: {}", warning.message));
                }
                warned += usize::from(!resolved.warnings.is_empty());
            }
            Err(error) => {
                failed += 1;
                note(format_args!("{expression}\terror: {error}"));
            }
        }
    }
    let version = &keycodes.version;
    match (failed, warned) {
        (0, 0) => Ok(()),
        (0, _) if !deny_warnings => Ok(()),
        (0, n) => {
            let warned = some_of(n, expressions.len(), "expression", "has warnings", "have warnings");
            Err(Failure::data(format!("{warned} in keycodes {version}, denied by --deny-warnings")))
        }
        (n, _) => {
            let failed = some_of(n, expressions.len(), "expression", "has no value", "have no value");
            Err(Failure::data(format!("{failed} in keycodes {version}")))
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn validate(
    tree: &DataTree,
    version: Option<&Version>,
    format: Format,
    files: &[PathBuf],
    deny_warnings: bool,
    target: Target,
    reporter: &Reporter,
) -> Result<(), Failure> {
    let keycodes = keycodes(tree, version)?;
    let texts: Vec<Result<String, Failure>> = files.iter().map(|path| read_keymap_file(path)).collect();
    let needed =
        files.iter().zip(&texts).filter_map(|(path, text)| Some(needed_keyboard(path, text.as_ref().ok()?, &target)));
    let keyboards = keyboards_for(tree, needed)?;
    let context = Context { keyboards: &keyboards, keycodes: &keycodes };
    let (mut invalid, mut unreadable) = (0, Vec::new());
    for (path, text) in files.iter().zip(texts) {
        let text = match text {
            Ok(text) => text,
            Err(failure) if failure.code == 2 => {
                note(format_args!("error: {}", failure.message));
                unreadable.push(failure.message);
                continue;
            }
            Err(failure) => {
                invalid += 1;
                report_unusable(path, &failure.message, format)?;
                continue;
            }
        };
        let shown = path.display().to_string();
        let from_c = match keymap_c_as_json(tree, path, &text, &target, context) {
            Ok(from_c) => from_c,
            Err(failure) => {
                invalid += 1;
                report_unusable(path, &failure.message, format)?;
                continue;
            }
        };
        let json = from_c.as_ref().map_or(text.as_str(), |(json, _)| json.as_str());
        let source = Source::new(&shown, json).with_folder_of(path);
        let implied = target.keyboard.map(str::to_owned).or_else(|| keymap::keyboard_from_path(path));
        let (_, mut report) = keymap::check(&source, implied.as_deref(), context);
        if let Some((_, read)) = &from_c {
            read.relocate(&mut report.diagnostics, &shown);
        }
        if deny_warnings {
            report.deny_warnings();
        }
        if !report.is_valid() {
            invalid += 1;
        }
        match format {
            Format::Json => writing::json_line(&report.to_json(&shown))?,
            Format::Text => print_report(&shown, &report, tree, context, reporter),
        }
    }
    if !unreadable.is_empty() {
        return Err(Failure::usage(some_of(
            unreadable.len(),
            files.len(),
            "file",
            "could not be read",
            "could not be read",
        )));
    }
    match invalid {
        0 => Ok(()),
        n => Err(Failure::data(some_of(n, files.len(), "keymap", "is invalid", "are invalid"))),
    }
}

/// A keymap's diagnostics on stderr as rustc prints them, then a line saying
/// whether it is valid and what it was checked against.
fn print_report(shown: &str, report: &keymap::Report, tree: &DataTree, context: Context, reporter: &Reporter) {
    let keycodes = context.keycodes;
    for diagnostic in report.diagnostics.iter().filter(|d| d.is_error() || !reporter.quiet) {
        note(diagnostic);
    }
    let warnings = report.diagnostics.iter().filter(|d| !d.is_error()).count();
    let errors = report.diagnostics.len() - warnings;
    let against = match (&report.keyboard, &report.layout) {
        (Some(keyboard), Some(layout)) => format!(" ({keyboard}, {layout}, keycodes {})", keycodes.version),
        (Some(keyboard), None) => format!(" ({keyboard}, keycodes {})", keycodes.version),
        _ => String::new(),
    };
    match errors {
        0 => reporter.info(format_args!("{shown}: valid{against}, {}", counted(warnings, "warning"))),
        _ => note(format_args!(
            "{shown}: invalid{against}: {}, {}",
            counted(errors, "error"),
            counted(warnings, "warning")
        )),
    }
    let unknown_keyboard = report
        .diagnostics
        .iter()
        .any(|d| d.is_error() && d.key.as_deref() == Some("keyboard") && report.keyboard.is_none());
    if unknown_keyboard && matches!(tree, DataTree::Bundled) {
        let names: Vec<&str> = context.keyboards.iter().map(|keyboard| keyboard.name.as_str()).collect();
        note(format_args!(
            "help: the bundled data holds {} ({}); for any QMK keyboard, pass --qmk-home with a qmk_firmware checkout, or set QMK_HOME",
            counted(names.len(), "keyboard"),
            names.join(", ")
        ));
    }
}

/// Draws every layer of a keymap file on its keyboard as SVG, into `out` or onto
/// stdout; an invalid keymap gets its diagnostics, as `validate` prints them, and no picture.
pub fn draw(
    tree: &DataTree,
    version: Option<&Version>,
    file: &Path,
    out: Option<&Path>,
    target: Target,
    reporter: &Reporter,
) -> Result<(), Failure> {
    let keycodes = keycodes(tree, version)?;
    let text = read_keymap_file(file)?;
    let keyboards = keyboards_for(tree, [needed_keyboard(file, &text, &target)])?;
    let context = Context { keyboards: &keyboards, keycodes: &keycodes };
    let shown = file.display().to_string();
    let from_c = keymap_c_as_json(tree, file, &text, &target, context)?;
    let json = from_c.as_ref().map_or(text.as_str(), |(json, _)| json.as_str());
    let implied = target.keyboard.map(str::to_owned).or_else(|| keymap::keyboard_from_path(file));
    let (svg, mut report) = picture::draw(&Source::new(&shown, json).with_folder_of(file), implied.as_deref(), context);
    if let Some((_, read)) = &from_c {
        read.relocate(&mut report.diagnostics, &shown);
    }
    print_report(&shown, &report, tree, context, reporter);
    let svg = svg.ok_or_else(|| match report.is_valid() {
        true => Failure::data(format!("{shown}: not drawn: the keymap has no layers")),
        false => Failure::data(format!("{shown}: not drawn: the keymap is invalid")),
    })?;
    emit_reported(svg.as_bytes(), out, reporter)
}

/// Writes `text` to `out` or stdout, saying so when it is a file.
fn emit_reported(text: &[u8], out: Option<&Path>, reporter: &Reporter) -> Result<(), Failure> {
    emit(text, out)?;
    if let Some(out) = out {
        reporter.info(format_args!("wrote {}", out.display()));
    }
    Ok(())
}

fn report_unusable(path: &Path, message: &str, format: Format) -> Result<(), Failure> {
    let shown = path.display().to_string();
    match format {
        Format::Json => writing::json_line(
            &serde_json::json!({"file": shown, "valid": false, "diagnostics": [{"severity": "error", "message": message}]}),
        ),
        Format::Text => {
            note(format_args!("error: {message}"));
            Ok(())
        }
    }
}

/// Writes the keymap.c of a keymap file, as QMK's json2c does, once the keymap passes
/// `validate` (its diagnostics as `validate` prints them); `unchecked`, as QMK's
/// json2c, it only has to read and to make C.
/// Where `json2c` writes.
pub enum Json2cOut<'a> {
    /// keymap.c, to a file or stdout.
    File(Option<&'a Path>),
    /// The whole keymap folder.
    Folder(&'a Path),
}

pub fn json2c(
    tree: &DataTree,
    file: &Path,
    out: Json2cOut,
    unchecked: bool,
    reporter: &Reporter,
) -> Result<(), Failure> {
    let text = read_keymap_file(file)?;
    let shown = file.display().to_string();
    let source = Source::new(&shown, &text).with_folder_of(file);
    let (keymap, features) = match unchecked {
        true => {
            let (keymap, findings) = keymap::read(&source, &Settings::load(tree)?);
            let errors: Vec<String> = findings.iter().filter(|d| d.is_error()).map(ToString::to_string).collect();
            (keymap.filter(|_| errors.is_empty()).ok_or_else(|| Failure::data(errors.join("\n")))?, Vec::new())
        }
        false => {
            let keycodes = keycodes(tree, None)?;
            let keyboards = keyboards_for(tree, [keymap::keyboard_needed(file, &text)])?;
            let context = Context { keyboards: &keyboards, keycodes: &keycodes };
            let implied = keymap::keyboard_from_path(file);
            let (keymap, report) = keymap::check(&source, implied.as_deref(), context);
            match keymap.filter(|_| report.is_valid()) {
                Some(keymap) => {
                    report.diagnostics.iter().filter(|_| !reporter.quiet).for_each(note);
                    (keymap, report.features)
                }
                None => {
                    print_report(&shown, &report, tree, context, reporter);
                    return Err(Failure::data(format!(
                        "{shown}: no keymap.c written (--unchecked writes it from any keymap that reads)"
                    )));
                }
            }
        }
    };
    let unwritable = |e: keymap::Json2cError| Failure::data(format!("{shown}: {e}"));
    match out {
        Json2cOut::File(out) => emit_reported(keymap::json2c(&keymap).map_err(unwritable)?.as_bytes(), out, reporter),
        Json2cOut::Folder(folder) => {
            let files = keymap::extensions::c::folder(&keymap, &features).map_err(unwritable)?;
            check_folder(folder, &files)?;
            std::fs::create_dir_all(folder)
                .map_err(|e| Failure::usage(format!("cannot create {}: {e}", folder.display())))?;
            for (name, text) in files {
                emit_reported(text.as_bytes(), Some(&folder.join(name)), reporter)?;
            }
            Ok(())
        }
    }
}

/// Before anything is written: a file of a keymap folder in `folder` that this keymap
/// does not write would be built with it (a rules.mk of an earlier keymap turning
/// combos on), and one that is no regular file would stop the writing half-way.
fn check_folder(folder: &Path, files: &[(&str, String)]) -> Result<(), Failure> {
    for name in keymap::extensions::c::FOLDER_FILES {
        let path = folder.join(name);
        let Ok(metadata) = std::fs::symlink_metadata(&path) else { continue };
        if !metadata.file_type().is_file() {
            return Err(Failure::usage(format!("{} is not a regular file: refusing to replace it", path.display())));
        }
        if !files.iter().any(|(written, _)| *written == name) {
            return Err(Failure::usage(format!(
                "{} is there, and this keymap's folder has none: make would build it too; remove it or write \
                 into another folder",
                path.display()
            )));
        }
    }
    Ok(())
}

pub fn migrate(
    tree: &DataTree,
    file: &Path,
    to: Option<&Version>,
    out: Option<&Path>,
    reporter: &Reporter,
) -> Result<(), Failure> {
    let keycodes = keycodes(tree, to)?;
    let keyboards: Option<Keyboards> = keyboard::load(tree).ok();
    let loaded;
    let settings = match &keyboards {
        Some(keyboards) => keyboards.settings(),
        None => {
            loaded = Settings::load(tree)?;
            &loaded
        }
    };
    let text = read_keymap_file(file)?;
    let shown = file.display().to_string();
    let (keymap, findings) = keymap::read(&Source::new(&shown, &text), settings);
    let Some(keymap) = keymap else {
        let errors: Vec<String> = findings.iter().map(ToString::to_string).collect();
        return Err(Failure::data(errors.join("\n")));
    };
    let (migrated, changes) = keymap::migrate(&keymap, &keycodes, keyboards.as_ref());
    for change in &changes {
        reporter.info(format_args!("{}: {} → {} ({})", change.at, change.from, change.to, change.why));
    }
    let changed = counted(changes.len(), "name");
    reporter.info(format_args!("{shown}: {changed} changed for keycodes {}", keycodes.version));
    let rewritten = keymap::rewrite_text(&text, &keymap.document, &migrated, &changes)
        .unwrap_or_else(|| keymap::to_keymap_json(&migrated));
    emit_reported(rewritten.as_bytes(), out, reporter)
}
