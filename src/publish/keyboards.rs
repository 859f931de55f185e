//! The keyboard part of the API, in each channel: `v1/keyboard_list.json`,
//! `v1/keyboard_aliases.json` and `v1/keyboards/<keyboard>/info.json`.

use std::path::PathBuf;

use rayon::prelude::*;
use serde_json::{Map, Value, json};

use super::pyjson;
use crate::keyboard::Keyboards;

/// Every keyboard file, with its path inside a channel.
pub fn render(keyboards: &Keyboards, last_updated: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let names: Vec<&str> = keyboards.iter().map(|k| k.name.as_str()).collect();
    let aliases: Map<String, Value> =
        keyboards.aliases().iter().map(|(alias, target)| (alias.clone(), json!({"target": target}))).collect();
    let mut files = vec![
        (
            PathBuf::from("v1/keyboard_list.json"),
            pyjson::to_line(&json!({"last_updated": last_updated, "keyboards": names})),
        ),
        (
            PathBuf::from("v1/keyboard_aliases.json"),
            pyjson::to_line(&json!({"last_updated": last_updated, "keyboard_aliases": aliases})),
        ),
    ];
    let keyboards: Vec<_> = keyboards.iter().collect();
    files.par_extend(keyboards.par_iter().map(|keyboard| {
        let mut document = Map::new();
        document.insert("last_updated".into(), Value::from(last_updated));
        let info = serde_json::to_value(keyboard.published_info()).expect("keyboard data serializes");
        document.insert("keyboards".into(), json!({ &keyboard.name: info }));
        (PathBuf::from(format!("v1/keyboards/{}/info.json", keyboard.name)), pyjson::to_line(&document))
    }));
    files
}
