//! Applying the fleet's invalidation messages to the local cache.

use std::sync::{Arc, Weak};

use tokio::sync::mpsc;

use super::{Proxy, Shared};
use crate::fleet::subscriber::{self, Event};

impl Proxy {
    /// With the fleet tier on, subscribes to its invalidations and applies
    /// them here. Needs a Tokio runtime (the tasks run on it).
    pub(super) fn follow_fleet(&self) -> Result<(), String> {
        let Some(fleet) = &self.shared.core.fleet else {
            return Ok(());
        };
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "the Redis tier needs a Tokio runtime".to_owned())?;
        let (events, received) = mpsc::unbounded_channel();
        runtime.spawn(subscriber::run(fleet.clone(), events));
        runtime.spawn(apply_events(Arc::downgrade(&self.shared), received));
        Ok(())
    }
}

/// Applies events while the proxy exists; ends (closing the channel,
/// which ends the subscription) when it is dropped.
async fn apply_events(shared: Weak<Shared>, mut received: mpsc::UnboundedReceiver<Event>) {
    while let Some(event) = received.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let proxy = Proxy { shared };
        match event {
            Event::Invalidate(id) => {
                proxy.drop_local(&id).await;
            }
            Event::PurgeAll | Event::Resubscribed => {
                let dropped = proxy.drop_all_local().await;
                tracing::debug!(dropped, "local cache dropped on a fleet message");
            }
        }
    }
}
