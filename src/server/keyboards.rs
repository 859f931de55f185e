//! api.qmk.fm's read endpoints, answered from the built site's JSON API (the
//! files `build` writes into the channel served): the keyboard list, every
//! keyboard at once, one keyboard (moved keyboards followed), its readme and
//! JSON keymaps, the USB index, the keymap skeleton, and the KLE converter.

use std::collections::{HashMap, HashSet};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::api::ApiError;
use crate::keyboard::{is_valid_name, kle};

/// What the handlers read: the channel's folder and its keyboard names.
struct Catalog {
    v1: PathBuf,
    names: HashSet<String>,
    /// `/v1/keyboards`' answer, the names sorted: made once, not on every request.
    list: Bytes,
    /// Old name → the name it points to now.
    aliases: HashMap<String, String>,
}

type Shared = State<Arc<Catalog>>;

/// The routes, over the channel folder `site` (which holds `v1/`).
pub(super) fn routes(site: &FsPath) -> Router {
    let v1 = site.join("v1");
    let read = |file: &str| -> Value {
        std::fs::read(v1.join(file)).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or(Value::Null)
    };
    let names: HashSet<String> = read("keyboard_list.json")["keyboards"]
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let aliases = read("keyboard_aliases.json")["keyboard_aliases"]
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(alias, entry)| Some((alias.clone(), entry["target"].as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    let list_json = Bytes::from(serde_json::to_vec(&sorted).unwrap_or_default());
    let catalog = Arc::new(Catalog { v1, names, list: list_json, aliases });
    Router::new()
        .route("/v1/keyboards", get(list))
        .route("/v1/keyboards/", get(list))
        .route("/v1/keyboards/{*path}", get(keyboard))
        .route("/v1/usb", get(usb))
        .route("/v1/skeletons", get(|| async { Json(json!({"children": ["keymap"]})) }))
        .route("/v1/skeletons/keymap", get(skeleton))
        .route("/v1/converters", get(|| async { Json(json!({"children": ["kle"]})) }))
        .route("/v1/converters/kle", post(convert_kle))
        .route("/v1/converters/kle2qmk", post(convert_kle))
        .with_state(catalog)
}

impl Catalog {
    /// A keyboard's folder name, following moved keyboards.
    fn resolve(&self, name: &str) -> Option<String> {
        let mut current = name;
        for _ in 0..=self.aliases.len() {
            if self.names.contains(current) {
                return Some(current.to_owned());
            }
            current = self.aliases.get(current)?;
        }
        None
    }

    fn file(&self, relative: &str) -> Option<Vec<u8>> {
        std::fs::read(self.v1.join(relative)).ok()
    }
}

fn not_found(message: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, message)
}

/// Readmes are QMK's prose: the bundled data holds none, so they are published
/// only from a QMK tree.
fn no_readme(name: &str) -> ApiError {
    not_found(format!(
        "keyboard `{name}` has no readme here: readmes are published from a QMK tree (build or serve with \
         --qmk-home), not from the bundled data"
    ))
}

fn json_bytes(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// A file of the built API, or a 404 saying the site lacks it.
fn published(catalog: &Catalog, relative: &str) -> Result<Response, ApiError> {
    let bytes = catalog.file(relative).ok_or_else(|| {
        not_found(format!("{relative} is not in the served site: build it with this version of qmk-api"))
    })?;
    Ok(json_bytes(bytes))
}

/// `/v1/keyboards`: every keyboard's name, as a list.
async fn list(State(catalog): Shared) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], catalog.list.clone()).into_response()
}

/// `/v1/keyboards/all`, `/v1/keyboards/<kb>`, `/v1/keyboards/<kb>/readme` (and
/// the static `readme.md`, moved keyboards followed), `/v1/keyboards/<kb>/keymaps/<km>`.
async fn keyboard(State(catalog): Shared, Path(path): Path<String>) -> Result<Response, ApiError> {
    let path = path.trim_end_matches('/');
    if path == "all" {
        return published(&catalog, "keyboards.json");
    }
    let unknown = |name: &str| not_found(format!("no keyboard `{name}`"));
    if let Some(name) = catalog.resolve(path) {
        return published(&catalog, &format!("keyboards/{name}/info.json"));
    }
    if let Some(name) = path.strip_suffix("/readme").or_else(|| path.strip_suffix("/readme.md")) {
        let name = catalog.resolve(name).ok_or_else(|| unknown(name))?;
        let readme = catalog.file(&format!("keyboards/{name}/readme.md")).ok_or_else(|| no_readme(&name))?;
        return Ok(([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], readme).into_response());
    }
    if let Some((name, keymap)) = path.rsplit_once("/keymaps/") {
        let name = catalog.resolve(name).ok_or_else(|| unknown(name))?;
        return keymap_of(&catalog, &name, keymap);
    }
    if let Some(file) = static_file(&catalog, path) {
        return Ok(file);
    }
    let shown = if is_valid_name(path) { path } else { "(not a keyboard name)" };
    Err(unknown(shown))
}

/// A file the build wrote below `v1/keyboards/` (`<kb>/info.json`, `<kb>/readme.md`,
/// keymaps), as the static site serves it; only plain path parts are followed.
fn static_file(catalog: &Catalog, path: &str) -> Option<Response> {
    let relative = FsPath::new("keyboards").join(path);
    if !relative.components().all(|c| matches!(c, std::path::Component::Normal(_))) {
        return None;
    }
    let bytes = std::fs::read(catalog.v1.join(&relative)).ok()?;
    let content_type = match relative.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("md") => "text/markdown; charset=utf-8",
        _ => "application/octet-stream",
    };
    Some(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

/// A JSON keymap listed under the keyboard's `keymaps`.
fn keymap_of(catalog: &Catalog, name: &str, keymap: &str) -> Result<Response, ApiError> {
    let info: Value = catalog
        .file(&format!("keyboards/{name}/info.json"))
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    let path = info["keyboards"][name]["keymaps"][keymap]["path"].as_str();
    let bytes = path.and_then(|path| catalog.file(path));
    bytes.map(json_bytes).ok_or_else(|| not_found(format!("No such keymap: {keymap}")))
}

async fn usb(State(catalog): Shared) -> Result<Response, ApiError> {
    published(&catalog, "usb.json")
}

/// The start of a keymap file, as QMK Configurator asks for it: it keeps
/// `version` and `documentation` for the keymaps it exports.
async fn skeleton() -> Json<Value> {
    Json(json!({
        "version": 1,
        "notes": "",
        "keyboard": null,
        "keymap": null,
        "layout": null,
        "layers": [],
        "documentation": "A keymap exported from QMK Configurator (https://config.qmk.fm), which can import it again. \
            It builds with QMK's sources too: `qmk json2c {keymap}` writes its keymap.c, and `qmk compile {keymap}` its firmware.\n",
    }))
}

/// `POST /v1/converters/kle` with `{"raw": "<KLE raw data>"}`.
async fn convert_kle(body: Bytes) -> Result<Response, ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, message);
    let request: Value = serde_json::from_slice(&body).map_err(|_| bad("Invalid JSON data!".into()))?;
    let raw = match (request.get("raw"), request.get("id")) {
        (Some(Value::String(raw)), _) => raw,
        (Some(_), _) => return Err(bad("`raw` must be the KLE raw data, as text".into())),
        (None, Some(_)) => {
            return Err(bad("this server does not fetch KLE gists: send the layout's raw data as `raw`".into()));
        }
        (None, None) => return Err(bad("You must supply either \"id\" or \"raw\" labels.".into())),
    };
    let layout = kle::parse(raw).map_err(|e| bad(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], kle::to_info_json(&layout)).into_response())
}
