//! Where the proxy is in its life, for readiness: starting (no listener
//! accepts yet), serving, or draining for shutdown. Nothing else makes it
//! unready.

use std::sync::atomic::{AtomicU8, Ordering};

/// A stage of the proxy's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Starting,
    Serving,
    Draining,
}

/// The stage, shared by the listeners and the admin API.
#[derive(Debug, Default)]
pub struct Lifecycle(AtomicU8);

const STARTING: u8 = 0;
const SERVING: u8 = 1;
const DRAINING: u8 = 2;

impl Lifecycle {
    /// The current stage.
    pub fn get(&self) -> Stage {
        match self.0.load(Ordering::Relaxed) {
            STARTING => Stage::Starting,
            SERVING => Stage::Serving,
            _ => Stage::Draining,
        }
    }

    /// A listener accepts: serving, unless draining began already.
    pub fn serving(&self) {
        let _ = self
            .0
            .compare_exchange(STARTING, SERVING, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Shutdown began: draining, for good.
    pub fn draining(&self) {
        self.0.store(DRAINING, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starting → serving → draining; draining is never undone.
    #[test]
    fn stages_move_forward() {
        let life = Lifecycle::default();
        assert_eq!(life.get(), Stage::Starting);
        life.serving();
        assert_eq!(life.get(), Stage::Serving);
        life.draining();
        life.serving();
        assert_eq!(life.get(), Stage::Draining);
    }
}
