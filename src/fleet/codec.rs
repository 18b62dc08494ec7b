//! How an entry is written into Redis and read back: one JSON line of
//! metadata (freshness, generation, headers), a newline, the body bytes.
//! Anything that does not decode is garbage: a miss, never an error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::cache::entry::Entry;
use crate::cache::freshness::Freshness;

/// Format version; a different one is treated as a miss.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Meta {
    v: u32,
    /// Unix time (ms) when the upstream answered.
    stored_ms: u64,
    /// Age the entry already had then (ms).
    age_ms: u64,
    life_ms: u64,
    swr_ms: u64,
    sie_ms: u64,
    /// The image's fleet generation and the fleet epoch it was filled under.
    generation: u64,
    epoch: u64,
    headers: Vec<(String, String)>,
}

/// An entry as read from Redis, its age brought up to now.
pub struct Decoded {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub freshness: Freshness,
    pub age: Duration,
    pub generation: u64,
    pub epoch: u64,
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Encodes an entry that is `age` old now, filled under the fleet's
/// `(generation, epoch)`. Headers that are not visible ASCII are left out.
pub fn encode(entry: &Entry, age: Duration, fleet_stamp: (u64, u64)) -> Vec<u8> {
    let headers = entry
        .headers
        .iter()
        .filter_map(|(n, v)| {
            v.to_str()
                .ok()
                .map(|v| (n.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    let meta = Meta {
        v: VERSION,
        stored_ms: unix_ms(),
        age_ms: ms(age),
        life_ms: ms(entry.freshness.lifetime),
        swr_ms: ms(entry.freshness.stale_while_revalidate),
        sie_ms: ms(entry.freshness.stale_if_error),
        generation: fleet_stamp.0,
        epoch: fleet_stamp.1,
        headers,
    };
    let mut out = serde_json::to_vec(&meta).unwrap_or_default();
    out.push(b'\n');
    out.extend_from_slice(&entry.body);
    out
}

/// Decodes a stored value; `None` for anything that is not one.
pub fn decode(value: &[u8]) -> Option<Decoded> {
    let split = value.iter().position(|b| *b == b'\n')?;
    let meta: Meta = serde_json::from_slice(&value[..split]).ok()?;
    if meta.v != VERSION {
        return None;
    }
    let mut headers = HeaderMap::with_capacity(meta.headers.len());
    for (name, value) in &meta.headers {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).ok()?,
            HeaderValue::from_str(value).ok()?,
        );
    }
    let elapsed = unix_ms().saturating_sub(meta.stored_ms);
    Some(Decoded {
        headers,
        body: Bytes::copy_from_slice(&value[split + 1..]),
        freshness: Freshness {
            lifetime: Duration::from_millis(meta.life_ms),
            stale_while_revalidate: Duration::from_millis(meta.swr_ms),
            stale_if_error: Duration::from_millis(meta.sie_ms),
        },
        age: Duration::from_millis(meta.age_ms.saturating_add(elapsed)),
        generation: meta.generation,
        epoch: meta.epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// An entry survives the round trip with its headers, body and
    /// freshness, and its age carried over.
    #[test]
    fn round_trip() {
        let mut upstream = HeaderMap::new();
        upstream.insert("content-type", HeaderValue::from_static("application/json"));
        let freshness = Freshness {
            lifetime: Duration::from_secs(300),
            stale_while_revalidate: Duration::from_secs(5),
            stale_if_error: Duration::from_secs(3600),
        };
        let body = Bytes::from_static(b"{\"id\": \"a\"}");
        let entry = Entry::new(
            &upstream,
            body.clone(),
            freshness,
            (0, 0),
            Instant::now(),
            Duration::ZERO,
        );
        let value = encode(&entry, Duration::from_secs(7), (3, 1));
        let decoded = decode(&value).expect("decodes");
        assert_eq!(decoded.body, body);
        assert_eq!(decoded.freshness, freshness);
        assert_eq!(decoded.headers["content-type"], "application/json");
        assert!(decoded.age >= Duration::from_secs(7));
        assert_eq!((decoded.generation, decoded.epoch), (3, 1));
    }

    /// Garbage is a miss.
    #[test]
    fn garbage_is_none() {
        for value in [
            &b""[..],
            b"garbage",
            b"{}\nbody",
            b"{\"v\": 9}\n",
            b"\xff\xfe\n",
        ] {
            assert!(decode(value).is_none(), "{value:?}");
        }
    }
}
