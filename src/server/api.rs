//! The `/v1` handlers, in api.qmk.fm's shapes. Each one turns the request into a
//! call on the compile service and the answer (or [`ApiError`]) into JSON.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::AppState;
use super::cache::{Shared as SharedBody, Weighed};
use crate::compile::store::StoreError;
use crate::compile::{Artifact, Containment, Job, RequestError, Status, SubmitError, Unavailable, firmware_filename};

type Shared = State<Arc<AppState>>;

/// How long a client refused for a full queue is asked to wait, in seconds.
const RETRY_AFTER_SECONDS: u32 = 10;

/// A body over the limit is still read (and dropped) up to this many bytes, so that
/// the client finishes sending and can read the 413; past it the connection is closed.
const DRAIN_LIMIT: usize = 64 << 20;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1", get(about))
        .route("/v1/", get(about))
        .route("/v1/healthcheck", get(healthcheck))
        .route("/v1/compile", post(submit))
        .route("/v1/compile/{id}", get(status))
        .route("/v1/compile/{id}/{file}", get(download))
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
        })
}

/// An error answer: `{"code": N, "message": "..."}` with status N.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u32>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), retry_after: None }
    }

    pub(super) fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: {error}"))
    }

    /// Asks the client to try again after this many seconds.
    pub(super) fn retry_after(self, seconds: u32) -> ApiError {
        ApiError { retry_after: Some(seconds), ..self }
    }
}

/// Work on a thread of its own that did not end (it panicked).
impl From<tokio::task::JoinError> for ApiError {
    fn from(error: tokio::task::JoinError) -> ApiError {
        ApiError::internal(error)
    }
}

/// The job store cannot answer (unreachable, damaged): 503, so that a load balancer
/// and the client try again, with the store's reason.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        tracing::error!(%error, "the job store cannot answer");
        let message = format!("the job store cannot answer: {error}");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).retry_after(RETRY_AFTER_SECONDS)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"code": self.status.as_u16(), "message": self.message}));
        let mut response = (self.status, body).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> ApiError {
        let status = match &error {
            SubmitError::Request(RequestError::Malformed(_) | RequestError::Missing(_)) => StatusCode::BAD_REQUEST,
            SubmitError::Request(RequestError::BadName(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            // Nothing was queued either way: the client may try again.
            SubmitError::QueueFull(_) | SubmitError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let retry_after = (status == StatusCode::SERVICE_UNAVAILABLE).then_some(RETRY_AFTER_SECONDS);
        ApiError { status, message: error.to_string(), retry_after }
    }
}

/// Runs store work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)
}

async fn about(State(state): Shared) -> Result<Json<Value>, ApiError> {
    let queue_length = queue_length(&state).await?;
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "status": "running",
        "queue_length": queue_length,
        "workers": state.workers,
        "builder": state.service.builder().name(),
        "containment": state.service.builder().containment().map(Containment::name),
        "job_store": state.service.backend(),
    })))
}

/// 503 while the job store cannot be read, so that a load balancer sends requests
/// elsewhere. The store is read for it: at most once a second while it answers,
/// however many ask; on every check while it does not, so that its return is seen at once.
async fn healthcheck(State(state): Shared) -> Result<Json<Value>, ApiError> {
    let recent = {
        let last = state.health.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        last.filter(|(at, _)| at.elapsed() < HEALTH_CHECK_EVERY).map(|(_, queued)| queued)
    };
    let queued = match recent {
        Some(queued) => queued,
        None => {
            let service = state.service.clone();
            let queued = blocking(move || service.check_store()).await??;
            *state.health.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
                Some((std::time::Instant::now(), queued));
            queued
        }
    };
    Ok(Json(json!({"status": "ok", "queue_length": queued})))
}

/// How long a successful health check's answer is reused.
const HEALTH_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The number of queued jobs over every node; 503 when the store cannot say.
async fn queue_length(state: &AppState) -> Result<u64, ApiError> {
    let service = state.service.clone();
    Ok(blocking(move || service.queue_length()).await??)
}

async fn submit(State(state): Shared, body: Body) -> Result<Json<Value>, ApiError> {
    let body = read_body(body, state.body_limit).await?;
    let service = state.service.clone();
    let id = blocking(move || service.submit(&body)).await??;
    Ok(Json(json!({"enqueued": true, "job_id": id})))
}

/// The whole body if it is at most `limit` bytes; else 413, once the client has sent it.
pub(super) async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let mut kept = Vec::new();
    let mut seen = 0;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("cannot read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        seen += data.len();
        if seen <= limit {
            kept.extend_from_slice(&data);
        } else if seen > DRAIN_LIMIT {
            break;
        }
    }
    if seen > limit {
        let message = format!("the request body is too large: {seen} bytes or more, over the limit of {limit}");
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message));
    }
    Ok(Bytes::from(kept))
}

/// The job with `id`, or 404 for an unknown or malformed id.
async fn find(state: &AppState, id: String) -> Result<Job, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, format!("no job {id:?}"));
    if uuid::Uuid::try_parse(&id).is_err() {
        return Err(not_found());
    }
    let service = state.service.clone();
    let looked_up = id.clone();
    blocking(move || service.job(&looked_up)).await??.ok_or_else(not_found)
}

async fn status(State(state): Shared, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let job = find(&state, id).await?;
    let base = base_url(&state, &headers);
    Ok(Json(describe(&job, &base)))
}

async fn download(
    State(state): Shared,
    Path((id, file)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let (artifact, content_type) = match file.as_str() {
        "download" | "hex" => (Artifact::Firmware, "application/octet-stream"),
        "keymap" => (Artifact::KeymapC, "text/x-csrc; charset=utf-8"),
        "source" => (Artifact::Sources, "application/zip"),
        "svg" => (Artifact::Picture, "image/svg+xml; charset=utf-8"),
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no file {file:?}: download, hex, keymap, source or svg"),
            ));
        }
    };
    let job = find(&state, id).await?;
    // An ended job's files never change: each is made once (the picture drawn, the
    // archive written, the firmware read) and kept while asked for.
    let key = (job.id.clone(), artifact.describe());
    let make = make_download(state.clone(), job, artifact);
    let found = state.downloads.get_or_make(&key, false, make).await?.ok_or_else(|| {
        // `make_download` always gives a file or an error.
        ApiError::internal("a download was made of nothing")
    })?;
    // The picture is shown in the browser; nothing in it may run or load.
    let (disposition, policy) = match artifact {
        Artifact::Picture => ("inline", "default-src 'none'; style-src 'unsafe-inline'"),
        _ => ("attachment", "default-src 'none'"),
    };
    let headers = [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::CONTENT_DISPOSITION, format!("{disposition}; filename={}", found.filename)),
        (header::CONTENT_SECURITY_POLICY, policy.to_owned()),
    ];
    Ok((headers, SharedBody::body(found.bytes)))
}

/// A job's file, kept to be sent again.
#[derive(Clone)]
pub(super) struct Kept {
    bytes: Bytes,
    filename: Arc<str>,
}

impl Weighed for Kept {
    fn weight(&self) -> usize {
        self.bytes.len() + self.filename.len()
    }
}

/// Makes one of a job's files: a picture is drawn through the gate of costly work.
async fn make_download(state: Arc<AppState>, job: Job, artifact: Artifact) -> Result<Option<Kept>, ApiError> {
    let service = state.service.clone();
    let make = move || service.download(&job, artifact);
    let made = match artifact {
        Artifact::Picture => {
            let started = std::time::Instant::now();
            let drawn = state.heavy.run("drawing keymap pictures", make).await?;
            if let Ok(drawn) = &drawn {
                let (bytes, ms) = (drawn.bytes.len(), started.elapsed().as_millis());
                tracing::info!(file = %drawn.filename, bytes, ms, "drew a keymap picture");
            }
            drawn
        }
        _ => blocking(make).await?,
    };
    let found = made.map_err(|error| match error {
        Unavailable::NotEnded(..) | Unavailable::NotMade { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, error.to_string())
        }
        Unavailable::Store(error) => ApiError::from(error),
        // The store holds the job but not its firmware: it is damaged.
        Unavailable::Missing(_) => {
            tracing::error!(%error, "the job store is damaged");
            let message = format!("the job store cannot answer: {error}");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).retry_after(RETRY_AFTER_SECONDS)
        }
        Unavailable::Unreadable(..) => ApiError::internal(error),
    })?;
    Ok(Some(Kept { bytes: Bytes::from(found.bytes), filename: found.filename.into() }))
}

/// A job in api.qmk.fm's shape; `result` is null until the job ends.
fn describe(job: &Job, base: &str) -> Value {
    let result = job.result.as_ref().filter(|_| job.status.has_ended()).map(|result| {
        let url = |made: bool, path: &str| -> Vec<String> {
            if made { vec![format!("{base}/v1/compile/{}/{path}", job.id)] } else { Vec::new() }
        };
        let sources = result["sources"] == true;
        let firmware = firmware_filename(result);
        // Without firmware (a keymap-only job) there is no binary URL at all: QMK
        // Configurator disables its Firmware button only when the field is missing.
        let binary = firmware.as_ref().map(|_| url(true, "download"));
        let mut described = json!({
            "firmware_binary_url": binary,
            "firmware_filename": firmware.unwrap_or_default(),
            "firmware_keymap_url": url(sources, "keymap"),
            "firmware_source_url": url(sources, "source"),
            "keymap_svg_url": url(sources, "svg"),
            "output": result["output"],
            "keyboard": result["keyboard"],
            "keymap": result["keymap"],
            "layout": result["layout"],
            "returncode": result["returncode"],
            "id": job.id,
        });
        if binary.is_none()
            && let Some(fields) = described.as_object_mut()
        {
            fields.shift_remove("firmware_binary_url");
        }
        described
    });
    json!({
        "created_at": http_date(job.created_at),
        "enqueued_at": http_date(job.enqueued_at),
        "id": job.id,
        "is_failed": job.status == Status::Failed,
        "status": job.status.as_str(),
        "result": result,
    })
}

/// Where this server is reached: `--public-url`, else the request's `Host`.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `Sat, 19 Aug 2017 21:39:12 GMT`, as HTTP and api.qmk.fm write times.
fn http_date(seconds: i64) -> String {
    let format =
        format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT");
    OffsetDateTime::from_unix_timestamp(seconds).ok().and_then(|time| time.format(&format).ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_http_dates() {
        assert_eq!(http_date(1_503_178_752), "Sat, 19 Aug 2017 21:39:12 GMT");
    }

    #[test]
    fn urls_of_a_finished_job_point_at_its_files() {
        let job = Job {
            id: "f5f9b992-73b4-479b-8236-df1deb37c163".into(),
            created_at: 1_503_178_752,
            enqueued_at: 1_503_178_752,
            status: Status::Finished,
            request: String::new(),
            cache_key: String::new(),
            result: Some(json!({"returncode": 0, "output": "ok", "keyboard": "planck/rev6", "keymap": "mine",
                "layout": "LAYOUT", "sources": true, "firmware": null})),
        };
        let described = describe(&job, "http://h:1");
        let fields = described["result"].as_object().unwrap();
        assert!(!fields.contains_key("firmware_binary_url"), "no firmware, no binary URL: {fields:?}");
        assert_eq!(fields["firmware_filename"], "");
        assert_eq!(
            described["result"]["firmware_keymap_url"],
            json!(["http://h:1/v1/compile/f5f9b992-73b4-479b-8236-df1deb37c163/keymap"])
        );
        let built = Job {
            result: Some(json!({"keyboard": "planck/rev6", "keymap": "mine", "firmware": "f.bin"})),
            ..job.clone()
        };
        let built = describe(&built, "http://h:1");
        assert_eq!(built["result"]["firmware_filename"], "planck_rev6_mine.bin");
        assert_eq!(
            built["result"]["firmware_binary_url"],
            json!(["http://h:1/v1/compile/f5f9b992-73b4-479b-8236-df1deb37c163/download"])
        );
        assert_eq!(
            described["result"]["keymap_svg_url"],
            json!(["http://h:1/v1/compile/f5f9b992-73b4-479b-8236-df1deb37c163/svg"])
        );
        let queued = Job { status: Status::Queued, result: None, ..job };
        assert_eq!(describe(&queued, "http://h:1")["result"], Value::Null);
        assert_eq!(describe(&queued, "http://h:1")["is_failed"], false);
    }
}
