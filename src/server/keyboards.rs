//! api.qmk.fm's read endpoints, answered from the built site's JSON API (the
//! files `build` writes into the channel served): the keyboard list, every
//! keyboard at once, one keyboard (moved keyboards followed), its readme and
//! JSON keymaps, the USB index, the keymap skeleton, and the converters.
//!
//! Files are read once and kept in memory, shared by every answer that sends them
//! (`keyboards.json` and `usb.json` for good, the others within a budget): a request
//! costs no copy of what it is sent, however many clients ask at once or never read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::api::{ApiError, read_body};
use super::cache::{ByteCache, Shared as SharedBody};
use super::heavy::Heavy;
use super::status;
use crate::compile::Service;
use crate::convert::{self, ConvertError, Format, Input, PAIRS, kle, via};
use crate::keyboard::is_valid_name;
use crate::source::DataTree;

/// What the handlers read: the channel's folder and its keyboard names.
struct Catalog {
    v1: PathBuf,
    names: HashSet<String>,
    /// `/v1/keyboards`' answer, the names sorted: made once, not on every request.
    list: Bytes,
    /// Old name → the name it points to now.
    aliases: HashMap<String, String>,
    /// The files of `v1/` read so far, by their path below it.
    files: Arc<ByteCache<String, ApiError>>,
    /// Larger request bodies are refused with 413.
    body_limit: usize,
    heavy: Arc<Heavy>,
    /// For the build-status endpoints.
    service: Arc<Service>,
}

type Shared = State<Arc<Catalog>>;

/// The whole documents, kept for good once read: the largest answers, asked for often.
const DOCUMENTS: [&str; 2] = ["keyboards.json", "usb.json"];

/// How many bytes of other files (each keyboard's info.json, readme, keymaps) are kept.
const FILES_BUDGET: usize = 32 << 20;

/// The routes, over the channel folder `site` (which holds `v1/`); POST bodies over
/// `body_limit` bytes are refused, and KLE conversions pass through `heavy`.
pub(super) fn routes(site: &FsPath, body_limit: usize, heavy: Arc<Heavy>, service: Arc<Service>) -> Router {
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
    let files = Arc::new(ByteCache::new(FILES_BUDGET));
    let catalog = Arc::new(Catalog { v1, names, list: list_json, aliases, files, body_limit, heavy, service });
    Router::new()
        .route("/v1/keyboards", get(list))
        .route("/v1/keyboards/", get(list))
        .route("/v1/keyboards/{*path}", get(keyboard))
        .route("/v1/usb", get(usb))
        .route("/v1/skeletons", get(|| async { Json(json!({"children": ["keymap"]})) }))
        .route("/v1/skeletons/keymap", get(skeleton))
        .route("/v1/schemas", get(|| async { Json(json!({"children": ["keymap.json"]})) }))
        .route("/v1/schemas/keymap.json", get(keymap_schema))
        .route("/v1/converters", get(converters))
        .route("/v1/converters/kle", post(convert_kle))
        .route("/v1/converters/kle2qmk", post(convert_kle))
        .route("/v1/converters/{pair}", post(convert_pair))
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

    /// A file below `v1/` (plain path parts only), read once and then shared.
    async fn file(&self, relative: &str) -> Option<Bytes> {
        let path = self.v1.join(relative);
        if !FsPath::new(relative).components().all(|c| matches!(c, std::path::Component::Normal(_))) {
            return None;
        }
        let pin = DOCUMENTS.contains(&relative);
        let file = relative.to_owned();
        let read = async move {
            let read = tokio::task::spawn_blocking(move || match std::fs::metadata(&path) {
                Ok(metadata) if metadata.is_file() => std::fs::read(&path).map(Some),
                Ok(_) => Ok(None),
                Err(error) => Err(error),
            });
            match read.await {
                Ok(Ok(bytes)) => Ok(bytes.map(Bytes::from)),
                Ok(Err(error)) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Ok(Err(error)) => {
                    tracing::warn!(%error, %file, "cannot read a file of the served site");
                    Ok(None)
                }
                Err(_) => Ok(None),
            }
        };
        self.files.get_or_make(&relative.to_owned(), pin, read).await.ok().flatten()
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

/// An answer of kept bytes, sent without a copy.
fn shared(content_type: &'static str, bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, content_type)], SharedBody::body(bytes)).into_response()
}

fn json_bytes(bytes: Bytes) -> Response {
    shared("application/json", bytes)
}

/// A file of the built API, or a 404 saying the site lacks it.
async fn published(catalog: &Catalog, relative: &str) -> Result<Response, ApiError> {
    let bytes = catalog.file(relative).await.ok_or_else(|| {
        not_found(format!("{relative} is not in the served site: build it with this version of qmk-api"))
    })?;
    Ok(json_bytes(bytes))
}

/// `/v1/keyboards`: every keyboard's name, as a list.
async fn list(State(catalog): Shared) -> Response {
    json_bytes(catalog.list.clone())
}

/// `/v1/keyboards/all`, `/v1/keyboards/<kb>`, `/v1/keyboards/<kb>/readme` (and
/// the static `readme.md`, moved keyboards followed), `/v1/keyboards/<kb>/via.json`,
/// `/v1/keyboards/<kb>/keymaps/<km>`.
async fn keyboard(State(catalog): Shared, Path(path): Path<String>) -> Result<Response, ApiError> {
    let path = path.trim_end_matches('/');
    if path == "all" {
        return published(&catalog, "keyboards.json").await;
    }
    if let Some(which) = status::LISTS.iter().find(|which| **which == path) {
        return Ok(status::list(catalog.service.clone(), which).await?.into_response());
    }
    let unknown = |name: &str| not_found(format!("no keyboard `{name}`"));
    if let Some(name) = path.strip_suffix("/build_log") {
        let name = catalog.resolve(name).ok_or_else(|| unknown(name))?;
        return Ok(status::build_log(catalog.service.clone(), name).await?.into_response());
    }
    if let Some(name) = catalog.resolve(path) {
        return published(&catalog, &format!("keyboards/{name}/info.json")).await;
    }
    if let Some(name) = path.strip_suffix("/via.json") {
        let name = catalog.resolve(name).ok_or_else(|| unknown(name))?;
        return via_definition(&catalog, &name).await;
    }
    if let Some(name) = path.strip_suffix("/readme").or_else(|| path.strip_suffix("/readme.md")) {
        let name = catalog.resolve(name).ok_or_else(|| unknown(name))?;
        let readme = catalog.file(&format!("keyboards/{name}/readme.md")).await.ok_or_else(|| no_readme(&name))?;
        return Ok(shared("text/markdown; charset=utf-8", readme));
    }
    if let Some((name, keymap)) = path.rsplit_once("/keymaps/") {
        let name = catalog.resolve(name).ok_or_else(|| unknown(name))?;
        return keymap_of(&catalog, &name, keymap).await;
    }
    if let Some(file) = static_file(&catalog, path).await {
        return Ok(file);
    }
    let shown = if is_valid_name(path) { path } else { "(not a keyboard name)" };
    Err(unknown(shown))
}

/// A file the build wrote below `v1/keyboards/` (`<kb>/info.json`, `<kb>/readme.md`,
/// keymaps), as the static site serves it; only plain path parts are followed.
async fn static_file(catalog: &Catalog, path: &str) -> Option<Response> {
    let relative = format!("keyboards/{path}");
    let bytes = catalog.file(&relative).await?;
    let content_type = match FsPath::new(&relative).extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("md") => "text/markdown; charset=utf-8",
        _ => "application/octet-stream",
    };
    Some(shared(content_type, bytes))
}

/// `/v1/keyboards/<kb>/via.json`: a VIA (v3) keyboard definition made from the
/// keyboard's published info.json; 422 where VIA could not use one (no USB ids,
/// QMK's placeholder vendor id).
async fn via_definition(catalog: &Catalog, name: &str) -> Result<Response, ApiError> {
    let info: Value = catalog
        .file(&format!("keyboards/{name}/info.json"))
        .await
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    let definition = via::definition(&info["keyboards"][name])
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{name}: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], definition).into_response())
}

/// A JSON keymap listed under the keyboard's `keymaps`.
async fn keymap_of(catalog: &Catalog, name: &str, keymap: &str) -> Result<Response, ApiError> {
    let info: Value = catalog
        .file(&format!("keyboards/{name}/info.json"))
        .await
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    let bytes = match info["keyboards"][name]["keymaps"][keymap]["path"].as_str() {
        Some(path) => catalog.file(path).await,
        None => None,
    };
    bytes.map(json_bytes).ok_or_else(|| not_found(format!("No such keymap: {keymap}")))
}

async fn usb(State(catalog): Shared) -> Result<Response, ApiError> {
    published(&catalog, "usb.json").await
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

/// qmk-api's keymap schema: QMK's, with the members of qmk-api's extension.
async fn keymap_schema() -> Response {
    let path = std::path::Path::new(crate::schema::EXTENDED_KEYMAP_SCHEMA_PATH);
    let bytes = DataTree::Bundled.read(path).expect("the binary carries its keymap schema");
    ([(axum::http::header::CONTENT_TYPE, "application/json")], bytes.into_owned()).into_response()
}

/// `POST /v1/converters/kle` with `{"raw": "<KLE raw data>"}`: the body is capped as
/// `/v1/compile`'s is, and the conversion passes through the gate of costly work.
async fn convert_kle(State(catalog): Shared, body: Body) -> Result<Response, ApiError> {
    let body = read_body(body, catalog.body_limit).await?;
    let converted = catalog.heavy.run("converting layouts", move || convert(&body)).await??;
    Ok(([(header::CONTENT_TYPE, "application/json")], converted).into_response())
}

fn convert(body: &[u8]) -> Result<String, ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, message);
    let request: Value = serde_json::from_slice(body).map_err(|_| bad("Invalid JSON data!".into()))?;
    let raw = match (request.get("raw"), request.get("id")) {
        (Some(Value::String(raw)), _) => raw,
        (Some(_), _) => return Err(bad("`raw` must be the KLE raw data, as text".into())),
        (None, Some(_)) => {
            return Err(bad("this server does not fetch KLE gists: send the layout's raw data as `raw`".into()));
        }
        (None, None) => return Err(bad("You must supply either \"id\" or \"raw\" labels.".into())),
    };
    let layout = kle::parse(raw).map_err(|e| bad(e.to_string()))?;
    Ok(kle::to_info_json(&layout))
}

/// A pair's name in the API: `kle2info`.
fn pair_name((from, to): (Format, Format)) -> String {
    format!("{from}2{to}")
}

/// `GET /v1/converters`: api.qmk.fm's KLE converter, then every pair of
/// [`convert::convert`], under `children`; each pair's formats under `pairs`.
async fn converters() -> Json<Value> {
    let mut children = vec!["kle".to_owned()];
    children.extend(PAIRS.iter().copied().map(pair_name));
    let pairs: Vec<Value> = PAIRS
        .iter()
        .map(|&(from, to)| {
            json!({"name": pair_name((from, to)), "from": from.name(), "to": to.name(),
                "needs_keyboard": from.needs_keyboard(to)})
        })
        .collect();
    Json(json!({"children": children, "pairs": pairs}))
}

/// The media types a converter's body may be sent as: none, text, JSON, and the form
/// type that `curl --data-binary` sends by default.
fn is_text_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence.is_empty()
        || essence.starts_with("text/")
        || essence == "application/json"
        || essence.ends_with("+json")
        || essence == "application/x-www-form-urlencoded"
}

/// `POST /v1/converters/<from>2<to>?keyboard=KB&keymap=KM`, the body the file itself:
/// `{"from", "to", "text", "notes"}` from [`convert::convert`], checked against the
/// keyboards and keycodes `/v1/compile` checks against, through the gate of costly work.
async fn convert_pair(
    State(catalog): Shared,
    Path(pair): Path<String>,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, message);
    let (from, to) = pair
        .split_once('2')
        .and_then(|(from, to)| Some((Format::from_name(from)?, Format::from_name(to)?)))
        .filter(|pair| PAIRS.contains(pair))
        .ok_or_else(|| {
            let pairs: Vec<String> = PAIRS.iter().copied().map(pair_name).collect();
            let shown = if pair.len() <= 40 && is_valid_name(&pair) { pair.as_str() } else { "(not a pair name)" };
            not_found(format!("no converter {shown:?}: the converters are {}, and kle", pairs.join(", ")))
        })?;
    let Query(mut parameters) = query.map_err(|e| bad(format!("cannot read the query: {}", e.body_text())))?;
    let keyboard = parameters.remove("keyboard");
    let keymap = parameters.remove("keymap");
    if let Some(unknown) = parameters.keys().next() {
        let shown: String = unknown.chars().take(40).collect();
        return Err(bad(format!("unknown query parameter {shown:?}: a converter takes `keyboard` and `keymap`")));
    }
    if keyboard.as_deref().is_some_and(|name| !is_valid_name(name)) {
        return Err(not_found("no keyboard `(not a keyboard name)`".to_owned()));
    }
    let content_type = headers.get(header::CONTENT_TYPE).map(|t| String::from_utf8_lossy(t.as_bytes()).into_owned());
    if let Some(content_type) = content_type.filter(|t| !is_text_type(t)) {
        let shown: String = content_type.chars().take(80).collect();
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("the body is sent as {shown:?}: send the file itself as text (text/plain or application/json)"),
        ));
    }
    let body = read_body(body, catalog.body_limit).await?;
    let text = String::from_utf8(body.to_vec())
        .map_err(|e| bad(format!("the body is not text: byte {} is not UTF-8", e.utf8_error().valid_up_to())))?;
    if let Some(at) = text.find('\0') {
        return Err(bad(format!("the body is not text: byte {at} is NUL")));
    }
    let service = catalog.service.clone();
    let converted = catalog
        .heavy
        .run("converting files", move || {
            let input = Input {
                shown: "body",
                text: &text,
                keyboard: keyboard.as_deref(),
                keymap: keymap.as_deref(),
                folder: None,
                tree: Some(service.tree()),
            };
            convert::convert(service.context(), from, to, &input)
        })
        .await?
        .map_err(|error| {
            let status = match &error {
                ConvertError::Unsupported { .. }
                | ConvertError::Keyboard(_)
                | ConvertError::C(convert::c::CError::Keyboard(_)) => StatusCode::NOT_FOUND,
                ConvertError::NoLayouts(_) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::BAD_REQUEST,
            };
            ApiError::new(status, error.to_string())
        })?;
    let answer = json!({"from": from.name(), "to": to.name(), "text": converted.text, "notes": converted.notes});
    Ok(Json(answer).into_response())
}
