//! Kept results of runs that are pure functions of their arguments, the files those
//! name and the tree (QMK's generators, compiler option probes): the exit status, the
//! output and the file the run wrote, replayed for the next run with the same inputs.
//! What is kept is exactly what the program did; a replay cannot differ from a run.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::shelf::{Shelf, sharded, touch, write_folder_whole};
use super::{Ran, field, program_stamp};
use crate::compile::tree_state::hex;

/// Stands for the build's folder in kept results; no text file holds a NUL.
const WORK_MARK: &[u8] = b"\0qmk-api-work\0";

/// Where kept results live on the shelf.
pub const FOLDER: &str = "launch";

/// QMK's generators that read a keymap.json's `config`, `keycodes` and `modules`, and
/// its layers and name only through the keymap schema's check (json2c, which converts the
/// layers, is not one).
const LAYER_BLIND: [&str; 12] = [
    "generate-config-h",
    "generate-rules-mk",
    "generate-keymap-h",
    "generate-community-modules-rules-mk",
    "generate-community-config-h",
    "generate-community-modules-h",
    "generate-community-modules-c",
    "generate-community-modules-introspection-c",
    "generate-community-modules-introspection-h",
    "generate-led-matrix-community-modules-inc",
    "generate-rgb-matrix-community-modules-inc",
    "generate-split-transaction-id-community-modules-inc",
];

/// What a kept result says about the run.
const STATUS: &str = "status";

/// Replays the kept result of `program args` in `scope`, or runs it with `run` and keeps
/// the result; returns the exit code. `work` (the build's folder) is kept as a mark.
pub fn memoized(
    shelf: &Shelf,
    scope: &str,
    work: &[u8],
    program: &OsStr,
    args: &[OsString],
    run: impl FnOnce() -> std::io::Result<Ran>,
) -> i32 {
    let output = output_file(args);
    let key = key(scope, program, args, output.as_deref());
    let relative = sharded(Path::new(FOLDER), &key);
    if let Some((code, stdout, stderr)) = shelf.find(&relative).and_then(|e| replay(&e, work, output.as_deref())) {
        let _ = std::io::stdout().write_all(&stdout);
        let _ = std::io::stderr().write_all(&stderr);
        return code;
    }
    let ran = match run() {
        Ok(ran) => ran,
        Err(error) => {
            eprintln!("qmk-api {}: cannot run {}: {error}", super::SUBCOMMAND, program.to_string_lossy());
            return 127;
        }
    };
    let _ = std::io::stdout().write_all(&ran.stdout);
    let _ = std::io::stderr().write_all(&ran.stderr);
    if ran.exited {
        // Keeping is best effort: a build never fails for it.
        let _ = keep(&shelf.new_entry(&relative), work, &ran, output.as_deref());
    }
    ran.code
}

/// The file a generator writes: the value of `-o`/`--output`, unless that is `/dev/null`.
pub fn output_file(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "-o" || arg == "--output" {
            return args.next().map(PathBuf::from).filter(|p| p != Path::new("/dev/null"));
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--output=")) {
            return Some(PathBuf::from(path));
        }
    }
    None
}

/// Everything the program's effects depend on, beside the tree: the program itself,
/// the arguments, and the content of each file an argument names (but the output).
fn key(scope: &str, program: &OsStr, args: &[OsString], output: Option<&Path>) -> String {
    let mut hasher = Sha256::new();
    field(&mut hasher, scope.as_bytes());
    field(&mut hasher, program_stamp(program).as_bytes());
    let layer_blind = args.first().is_some_and(|subcommand| LAYER_BLIND.iter().any(|g| subcommand == *g));
    for arg in args {
        field(&mut hasher, arg.as_encoded_bytes());
        let path = Path::new(arg);
        if Some(path) != output && path.is_file() {
            let content = std::fs::read(path).unwrap_or_default();
            match layer_blind.then(|| without_layers(&content)).flatten() {
                Some(view) => field(&mut hasher, &[b"without layers\0".as_slice(), &view].concat()),
                None => field(&mut hasher, &content),
            }
        }
    }
    hex(&hasher.finalize())
}

/// A keymap.json as QMK's generators in [`LAYER_BLIND`] read it: they read its
/// `keyboard`, `config`, `keycodes`, `modules` and `converter`; of the rest, only the
/// keymap schema's check. So a value that passes the check stands for any other that
/// does: layers (an array of arrays of strings), the name (1 to 250 characters), the
/// layout (`LAYOUT` or `LAYOUT_` and lower-case letters, digits and `_`), the author and
/// notes (strings), and a key the schema does not name (any value). `None` for a text
/// that is not so plainly a keymap (not a JSON object, a key twice, one of those fields
/// of another shape): its whole content counts.
pub(super) fn without_layers(content: &[u8]) -> Option<Vec<u8>> {
    const READ: [&str; 9] = [
        "keyboard",
        "config",
        "keycodes",
        "modules",
        "converter",
        "host_language",
        "encoders",
        "dip_switches",
        "macros",
    ];
    let text = std::str::from_utf8(content).ok()?;
    let serde_json::Value::Object(keymap) = serde_json::from_str::<UniqueKeys>(text).ok()?.0 else { return None };
    let strings = |v: &serde_json::Value| v.as_array().is_some_and(|a| a.iter().all(serde_json::Value::is_string));
    let mut seen = serde_json::Map::new();
    for (key, value) in keymap {
        let passes = match key.as_str() {
            _ if READ.contains(&key.as_str()) => {
                seen.insert(key, value);
                continue;
            }
            "layers" => value.as_array().is_some_and(|layers| layers.iter().all(strings)),
            "keymap" => value.as_str().is_some_and(|n| (1..=250).contains(&n.chars().count())),
            "layout" => value.as_str().is_some_and(|layout| {
                layout == "LAYOUT"
                    || layout.strip_prefix("LAYOUT_").is_some_and(|rest| {
                        rest.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    })
            }),
            "author" | "notes" => value.is_string(),
            _ => true,
        };
        if !passes {
            return None;
        }
    }
    serde_json::to_vec(&seen).ok()
}

/// A JSON value in which no object holds a key twice (QMK's loader refuses those).
struct UniqueKeys(serde_json::Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
                let mut object = serde_json::Map::new();
                while let Some((key, UniqueKeys(value))) = map.next_entry::<String, UniqueKeys>()? {
                    if object.insert(key.clone(), value).is_some() {
                        return Err(serde::de::Error::custom(format!("the key {key} is there twice")));
                    }
                }
                Ok(UniqueKeys(serde_json::Value::Object(object)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
                let mut items = Vec::new();
                while let Some(UniqueKeys(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(UniqueKeys(serde_json::Value::Array(items)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(v.into()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(v.into()))
            }
            fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(serde_json::Value::Null))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Plays a kept result back: writes the file it wrote, and returns its exit code,
/// stdout and stderr; `None` when there is none.
fn replay(entry: &Path, work: &[u8], output: Option<&Path>) -> Option<(i32, Vec<u8>, Vec<u8>)> {
    let code: i32 = std::fs::read_to_string(entry.join(STATUS)).ok()?.trim().parse().ok()?;
    let read = |name: &str| std::fs::read(entry.join(name)).map(|bytes| replace(&bytes, WORK_MARK, work));
    let stdout = read("stdout").ok()?;
    let stderr = read("stderr").ok()?;
    if let Some(output) = output
        && let Ok(bytes) = read("output")
    {
        if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).ok()?;
        }
        std::fs::write(output, bytes).ok()?;
    }
    touch(&entry.join(STATUS));
    Some((code, stdout, stderr))
}

/// Stores a result: written aside, then renamed into place whole.
fn keep(entry: &Path, work: &[u8], ran: &Ran, output: Option<&Path>) -> std::io::Result<()> {
    write_folder_whole(entry, |staging| {
        let write = |name: &str, bytes: &[u8]| std::fs::write(staging.join(name), replace(bytes, work, WORK_MARK));
        write("stdout", &ran.stdout)?;
        write("stderr", &ran.stderr)?;
        if let Some(output) = output.filter(|o| o.is_file()) {
            write("output", &std::fs::read(output)?)?;
        }
        std::fs::write(staging.join(STATUS), ran.code.to_string())
    })
}

/// `bytes` with every `from` replaced by `to`; unchanged when `from` is empty.
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return bytes.to_vec();
    }
    super::splice(bytes, memchr::memmem::find_iter(bytes, from), from.len(), to)
}

/// Removes kept results not used since `cutoff`, returning how many.
pub fn prune(folder: &Path, cutoff: SystemTime) -> std::io::Result<usize> {
    let mut removed = 0;
    let Ok(shards) = std::fs::read_dir(folder) else { return Ok(0) };
    for shard in shards {
        for entry in std::fs::read_dir(shard?.path())? {
            let entry = entry?.path();
            // A result being written has no status yet: its folder's time counts.
            let used = entry.join(STATUS).metadata().or_else(|_| entry.metadata()).and_then(|m| m.modified());
            if used.map_or(true, |time| time < cutoff) {
                std::fs::remove_dir_all(&entry)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::super::tests::args;
    use super::*;

    #[test]
    fn generators_blind_to_layers_see_any_keymap_of_plain_layers_as_the_same() {
        let keymap = |layers: &str, extra: &str| {
            format!(r#"{{"keyboard":"a/b","keymap":"mine","layers":{layers}{extra}}}"#).into_bytes()
        };
        let plain = without_layers(&keymap(r#"[["KC_A","KC_B"]]"#, "")).unwrap();
        assert_eq!(plain, without_layers(&keymap(r#"[["KC_NO"],["KC_TRNS"]]"#, "")).unwrap());
        let configurator = r#","layout":"LAYOUT_all","author":"me","notes":"","version":1,"documentation":"x""#;
        assert_eq!(plain, without_layers(&keymap("[]", configurator)).unwrap(), "fields the generators do not read");
        assert_eq!(without_layers(&keymap("[]", r#","layout":"LAYOUT_66_ANSI""#)), None, "a layout the schema refuses");
        assert_ne!(plain, without_layers(&keymap("[]", r#","config":{"features":{"caps_word":true}}"#)).unwrap());
        // What the keymap schema refuses keeps its whole content.
        assert_eq!(without_layers(&keymap(r#"[[1]]"#, "")), None);
        assert_eq!(without_layers(&keymap("[]", r#","layers":[]"#)), None, "a key twice");
        assert_eq!(without_layers(b"{\"keymap\": \"\", \"layers\": []}"), None, "an empty name");
        assert_eq!(without_layers(b"{layers: []}"), None, "not JSON");
    }

    fn ran(code: i32, stdout: &[u8], stderr: &[u8]) -> Ran {
        Ran { code, exited: true, stdout: stdout.to_vec(), stderr: stderr.to_vec() }
    }

    #[test]
    fn the_output_file_is_found_in_each_spelling() {
        assert_eq!(output_file(&args("generate-config-h --output a/config.h k.json")), Some("a/config.h".into()));
        assert_eq!(output_file(&args("generate-version-h -q -o v.h")), Some("v.h".into()));
        assert_eq!(output_file(&args("json2c --output=k.c k.json")), Some("k.c".into()));
        assert_eq!(output_file(&args("x -o /dev/null /dev/null")), None);
    }

    #[test]
    fn a_kept_result_replays_its_output_and_file_and_the_key_follows_named_files() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("keymap.json");
        let output = dir.path().join("out/keymap.c");
        std::fs::write(&input, "{}").unwrap();
        let command = [OsString::from("--output"), output.clone().into(), input.clone().into()];
        let kept = key("tree", OsStr::new("sh"), &command, Some(&output));
        std::fs::create_dir_all(output.parent().unwrap()).unwrap();
        let entry = dir.path().join("memo").join(&kept);
        std::fs::write(&output, "#include \"/jobs/1/work/a.h\"").unwrap();
        keep(&entry, b"/jobs/1/work", &ran(3, b"wrote /jobs/1/work/a.h", b"err"), Some(&output)).unwrap();
        std::fs::remove_file(&output).unwrap();
        let replayed = replay(&entry, b"/jobs/2/work", Some(&output)).unwrap();
        assert_eq!(replayed, (3, b"wrote /jobs/2/work/a.h".to_vec(), b"err".to_vec()));
        assert_eq!(
            std::fs::read_to_string(&output).unwrap(),
            "#include \"/jobs/2/work/a.h\"",
            "paths follow the build"
        );
        assert_eq!(key("tree", OsStr::new("sh"), &command, Some(&output)), kept, "the output's content does not count");
        std::fs::write(&input, "{\"a\": 1}").unwrap();
        assert_ne!(key("tree", OsStr::new("sh"), &command, Some(&output)), kept, "the input's content does");
        assert_ne!(key("other", OsStr::new("sh"), &command, Some(&output)), kept, "the tree's state does");
    }

    #[test]
    fn unused_results_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("ab").join("abcd");
        keep(&entry, b"", &ran(0, b"", b""), None).unwrap();
        assert_eq!(prune(dir.path(), SystemTime::now() - std::time::Duration::from_secs(60)).unwrap(), 0);
        assert_eq!(prune(dir.path(), SystemTime::now() + std::time::Duration::from_secs(60)).unwrap(), 1);
        assert!(!entry.exists());
    }
}
