//! Request counters by method and path, sharded so that a benchmark's many
//! connections do not queue on one lock.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Most distinct `METHOD path` keys kept; later new keys count only in the
/// total (and in `untracked`), so a scan of random paths cannot grow memory.
pub const MAX_KEYS: usize = 20_000;
const SHARDS: usize = 16;

/// Request counts.
#[derive(Default)]
pub struct Counters {
    total: AtomicU64,
    untracked: AtomicU64,
    keys: AtomicUsize,
    shards: [Mutex<HashMap<String, u64>>; SHARDS],
}

fn key(method: &str, path: &str) -> String {
    let mut key = String::with_capacity(method.len() + 1 + path.len());
    key.push_str(method);
    key.push(' ');
    key.push_str(path);
    key
}

impl Counters {
    fn shard(&self, key: &str) -> MutexGuard<'_, HashMap<String, u64>> {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let index = (hasher.finish() % SHARDS as u64) as usize;
        // Counts are plain integers; a poisoned shard is still consistent.
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one request.
    pub fn record(&self, method: &str, path: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let key = key(method, path);
        let mut shard = self.shard(&key);
        if let Some(n) = shard.get_mut(&key) {
            *n += 1;
        } else if self.keys.fetch_add(1, Ordering::Relaxed) < MAX_KEYS {
            shard.insert(key, 1);
        } else {
            self.keys.fetch_sub(1, Ordering::Relaxed);
            self.untracked.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Requests seen for exactly this method and path.
    pub fn get(&self, method: &str, path: &str) -> u64 {
        let key = key(method, path);
        self.shard(&key).get(&key).copied().unwrap_or(0)
    }

    /// All requests seen.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Requests whose key did not fit under [`MAX_KEYS`].
    pub fn untracked(&self) -> u64 {
        self.untracked.load(Ordering::Relaxed)
    }

    /// Every `(METHOD path, count)`, sorted by key.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let mut all = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            all.extend(shard.iter().map(|(k, v)| (k.clone(), *v)));
        }
        all.sort_unstable();
        all
    }

    /// Forgets every count.
    pub fn reset(&self) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            self.keys.fetch_sub(shard.len(), Ordering::Relaxed);
            shard.clear();
        }
        self.total.store(0, Ordering::Relaxed);
        self.untracked.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts are per exact method and path, and reset clears them.
    #[test]
    fn counts_by_method_and_path() {
        let c = Counters::default();
        c.record("GET", "/v2/images/a");
        c.record("GET", "/v2/images/a");
        c.record("PATCH", "/v2/images/a");
        assert_eq!(c.get("GET", "/v2/images/a"), 2);
        assert_eq!(c.get("PATCH", "/v2/images/a"), 1);
        assert_eq!(c.get("GET", "/v2/images/b"), 0);
        assert_eq!(c.total(), 3);
        assert_eq!(c.snapshot().len(), 2);
        c.reset();
        assert_eq!((c.total(), c.snapshot().len()), (0, 0));
    }

    /// Keys beyond the cap are counted only in the total.
    #[test]
    fn key_count_is_capped() {
        let c = Counters::default();
        for i in 0..MAX_KEYS + 10 {
            c.record("GET", &format!("/x/{i}"));
        }
        assert_eq!(c.snapshot().len(), MAX_KEYS);
        assert_eq!(c.untracked(), 10);
        assert_eq!(c.total(), (MAX_KEYS + 10) as u64);
    }
}
