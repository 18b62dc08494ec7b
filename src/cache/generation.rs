//! Per-image generation counters: an image write bumps its image's
//! generation, and an entry is only valid while the generation it was
//! filled under is current. That makes invalidation instant for every
//! identity at once and lets a fill notice that a write overtook it.
//!
//! While a write to an image is in flight (sent, not yet answered), no
//! fill stores that image: what it fetched may predate the write. Only
//! once the upstream accepts the write is the generation bumped; a write
//! it refuses leaves every entry in place.
//!
//! Counters are striped by a hash of the id: a fixed amount of memory
//! however many images there are. Two ids sharing a stripe only means a
//! write to one also invalidates the other: safe, and rare.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::route::ImageId;

const STRIPES: usize = 8192;

/// The striped counters.
pub struct Generations {
    stripes: Box<[AtomicU64]>,
    /// Writes in flight, by the same stripes.
    writing: Box<[AtomicU32]>,
}

impl Default for Generations {
    fn default() -> Self {
        Generations {
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            writing: (0..STRIPES).map(|_| AtomicU32::new(0)).collect(),
        }
    }
}

/// Writes in flight to some images; dropping it ends them.
pub struct Writing<'a> {
    generations: &'a Generations,
    stripes: Vec<usize>,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        for &stripe in &self.stripes {
            self.generations.writing[stripe].fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Generations {
    fn index(id: &ImageId) -> usize {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(id.as_str());
        (hash as usize) % STRIPES
    }

    fn stripe(&self, id: &ImageId) -> &AtomicU64 {
        &self.stripes[Self::index(id)]
    }

    /// The image's current generation.
    pub fn current(&self, id: &ImageId) -> u64 {
        self.stripe(id).load(Ordering::Acquire)
    }

    /// Marks writes to these images as in flight until the guard drops.
    pub fn begin_writes(&self, ids: &[ImageId]) -> Writing<'_> {
        let stripes: Vec<usize> = ids.iter().map(Self::index).collect();
        for &stripe in &stripes {
            self.writing[stripe].fetch_add(1, Ordering::AcqRel);
        }
        Writing {
            generations: self,
            stripes,
        }
    }

    /// Marks the images as written until [`Generations::release`] is
    /// called with the same ids: for asynchronous writes, whose end is
    /// seen later, elsewhere.
    pub fn hold(&self, ids: &[ImageId]) {
        for id in ids {
            self.writing[Self::index(id)].fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Ends a [`Generations::hold`].
    pub fn release(&self, ids: &[ImageId]) {
        for id in ids {
            self.writing[Self::index(id)].fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Whether a write to the image is in flight.
    pub fn is_writing(&self, id: &ImageId) -> bool {
        self.writing[Self::index(id)].load(Ordering::Acquire) > 0
    }

    /// Starts a new generation for the image.
    pub fn bump(&self, id: &ImageId) {
        self.stripe(id).fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bump changes that image's generation and (barring a shared
    /// stripe) no other.
    #[test]
    fn bump_is_per_image() {
        let generations = Generations::default();
        let a = ImageId::new("a");
        let b = ImageId::new("b");
        let (a0, b0) = (generations.current(&a), generations.current(&b));
        generations.bump(&a);
        assert_eq!(generations.current(&a), a0 + 1);
        assert_eq!(generations.current(&b), b0);
    }

    /// A write is in flight while its guard lives, for its images only;
    /// two writes to one image both have to end.
    #[test]
    fn writes_in_flight_end_with_their_guards() {
        let generations = Generations::default();
        let a = ImageId::new("a");
        let b = ImageId::new("b");
        let first = generations.begin_writes(std::slice::from_ref(&a));
        let second = generations.begin_writes(std::slice::from_ref(&a));
        assert!(generations.is_writing(&a));
        assert!(!generations.is_writing(&b));
        drop(first);
        assert!(generations.is_writing(&a));
        drop(second);
        assert!(!generations.is_writing(&a));
    }
}
