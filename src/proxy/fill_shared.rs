//! The fleet side of a fill: look in Redis first, wait while another
//! instance fills the same key, and afterwards share what was fetched.

use std::sync::Arc;
use std::time::Instant;

use super::fill::Fill;
use crate::cache::entry::Entry;
use crate::cache::freshness::Staleness;
use crate::cache::{Fetched, FetchedKind};
use crate::fleet::{Fleet, Lock, codec};
use crate::route::ImageId;

/// What the fleet tier made of a fill.
pub(super) enum FleetLookup {
    /// Answered from Redis (and stored locally).
    Hit(Fetched),
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

impl Fill {
    /// Looks the key up in Redis; while another instance holds its lock,
    /// polls for that instance's result until the lock goes or the
    /// response timeout nears.
    pub(super) async fn consult_fleet(
        &self,
        fleet: Arc<Fleet>,
        deadline: tokio::time::Instant,
    ) -> FleetLookup {
        let image = &self.key.image_id;
        let field = fleet
            .keys()
            .field(&self.key.identity, &self.settings.transform);
        let poll = fleet.config().poll_interval;
        loop {
            let Some(lookup) = fleet.lookup(image, &field).await else {
                return FleetLookup::Fetch(None);
            };
            if let Some(fetched) = self.adopt(lookup.value.as_deref(), lookup.stamp).await {
                fleet.metrics().record_l2_hit();
                return FleetLookup::Hit(fetched);
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

    /// Takes a value found in Redis if it is current and fresh: stores it
    /// locally with the freshness it has left, never more.
    async fn adopt(&self, value: Option<&[u8]>, fleet_stamp: (u64, u64)) -> Option<Fetched> {
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
        let entry = Arc::new(Entry::new(
            &decoded.headers,
            decoded.body,
            decoded.freshness,
            self.stamp,
            Instant::now(),
            decoded.age,
        ));
        let epoch = self.shared.settings.load().epoch;
        let stored = self
            .shared
            .cache
            .store
            .insert(self.key.clone(), entry.clone(), epoch)
            .await;
        Some(Fetched {
            upstream_status: 0,
            request_id: None,
            kind: FetchedKind::Entry {
                entry,
                stored,
                shared: true,
            },
        })
    }
}

impl SharedFill {
    /// Shares a stored entry with the fleet (unless a write overtook the
    /// fill), then releases the lock so waiting instances stop polling.
    pub(super) async fn complete(self, image: &ImageId, stored: Option<&Entry>) {
        if let Some(entry) = stored {
            let now = Instant::now();
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
