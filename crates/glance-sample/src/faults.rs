//! Fault injection: switches that make the sample service misbehave the way
//! a real upstream can, so the proxy's error handling can be tested.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{HeaderValue, Response, StatusCode};

use super::body::{self, Cut, SampleBody};
use super::catalogue;
use super::errors::{Flavor, GlanceError};
use super::response::{self, APPLICATION_JSON, splitmix64};
use super::store::Store;

/// Switches for fault-injection tests. They apply to `GET /v2/images/{id}`
/// (image details) only unless said otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    /// Behave normally.
    #[default]
    None,
    /// The next `remaining` image-detail GETs answer `status` with a small
    /// JSON error body, plus `Retry-After: N` when `retry_after` is `Some(N)`.
    FailNext {
        /// How many requests still fail; the fault clears itself at 0.
        remaining: u32,
        /// The status to answer.
        status: u16,
        /// Seconds for `Retry-After`.
        retry_after: Option<u32>,
    },
    /// Every image-detail GET answers 503 with probability `permille`/1000
    /// (a deterministic sequence: the n-th request since the fault was set
    /// always gets the same answer).
    ErrorRate {
        /// Failures per thousand requests.
        permille: u32,
    },
    /// Every request (all paths but `/_sample/`) has its connection closed
    /// without any response.
    Down,
    /// Image-detail GETs answer 200 with the body of a different image.
    WrongId,
    /// Image-detail GETs answer 200, `application/json`, body
    /// `{"id": "<id>", "name": ` (truncated, invalid JSON).
    InvalidJson,
    /// Image-detail GETs send headers (with the full Content-Length) and the
    /// first half of the body, then the connection is reset.
    ResetMidBody,
    /// Image-detail GETs send headers and the first half of the body, then
    /// stall until the client or the server's shutdown closes the connection.
    StallBody,
    /// Image-detail GETs answer 200 with a JSON object of the requested id
    /// padded to `bytes` bytes (streamed, not buffered).
    Huge {
        /// Total body length.
        bytes: usize,
    },
}

/// The current fault. `armed` lets the common no-fault path skip the lock.
#[derive(Default)]
pub struct FaultSwitch {
    armed: AtomicBool,
    fault: Mutex<Fault>,
    draws: AtomicU64,
}

impl FaultSwitch {
    fn lock(&self) -> std::sync::MutexGuard<'_, Fault> {
        // A Fault is replaced whole; a poisoned lock still holds a valid one.
        self.fault.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the current fault (`Fault::None` clears it).
    pub fn set(&self, fault: Fault) {
        let mut current = self.lock();
        self.armed.store(fault != Fault::None, Ordering::Release);
        self.draws.store(0, Ordering::Relaxed);
        *current = fault;
    }

    /// The current fault.
    pub fn get(&self) -> Fault {
        self.lock().clone()
    }

    /// Whether every request should be dropped without an answer.
    pub fn is_down(&self) -> bool {
        self.armed.load(Ordering::Acquire) && *self.lock() == Fault::Down
    }

    /// What to do with an image-detail GET; consumes a `FailNext` turn.
    pub fn on_image_detail(&self) -> Fault {
        if !self.armed.load(Ordering::Acquire) {
            return Fault::None;
        }
        let mut current = self.lock();
        match &mut *current {
            Fault::FailNext { remaining, .. } if *remaining <= 1 => {
                let taken = std::mem::take(&mut *current);
                self.armed.store(false, Ordering::Release);
                if matches!(taken, Fault::FailNext { remaining: 1, .. }) {
                    taken
                } else {
                    Fault::None
                }
            }
            Fault::FailNext { remaining, .. } => {
                *remaining -= 1;
                current.clone()
            }
            Fault::ErrorRate { permille } => {
                let n = self.draws.fetch_add(1, Ordering::Relaxed);
                let fail = splitmix64(n) % 1000 < u64::from(*permille);
                if fail { current.clone() } else { Fault::None }
            }
            other => other.clone(),
        }
    }
}

/// The response an image-detail fault gives instead of the real one; None
/// when the request should be answered normally.
pub fn respond(fault: &Fault, id: &str, store: &Store) -> Option<Response<SampleBody>> {
    match fault {
        Fault::None | Fault::Down => None,
        Fault::FailNext {
            status,
            retry_after,
            ..
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = injected_error(status);
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(*secs));
            }
            Some(response)
        }
        Fault::ErrorRate { .. } => Some(injected_error(StatusCode::SERVICE_UNAVAILABLE)),
        Fault::WrongId => {
            let other = store
                .other_body(id)
                .unwrap_or_else(|| glance_json::to_bytes(&catalogue::generated_image(WRONG_ID, 0)));
            Some(response::json(other))
        }
        Fault::InvalidJson => {
            let text = format!("{{\"id\": {}, \"name\": ", glance_json::string_literal(id));
            Some(response::json(Bytes::from(text)))
        }
        Fault::ResetMidBody => Some(cut_response(id, store, Cut::Reset)),
        Fault::StallBody => Some(cut_response(id, store, Cut::Stall)),
        Fault::Huge { bytes } => Some(huge(id, *bytes)),
    }
}

/// The id of the image served by `WrongId` when the store has no other.
const WRONG_ID: &str = "ffffffff-ffff-4fff-bfff-ffffffffffff";

fn injected_error(status: StatusCode) -> Response<SampleBody> {
    GlanceError::new(status, "Injected fault (sample image service).").render_as(Flavor::Json)
}

/// The image's real body (or one made up for the id), cut after half.
fn cut_response(id: &str, store: &Store, cut: Cut) -> Response<SampleBody> {
    let full = store
        .read(id, |_, body| body.clone())
        .unwrap_or_else(|| glance_json::to_bytes(&catalogue::generated_image(id, 0)));
    let half = full.slice(..full.len() / 2);
    let body = body::cut(half, full.len() as u64, cut);
    response::sized(StatusCode::OK, APPLICATION_JSON, full.len() as u64, body)
}

/// `{"id": "<id>", "padding": "xxx…"}`, `bytes` long (or the minimum).
fn huge(id: &str, bytes: usize) -> Response<SampleBody> {
    let prefix = Bytes::from(format!(
        "{{\"id\": {}, \"padding\": \"",
        glance_json::string_literal(id)
    ));
    let suffix = Bytes::from_static(b"\"}");
    let fill = bytes.saturating_sub(prefix.len() + suffix.len()) as u64;
    let len = prefix.len() as u64 + fill + suffix.len() as u64;
    response::sized(
        StatusCode::OK,
        APPLICATION_JSON,
        len,
        body::padded(prefix, fill, suffix),
    )
}

/// Parses the `/_sample/fault` query: `kind=none|down|wrong_id|invalid_json|
/// reset_mid_body|stall_body|error_rate&permille=N|fail_next&remaining=N&
/// status=S[&retry_after=N]|huge&bytes=N`.
pub fn parse(params: &HashMap<String, String>) -> Result<Fault, String> {
    let num = |name: &str, default: Option<u64>| -> Result<u64, String> {
        match params.get(name) {
            Some(v) => v.parse().map_err(|_| format!("{name} must be a number")),
            None => default.ok_or_else(|| format!("{name} is required")),
        }
    };
    let small = |v: u64| u32::try_from(v).map_err(|_| "number too large".to_owned());
    let kind = params.get("kind").map_or("none", String::as_str);
    Ok(match kind {
        "none" => Fault::None,
        "down" => Fault::Down,
        "wrong_id" => Fault::WrongId,
        "invalid_json" => Fault::InvalidJson,
        "reset_mid_body" => Fault::ResetMidBody,
        "stall_body" => Fault::StallBody,
        "error_rate" => Fault::ErrorRate {
            permille: small(num("permille", None)?)?,
        },
        "fail_next" => Fault::FailNext {
            remaining: small(num("remaining", Some(1))?)?,
            status: u16::try_from(num("status", Some(503))?).map_err(|_| "bad status")?,
            retry_after: params
                .get("retry_after")
                .map(|_| small(num("retry_after", None)?))
                .transpose()?,
        },
        "huge" => Fault::Huge {
            bytes: usize::try_from(num("bytes", None)?).map_err(|_| "bytes too large")?,
        },
        other => return Err(format!("unknown fault kind {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FailNext fails exactly `remaining` times, then clears itself.
    #[test]
    fn fail_next_counts_down() {
        let switch = FaultSwitch::default();
        switch.set(Fault::FailNext {
            remaining: 2,
            status: 500,
            retry_after: None,
        });
        assert!(matches!(switch.on_image_detail(), Fault::FailNext { .. }));
        assert!(matches!(switch.on_image_detail(), Fault::FailNext { .. }));
        assert_eq!(switch.on_image_detail(), Fault::None);
        assert_eq!(switch.get(), Fault::None);
        switch.set(Fault::FailNext {
            remaining: 0,
            status: 500,
            retry_after: None,
        });
        assert_eq!(switch.on_image_detail(), Fault::None);
    }

    /// ErrorRate fails roughly permille/1000 of requests, deterministically.
    #[test]
    fn error_rate_is_deterministic() {
        let count = || {
            let switch = FaultSwitch::default();
            switch.set(Fault::ErrorRate { permille: 250 });
            (0..10_000)
                .filter(|_| switch.on_image_detail() != Fault::None)
                .count()
        };
        let first = count();
        assert_eq!(first, count());
        assert!((2_200..2_800).contains(&first), "{first}");
    }

    /// Control-endpoint queries parse into faults.
    #[test]
    fn parses_queries() {
        let q = |pairs: &[(&str, &str)]| {
            parse(
                &pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        assert_eq!(q(&[("kind", "down")]), Ok(Fault::Down));
        assert_eq!(
            q(&[
                ("kind", "fail_next"),
                ("remaining", "3"),
                ("status", "502"),
                ("retry_after", "7")
            ]),
            Ok(Fault::FailNext {
                remaining: 3,
                status: 502,
                retry_after: Some(7)
            })
        );
        assert_eq!(
            q(&[("kind", "error_rate"), ("permille", "5")]),
            Ok(Fault::ErrorRate { permille: 5 })
        );
        assert!(q(&[("kind", "error_rate")]).is_err());
        assert!(q(&[("kind", "bogus")]).is_err());
    }

    /// The huge body has exactly the requested length.
    #[test]
    fn huge_has_requested_length() {
        let response = huge("abc", 10_000);
        assert_eq!(response.headers()["content-length"], "10000");
    }
}
