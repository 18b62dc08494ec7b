//! Request coalescing: the first miss on a key leads a fill, later misses
//! on the same key follow it and get its outcome instead of asking the
//! upstream again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

type Table<K, V> = Mutex<HashMap<K, watch::Receiver<Option<V>>>>;

/// Fills in flight, by key.
pub struct Flights<K, V> {
    table: Arc<Table<K, V>>,
    /// Requests that have joined a flight as followers, ever (what tests
    /// and operators can watch to see a herd collapse).
    followed: AtomicUsize,
}

impl<K, V> Default for Flights<K, V> {
    fn default() -> Self {
        Flights {
            table: Arc::new(Mutex::new(HashMap::new())),
            followed: AtomicUsize::new(0),
        }
    }
}

/// What joining a flight made of the caller.
pub enum Joined<K: Hash + Eq, V> {
    /// No fill was in flight: the caller must start one and finish it
    /// through the guard.
    Leader(FlightGuard<K, V>),
    /// A fill is in flight: wait on it.
    Follower(watch::Receiver<Option<V>>),
}

impl<K: Hash + Eq + Clone, V: Clone> Flights<K, V> {
    /// Joins the flight for `key`, leading it if there is none.
    pub fn join(&self, key: &K) -> Joined<K, V> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(receiver) = table.get(key) {
            self.followed.fetch_add(1, Ordering::Relaxed);
            return Joined::Follower(receiver.clone());
        }
        let (sender, receiver) = watch::channel(None);
        table.insert(key.clone(), receiver);
        Joined::Leader(FlightGuard {
            table: self.table.clone(),
            key: key.clone(),
            sender,
        })
    }

    /// Fills in flight now.
    pub fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Requests that have joined a fill already in flight, since start.
    pub fn followed(&self) -> usize {
        self.followed.load(Ordering::Relaxed)
    }

    /// Whether no fill is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The leader's handle on its flight. Finishing it hands the outcome to
/// every follower; dropping it unfinished closes the flight, and the
/// followers see the channel close.
pub struct FlightGuard<K: Hash + Eq, V> {
    table: Arc<Table<K, V>>,
    key: K,
    sender: watch::Sender<Option<V>>,
}

impl<K: Hash + Eq, V> FlightGuard<K, V> {
    /// A receiver for the leader's own wait.
    pub fn subscribe(&self) -> watch::Receiver<Option<V>> {
        self.sender.subscribe()
    }

    /// Publishes the outcome and closes the flight. The flight leaves the
    /// table first so a request arriving now starts afresh (it finds the
    /// stored entry, if there is one, before it gets here).
    pub fn finish(self, outcome: V) {
        self.leave();
        self.sender.send_replace(Some(outcome));
    }

    /// Removes this flight from the table, unless a newer flight for the
    /// same key has already taken its place.
    fn leave(&self) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let ours = table
            .get(&self.key)
            .is_some_and(|rx| rx.same_channel(&self.sender.subscribe()));
        if ours {
            table.remove(&self.key);
        }
    }
}

impl<K: Hash + Eq, V> Drop for FlightGuard<K, V> {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One leader per key; followers get the leader's outcome; after it
    /// finishes, the next join leads a new flight.
    #[tokio::test]
    async fn one_leader_many_followers() {
        let flights: Flights<&str, u32> = Flights::default();
        let Joined::Leader(guard) = flights.join(&"k") else {
            panic!("first join must lead");
        };
        let mut followers = Vec::new();
        for _ in 0..3 {
            match flights.join(&"k") {
                Joined::Follower(rx) => followers.push(rx),
                Joined::Leader(_) => panic!("second join must follow"),
            }
        }
        assert!(matches!(flights.join(&"other"), Joined::Leader(_)));
        assert_eq!(flights.len(), 1, "the dropped 'other' guard left the table");
        guard.finish(7);
        for mut rx in followers {
            let value = *rx.wait_for(Option::is_some).await.expect("open");
            assert_eq!(value, Some(7));
        }
        assert!(flights.is_empty());
        assert!(matches!(flights.join(&"k"), Joined::Leader(_)));
    }

    /// A leader dropped without finishing closes its followers' channel.
    #[tokio::test]
    async fn abandoned_flight_closes() {
        let flights: Flights<&str, u32> = Flights::default();
        let guard = flights.join(&"k");
        let Joined::Follower(mut rx) = flights.join(&"k") else {
            panic!("must follow");
        };
        drop(guard);
        assert!(rx.wait_for(Option::is_some).await.is_err());
        assert!(flights.is_empty());
    }
}
