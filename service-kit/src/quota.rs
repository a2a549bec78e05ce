//! How many of something each holder has open at once, bounded: the
//! connections of one peer address, the watches of one principal. A slot
//! is given back when it is dropped, however its holder ends.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Open slots per key, at most `max` each (0: no bound).
#[derive(Debug)]
pub struct Quota<K: Hash + Eq + Clone> {
    max: usize,
    open: Mutex<HashMap<K, usize>>,
}

impl<K: Hash + Eq + Clone> Quota<K> {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The bound on each key's slots (0: none).
    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot for `key`, or None when it holds `max` already.
    pub fn take(self: &Arc<Self>, key: K) -> Option<Slot<K>> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let held = open.entry(key.clone()).or_default();
        if self.max != 0 && *held >= self.max {
            return None;
        }
        *held += 1;
        Some(Slot {
            quota: Arc::clone(self),
            key,
        })
    }

    /// How many slots `key` holds now.
    pub fn held(&self, key: &K) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(key).copied().unwrap_or(0)
    }
}

/// One of a key's slots, given back on drop.
#[derive(Debug)]
pub struct Slot<K: Hash + Eq + Clone> {
    quota: Arc<Quota<K>>,
    key: K,
}

impl<K: Hash + Eq + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut open = self.quota.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = open.get_mut(&self.key) {
            *held -= 1;
            if *held == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_at_most_max_slots_and_gets_them_back_on_drop() {
        let quota = Quota::new(2);
        let first = quota.take("a").unwrap();
        let _second = quota.take("a").unwrap();
        assert!(quota.take("a").is_none());
        assert!(quota.take("b").is_some(), "keys are counted apart");
        drop(first);
        assert_eq!(quota.held(&"a"), 1);
        assert!(quota.take("a").is_some());
    }

    #[test]
    fn zero_is_no_bound() {
        let quota = Quota::new(0);
        let slots: Vec<_> = (0..100).map(|_| quota.take(1).unwrap()).collect();
        assert_eq!(quota.held(&1), 100);
        drop(slots);
        assert_eq!(quota.held(&1), 0);
        assert!(quota.open.lock().unwrap().is_empty(), "no key is kept");
    }
}
