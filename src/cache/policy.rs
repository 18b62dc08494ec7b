//! What may be stored, and for how long (docs/design.md "What is
//! stored"). Pure functions over the upstream's status, headers and body.

use std::borrow::Cow;
use std::time::Duration;

use http::{HeaderMap, HeaderName, StatusCode, header};
use serde::Deserialize;

use super::freshness::Freshness;
use crate::config::CacheConfig;
use crate::request_headers::{HeaderLookup, visible_ascii};

/// Why a response was passed through without being stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotStored {
    #[error("status {0} is never stored")]
    Status(u16),
    #[error("the upstream said no-store/no-cache")]
    UpstreamForbids,
    #[error("the upstream set a cookie")]
    SetsCookie,
    #[error("the response varies on headers we do not key on")]
    Varies,
    #[error("the body is content-encoded")]
    Encoded,
    #[error("the body is larger than cache.max_object_bytes")]
    TooLarge,
    #[error("the body is not a JSON object with a string id")]
    NotAnImage,
    #[error("the body is another image")]
    WrongImage,
    #[error("images in status {0:?} are not stored")]
    ImageStatus(String),
    #[error("the image has an import task in flight")]
    TaskInFlight,
}

/// The fields the decision needs; serde still checks the whole body is
/// one valid JSON object.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    /// Glance 33 sets it (the import lock) when an import task starts on
    /// the image and removes it when the task ends
    /// (glance/async_/flows/api_image_import.py).
    #[serde(borrow, default)]
    os_glance_import_task: Option<Cow<'a, str>>,
    /// The stores an import (copy-image included) is still copying to;
    /// empty once it is done.
    #[serde(borrow, default)]
    os_glance_importing_to_stores: Option<Cow<'a, str>>,
}

impl Probe<'_> {
    /// Whether the body shows an asynchronous operation in flight: what
    /// it says will change without any write through the proxy. (IMS's
    /// own jobs show only as a status — queued, saving — which is
    /// transient already.)
    fn task_in_flight(&self) -> bool {
        let set = |field: &Option<Cow<'_, str>>| field.as_deref().is_some_and(|v| !v.is_empty());
        set(&self.os_glance_import_task) || set(&self.os_glance_importing_to_stores)
    }
}

/// Decides whether an upstream answer to `GET /v2/images/{image_id}` may
/// be stored, and with which freshness.
pub fn storable(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    image_id: &str,
    config: &CacheConfig,
) -> Result<Freshness, NotStored> {
    if status != StatusCode::OK {
        return Err(NotStored::Status(status.as_u16()));
    }
    let directives = response_directives(headers);
    if directives.forbids_storing {
        return Err(NotStored::UpstreamForbids);
    }
    if headers.contains_key(header::SET_COOKIE) {
        return Err(NotStored::SetsCookie);
    }
    if !vary_is_keyed(headers, config.identity_headers.names()) {
        return Err(NotStored::Varies);
    }
    if is_encoded(headers) {
        return Err(NotStored::Encoded);
    }
    if body.len() > config.max_object_bytes {
        return Err(NotStored::TooLarge);
    }
    let probe: Probe<'_> = serde_json::from_slice(body).map_err(|_| NotStored::NotAnImage)?;
    if probe.id != image_id {
        return Err(NotStored::WrongImage);
    }
    let image_status = probe.status.as_deref().unwrap_or("");
    let mut lifetime = if probe.task_in_flight() {
        Some(config.transient_ttl)
            .filter(|ttl| !ttl.is_zero())
            .ok_or(NotStored::TaskInFlight)?
    } else {
        lifetime_for(image_status, config)
            .ok_or_else(|| NotStored::ImageStatus(image_status.to_owned()))?
    };
    if let Some(max_age) = directives.max_age {
        lifetime = lifetime.min(max_age.saturating_sub(upstream_age(headers)));
    }
    if lifetime.is_zero() {
        return Err(NotStored::ImageStatus(image_status.to_owned()));
    }
    Ok(Freshness {
        lifetime,
        stale_while_revalidate: config.stale_while_revalidate,
        stale_if_error: config.stale_if_error,
    })
}

/// Whether an upstream answer is a 200 JSON object of the requested image
/// (stored or not: transforms apply to it either way).
pub fn is_requested_image(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    image_id: &str,
) -> bool {
    status == StatusCode::OK
        && !is_encoded(headers)
        && serde_json::from_slice::<Probe<'_>>(body).is_ok_and(|probe| probe.id == image_id)
}

/// Whether the body carries a content coding other than `identity`.
fn is_encoded(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"))
}

/// The configured lifetime for an image status; `None` for statuses that
/// are never stored. Unknown statuses are treated as transient.
pub fn lifetime_for(image_status: &str, config: &CacheConfig) -> Option<Duration> {
    match image_status {
        "active" | "deactivated" => Some(config.ttl),
        "killed" | "deleted" | "pending_delete" => None,
        _ => Some(config.transient_ttl),
    }
    .filter(|ttl| !ttl.is_zero())
}

/// What the upstream's `Cache-Control` says about storing.
#[derive(Debug, Default, PartialEq, Eq)]
struct ResponseDirectives {
    forbids_storing: bool,
    max_age: Option<Duration>,
}

fn response_directives(headers: &HeaderMap) -> ResponseDirectives {
    let mut out = ResponseDirectives::default();
    for (name, value) in cache_control_directives(headers) {
        match name.as_str() {
            "no-store" | "no-cache" => out.forbids_storing = true,
            "max-age" | "s-maxage" => {
                let seconds = value.and_then(|v| v.parse::<u64>().ok());
                match seconds {
                    Some(s) => {
                        let d = Duration::from_secs(s);
                        out.max_age = Some(out.max_age.map_or(d, |m| m.min(d)));
                    }
                    // A max-age we cannot read: safest is not to store.
                    None => out.forbids_storing = true,
                }
            }
            _ => {}
        }
    }
    out
}

/// `Cache-Control` split into lower-cased directive names and unquoted
/// values, over every header line.
pub fn cache_control_directives<H: HeaderLookup + ?Sized>(
    headers: &H,
) -> Vec<(String, Option<String>)> {
    headers
        .header_values(&header::CACHE_CONTROL)
        .filter_map(visible_ascii)
        .flat_map(|v| v.split(','))
        .filter_map(|directive| {
            let directive = directive.trim();
            if directive.is_empty() {
                return None;
            }
            let (name, value) = match directive.split_once('=') {
                Some((n, v)) => (n, Some(v.trim().trim_matches('"').to_owned())),
                None => (directive, None),
            };
            Some((name.trim().to_ascii_lowercase(), value))
        })
        .collect()
}

/// The upstream's `Age`, or zero.
pub fn upstream_age(headers: &HeaderMap) -> Duration {
    headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_secs)
}

/// `Vary` is fine when it names only headers that are part of the key
/// (identity headers) or that fills never send (`Accept-Encoding`).
fn vary_is_keyed(headers: &HeaderMap, identity_headers: &[HeaderName]) -> bool {
    headers
        .get_all(header::VARY)
        .iter()
        .flat_map(|v| v.to_str().map(|s| s.split(',')).into_iter().flatten())
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .all(|name| {
            name.eq_ignore_ascii_case("accept-encoding")
                || identity_headers
                    .iter()
                    .any(|h| h.as_str().eq_ignore_ascii_case(name))
        })
}

/// Why a request must bypass the cache (forwarded, not looked up, not
/// stored), or `None` if it may use it.
pub fn bypass_reason<H: HeaderLookup + ?Sized>(headers: &H) -> Option<&'static str> {
    for (name, value) in cache_control_directives(headers) {
        match (name.as_str(), value.as_deref()) {
            ("no-cache" | "no-store", _) => return Some("request cache-control"),
            ("max-age", Some("0")) => return Some("request cache-control"),
            _ => {}
        }
    }
    let pragma_no_cache = headers
        .header_values(&header::PRAGMA)
        .filter_map(visible_ascii)
        .any(|v| {
            v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
        });
    if pragma_no_cache {
        return Some("pragma no-cache");
    }
    // Signed requests are judged by `principal`: verified ones use the
    // cache under their access key, the others bypass it.
    None
}

#[cfg(test)]
mod tests;
