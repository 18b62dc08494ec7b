//! Per-image generation counters: an image write bumps its image's
//! generation, and an entry is only valid while the generation it was
//! filled under is current. That makes invalidation instant for every
//! identity at once and lets a fill notice that a write overtook it.
//!
//! Only once the upstream accepts a write is its image's generation
//! bumped; a write it refuses leaves every entry in place. While an
//! asynchronous write (an IMS job) runs, its images are held: no fill
//! stores them.
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
    /// Holds (asynchronous writes running), by the same stripes.
    held: Box<[AtomicU32]>,
}

impl Default for Generations {
    fn default() -> Self {
        Generations {
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            held: (0..STRIPES).map(|_| AtomicU32::new(0)).collect(),
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

    /// Holds the images (no fill stores them) until
    /// [`Generations::release`] is called with the same ids.
    pub fn hold(&self, ids: &[ImageId]) {
        for id in ids {
            self.held[Self::index(id)].fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Ends a [`Generations::hold`].
    pub fn release(&self, ids: &[ImageId]) {
        for id in ids {
            self.held[Self::index(id)].fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Whether the image is held.
    pub fn is_held(&self, id: &ImageId) -> bool {
        self.held[Self::index(id)].load(Ordering::Acquire) > 0
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

    /// A hold is for its images only; two holds of one image both have
    /// to be released.
    #[test]
    fn holds_end_with_their_releases() {
        let generations = Generations::default();
        let a = ImageId::new("a");
        let b = ImageId::new("b");
        generations.hold(std::slice::from_ref(&a));
        generations.hold(std::slice::from_ref(&a));
        assert!(generations.is_held(&a));
        assert!(!generations.is_held(&b));
        generations.release(std::slice::from_ref(&a));
        assert!(generations.is_held(&a));
        generations.release(std::slice::from_ref(&a));
        assert!(!generations.is_held(&a));
    }
}
