//! `convert` and `c2json`: one file from one format to another, through the library's
//! single [`convert`](qmk_api::convert::convert) entry.

use std::path::Path;

use semver::Version;

use super::Failure;
use super::keymaps::{keyboards_for, keycodes, read_keymap_file};
use super::writing::{emit, note};
use qmk_api::convert::{self, Format, Input};
use qmk_api::keyboard::Keyboards;
use qmk_api::keymap::{self, Context};
use qmk_api::source::DataTree;

/// What `convert` is asked to do.
pub struct Request<'a> {
    pub from: Format,
    pub to: Format,
    /// The input file; none where `--keyboard` alone is the input (`--from info`).
    pub file: Option<&'a Path>,
    pub keyboard: Option<&'a str>,
    pub keymap: Option<&'a str>,
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
    let implied = request.file.and_then(keymap::keyboard_from_path);
    let keyboard = request.keyboard.map(str::to_owned).or(implied);
    let keycodes = keycodes(tree, request.keycodes_version)?;
    let keyboards = match request.from.needs_keyboard(request.to) {
        true => keyboards_for(tree, [keyboard.clone()])?,
        false => Keyboards::default(),
    };
    let context = Context { keyboards: &keyboards, keycodes: &keycodes };
    let input = Input { shown: &shown, text: &text, keyboard: keyboard.as_deref(), keymap: request.keymap };
    let converted = convert::convert(context, request.from, request.to, &input)
        .map_err(|e| Failure::data(format!("{shown}: {e}")))?;
    for line in &converted.notes {
        note(format_args!("note: {line}"));
    }
    emit(converted.text.as_bytes(), request.output)
}

/// The formats as `--from`/`--to` take them.
pub fn format_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Format::ALL.map(Format::name))
        .map(|name: String| Format::from_name(&name).expect("clap offers only the formats' names"))
}
