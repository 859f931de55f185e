//! Writing results: lines on stdout and stderr, and whole files for `-o`.
//!
//! A reader that goes away (`qmk-api validate … | head -n1`) ends the command quietly,
//! as `head` expects; any other failure to write (a full disk) is an I/O error, exit 2.
//!
//! Every line of text goes out through [`line`] or [`note`], which escape the control
//! characters the input may have put into it ([`escape_controls_in_lines`]): a keycode or
//! a file name cannot drive the terminal. JSON goes out through [`json_line`], as valid
//! JSON whose strings hold the same text, with nothing raw that could drive a terminal.

use std::fmt::{Display, Write as _};
use std::fs::Permissions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::Failure;
use qmk_api::diagnostic::{escape_controls_in_lines, is_control};

/// `count` and `noun`, plural unless it is one: `1 error`, `2 errors`.
pub fn counted(count: usize, noun: &str) -> String {
    match count {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// How many of `total` things (`noun`) are as `singular`/`plural` say: `the keymap is
/// invalid` of one, `2 of 3 keymaps are invalid` of more.
pub fn some_of(count: usize, total: usize, noun: &str, singular: &str, plural: &str) -> String {
    match total {
        1 => format!("the {noun} {singular}"),
        _ => format!("{count} of {total} {noun}s {plural}"),
    }
}

/// Writes `text` to stdout and flushes it.
pub fn stdout(text: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text).and_then(|()| stdout.flush()).map_err(|error| match error.kind() {
        ErrorKind::BrokenPipe => Failure::quiet(),
        _ => Failure::usage(format!("cannot write to stdout: {error}")),
    })
}

/// Prints a line of text on stdout, its control characters escaped.
pub fn line(text: impl Display) -> Result<(), Failure> {
    let text = text.to_string();
    stdout(format!("{}\n", escape_controls_in_lines(&text)).as_bytes())
}

/// Prints a JSON document on one line of stdout. serde escapes the C0 controls in its
/// strings; DEL, the C1 controls and the bidi controls it leaves raw are written as
/// `\uXXXX` escapes too, which read back as the same text (in valid JSON they can only
/// be inside strings).
pub fn json_line(json: &serde_json::Value) -> Result<(), Failure> {
    let mut text = String::new();
    for c in json.to_string().chars() {
        match c {
            // serde escapes the ASCII controls but DEL.
            c if c == '\u{7f}' || (!c.is_ascii() && is_control(c)) => {
                let mut units = [0; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(text, "\\u{unit:04x}");
                }
            }
            c => text.push(c),
        }
    }
    text.push('\n');
    stdout(text.as_bytes())
}

/// Prints a line on stderr, its control characters escaped. A failure is ignored: there
/// is nowhere left to report it.
pub fn note(text: impl Display) {
    let text = text.to_string();
    let _ = writeln!(std::io::stderr().lock(), "{}", escape_controls_in_lines(&text));
}

/// Writes `text` to `out`, or to stdout.
pub fn emit(text: &[u8], out: Option<&Path>) -> Result<(), Failure> {
    match out {
        Some(out) => file(text, out),
        None => stdout(text),
    }
}

/// Writes `text` to the file `out` in one step: a new file beside it is renamed over it,
/// so a reader never sees half of it. Only a regular file is replaced, keeping its
/// permissions; a symbolic link (never followed), a device, a FIFO or a folder there is
/// refused: as root, `-o /dev/null` would otherwise replace the device.
pub fn file(text: &[u8], out: &Path) -> Result<(), Failure> {
    let failed = |e: std::io::Error| Failure::usage(format!("cannot write {}: {e}", out.display()));
    let existing = match std::fs::symlink_metadata(out) {
        Ok(metadata) => Some(metadata),
        Err(error) if error.kind() == ErrorKind::NotFound => None,
        Err(error) => return Err(failed(error)),
    };
    if let Some(kind) = existing.as_ref().map(|m| m.file_type()).filter(|t| !t.is_file()) {
        return Err(Failure::usage(format!(
            "{} is {}, not a regular file: refusing to replace it",
            out.display(),
            qmk_api::source::file_kind(kind)
        )));
    }
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // A new file gets the permissions any new file gets (0666 less the umask).
    let mut file = tempfile::Builder::new()
        .prefix(".qmk-api-")
        .permissions(Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(failed)?;
    if let Some(existing) = &existing {
        file.as_file().set_permissions(existing.permissions()).map_err(failed)?;
    }
    file.write_all(text).map_err(failed)?;
    file.persist(out).map_err(|e| failed(e.error))?;
    Ok(())
}
