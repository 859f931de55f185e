//! A counting wake-up for workers: one count per job that may be waiting, so that no
//! worker sleeps while a job it could run waits.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

pub(super) struct Wakeups {
    pending: Mutex<u64>,
    condvar: Condvar,
    /// A worker looks for work this often even without a wake-up (jobs another node
    /// queued while the wake-ups did not reach this one); `None` waits for wake-ups only.
    poll_every: Option<Duration>,
}

impl Wakeups {
    pub(super) fn new(pending: u64, poll_every: Option<Duration>) -> Wakeups {
        Wakeups { pending: Mutex::new(pending), condvar: Condvar::new(), poll_every }
    }

    /// `jobs` more jobs may be waiting.
    pub(super) fn signal(&self, jobs: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        *pending = pending.saturating_add(jobs);
        match jobs {
            0 => {}
            1 => self.condvar.notify_one(),
            _ => self.condvar.notify_all(),
        }
    }

    /// Waits for a wake-up, or for the polling interval, or `at_most`.
    pub(super) fn wait(&self, at_most: Option<Duration>) {
        let limit = match (self.poll_every, at_most) {
            (Some(every), Some(most)) => Some(every.min(most)),
            (every, most) => every.or(most),
        };
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        while *pending == 0 {
            pending = match limit {
                None => self.condvar.wait(pending).unwrap_or_else(|p| p.into_inner()),
                Some(every) => {
                    let (pending, waited) =
                        self.condvar.wait_timeout(pending, every).unwrap_or_else(|p| p.into_inner());
                    if waited.timed_out() {
                        return;
                    }
                    pending
                }
            };
        }
        *pending -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn each_signal_lets_one_wait_through() {
        let wakeups = Arc::new(Wakeups::new(1, None));
        wakeups.wait(None);
        let waiter = {
            let wakeups = wakeups.clone();
            std::thread::spawn(move || {
                wakeups.wait(None);
                wakeups.wait(None);
            })
        };
        wakeups.signal(2);
        waiter.join().unwrap();
    }

    #[test]
    fn a_polling_wait_returns_without_a_signal() {
        let wakeups = Wakeups::new(0, Some(Duration::from_millis(20)));
        let started = std::time::Instant::now();
        wakeups.wait(None);
        assert!(started.elapsed() >= Duration::from_millis(20));
    }
}
