//! Converters between the files keymap and keyboard authors hold and qmk-api's own
//! documents: one module per foreign format, each reading (and, where the format can
//! say it, writing) that format and nothing else. [`convert`] is the one entry the
//! CLI's `convert` and the API's `/v1/converters/...` share.

pub mod c;
mod foreign;
pub mod kle;
pub mod via;
pub mod vil;

use std::fmt;
use std::path::Path;

use crate::keyboard::KeyboardError;
use crate::keymap::{Context, Source};
use crate::source::DataTree;

/// A file format a converter reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A keymap.c
    C,
    /// A keymap JSON: QMK Configurator's, keymap.json, with qmk-api's extension
    Json,
    /// A VIA backup file, or (written from `info`) a VIA keyboard definition
    Via,
    /// A Vial layout file (.vil)
    Vil,
    /// Keyboard Layout Editor raw data or JSON
    Kle,
    /// A keyboard definition: info.json
    Info,
}

impl Format {
    pub const ALL: [Format; 6] = [Format::C, Format::Json, Format::Via, Format::Vil, Format::Kle, Format::Info];

    pub fn name(self) -> &'static str {
        match self {
            Format::C => "c",
            Format::Json => "json",
            Format::Via => "via",
            Format::Vil => "vil",
            Format::Kle => "kle",
            Format::Info => "info",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|format| format.name() == name)
    }

    /// Whether converting from `self` to `to` needs a keyboard's definition.
    pub fn needs_keyboard(self, to: Format) -> bool {
        !matches!((self, to), (Format::Kle, Format::Info))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one conversion starts from.
pub struct Input<'a> {
    /// The file as the user names it, for messages.
    pub shown: &'a str,
    pub text: &'a str,
    /// The keyboard, where the file does not say it (or to override what it says).
    pub keyboard: Option<&'a str>,
    /// The keymap's name, where the file does not say it.
    pub keymap: Option<&'a str>,
    /// The folder the file lies in, on this machine: what it includes beside it.
    pub folder: Option<&'a Path>,
    /// The tree whose keyboards' and users' folders a keymap.c includes from.
    pub tree: Option<&'a DataTree>,
}

/// A converted file, with what the conversion could not carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    pub text: String,
    /// One line each, for the user: what was left out or changed, and where.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("qmk-api cannot convert {from} to {to}; it converts {pairs}")]
    Unsupported { from: Format, to: Format, pairs: String },
    #[error(transparent)]
    Kle(#[from] kle::KleError),
    #[error("converting {from} to {to} needs a keyboard: name it (`--keyboard`, or `?keyboard=` in the API)")]
    NoKeyboard { from: Format, to: Format },
    #[error(transparent)]
    Keyboard(#[from] KeyboardError),
    #[error("keyboard `{0}` has no layouts")]
    NoLayouts(String),
    #[error(transparent)]
    C(#[from] c::CError),
    #[error(transparent)]
    Via(#[from] via::ViaError),
    #[error(transparent)]
    Vil(#[from] vil::VilError),
    #[error("the keymap is invalid:\n{0}")]
    Invalid(String),
    #[error(transparent)]
    Json2c(#[from] crate::keymap::Json2cError),
}

/// The conversions there are, as (from, to).
pub const PAIRS: &[(Format, Format)] = &[
    (Format::C, Format::Json),
    (Format::Json, Format::C),
    (Format::Kle, Format::Info),
    (Format::Via, Format::Json),
    (Format::Info, Format::Via),
    (Format::Vil, Format::Json),
    (Format::Json, Format::Vil),
    (Format::Info, Format::Kle),
];

/// Converts `input` from one format to another, checking it against `context`.
pub fn convert(context: Context, from: Format, to: Format, input: &Input) -> Result<Converted, ConvertError> {
    match (from, to) {
        (Format::C, Format::Json) => Ok(c::to_json(context, input)?),
        (Format::Kle, Format::Info) => {
            let layout = kle::parse(input.text)?;
            Ok(Converted { text: kle::to_info_json(&layout), notes: layout.notes })
        }
        (Format::Info, Format::Kle) => {
            let name = input.keyboard.ok_or(ConvertError::NoKeyboard { from, to })?;
            let keyboard = context.keyboards.resolve(name)?;
            let (layout, definition) =
                keyboard.layouts.first().ok_or_else(|| ConvertError::NoLayouts(keyboard.name.clone()))?;
            let mut notes = Vec::new();
            if keyboard.layouts.len() > 1 {
                notes.push(format!("wrote {layout}, the first of the keyboard's {} layouts", keyboard.layouts.len()));
            }
            Ok(Converted { text: kle::from_layout(keyboard.keyboard_name(), &definition.keys), notes })
        }
        (Format::Via, Format::Json) => Ok(via::backup_to_json(input, context)?),
        (Format::Json, Format::C) => keymap_c(context, input),
        (Format::Info, Format::Via) => {
            let name = input.keyboard.ok_or(ConvertError::NoKeyboard { from, to })?;
            let keyboard = context.keyboards.resolve(name)?;
            let info = serde_json::to_value(keyboard.published_info()).map_err(|e| via::ViaError(e.to_string()))?;
            Ok(Converted { text: via::definition(&info)?, notes: Vec::new() })
        }
        (Format::Vil, Format::Json) => Ok(vil::to_json(input, context)?),
        (Format::Json, Format::Vil) => Ok(vil::from_json(input, context)?),
        _ => Err(ConvertError::Unsupported { from, to, pairs: pairs_list() }),
    }
}

/// Keymap JSON → keymap.c, as `json2c` writes it once the keymap validates; its
/// warnings are the notes.
fn keymap_c(context: Context, input: &Input) -> Result<Converted, ConvertError> {
    let source = Source::new(input.shown, input.text);
    let (keymap, report) = crate::keymap::check(&source, input.keyboard, context);
    let (errors, warnings): (Vec<_>, Vec<_>) = report.diagnostics.iter().partition(|d| d.is_error());
    let keymap = match keymap {
        Some(keymap) if errors.is_empty() => keymap,
        _ => return Err(ConvertError::Invalid(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))),
    };
    let notes = warnings.iter().map(|w| w.message.clone()).collect();
    Ok(Converted { text: crate::keymap::json2c(&keymap)?, notes })
}

fn pairs_list() -> String {
    PAIRS.iter().map(|(from, to)| format!("{from} to {to}")).collect::<Vec<_>>().join(", ")
}
