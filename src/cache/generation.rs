//! Per-image generation counters: an image write bumps its image's
//! generation, and an entry is only valid while the generation it was
//! filled under is current. That makes invalidation instant for every
//! identity at once and lets a fill notice that a write overtook it.
//!
//! Counters are striped by a hash of the id: a fixed amount of memory
//! however many images there are. Two ids sharing a stripe only means a
//! write to one also invalidates the other: safe, and rare.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::route::ImageId;

const STRIPES: usize = 8192;

/// The striped counters.
pub struct Generations {
    stripes: Box<[AtomicU64]>,
}

impl Default for Generations {
    fn default() -> Self {
        Generations {
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Generations {
    fn stripe(&self, id: &ImageId) -> &AtomicU64 {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(id.as_str());
        &self.stripes[(hash as usize) % STRIPES]
    }

    /// The image's current generation.
    pub fn current(&self, id: &ImageId) -> u64 {
        self.stripe(id).load(Ordering::Acquire)
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
}
