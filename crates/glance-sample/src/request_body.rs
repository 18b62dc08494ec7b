//! The request body, held until a route that reads bodies takes it. A
//! body no route took was never read, which uWSGI punishes (`uwsgi`); the
//! slot is how the dispatcher's one decision ("this route takes a body")
//! is seen afterwards.

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::control::Shared;
use super::errors::GlanceError;

/// Largest body accepted by the JSON endpoints.
const MAX_JSON_BODY: usize = 1024 * 1024;

/// A request body not yet taken.
pub struct BodySlot(Option<Incoming>);

impl BodySlot {
    /// Holds `body`.
    pub fn new(body: Incoming) -> Self {
        BodySlot(Some(body))
    }

    /// Takes the body to stream it (uploads, stages).
    pub fn take(&mut self) -> Result<Incoming, GlanceError> {
        // Each request is dispatched once, so the body is always there;
        // a 500 rather than a panic should that ever change.
        self.0.take().ok_or_else(|| {
            GlanceError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Request body already taken.",
            )
        })
    }

    /// Takes and reads a JSON endpoint's body (bounded), recording it for
    /// the tests.
    pub async fn json(&mut self, shared: &Shared) -> Result<Bytes, GlanceError> {
        let bytes = match Limited::new(self.take()?, MAX_JSON_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return Err(GlanceError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request body too large or unreadable.",
                ));
            }
        };
        shared.record_body(bytes.clone());
        Ok(bytes)
    }

    /// The body no route took, if any.
    pub fn untaken(self) -> Option<Incoming> {
        self.0
    }
}
