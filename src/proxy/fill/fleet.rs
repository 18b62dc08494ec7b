//! The fleet side of a fill: look in Redis first, wait while another
//! instance fills the same key, and afterwards share what was fetched.
//! It hands the fill a decoded entry; storing it locally is the fill's.

use std::sync::Arc;
use std::time::Instant;

use crate::cache::entry::Entry;
use crate::cache::freshness::Staleness;
use crate::cache::key::CacheKey;
use crate::clock::Clock;
use crate::config::TransformConfig;
use crate::fleet::{Fleet, Lock, codec};
use crate::route::ImageId;

/// What the fleet tier made of a fill.
pub(super) enum FleetLookup {
    /// Found current and fresh in Redis, as an entry for this instance.
    Found(Arc<Entry>),
    /// Ask the upstream; with the lock held, share the result afterwards.
    Fetch(Option<SharedFill>),
}

/// A fill this instance does for the fleet: it holds the key's lock.
pub(super) struct SharedFill {
    fleet: Arc<Fleet>,
    field: String,
    /// The fleet generation and epoch the lookup saw: the store is
    /// refused if a write or purge came in between.
    stamp: (u64, u64),
    token: String,
}

/// Looks the key up in Redis; while another instance holds its lock,
/// polls for that instance's result until the lock goes or the response
/// timeout nears. `stamp` is the fill's (local generation, epoch).
pub(super) async fn consult(
    fleet: Arc<Fleet>,
    key: &CacheKey,
    transform: &TransformConfig,
    stamp: (u64, u64),
    clock: &Clock,
    deadline: tokio::time::Instant,
) -> FleetLookup {
    let image = &key.image_id;
    let field = fleet.keys().field(&key.identity, transform);
    let poll = fleet.config().poll_interval;
    loop {
        let Some(lookup) = fleet.lookup(image, &field).await else {
            return FleetLookup::Fetch(None);
        };
        if let Some(entry) = current(lookup.value.as_deref(), lookup.stamp, stamp, clock.now()) {
            fleet.metrics().record_l2_hit();
            return FleetLookup::Found(entry);
        }
        match fleet.try_lock(image, &field).await {
            Lock::Acquired(token) => {
                fleet.metrics().record_l2_miss();
                let state = SharedFill {
                    fleet,
                    field,
                    stamp: lookup.stamp,
                    token,
                };
                return FleetLookup::Fetch(Some(state));
            }
            Lock::Unavailable => return FleetLookup::Fetch(None),
            Lock::Held if tokio::time::Instant::now() + poll >= deadline => {
                return FleetLookup::Fetch(None);
            }
            Lock::Held => {
                fleet.metrics().record_l2_lock_wait();
                tokio::time::sleep(poll).await;
            }
        }
    }
}

/// A value found in Redis, as a local entry, if it is current (the fleet
/// generation and epoch it was stored under) and fresh; it keeps the
/// freshness it has left, never more.
fn current(
    value: Option<&[u8]>,
    fleet_stamp: (u64, u64),
    stamp: (u64, u64),
    now: Instant,
) -> Option<Arc<Entry>> {
    let decoded = codec::decode(value?)?;
    if (decoded.generation, decoded.epoch) != fleet_stamp {
        return None;
    }
    if !matches!(
        decoded.freshness.judge(decoded.age),
        Staleness::Fresh { .. }
    ) {
        return None;
    }
    Some(Arc::new(Entry::new(
        &decoded.headers,
        decoded.body,
        decoded.freshness,
        stamp,
        now,
        decoded.age,
    )))
}

impl SharedFill {
    /// Shares a stored entry with the fleet (unless a write overtook the
    /// fill), then releases the lock so waiting instances stop polling.
    pub(super) async fn complete(self, image: &ImageId, stored: Option<&Entry>, now: Instant) {
        if let Some(entry) = stored {
            let keep = entry.remaining_life(now);
            if !keep.is_zero() {
                let value = codec::encode(entry, entry.age(now), self.stamp);
                self.fleet
                    .store(image, &self.field, &value, self.stamp, keep)
                    .await;
            }
        }
        self.fleet.unlock(image, &self.field, &self.token).await;
    }
}
