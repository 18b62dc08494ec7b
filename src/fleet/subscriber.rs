//! The invalidation subscription: every instance listens on the fleet's
//! channel and drops its local entries on receipt. A subscription that
//! was lost may have missed messages, so the whole local cache is dropped
//! when it comes back.
//!
//! One server: `SUBSCRIBE` on a pub/sub connection of its own. A cluster:
//! `SSUBSCRIBE` (sharded pub/sub, Redis 7) on a RESP3 cluster connection
//! of its own, whose messages arrive as pushes; any node's disconnection
//! counts as a gap, closed by subscribing again.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{Fleet, IMAGE_MESSAGE_PREFIX, PURGE_ALL_MESSAGE, link};
use crate::config::RedisMode;
use crate::route::ImageId;

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Longest wait to open the subscription connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What the subscription tells the local cache.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Another instance (or this one) wrote or purged this image.
    Invalidate(ImageId),
    /// Somebody purged everything.
    PurgeAll,
    /// Subscribed again after a gap: messages may have been missed.
    Resubscribed,
}

/// Parses a channel message.
pub fn parse(payload: &[u8]) -> Option<Event> {
    let text = std::str::from_utf8(payload).ok()?;
    if text == PURGE_ALL_MESSAGE {
        return Some(Event::PurgeAll);
    }
    let id = text.strip_prefix(IMAGE_MESSAGE_PREFIX)?;
    (!id.is_empty()).then(|| Event::Invalidate(ImageId::new(id)))
}

/// Keeps a subscription up until `events` is closed.
pub async fn run(fleet: Arc<Fleet>, events: mpsc::UnboundedSender<Event>) {
    match fleet.config().mode {
        RedisMode::Single => run_single(fleet, events).await,
        RedisMode::Cluster => run_cluster(fleet, events).await,
    }
}

/// One server: a pub/sub connection, opened again when it breaks.
async fn run_single(fleet: Arc<Fleet>, events: mpsc::UnboundedSender<Event>) {
    let channel = fleet.keys().channel();
    let mut backoff = FIRST_BACKOFF;
    let mut subscribed_once = false;
    let mut gap = false;
    while !events.is_closed() {
        match subscribe(&fleet, &channel).await {
            Ok(mut pubsub) => {
                if gap {
                    tracing::info!("invalidation subscription back: dropping the local cache");
                    let _ = events.send(Event::Resubscribed);
                }
                subscribed_once = true;
                backoff = FIRST_BACKOFF;
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    if let Some(event) = parse(message.get_payload_bytes()) {
                        fleet.metrics().record_l2_invalidation_received();
                        if events.send(event).is_err() {
                            return;
                        }
                    }
                }
                tracing::warn!("invalidation subscription lost; reconnecting");
                gap = true;
            }
            Err(err) => {
                if !gap {
                    tracing::warn!(%err, "cannot subscribe to invalidations; retrying");
                }
                // Before the first subscription the local cache is empty
                // anyway; after it, the gap means messages may be lost.
                gap = gap || subscribed_once;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn subscribe(fleet: &Fleet, channel: &str) -> Result<redis::aio::PubSub, String> {
    let client = link::single_client(fleet.config())?;
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(pubsub)) => Ok(pubsub),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

/// A cluster: one RESP3 cluster connection whose pushes carry the shard
/// channel's messages. The crate subscribes again by itself after a
/// reconnection; this loop also does, until a subscription is confirmed,
/// and only then reports the gap (the local cache is dropped once the
/// messages flow again, not before).
async fn run_cluster(fleet: Arc<Fleet>, events: mpsc::UnboundedSender<Event>) {
    let channel = fleet.keys().channel();
    let (pushes_in, mut pushes) = mpsc::unbounded_channel();
    let client = match link::cluster_builder(fleet.config()).and_then(|builder| {
        builder
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(pushes_in)
            .build()
            .map_err(|e| e.to_string())
    }) {
        Ok(client) => client,
        Err(err) => {
            tracing::warn!(%err, "cannot subscribe to invalidations: bad cluster settings");
            return;
        }
    };
    let mut connection = None;
    // Before the first subscription the local cache is empty anyway.
    let mut gap = false;
    let mut backoff = FIRST_BACKOFF;
    while !events.is_closed() {
        if connection.is_none() || gap {
            match ssubscribe(&client, &mut connection, &channel).await {
                Ok(()) => {
                    if gap {
                        tracing::info!("invalidation subscription back: dropping the local cache");
                        let _ = events.send(Event::Resubscribed);
                    }
                    gap = false;
                    backoff = FIRST_BACKOFF;
                }
                Err(err) => {
                    if !gap {
                        tracing::warn!(%err, "cannot subscribe to invalidations; retrying");
                    }
                    gap = gap || connection.is_some();
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = events.closed() => return,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        let push = tokio::select! {
            push = pushes.recv() => push,
            () = events.closed() => return,
        };
        let Some(push) = push else { return };
        match push.kind {
            redis::PushKind::SMessage => {
                let payload = match push.data.get(1) {
                    Some(redis::Value::BulkString(bytes)) => bytes.as_slice(),
                    _ => continue,
                };
                if let Some(event) = parse(payload) {
                    fleet.metrics().record_l2_invalidation_received();
                    if events.send(event).is_err() {
                        return;
                    }
                }
            }
            redis::PushKind::Disconnection | redis::PushKind::SUnsubscribe => {
                if !gap {
                    tracing::warn!("invalidation subscription lost; subscribing again");
                }
                gap = true;
            }
            _ => {}
        }
    }
}

/// Subscribes `connection` (opened first if need be) to the shard channel.
async fn ssubscribe(
    client: &redis::cluster::ClusterClient,
    connection: &mut Option<redis::cluster_async::ClusterConnection>,
    channel: &str,
) -> Result<(), String> {
    let subscribe = async {
        if connection.is_none() {
            *connection = Some(client.get_async_connection().await?);
        }
        match connection.as_mut() {
            Some(open) => open.ssubscribe(channel).await,
            None => Ok(()),
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, subscribe).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages parse; anything else is ignored.
    #[test]
    fn messages() {
        assert_eq!(parse(b"all"), Some(Event::PurgeAll));
        assert_eq!(
            parse(b"img:abc"),
            Some(Event::Invalidate(ImageId::new("abc")))
        );
        assert_eq!(parse(b"img:"), None);
        assert_eq!(parse(b"nonsense"), None);
        assert_eq!(parse(b"\xff"), None);
    }
}
