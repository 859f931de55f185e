//! The claims one process holds, for a backend that renews their leases: a claim is
//! renewed while its [`Hold`] lives, so a worker that stops holding a job (it ended,
//! or its thread died) stops renewing it and the lease runs out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Job ids and the tokens of their claims.
#[derive(Clone, Default)]
pub(super) struct Holdings(Arc<Mutex<HashMap<String, String>>>);

impl Holdings {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn hold(&self, id: &str, token: &str) -> Hold {
        self.lock().insert(id.to_owned(), token.to_owned());
        Hold { holdings: self.clone(), id: id.to_owned() }
    }

    /// The claims held now: ids and tokens.
    pub(super) fn held(&self) -> (Vec<String>, Vec<String>) {
        self.lock().iter().map(|(id, token)| (id.clone(), token.clone())).unzip()
    }
}

/// One claim held; dropping it lets the claim's lease run out.
pub struct Hold {
    holdings: Holdings,
    id: String,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.holdings.lock().remove(&self.id);
    }
}
