//! The HTTP service: api.qmk.fm's compile API over [`compile::Service`], and a built
//! site served beside it. Handlers are in [`api`]; this module wires the router, the
//! worker threads and the pruner, and runs until Ctrl-C or SIGTERM.

mod api;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::serve::ListenerExt;
use tower_http::cors::CorsLayer;
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::compile::Service;

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
    /// The start of the URLs in job results; by default taken from each request's `Host`.
    pub public_url: Option<String>,
}

/// A request that takes longer than this (a slow client's body, say) gets 408.
const REQUEST_TIME_LIMIT: Duration = Duration::from_secs(30);

/// How often ended jobs are looked at for pruning.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

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
pub fn run(settings: Settings, service: Arc<Service>, ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    for n in 0..settings.workers {
        let service = service.clone();
        std::thread::Builder::new().name(format!("worker-{n}")).spawn(move || service.work())?;
    }
    let pruned = service.clone();
    let keep = settings.keep;
    std::thread::Builder::new().name("pruner".into()).spawn(move || {
        loop {
            match pruned.prune(keep) {
                Ok(0) => {}
                Ok(n) => tracing::info!(jobs = n, "pruned ended jobs and their files"),
                Err(error) => tracing::error!(%error, "cannot prune old jobs"),
            }
            std::thread::sleep(PRUNE_EVERY);
        }
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(settings.listen).await?;
        let address = listener.local_addr()?;
        // Small answers go out at once rather than waiting on the client's delayed ACK.
        let listener = listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::warn!(%error, "cannot set TCP_NODELAY");
            }
        });
        tracing::info!(%address, site = %settings.site.display(), workers = settings.workers, "listening");
        ready(address);
        axum::serve(listener, router(&settings, service)).with_graceful_shutdown(shutdown()).await
    })
}

/// Resolves on Ctrl-C or SIGTERM. Running jobs are not waited for: the store queues
/// them again at the next start.
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
