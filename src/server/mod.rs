//! The long-running processes: the HTTP service (api.qmk.fm's compile API over
//! [`compile::Service`], and a built site served beside it) with its workers, and a
//! node of workers alone. Handlers are in [`api`]; this module wires the router, the
//! worker threads and the pruner, and runs until Ctrl-C or SIGTERM.

mod api;
mod keyboards;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
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
}

/// A request that takes longer than this (a slow client's body, say) gets 408.
const REQUEST_TIME_LIMIT: Duration = Duration::from_secs(30);

/// How long open connections may take to finish at shutdown.
const DRAIN_TIME_LIMIT: Duration = Duration::from_secs(10);

/// How often an HTTP/2 peer is pinged while a request runs, and how long it has to answer.
const HTTP2_PING_EVERY: Duration = Duration::from_secs(20);

/// How long an idle connection has to say goodbye (an HTTP/2 GOAWAY) before it is dropped.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What every handler can reach.
struct AppState {
    service: Arc<Service>,
    workers: usize,
    public_url: Option<String>,
    body_limit: usize,
}

/// The routes: the compile API under `/v1`, and the site for everything else.
fn router(settings: &Settings, service: Arc<Service>) -> Router {
    let state = Arc::new(AppState {
        service,
        workers: settings.workers,
        public_url: settings.public_url.clone(),
        body_limit: settings.body_limit,
    });
    Router::new()
        .merge(api::routes())
        .with_state(state)
        .merge(keyboards::routes(&settings.site))
        .fallback_service(ServeDir::new(&settings.site))
        .layer(CorsLayer::permissive())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIME_LIMIT))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
}

/// Starts the workers and the pruner, then serves until Ctrl-C or SIGTERM. `ready`
/// is called with the bound address (useful with port 0) before the first request.
/// At shutdown the jobs this process runs are handed back to the queue.
pub fn run(settings: Settings, service: Arc<Service>, ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    start_workers(&service, settings.workers, settings.keep)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(settings.listen).await?;
        let address = listener.local_addr()?;
        tracing::info!(%address, site = %settings.site.display(), workers = settings.workers, "listening");
        ready(address);
        serve_connections(listener, router(&settings, service.clone()), settings.header_time_limit).await;
        Ok::<_, std::io::Error>(())
    })?;
    runtime.block_on(tokio::task::spawn_blocking(move || service.release())).map_err(std::io::Error::other)
}

/// A node without HTTP: `workers` threads run jobs from the shared store, and ended
/// jobs older than `keep` are pruned, until Ctrl-C or SIGTERM; then the jobs it runs
/// are handed back to the queue. `ready` is called once the workers run.
pub fn run_workers(service: Arc<Service>, workers: usize, keep: Duration, ready: impl FnOnce()) -> std::io::Result<()> {
    start_workers(&service, workers, keep)?;
    tracing::info!(workers, backend = service.backend(), "working");
    ready();
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(shutdown());
    service.release();
    Ok(())
}

/// Accepts connections until shutdown, then lets the open ones finish for a while.
///
/// A connection on which no request is in progress for `header_time_limit` is closed,
/// whatever its protocol: a client that connects and sends nothing, an HTTP/2 client
/// that opens no stream, an idle keep-alive connection. Over HTTP/1 hyper also limits
/// the time to send each request's headers; HTTP/2 sends them in one frame.
async fn serve_connections(listener: tokio::net::TcpListener, app: Router, header_time_limit: Duration) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_time_limit);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(HTTP2_PING_EVERY).keep_alive_timeout(HTTP2_PING_EVERY);
    let (stop_sender, stop) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutting_down = std::pin::pin!(shutdown());
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
            () = &mut shutting_down => break,
        };
        // Small answers go out at once rather than waiting on the client's delayed ACK.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "cannot set TCP_NODELAY");
        }
        let (in_progress, requests) = watch::channel(0usize);
        let (app, in_progress) = (app.clone(), Arc::new(in_progress));
        let service = TowerToHyperService::new(tower::service_fn(move |request: Request<Incoming>| {
            let counted = InProgress::start(&in_progress);
            let app = app.clone();
            async move {
                // The request counts until its answer's body is sent (or dropped).
                let response = app.oneshot(request).await?;
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        let _counted = &counted;
                        frame
                    }))
                }))
            }
        }));
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let (stop, idle) = (stop.clone(), idle_for(requests, header_time_limit));
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let mut stop = stop;
            // How long the connection may take to close once asked to: an idle one has
            // no request to finish, only the goodbye of its protocol.
            let grace = tokio::select! {
                ended = connection.as_mut() => Err(ended),
                () = idle => Ok(IDLE_CLOSE_GRACE),
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
    let _ = stop_sender.send(true);
    let drained = tokio::time::timeout(DRAIN_TIME_LIMIT, async { while connections.join_next().await.is_some() {} });
    if drained.await.is_err() {
        tracing::warn!("open connections did not finish in time");
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
