//! The keyboard part of the API, in each channel, as `qmk generate-api` writes it
//! (compact JSON, `","` and `":"` separators, keys in QMK's order):
//! `v1/keyboard_list.json`, `v1/keyboard_aliases.json`, `v1/keyboards.json` (every
//! keyboard's info in one file), `v1/keyboard_metadata.json`, `v1/usb.json`, and
//! per keyboard `v1/keyboards/<keyboard>/info.json` and its `readme.md`; and each
//! JSON keymap at `v1/<its path in the tree>`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::{PublishError, parse, pyjson, read};
use crate::keyboard::{Keyboard, Keyboards};
use crate::source::DataTree;
use crate::spec::{Object, Str, Value};

/// A file to publish: its path inside a channel, and its bytes.
pub type File = (PathBuf, Vec<u8>);

/// `{"last_updated":"…","<key>":` — the start QMK's files share.
fn head(last_updated: &str, key: &str) -> Vec<u8> {
    let mut out = b"{\"last_updated\":".to_vec();
    out.extend(pyjson::to_compact(last_updated));
    out.push(b',');
    out.extend(pyjson::to_compact(key));
    out.push(b':');
    out
}

/// `{"last_updated":"…","<key>":<value>}`.
fn document<T: Serialize + ?Sized>(last_updated: &str, key: &str, value: &T) -> Vec<u8> {
    let mut out = head(last_updated, key);
    pyjson::write_compact(value, &mut out).expect("JSON serialization into memory");
    out.push(b'}');
    out
}

/// Every keyboard file, with its path inside a channel.
pub fn render(keyboards: &Keyboards, tree: &DataTree, last_updated: &str) -> Result<Vec<File>, PublishError> {
    let names: Vec<&str> = keyboards.iter().map(|k| k.name.as_str()).collect();
    let aliases = keyboards.alias_definitions();
    let usb = usb_index(keyboards);
    let mut metadata = Object::new();
    metadata.insert("last_updated".into(), Value::from(last_updated));
    metadata.insert("keyboards".into(), Value::Array(names.iter().map(|n| Value::from(*n)).collect()));
    metadata.insert("keyboard_aliases".into(), Value::Object(aliases.clone()));
    metadata.insert("usb".into(), Value::Object(usb.clone()));
    let mut files = vec![
        (PathBuf::from("v1/keyboard_list.json"), document(last_updated, "keyboards", &names)),
        (PathBuf::from("v1/keyboard_aliases.json"), document(last_updated, "keyboard_aliases", aliases)),
        (PathBuf::from("v1/keyboard_metadata.json"), pyjson::to_compact(&metadata)),
        (PathBuf::from("v1/usb.json"), document(last_updated, "usb", &usb)),
    ];
    let all: Vec<&Keyboard> = keyboards.iter().collect();
    let infos: Vec<File> = all.par_iter().map(|keyboard| info_file(keyboard, last_updated)).collect();
    files.push((PathBuf::from("v1/keyboards.json"), all_in_one(&infos, last_updated)));
    files.extend(infos);
    let readmes: Vec<File> = all
        .par_iter()
        .filter_map(|keyboard| Some((keyboard, keyboard.readme.as_ref()?)))
        .map(|(keyboard, readme)| {
            let bytes = read(tree, readme)?;
            Ok((PathBuf::from(format!("v1/keyboards/{}/readme.md", keyboard.name)), bytes.into_owned()))
        })
        .collect::<Result<_, PublishError>>()?;
    files.extend(readmes);
    let keymaps: BTreeSet<&str> = all.iter().flat_map(|k| k.keymaps.iter().map(|m| m.path.as_str())).collect();
    let keymaps: Vec<File> =
        keymaps.into_par_iter().map(|path| keymap_file(tree, Path::new(path))).collect::<Result<_, _>>()?;
    files.extend(keymaps);
    Ok(files)
}

/// `v1/keyboards/<keyboard>/info.json`.
fn info_file(keyboard: &Keyboard, last_updated: &str) -> File {
    let mut out = head(last_updated, "keyboards");
    out.push(b'{');
    out.extend(pyjson::to_compact(keyboard.name.as_str()));
    out.push(b':');
    pyjson::write_compact(&keyboard.published(), &mut out).expect("JSON serialization into memory");
    out.extend(b"}}");
    (PathBuf::from(format!("v1/keyboards/{}/info.json", keyboard.name)), out)
}

/// `v1/keyboards.json`: every keyboard's info, taken from the bytes of its own file.
fn all_in_one(infos: &[File], last_updated: &str) -> Vec<u8> {
    let mut out = head(last_updated, "keyboards");
    out.push(b'{');
    let prefix = out.len();
    for (index, (_, bytes)) in infos.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend(&bytes[prefix..bytes.len() - 2]);
    }
    out.extend(b"}}");
    out
}

/// USB vendor id → product id → keyboard → its `usb` object, as QMK indexes them.
fn usb_index(keyboards: &Keyboards) -> Object {
    let mut index = Object::new();
    for keyboard in keyboards.iter() {
        let Some(Value::Object(usb)) = keyboard.info.get("usb") else { continue };
        // JSON object keys are text; QMK's are whatever the definition gave, written as JSON would.
        let id = |key| usb.get(key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        let (Some(vid), Some(pid)) = (id("vid"), id("pid")) else {
            if let Some(vid) = id("vid") {
                index.object_at(&vid);
            }
            continue;
        };
        index.object_at(&vid).object_at(&pid).insert(Str::from(keyboard.name.as_str()), Value::Object(usb.clone()));
    }
    index
}

/// A JSON keymap at `v1/<path>`, as JSON whatever it was written in.
fn keymap_file(tree: &DataTree, path: &Path) -> Result<File, PublishError> {
    let value = parse(tree, path, &read(tree, path)?)?;
    Ok((Path::new("v1").join(path), pyjson::to_compact(&value)))
}
