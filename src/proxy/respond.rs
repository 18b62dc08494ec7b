//! Building responses on the cache path: from a stored entry (hit, stored
//! miss, collapsed wait) or from an upstream response that was not stored.
//! Request ids are set once, for every response, by `Proxy::handle`
//! (`answer_id`); here only a fill's leader gets the upstream's.

use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use super::{Answer, FreshHit};
use crate::body::ProxyBody;
use crate::cache::Fetched;
use crate::cache::entry::{Entry, if_none_match};
use crate::cache::outcome::CacheOutcome;
use crate::cache::status;
use crate::request_id::OPENSTACK as REQUEST_ID;

/// A fresh hit, as the plan found it (its outcome and `Age` made once).
pub fn fresh(hit: &FreshHit, request: &HeaderMap) -> Answer {
    let age = Some(hit.age.clone());
    from_entry(&hit.entry, hit.outcome, age, request, Upstream::NotAsked)
}

/// An entry served without asking the upstream while one request
/// refreshes it (stale: a negative ttl says so, RFC 9211).
pub fn hit(entry: &Entry, now: Instant, request: &HeaderMap) -> Answer {
    let ttl = entry.freshness.ttl_seconds(entry.age(now));
    aged(entry, now, request, CacheOutcome::Hit { ttl }, None)
}

/// A fresh entry another instance fetched, found in the fleet's Redis.
pub fn shared_hit(entry: &Entry, now: Instant, request: &HeaderMap) -> Answer {
    let ttl = entry.freshness.ttl_seconds(entry.age(now));
    aged(entry, now, request, CacheOutcome::SharedHit { ttl }, None)
}

/// A stale entry served because the refresh failed with `upstream_status`.
pub fn stale(entry: &Entry, now: Instant, upstream_status: u16, request: &HeaderMap) -> Answer {
    let outcome = CacheOutcome::Stale { upstream_status };
    aged(entry, now, request, outcome, Some(upstream_status))
}

/// An entry served from memory, with its `Age`. (Its request id is this
/// request's own, set by the finish of `Proxy::handle`.)
fn aged(
    entry: &Entry,
    now: Instant,
    request: &HeaderMap,
    outcome: CacheOutcome,
    upstream_status: Option<u16>,
) -> Answer {
    let age = Some(status::age(entry.age(now).as_secs()));
    let upstream = match upstream_status {
        Some(status) => Upstream::Failed(status),
        None => Upstream::NotAsked,
    };
    from_entry(entry, outcome, age, request, upstream)
}

/// What the upstream said for this request, for an answer from an entry.
pub enum Upstream<'a> {
    /// It was not asked (by this request).
    NotAsked,
    /// It failed with this status (a stale copy answers).
    Failed(u16),
    /// This request led the fill that made the entry.
    Led(&'a Fetched),
    /// This request waited for another's fill.
    Joined(&'a Fetched),
}

/// An entry's response: its prepared headers and body, or a 304 when the
/// request's `If-None-Match` matches its ETag. Only a fill's leader gets
/// the upstream's request id: the fill was its request.
pub fn from_entry(
    entry: &Entry,
    outcome: CacheOutcome,
    age: Option<HeaderValue>,
    request: &HeaderMap,
    upstream: Upstream<'_>,
) -> Answer {
    let mut response = if if_none_match(request, &entry.etag()) {
        not_modified(entry)
    } else {
        let mut response = Response::new(ProxyBody::full(entry.body.clone()));
        *response.headers_mut() = entry.headers.to_map(3);
        response
    };
    let headers = response.headers_mut();
    if let Some(age) = age {
        headers.insert(header::AGE, age);
    }
    let (upstream_status, upstream_elapsed) = match upstream {
        Upstream::NotAsked => (None, None),
        Upstream::Failed(status) => (Some(status), None),
        Upstream::Led(fetched) => {
            if let Some(id) = &fetched.request_id {
                headers.insert(REQUEST_ID.clone(), id.clone());
            }
            (Some(fetched.upstream_status), fetched.upstream_elapsed)
        }
        Upstream::Joined(fetched) => (Some(fetched.upstream_status), None),
    };
    Answer {
        response,
        upstream_status,
        outcome: None,
        upstream_elapsed,
    }
    .with_outcome(outcome)
}

/// A 304 carries the validator and the headers a 200 would, less the body
/// and its framing (RFC 9110 §15.4.5).
fn not_modified(entry: &Entry) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    let headers = response.headers_mut();
    for (name, value) in entry.headers.iter() {
        if name != header::CONTENT_LENGTH && name != header::CONTENT_TYPE {
            headers.append(name, value);
        }
    }
    response
}

/// An upstream response that was not stored, as the upstream sent it;
/// a follower does not get the leader's request id (the finish gives it
/// its own).
pub fn passed(
    status: StatusCode,
    headers: &HeaderMap,
    body: &Bytes,
    outcome: CacheOutcome,
    led: Option<&Fetched>,
) -> Answer {
    let mut response = Response::new(ProxyBody::full(body.clone()));
    *response.status_mut() = status;
    *response.headers_mut() = headers.clone();
    if led.is_none() {
        response.headers_mut().remove(&REQUEST_ID);
    }
    Answer {
        response,
        upstream_status: Some(status.as_u16()),
        outcome: None,
        upstream_elapsed: led.and_then(|f| f.upstream_elapsed),
    }
    .with_outcome(outcome)
}
