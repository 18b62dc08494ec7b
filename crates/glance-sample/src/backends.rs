//! The stores the sample knows (Glance's `enabled_backends`, the first
//! one the default backend) and its staging area for glance-direct.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::received::Received;

/// Stores the sample knows by default (Glance's `enabled_backends`); the
/// first is the default backend.
pub const DEFAULT_STORES: [&str; 2] = ["fs", "fs2"];
/// The stores and the staging area.
pub struct Backends {
    stores: Mutex<Vec<String>>,
    staged: Mutex<HashMap<String, Received>>,
}

impl Default for Backends {
    fn default() -> Self {
        Backends {
            stores: Mutex::new(DEFAULT_STORES.map(str::to_owned).to_vec()),
            staged: Mutex::new(HashMap::new()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Values are replaced whole; a poisoned lock still holds a valid one.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Backends {
    /// The known stores, the default first.
    pub fn stores(&self) -> Vec<String> {
        lock(&self.stores).clone()
    }

    /// Replaces the known stores (the first is the default; none: images
    /// carry no `stores`, and imports name no store).
    pub fn set_stores(&self, stores: Vec<String>) {
        *lock(&self.stores) = stores;
    }

    /// The default backend, if any store is configured.
    pub fn default_store(&self) -> Option<String> {
        lock(&self.stores).first().cloned()
    }

    /// Keeps staged data until the image is imported.
    pub fn stage(&self, id: &str, data: Received) {
        lock(&self.staged).insert(id.to_owned(), data);
    }

    /// Takes the staged data of an image being imported.
    pub fn take_staged(&self, id: &str) -> Option<Received> {
        lock(&self.staged).remove(id)
    }
}
