//! The bounded in-memory store: a moka cache of image id → slot, where a
//! slot holds that image's entries for every identity. Keeping an image's
//! identities together makes "drop every entry of this image" one removal.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::ops::compute::Op;

use super::entry::Entry;
use super::generation::Generations;
use super::key::{CacheKey, Identity};
use crate::route::ImageId;

/// Entries per image beyond which the oldest are dropped at the next
/// fill (tokens rotate; old identities must not pile up).
const MAX_IDENTITIES_PER_IMAGE: usize = 256;
/// Fixed cost of a slot, for the weigher.
const SLOT_OVERHEAD: usize = 128;

/// All identities' entries for one image. Nearly every image is read by
/// one identity, and that case lives inline in moka's own node; several
/// identities share one allocation. Clones (moka hands out clones) are a
/// reference count.
#[derive(Clone)]
enum Slot {
    One([(Identity, Arc<Entry>); 1]),
    Many(Arc<[(Identity, Arc<Entry>)]>),
}

impl Slot {
    fn entries(&self) -> &[(Identity, Arc<Entry>)] {
        match self {
            Slot::One(one) => one,
            Slot::Many(many) => many,
        }
    }

    fn find(&self, identity: &Identity) -> Option<&Arc<Entry>> {
        self.entries()
            .iter()
            .find(|(i, _)| i == identity)
            .map(|(_, e)| e)
    }

    /// A new slot: `old` less the replaced, dead and surplus entries,
    /// plus `entry`.
    fn with(old: Option<&Slot>, identity: Identity, entry: Arc<Entry>, now: Instant) -> Slot {
        let mut entries: Vec<(Identity, Arc<Entry>)> = old
            .map(|slot| {
                slot.entries()
                    .iter()
                    .filter(|(i, e)| *i != identity && !e.remaining_life(now).is_zero())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if entries.len() >= MAX_IDENTITIES_PER_IMAGE {
            entries.sort_by_key(|(_, e)| e.stored_at);
            entries.drain(..=entries.len() - MAX_IDENTITIES_PER_IMAGE);
        }
        entries.push((identity, entry));
        Slot::of(entries)
    }

    /// One entry inline; more (or none) in one shared allocation.
    fn of(mut entries: Vec<(Identity, Arc<Entry>)>) -> Slot {
        match entries.len() {
            1 => entries
                .pop()
                .map_or_else(|| Slot::Many(Arc::new([])), |only| Slot::One([only])),
            _ => Slot::Many(entries.into()),
        }
    }

    /// A copy of this slot without one identity's entry.
    fn without(&self, identity: &Identity) -> Slot {
        Slot::of(
            self.entries()
                .iter()
                .filter(|(i, _)| i != identity)
                .cloned()
                .collect(),
        )
    }

    /// Bytes it holds, for the weigher.
    fn weight(&self) -> u32 {
        let entries: usize = self.entries().iter().map(|(_, e)| e.weight()).sum();
        u32::try_from(SLOT_OVERHEAD + entries).unwrap_or(u32::MAX)
    }

    fn remaining_life(&self, now: Instant) -> Duration {
        self.entries()
            .iter()
            .map(|(_, e)| e.remaining_life(now))
            .max()
            .unwrap_or_default()
    }
}

/// Expires a slot when its longest-lived entry is no longer worth keeping.
struct SlotExpiry;

impl Expiry<ImageId, Slot> for SlotExpiry {
    fn expire_after_create(&self, _: &ImageId, slot: &Slot, now: Instant) -> Option<Duration> {
        Some(slot.remaining_life(now))
    }

    fn expire_after_update(
        &self,
        _: &ImageId,
        slot: &Slot,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(slot.remaining_life(now))
    }
}

/// Counters the store keeps about itself.
#[derive(Default)]
pub struct StoreCounters {
    /// Entries currently held (all identities).
    pub entries: AtomicI64,
    /// Slots removed to respect `cache.max_bytes`.
    pub evictions: AtomicU64,
}

/// The store; share it behind an `Arc`.
pub struct Store {
    slots: Cache<ImageId, Slot>,
    generations: Generations,
    counters: Arc<StoreCounters>,
}

impl Store {
    /// A store holding at most about `max_bytes` of entries.
    pub fn new(max_bytes: u64) -> Store {
        let counters = Arc::new(StoreCounters::default());
        let listener_counters = counters.clone();
        let slots = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_: &ImageId, slot: &Slot| slot.weight())
            .expire_after(SlotExpiry)
            .eviction_listener(move |_, slot: Slot, cause| {
                let n = i64::try_from(slot.entries().len()).unwrap_or(i64::MAX);
                listener_counters.entries.fetch_sub(n, Ordering::Relaxed);
                if cause == RemovalCause::Size {
                    listener_counters.evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Store {
            slots,
            generations: Generations::default(),
            counters,
        }
    }

    /// The image's generation, which a fill records when it starts.
    pub fn generation(&self, id: &ImageId) -> u64 {
        self.generations.current(id)
    }

    /// Keeps fills from storing these images until
    /// [`Store::release_images`] (an asynchronous write's job runs).
    pub fn hold_images(&self, ids: &[ImageId]) {
        self.generations.hold(ids);
    }

    /// Whether the image is held by an asynchronous write.
    pub fn is_held(&self, id: &ImageId) -> bool {
        self.generations.is_held(id)
    }

    /// Ends a [`Store::hold_images`].
    pub fn release_images(&self, ids: &[ImageId]) {
        self.generations.release(ids);
    }

    /// Whether an entry may be stored now: it is current, and its image
    /// is not held by an asynchronous write (what it holds may predate
    /// the job).
    fn is_storable(&self, id: &ImageId, entry: &Entry, epoch: u64) -> bool {
        self.is_current(id, entry, epoch) && !self.generations.is_held(id)
    }

    /// An entry is valid while no write touched its image since its fill
    /// began, and while the settings epoch it was made under is current
    /// (a purge-all or a reload that changes bodies starts a new epoch).
    fn is_current(&self, id: &ImageId, entry: &Entry, epoch: u64) -> bool {
        entry.generation == self.generations.current(id) && entry.epoch == epoch
    }

    /// The valid entry for a key under settings `epoch`, whatever its
    /// freshness.
    pub async fn get(&self, key: &CacheKey, epoch: u64) -> Option<Arc<Entry>> {
        let slot = self.slots.get(&key.image_id).await?;
        let entry = slot.find(&key.identity)?;
        self.is_current(&key.image_id, entry, epoch)
            .then(|| entry.clone())
    }

    /// Stores an entry unless a write or purge happened since its fill
    /// began, or its image is held; returns whether it was stored.
    pub async fn insert(&self, key: CacheKey, entry: Arc<Entry>, epoch: u64) -> bool {
        if !self.is_storable(&key.image_id, &entry, epoch) {
            return false;
        }
        let CacheKey { image_id, identity } = key;
        let stored = self
            .slots
            .entry(image_id.clone())
            .and_compute_with(|old| {
                // Checked again under the per-key lock: the write path
                // bumps the generation before it removes the slot.
                let op = if self.is_storable(&image_id, &entry, epoch) {
                    let old = old.map(|e| e.into_value());
                    let slot = Slot::with(old.as_ref(), identity, entry, Instant::now());
                    Op::Put(slot)
                } else {
                    Op::Nop
                };
                std::future::ready(op)
            })
            .await;
        match stored {
            moka::ops::compute::CompResult::Inserted(slot)
            | moka::ops::compute::CompResult::ReplacedWith(slot) => {
                let n = i64::try_from(slot.value().entries().len()).unwrap_or(i64::MAX);
                self.counters.entries.fetch_add(n, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// Drops one identity's entry of an image (the upstream said it is gone
    /// or no longer visible to that caller).
    pub async fn remove(&self, key: &CacheKey) {
        let result = self
            .slots
            .entry(key.image_id.clone())
            .and_compute_with(|old| {
                let op = match old.map(|e| e.into_value()) {
                    Some(slot) if slot.find(&key.identity).is_some() => {
                        let rest = slot.without(&key.identity);
                        if rest.entries().is_empty() {
                            Op::Remove
                        } else {
                            Op::Put(rest)
                        }
                    }
                    _ => Op::Nop,
                };
                std::future::ready(op)
            })
            .await;
        if let moka::ops::compute::CompResult::ReplacedWith(slot) = result {
            let n = i64::try_from(slot.value().entries().len()).unwrap_or(i64::MAX);
            self.counters.entries.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Drops every identity's entry of an image and makes any fill in
    /// flight for it unstorable; returns how many entries were dropped.
    pub async fn invalidate(&self, id: &ImageId) -> usize {
        self.generations.bump(id);
        self.slots
            .remove(id)
            .await
            .map_or(0, |slot| slot.entries().len())
    }

    /// Drops everything; returns how many entries there were. (Fills in
    /// flight are kept out by the caller starting a new settings epoch.)
    pub async fn invalidate_all(&self) -> usize {
        let before = self.entry_count();
        self.slots.invalidate_all();
        self.slots.run_pending_tasks().await;
        usize::try_from(before).unwrap_or(0)
    }

    /// Entries held, over all images and identities.
    pub fn entry_count(&self) -> u64 {
        u64::try_from(self.counters.entries.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Bytes held, as the weigher counts them.
    pub fn weighted_bytes(&self) -> u64 {
        self.slots.weighted_size()
    }

    /// Slots evicted for space since start.
    pub fn evictions(&self) -> u64 {
        self.counters.evictions.load(Ordering::Relaxed)
    }

    /// Lets moka apply pending evictions now (tests, stats).
    pub async fn settle(&self) {
        self.slots.run_pending_tasks().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::freshness::Freshness;
    use bytes::Bytes;
    use http::HeaderMap;

    fn entry(body: &'static str) -> Arc<Entry> {
        let freshness = Freshness {
            lifetime: Duration::from_secs(60),
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
        };
        let body = Bytes::from_static(body.as_bytes());
        let now = Instant::now();
        Arc::new(Entry::new(
            &HeaderMap::new(),
            body,
            freshness,
            (0, 0),
            now,
            Duration::ZERO,
        ))
    }

    fn key(identity: u8) -> CacheKey {
        let headers: HeaderMap = [(
            http::header::HeaderName::from_static("x-auth-token"),
            http::HeaderValue::from(u16::from(identity)),
        )]
        .into_iter()
        .collect();
        let names =
            crate::cache::key::IdentityHeaders::new(vec![http::header::HeaderName::from_static(
                "x-auth-token",
            )])
            .expect("short");
        CacheKey {
            image_id: ImageId::new("img"),
            identity: Identity::of(&headers, &names),
        }
    }

    async fn body_of(store: &Store, identity: u8) -> Option<Bytes> {
        store.get(&key(identity), 0).await.map(|e| e.body.clone())
    }

    /// One identity's entry sits inline; a second shares the slot; each
    /// identity finds its own; dropping one leaves the other; replacing
    /// an identity's entry does not duplicate it; invalidation drops all.
    #[tokio::test]
    async fn identities_of_one_image() {
        let store = Store::new(1 << 20);
        assert!(store.insert(key(1), entry("one"), 0).await);
        assert!(store.insert(key(2), entry("two"), 0).await);
        assert_eq!(body_of(&store, 1).await.as_deref(), Some(&b"one"[..]));
        assert_eq!(body_of(&store, 2).await.as_deref(), Some(&b"two"[..]));
        assert_eq!(body_of(&store, 3).await, None);
        assert_eq!(store.entry_count(), 2);

        store.remove(&key(1)).await;
        assert_eq!(body_of(&store, 1).await, None);
        assert_eq!(body_of(&store, 2).await.as_deref(), Some(&b"two"[..]));

        assert!(store.insert(key(2), entry("new"), 0).await);
        assert_eq!(body_of(&store, 2).await.as_deref(), Some(&b"new"[..]));
        assert_eq!(store.invalidate(&ImageId::new("img")).await, 1);
        assert_eq!(body_of(&store, 2).await, None);
    }
}
