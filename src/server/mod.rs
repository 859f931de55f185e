//! The long-running processes: the HTTP service (api.qmk.fm's compile API over
//! [`compile::Service`], and a built site served beside it) with its workers, and a
//! node of workers alone. Handlers are in [`api`]; this module wires the router, the
//! worker threads and the pruner, and runs until Ctrl-C or SIGTERM.

mod api;
mod cache;
mod heavy;
mod keyboards;
mod status;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;
use tower_http::cors::CorsLayer;
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use self::api::ApiError;
use self::cache::ByteCache;
use self::heavy::Heavy;
use crate::compile::{Service, start_workers};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// The folder served at `/`: one channel of a built site.
    pub site: PathBuf,
    /// Threads that run jobs.
    pub workers: usize,
    /// Ended jobs and their files are removed after this long.
    pub keep: Duration,
    /// Larger request bodies are refused with 413.
    pub body_limit: usize,
    /// A client must send its request's headers within this time.
    pub header_time_limit: Duration,
    /// The start of the URLs in job results; by default taken from each request's `Host`.
    pub public_url: Option<String>,
    /// Keymap pictures drawn and KLE layouts converted at once (as many more may wait).
    pub heavy_limit: usize,
    /// A client that takes none of an answer for this long is disconnected.
    pub stall_time_limit: Duration,
}

/// A request that takes longer than this (a slow client's body, say) gets 408.
const REQUEST_TIME_LIMIT: Duration = Duration::from_secs(30);

/// How long open connections may take to finish at shutdown.
const DRAIN_TIME_LIMIT: Duration = Duration::from_secs(10);

/// How often an HTTP/2 peer is pinged while a request runs, and how long it has to answer.
const HTTP2_PING_EVERY: Duration = Duration::from_secs(20);

/// How long an idle connection has to say goodbye (an HTTP/2 GOAWAY) before it is dropped.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How many bytes of jobs' files (pictures, archives, firmware) are kept in memory.
const DOWNLOADS_BUDGET: usize = 64 << 20;

/// What every handler can reach.
struct AppState {
    service: Arc<Service>,
    workers: usize,
    public_url: Option<String>,
    body_limit: usize,
    /// The gate of costly work: pictures, KLE conversions.
    heavy: Arc<Heavy>,
    /// Jobs' files made for a download, by job and file.
    downloads: Arc<ByteCache<(String, &'static str), ApiError, api::Kept>>,
    /// The last health check that could read the store: when, and the queue's length.
    health: Mutex<Option<(Instant, u64)>>,
}

/// The routes: the compile API under `/v1`, and the site for everything else.
fn router(settings: &Settings, service: Arc<Service>) -> Router {
    let catalogue = service.clone();
    let heavy = Arc::new(Heavy::new(settings.heavy_limit));
    let state = Arc::new(AppState {
        service,
        workers: settings.workers,
        public_url: settings.public_url.clone(),
        body_limit: settings.body_limit,
        heavy: heavy.clone(),
        downloads: Arc::new(ByteCache::new(DOWNLOADS_BUDGET)),
        health: Mutex::new(None),
    });
    Router::new()
        .merge(api::routes())
        .with_state(state)
        .merge(keyboards::routes(&settings.site, settings.body_limit, heavy, catalogue))
        .fallback_service(ServeDir::new(&settings.site))
        .layer(CorsLayer::permissive())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIME_LIMIT))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(axum::middleware::from_fn(finish))
}

/// What every answer gets last: `X-Content-Type-Options: nosniff` (a browser takes
/// each file for what its type says, never for what its bytes look like), and an
/// error's body in the API's JSON (the site's 404, the 408 of the time limit, a
/// refused method) when it has none.
async fn finish(request: Request<Body>, next: axum::middleware::Next) -> Response {
    let path: String = request.uri().path().chars().take(200).collect();
    let method = request.method().clone();
    let response = next.run(request).await;
    let (mut parts, body) = response.into_parts();
    parts.headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let status = parts.status;
    let json = parts.headers.get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return Response::from_parts(parts, body);
    }
    let plain = parts.headers.get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/plain"));
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(bytes) if plain => String::from_utf8_lossy(&bytes).trim().to_owned(),
        _ => String::new(),
    };
    let message = match status {
        _ if !text.is_empty() => text,
        StatusCode::NOT_FOUND => format!("nothing at {path}"),
        StatusCode::METHOD_NOT_ALLOWED => format!("{method} is not allowed at {path}"),
        StatusCode::REQUEST_TIMEOUT => {
            format!("the request took longer than {} s", REQUEST_TIME_LIMIT.as_secs())
        }
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let mut answer = ApiError::new(status, message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().append(name, value.clone());
        }
    }
    answer
}

/// Starts the workers and the pruner, then serves until Ctrl-C or SIGTERM. `ready`
/// is called with the bound address (useful with port 0) before the first request.
/// At shutdown the jobs this process runs are handed back to the queue at once, while
/// the open connections finish their requests.
pub fn run(settings: Settings, service: Arc<Service>, ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    start_workers(&service, settings.workers, settings.keep)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(settings.listen).await?;
        let address = listener.local_addr()?;
        let app = router(&settings, service.clone());
        tracing::info!(%address, site = %settings.site.display(), workers = settings.workers, "listening");
        ready(address);
        let limits = Limits { header_time: settings.header_time_limit, stall_time: settings.stall_time_limit };
        // On a thread of its own: the store is reached through blocking calls.
        let stop = move || tokio::task::spawn_blocking(move || service.release());
        serve_connections(listener, app, limits, stop).await;
        Ok(())
    });
    // Work still running for requests that were dropped (a picture drawn, a store
    // call waiting for a connection) is not waited for.
    runtime.shutdown_timeout(Duration::from_millis(100));
    served
}

/// A node without HTTP: `workers` threads run jobs from the shared store, and ended
/// jobs older than `keep` are pruned, until Ctrl-C or SIGTERM; then the jobs it runs
/// are handed back to the queue. `ready` is called once the workers run.
pub fn run_workers(service: Arc<Service>, workers: usize, keep: Duration, ready: impl FnOnce()) -> std::io::Result<()> {
    start_workers(&service, workers, keep)?;
    tracing::info!(workers, backend = service.backend(), "working");
    ready();
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(shutdown());
    // On this thread, outside the runtime: the store's calls block.
    service.release();
    Ok(())
}

/// How long clients may take.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// To send a request's headers, and to send a request at all on an open connection.
    header_time: Duration,
    /// To take any of an answer.
    stall_time: Duration,
}

/// Accepts connections until Ctrl-C or SIGTERM, then calls `stop` and lets the open
/// connections finish for a while, along with the task it gave (a second signal ends
/// the wait).
///
/// A connection on which no request is in progress for the header time limit is
/// closed, whatever its protocol: a client that connects and sends nothing, an HTTP/2
/// client that opens no stream, an idle keep-alive connection. Over HTTP/1 hyper also
/// limits the time to send each request's headers; HTTP/2 sends them in one frame. A
/// connection whose answers make no progress for the stall time limit (a client that
/// does not read them) is dropped, and with it what it held.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    stop: impl FnOnce() -> tokio::task::JoinHandle<()>,
) {
    let header_time_limit = limits.header_time;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_time_limit);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(HTTP2_PING_EVERY).keep_alive_timeout(HTTP2_PING_EVERY);
    let (stop_sender, stop_receiver) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut signalled = std::pin::pin!(shutdown());
    let epoch = Instant::now();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut signalled => break,
        };
        // Small answers go out at once rather than waiting on the client's delayed ACK.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "cannot set TCP_NODELAY");
        }
        let (in_progress, requests) = watch::channel(0usize);
        let progress = Arc::new(Progress { epoch, last: AtomicU64::new(0), sending: AtomicU64::new(0) });
        let (app, in_progress, counted_progress) = (app.clone(), Arc::new(in_progress), progress.clone());
        let service = TowerToHyperService::new(tower::service_fn(move |request: Request<Incoming>| {
            let counted = InProgress::start(&in_progress);
            let (app, progress) = (app.clone(), counted_progress.clone());
            async move {
                // The request counts until its answer's body is sent (or dropped); each
                // piece of the body taken is progress.
                let response = app.oneshot(request).await?;
                let sending = Sending::start(&progress);
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        let _counted = &counted;
                        sending.advanced();
                        frame
                    }))
                }))
            }
        }));
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let (stop, idle) = (stop_receiver.clone(), idle_for(requests, header_time_limit));
        let stalled = stalled_for(progress, limits.stall_time);
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let mut stop = stop;
            // How long the connection may take to close once asked to: an idle one has
            // no request to finish, only the goodbye of its protocol.
            let grace = tokio::select! {
                ended = connection.as_mut() => Err(ended),
                () = idle => Ok(IDLE_CLOSE_GRACE),
                () = stalled => {
                    return tracing::info!(%peer, "connection closed: the client took none of its answer in time");
                }
                _ = stop.changed() => Ok(DRAIN_TIME_LIMIT),
            };
            let ended = match grace {
                Err(ended) => ended,
                Ok(grace) => {
                    connection.as_mut().graceful_shutdown();
                    match tokio::time::timeout(grace, connection).await {
                        Ok(ended) => ended,
                        Err(_) => return tracing::debug!(%peer, "connection closed: it did not finish in time"),
                    }
                }
            };
            if let Err(error) = ended {
                tracing::debug!(%peer, %error, "connection ended");
            }
        });
    }
    drop(listener);
    let finishing = stop();
    let _ = stop_sender.send(true);
    let drained = tokio::time::timeout(DRAIN_TIME_LIMIT, async {
        let finishing = async {
            if let Err(error) = finishing.await {
                tracing::error!(%error, "cannot finish stopping");
            }
        };
        tokio::join!(async { while connections.join_next().await.is_some() {} }, finishing)
    });
    tokio::select! {
        drained = drained => if drained.is_err() {
            tracing::warn!("open connections did not finish in time");
        },
        () = shutdown() => tracing::warn!("stopping at once: open connections are closed"),
    }
}

/// How far the answers of one connection have gone.
struct Progress {
    /// The server's start, which `last` counts from.
    epoch: Instant,
    /// When an answer last made progress (began, or had a piece taken), in milliseconds.
    last: AtomicU64,
    /// Answers begun and not yet sent (or dropped).
    sending: AtomicU64,
}

impl Progress {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// One answer being sent; dropped when its body is sent or dropped.
struct Sending(Arc<Progress>);

impl Sending {
    fn start(progress: &Arc<Progress>) -> Sending {
        progress.sending.fetch_add(1, Ordering::SeqCst);
        progress.last.store(progress.now(), Ordering::SeqCst);
        Sending(progress.clone())
    }

    fn advanced(&self) {
        self.0.last.store(self.0.now(), Ordering::SeqCst);
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.0.sending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Resolves once an answer has been waiting for its client to take more of it for
/// `limit`: a client that does not read holds the connection and the answer no longer.
async fn stalled_for(progress: Arc<Progress>, limit: Duration) {
    let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
    loop {
        let waited = progress.now().saturating_sub(progress.last.load(Ordering::SeqCst));
        let sending = progress.sending.load(Ordering::SeqCst) > 0;
        if sending && waited >= limit_ms {
            return;
        }
        // An answer begun now can stall no sooner than `limit` from now: the check
        // comes within twice the limit of the last progress at worst.
        let next = if sending { limit_ms - waited } else { limit_ms };
        tokio::time::sleep(Duration::from_millis(next.max(100))).await;
    }
}

/// One request in progress on a connection; the count goes down when it is dropped.
struct InProgress(Arc<watch::Sender<usize>>);

impl InProgress {
    fn start(count: &Arc<watch::Sender<usize>>) -> InProgress {
        count.send_modify(|count| *count += 1);
        InProgress(count.clone())
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.send_modify(|count| *count -= 1);
    }
}

/// Resolves once no request has been in progress for `limit`.
async fn idle_for(mut requests: watch::Receiver<usize>, limit: Duration) {
    loop {
        let idle = *requests.borrow_and_update() == 0;
        let changed =
            if idle { tokio::time::timeout(limit, requests.changed()).await } else { Ok(requests.changed().await) };
        match changed {
            Ok(Ok(())) => continue,
            // Idle for the whole limit, or the connection's service is gone.
            Err(_) | Ok(Err(_)) => return,
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM. Running jobs are not waited for: they are handed
/// back to the queue (PostgreSQL), or queued again at the next start (SQLite).
async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM");
            let _ = interrupt.await;
            return;
        }
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}
