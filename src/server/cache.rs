//! What the server keeps of its answers so that no request costs a fresh copy of a
//! large one: [`ByteCache`], answers kept in memory (bounded in bytes, least recently
//! used first out) and made once however many ask at once, and [`Shared`], a body that
//! sends kept bytes without copying them, in pieces.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use hyper::body::{Body as HttpBody, Frame, SizeHint};

/// Answers by key, in memory: at most `budget` bytes of them, besides those kept for
/// good ([`ByteCache::get_or_make`] with `pin`), and none larger than half of it.
pub(super) struct ByteCache<K, E, V = Bytes> {
    kept: Mutex<Kept<K, V>>,
    /// What is being made, by key: those who ask meanwhile wait for it and share it.
    making: Mutex<HashMap<K, Slot<V, E>>>,
    budget: usize,
}

/// What making an answer gave: the answer, `None` (there is none), or an error.
type Made<V, E> = Result<Option<V>, E>;

/// Where those who wait for an answer being made find it once it is.
type Slot<V, E> = Arc<tokio::sync::Mutex<Option<Made<V, E>>>>;

/// An answer kept: its size is what counts against the budget.
pub(super) trait Weighed: Clone {
    fn weight(&self) -> usize;
}

impl Weighed for Bytes {
    fn weight(&self) -> usize {
        self.len()
    }
}

struct Kept<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Bytes held by entries that are not pinned.
    bytes: usize,
    /// Counts uses, to find the least recently used.
    clock: u64,
}

struct Entry<V> {
    value: V,
    used: u64,
    pinned: bool,
}

impl<K: Hash + Eq + Clone, E: Clone, V: Weighed> ByteCache<K, E, V> {
    pub(super) fn new(budget: usize) -> ByteCache<K, E, V> {
        let kept = Kept { entries: HashMap::new(), bytes: 0, clock: 0 };
        ByteCache { kept: Mutex::new(kept), making: Mutex::new(HashMap::new()), budget }
    }

    fn kept(&self) -> MutexGuard<'_, Kept<K, V>> {
        // The map is consistent between statements: a panic elsewhere cannot tear it.
        self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The kept answer for `key`, if any.
    pub(super) fn get(&self, key: &K) -> Option<V> {
        let mut kept = self.kept();
        kept.clock += 1;
        let clock = kept.clock;
        let entry = kept.entries.get_mut(key)?;
        entry.used = clock;
        Some(entry.value.clone())
    }

    /// The answer for `key`: kept, or made by `make` and kept. Requests for the same key
    /// while it is being made wait for that one making and get its outcome. The making
    /// runs on a task of its own, so that it is finished, kept and shared even when the
    /// request that started it goes away (its client gave up): it is never begun again
    /// meanwhile. `pin` keeps the answer for good, outside the budget.
    pub(super) async fn get_or_make<F>(self: &Arc<Self>, key: &K, pin: bool, make: F) -> Made<V, E>
    where
        F: Future<Output = Made<V, E>> + Send + 'static,
        K: Send + Sync + 'static,
        V: Send + Sync + 'static,
        E: From<tokio::task::JoinError> + Send + Sync + 'static,
    {
        if let Some(value) = self.get(key) {
            return Ok(Some(value));
        }
        let slot = {
            let mut making = self.making.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            making.entry(key.clone()).or_default().clone()
        };
        let mut made = slot.clone().lock_owned().await;
        if let Some(outcome) = &*made {
            // Made while this request waited: the slot has left the map already.
            return outcome.clone();
        }
        let (cache, key) = (self.clone(), key.clone());
        let making = tokio::spawn(async move {
            let outcome = match cache.get(&key) {
                Some(value) => Ok(Some(value)),
                None => make.await,
            };
            if let Ok(Some(value)) = &outcome {
                cache.keep(&key, value.clone(), pin);
            }
            // Those who come from now on find it kept, or make it again (an error, a
            // refusal): the outcome goes only to those who waited for this making.
            let mut making = cache.making.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if making.get(&key).is_some_and(|current| Arc::ptr_eq(current, &slot)) {
                making.remove(&key);
            }
            drop(making);
            *made = Some(outcome.clone());
            outcome
        });
        making.await.map_err(E::from)?
    }

    fn keep(&self, key: &K, value: V, pinned: bool) {
        if !pinned && value.weight() > self.budget / 2 {
            return;
        }
        let mut kept = self.kept();
        kept.clock += 1;
        let used = kept.clock;
        let size = if pinned { 0 } else { value.weight() };
        if let Some(old) = kept.entries.insert(key.clone(), Entry { value, used, pinned }) {
            kept.bytes -= if old.pinned { 0 } else { old.value.weight() };
        }
        kept.bytes += size;
        if kept.bytes > self.budget {
            // Down to three quarters at once, so that the next answers need not evict.
            let mut unpinned: Vec<(u64, K)> =
                kept.entries.iter().filter(|(_, e)| !e.pinned).map(|(k, e)| (e.used, k.clone())).collect();
            unpinned.sort_unstable_by_key(|(used, _)| *used);
            for (_, key) in unpinned {
                if kept.bytes <= self.budget / 4 * 3 {
                    break;
                }
                if let Some(entry) = kept.entries.remove(&key) {
                    kept.bytes -= entry.value.weight();
                }
            }
        }
    }

    /// Bytes kept within the budget (pinned answers aside).
    #[cfg(test)]
    fn size(&self) -> usize {
        self.kept().bytes
    }
}

/// The pieces a [`Shared`] body is sent in: each is taken only once the connection can
/// send it, so that how far a client has read is seen piece by piece.
const PIECE: usize = 64 << 10;

/// A body of kept bytes: sent in pieces that are views of them, never copies, with its
/// exact length (so `Content-Length` is sent).
pub(super) struct Shared(Bytes);

impl Shared {
    pub(super) fn body(bytes: Bytes) -> Body {
        Body::new(Shared(bytes))
    }
}

impl HttpBody for Shared {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.0.is_empty() {
            return Poll::Ready(None);
        }
        let size = self.0.len().min(PIECE);
        let piece = self.0.split_to(size);
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    }

    #[test]
    fn an_answer_asked_for_at_once_is_made_once_and_shared() {
        let cache: Arc<ByteCache<String, Failed>> = Arc::new(ByteCache::new(1 << 20));
        let made = Arc::new(AtomicUsize::new(0));
        let answers: Vec<Bytes> = runtime().block_on(async {
            let asks = (0..20).map(|_| {
                let (cache, made) = (cache.clone(), made.clone());
                tokio::spawn(async move {
                    let make = async move {
                        made.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Ok(Some(Bytes::from(vec![7u8; 1000])))
                    };
                    cache.get_or_make(&"a".to_owned(), false, make).await.unwrap().unwrap()
                })
            });
            let mut answers = Vec::new();
            for ask in asks.collect::<Vec<_>>() {
                answers.push(ask.await.unwrap());
            }
            answers
        });
        assert_eq!(made.load(Ordering::SeqCst), 1, "made once");
        assert!(answers.iter().all(|a| a.as_ptr() == answers[0].as_ptr()), "one copy, shared");
        assert!(cache.making.lock().unwrap().is_empty(), "nothing left being made");
    }

    #[derive(Debug, Clone, PartialEq)]
    struct Failed(String);

    impl From<tokio::task::JoinError> for Failed {
        fn from(error: tokio::task::JoinError) -> Failed {
            Failed(error.to_string())
        }
    }

    #[test]
    fn errors_and_absences_are_shared_by_those_who_waited_but_not_kept() {
        let cache: Arc<ByteCache<u32, Failed>> = Arc::new(ByteCache::new(1 << 20));
        let runtime = runtime();
        let failed = runtime.block_on(cache.get_or_make(&1, false, async { Err(Failed("busy".to_owned())) }));
        assert_eq!(failed, Err(Failed("busy".to_owned())));
        let none = runtime.block_on(cache.get_or_make(&1, false, async { Ok(None) }));
        assert_eq!(none, Ok(None));
        let made = runtime.block_on(cache.get_or_make(&1, false, async { Ok(Some(Bytes::from_static(b"x"))) }));
        assert_eq!(made, Ok(Some(Bytes::from_static(b"x"))), "tried again");
    }

    #[test]
    fn a_making_left_by_its_request_is_finished_kept_and_not_begun_again() {
        let cache: Arc<ByteCache<u32, Failed>> = Arc::new(ByteCache::new(1 << 20));
        let made = Arc::new(AtomicUsize::new(0));
        let make = |made: Arc<AtomicUsize>| async move {
            made.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            Ok(Some(Bytes::from_static(b"drawn")))
        };
        let again = runtime().block_on(async {
            let first = {
                let (cache, make) = (cache.clone(), make(made.clone()));
                tokio::spawn(async move { cache.get_or_make(&1, false, make).await })
            };
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            first.abort();
            cache.get_or_make(&1, false, make(made.clone())).await
        });
        assert_eq!(again, Ok(Some(Bytes::from_static(b"drawn"))));
        assert_eq!(made.load(Ordering::SeqCst), 1, "the first making was finished, not begun again");
        assert!(cache.get(&1).is_some());
    }

    #[test]
    fn the_budget_holds_the_least_recently_used_go_first_and_pins_stay() {
        let cache: Arc<ByteCache<u32, Failed>> = Arc::new(ByteCache::new(4000));
        let runtime = runtime();
        let put = |key: u32, size: usize, pin: bool| {
            let bytes = Bytes::from(vec![0u8; size]);
            runtime.block_on(cache.get_or_make(&key, pin, async move { Ok(Some(bytes)) })).unwrap();
        };
        put(0, 100_000, true);
        for key in 1..=4 {
            put(key, 900, false);
        }
        assert!(cache.get(&1).is_some(), "1 is used again: 2 is the oldest now");
        put(5, 900, false);
        assert!(cache.size() <= 4000, "{}", cache.size());
        assert!(cache.get(&2).is_none() && cache.get(&1).is_some() && cache.get(&5).is_some());
        assert!(cache.get(&0).is_some(), "a pinned answer stays, outside the budget");
        put(6, 2001, false);
        assert!(cache.get(&6).is_none(), "larger than half the budget: not kept");
    }

    #[test]
    fn a_shared_body_is_sent_in_views_with_its_length() {
        let bytes = Bytes::from(vec![1u8; PIECE * 2 + 5]);
        let mut body = Shared(bytes.clone());
        assert_eq!(body.size_hint().exact(), Some(bytes.len() as u64));
        let waker = std::task::Waker::noop();
        let mut context = Context::from_waker(waker);
        let mut pieces = Vec::new();
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut context) {
            pieces.push(frame.into_data().unwrap());
        }
        assert_eq!(pieces.iter().map(Bytes::len).collect::<Vec<_>>(), [PIECE, PIECE, 5]);
        assert_eq!(pieces[1].as_ptr(), bytes[PIECE..].as_ptr(), "a view, not a copy");
        assert!(body.is_end_stream());
    }
}
