//! The keyboards a node holds warm: those whose reference build its cache keeps, most
//! recently used first. Workers prefer their queued jobs (see
//! [`super::store::Preference`]); the list is bounded, since each claim sends it to
//! the job store.

use std::collections::VecDeque;
use std::sync::Mutex;

/// How many keyboards the list holds.
const HELD: usize = 512;

#[derive(Default)]
pub struct WarmKeyboards(Mutex<VecDeque<String>>);

impl WarmKeyboards {
    /// Notes that `keyboard` is warm and was used now.
    pub fn note(&self, keyboard: &str) {
        let mut held = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        held.retain(|name| name != keyboard);
        held.push_front(keyboard.to_owned());
        held.truncate(HELD);
    }

    /// The keyboards held warm now.
    pub fn list(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_recent_keyboards_are_held_once_each() {
        let warm = WarmKeyboards::default();
        for n in 0..HELD + 10 {
            warm.note(&format!("k{n}"));
        }
        warm.note("k20");
        let list = warm.list();
        assert_eq!(list.len(), HELD);
        assert_eq!(list[0], "k20");
        assert_eq!(list.iter().filter(|k| *k == "k20").count(), 1);
        assert!(!list.contains(&"k5".to_owned()), "the least recently used went");
    }
}
