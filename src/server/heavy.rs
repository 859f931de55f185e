//! The gate of the work that costs a request much CPU (drawing a keymap's picture,
//! converting a KLE layout): a few run at once, a few more wait a while, and the rest
//! are refused at once with 503 and `Retry-After`, so that no flood of such requests
//! takes the cores from everything else.
//!
//! A gate rather than a concurrency limit over whole routes (tower's `ConcurrencyLimit`):
//! it guards only the costly part, so that a picture already drawn is sent without
//! waiting, and a refusal is the API's JSON error rather than a wait without end.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::Semaphore;

use super::api::ApiError;

/// How long a request waits for its turn before it is refused.
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// How long a refused client is asked to wait, in seconds.
const RETRY_AFTER_SECONDS: u32 = 5;

pub(super) struct Heavy {
    running: Arc<Semaphore>,
    /// Requests waiting for their turn, and how many may.
    waiting: AtomicUsize,
    may_wait: usize,
}

impl Heavy {
    /// `at_once` run at the same time (at least one), and as many more may wait.
    pub(super) fn new(at_once: usize) -> Heavy {
        let at_once = at_once.max(1);
        Heavy { running: Arc::new(Semaphore::new(at_once)), waiting: AtomicUsize::new(0), may_wait: at_once }
    }

    /// Runs `work` on a thread of its own once it is its turn; 503 when too many wait
    /// or the turn does not come in time.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        what: &str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let busy = || {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the server is busy {what} for other requests; try again in a few seconds"),
            )
            .retry_after(RETRY_AFTER_SECONDS)
        };
        let permit = match self.running.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.may_wait {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(busy());
                }
                let waited = tokio::time::timeout(WAIT_LIMIT, self.running.clone().acquire_owned()).await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                match waited {
                    Ok(Ok(permit)) => permit,
                    _ => return Err(busy()),
                }
            }
        };
        let done = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        });
        done.await.map_err(ApiError::internal)
    }
}
