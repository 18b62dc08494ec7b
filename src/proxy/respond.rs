//! Building responses on the cache path: from a stored entry (hit, stored
//! miss, collapsed wait) or from an upstream response that was not stored.

use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use super::{Answer, FreshHit};
use crate::body::ProxyBody;
use crate::cache::entry::{Entry, if_none_match};
use crate::cache::outcome::CacheOutcome;
use crate::cache::status;
use crate::request_headers::HeaderLookup;
use crate::upstream::headers::{MAX_REQUEST_ID_LEN, REQUEST_ID};

/// A fresh hit, as the plan found it (its outcome and `Age` made once).
pub fn fresh(hit: &FreshHit, request: &HeaderMap) -> Answer {
    let id = request_id_for(request);
    let age = Some(hit.age.clone());
    from_entry(&hit.entry, hit.outcome, age, request, id, None)
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

/// An entry served from memory: with its `Age` and a request id of this
/// request's own.
fn aged(
    entry: &Entry,
    now: Instant,
    request: &HeaderMap,
    outcome: CacheOutcome,
    upstream_status: Option<u16>,
) -> Answer {
    let age = Some(status::age(entry.age(now).as_secs()));
    from_entry(
        entry,
        outcome,
        age,
        request,
        request_id_for(request),
        upstream_status,
    )
}

/// An entry's response: its prepared headers and body, or a 304 when the
/// request's `If-None-Match` matches its ETag.
pub fn from_entry(
    entry: &Entry,
    outcome: CacheOutcome,
    age: Option<HeaderValue>,
    request: &HeaderMap,
    request_id: HeaderValue,
    upstream_status: Option<u16>,
) -> Answer {
    let mut response = if if_none_match(request, &entry.etag()) {
        not_modified(entry)
    } else {
        let mut response = Response::new(ProxyBody::full(entry.body.clone()));
        *response.headers_mut() = entry.headers.to_map(3);
        response
    };
    let headers = response.headers_mut();
    headers.insert(REQUEST_ID.clone(), request_id);
    if let Some(age) = age {
        headers.insert(header::AGE, age);
    }
    Answer {
        response,
        upstream_status,
        outcome: None,
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
/// a follower gets its own request id instead of the leader's.
pub fn passed(
    status: StatusCode,
    headers: &HeaderMap,
    body: &Bytes,
    outcome: CacheOutcome,
    follower_request_id: Option<HeaderValue>,
) -> Answer {
    let mut response = Response::new(ProxyBody::full(body.clone()));
    *response.status_mut() = status;
    *response.headers_mut() = headers.clone();
    if let Some(id) = follower_request_id {
        response.headers_mut().insert(REQUEST_ID.clone(), id);
    }
    Answer {
        response,
        upstream_status: Some(status.as_u16()),
        outcome: None,
    }
    .with_outcome(outcome)
}

/// The request id for a response the upstream did not make for this
/// request: the client's own if it sent a sane one, else a fresh one
/// (replaying another request's id would mislead tracing).
pub fn request_id_for(request: &HeaderMap) -> HeaderValue {
    match request.get(&REQUEST_ID) {
        Some(id) if is_sane_request_id(id.as_bytes()) => id.clone(),
        _ => HeaderValue::from_bytes(&fresh_request_id())
            .unwrap_or_else(|_| HeaderValue::from_static("req-unknown")),
    }
}

/// The client's request id, when it sent one worth echoing.
pub fn client_request_id<H: HeaderLookup + ?Sized>(request: &H) -> Option<&[u8]> {
    request
        .first_value(&REQUEST_ID)
        .filter(|id| is_sane_request_id(id))
}

fn is_sane_request_id(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN
}

/// `req-<uuid v4>`, as OpenStack services make them.
pub fn fresh_request_id() -> [u8; 40] {
    let mut text = [0u8; 40];
    text[..4].copy_from_slice(b"req-");
    uuid::Uuid::new_v4()
        .hyphenated()
        .encode_lower(&mut text[4..]);
    text
}
