//! `convert` and `c2json`: one file from one format to another, through the library's
//! single [`convert`](qmk_api::convert::convert) entry.

use std::path::Path;

use semver::Version;

use super::Failure;
use super::keymaps::{Target, keyboards_for, keycodes, read_keymap_file};
use super::writing::{emit, note};
use qmk_api::convert::{self, Format, Input};
use qmk_api::keyboard::{self, Keyboards};
use qmk_api::keymap::{self, Context, NameField};
use qmk_api::source::DataTree;

/// What `convert` is asked to do.
pub struct Request<'a> {
    pub from: Format,
    pub to: Format,
    /// The input file; none where `--keyboard` alone is the input (`--from info`).
    pub file: Option<&'a Path>,
    pub target: Target<'a>,
    pub keycodes_version: Option<&'a Version>,
    pub output: Option<&'a Path>,
}

pub fn convert(tree: &DataTree, request: Request) -> Result<(), Failure> {
    let text = match request.file {
        Some(path) => read_keymap_file(path)?,
        None if request.from == Format::Info => String::new(),
        None => return Err(Failure::usage(format!("converting from {} needs a FILE", request.from))),
    };
    let shown = request.file.map_or_else(|| "(keyboard)".to_owned(), |p| p.display().to_string());
    let (keyboard, keymap) = implied_names(request.file, request.from, &request.target);
    let keycodes = keycodes(tree, request.keycodes_version)?;
    let keyboards = match (request.from.needs_keyboard(request.to), &keyboard) {
        (false, _) => Keyboards::default(),
        // A keymap.c may lie in a folder of several keyboards (keyboards/planck/keymaps/).
        (true, Some(name)) if request.from == Format::C => match keyboard::load_top_folder(tree, name) {
            Ok(keyboards) if !keyboards.at_or_below(name).is_empty() => keyboards,
            _ => keyboards_for(tree, [keyboard.clone()])?,
        },
        (true, _) => keyboards_for(tree, [keyboard.clone()])?,
    };
    let context = Context { keyboards: &keyboards, keycodes: &keycodes };
    let input = Input {
        shown: &shown,
        text: &text,
        keyboard: keyboard.as_deref(),
        keymap: keymap.as_deref(),
        folder: request.file.and_then(Path::parent),
        tree: Some(tree),
    };
    let converted = convert::convert(context, request.from, request.to, &input)
        .map_err(|e| Failure::data(format!("{shown}: {e}")))?;
    print_notes(&converted.notes);
    emit(converted.text.as_bytes(), request.output)
}

/// The keyboard and keymap of a file: those given, else what its path says (a keymap's
/// name only for a keymap.c, as QMK's c2json takes it; other formats say it themselves).
pub(super) fn implied_names(file: Option<&Path>, from: Format, target: &Target) -> (Option<String>, Option<String>) {
    let keyboard = target.keyboard.map(str::to_owned).or_else(|| file.and_then(keymap::keyboard_from_path));
    let implied_keymap = file.filter(|_| from == Format::C).and_then(keymap_from_path);
    (keyboard, target.keymap.map(str::to_owned).or(implied_keymap))
}

/// What a conversion left out or changed, on stderr.
pub(super) fn print_notes(notes: &[String]) {
    for line in notes {
        note(format_args!("note: {line}"));
    }
}

/// A keymap's name from where its file lies: the folder under `keymaps/`, else the
/// file's name (`mine.c` → `mine`) when it is a keymap name.
fn keymap_from_path(path: &Path) -> Option<String> {
    let parts: Vec<&str> = path.iter().filter_map(|p| p.to_str()).collect();
    let name = match parts.iter().rposition(|p| *p == "keymaps") {
        Some(at) if at + 1 < parts.len() - 1 => parts[at + 1],
        _ => path.file_stem()?.to_str()?,
    };
    NameField::Keymap.problem(name).is_none().then(|| name.to_owned())
}

/// The formats as `--from`/`--to` take them.
pub fn format_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Format::ALL.map(Format::name))
        .map(|name: String| Format::from_name(&name).expect("clap offers only the formats' names"))
}
