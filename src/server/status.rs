//! The build-status endpoints of QMK's service, answered from what the catalogue
//! recorded (see `compile::catalogue`), in qmk_api's shapes:
//!
//! - `/v1/keyboards/build_status`: `{keyboard: works}`;
//! - `/v1/keyboards/build_log`: `{keyboard: {works, warnings, last_tested, message, ...}}`;
//! - `/v1/keyboards/build_summary`: the same without `message`;
//! - `/v1/keyboards/<keyboard>/build_log`: one keyboard's entry;
//! - `/v1/keyboards/error_log`: `[{severity, message}]`, what loading the keyboards
//!   found wrong (QMK's checks' errors and warnings, keyboards left out).
//!
//! Beside QMK's fields an entry has `keymap`, `firmware_size` and `maximum_size`.

use std::sync::Arc;

use axum::Json;
use serde_json::{Map, Value, json};

use super::api::ApiError;
use crate::compile::{BuildRecord, Service};

/// The endpoints below `/v1/keyboards/` this module answers, by their last part.
pub(super) const LISTS: [&str; 4] = ["build_status", "build_log", "build_summary", "error_log"];

/// One of [`LISTS`].
pub(super) async fn list(service: Arc<Service>, which: &'static str) -> Result<Json<Value>, ApiError> {
    if which == "error_log" {
        return Ok(Json(error_log(&service)));
    }
    let messages = which == "build_log";
    let records = tokio::task::spawn_blocking(move || service.builds(messages)).await??;
    let answer: Map<String, Value> = records
        .iter()
        .map(|record| {
            let value = match which {
                "build_status" => Value::Bool(record.works),
                _ => entry(record, messages),
            };
            (record.keyboard.clone(), value)
        })
        .collect();
    Ok(Json(Value::Object(answer)))
}

/// `/v1/keyboards/<keyboard>/build_log`, `keyboard` resolved to its current name.
pub(super) async fn build_log(service: Arc<Service>, keyboard: String) -> Result<Json<Value>, ApiError> {
    let name = keyboard.clone();
    let record = tokio::task::spawn_blocking(move || service.build_of(&name)).await??;
    let record = record.ok_or_else(|| {
        ApiError::new(axum::http::StatusCode::NOT_FOUND, format!("keyboard `{keyboard}` has not been built yet"))
    })?;
    Ok(Json(entry(&record, true)))
}

/// A keyboard's entry: QMK's fields (`last_tested` in seconds since 1970), then ours.
fn entry(record: &BuildRecord, message: bool) -> Value {
    let mut entry = json!({
        "works": record.works,
        "warnings": record.warnings,
        "last_tested": record.last_tested,
    });
    if message {
        entry["message"] = Value::String(record.message.clone());
    }
    entry["keymap"] = Value::String(record.keymap.clone());
    entry["firmware_size"] = json!(record.firmware_size);
    entry["maximum_size"] = json!(record.maximum_size);
    entry
}

/// What loading the keyboards found: each keyboard's errors and warnings from QMK's
/// checks, and each keyboard left out for a file that cannot be read, as QMK's
/// `{severity, message}` entries.
fn error_log(service: &Service) -> Value {
    let keyboards = service.keyboards();
    let mut log = Vec::new();
    for (keyboard, file) in keyboards.left_out() {
        let message = format!("Error: {keyboard}: left out: its file {file} cannot be read");
        log.push(json!({"severity": "error", "message": message}));
    }
    for keyboard in keyboards.iter() {
        let (errors, warnings) = keyboard.findings();
        let name = &keyboard.name;
        log.extend(errors.iter().map(|e| json!({"severity": "error", "message": format!("Error: {name}: {e}")})));
        log.extend(warnings.iter().map(|w| json!({"severity": "warning", "message": format!("Warning: {name}: {w}")})));
    }
    Value::Array(log)
}
