//! What IMS's handlers (`ims`, `ims_members`, `ims_tags`) answer: IMS's
//! error body for a request IMS itself finds malformed,
//! `{"error": {"message": …, "code": "IMG.0001"}}`, 400, else Glance's
//! refusal; and `{"job_id"}` for an asynchronous request. Shared by the
//! three, so it sits below them: `ims` dispatches to the other two, which
//! import these from here rather than from `ims` (that was a cycle).

use http::{HeaderMap, Response, StatusCode};
use serde_json::{Value, json};

use super::body::SampleBody;
use super::errors::GlanceError;
use super::response::{self, APPLICATION_JSON};

/// IMS's code for a malformed request.
const FORMAT_ERROR: &str = "IMG.0001";

/// A refused IMS request.
#[derive(Debug)]
pub enum ImsError {
    /// Malformed by IMS's own rules: IMS's error body.
    Format(String),
    /// Refused by the Glance underneath (visibility, ownership, state).
    Glance(GlanceError),
}

impl From<GlanceError> for ImsError {
    fn from(err: GlanceError) -> Self {
        ImsError::Glance(err)
    }
}

impl ImsError {
    /// The answer for a request with these headers.
    pub fn render(&self, headers: &HeaderMap) -> Response<SampleBody> {
        match self {
            ImsError::Format(msg) => {
                let doc = json!({"error": {"message": msg, "code": FORMAT_ERROR}});
                response::with_body(
                    StatusCode::BAD_REQUEST,
                    APPLICATION_JSON,
                    glance_json::to_bytes(&doc),
                )
            }
            ImsError::Glance(err) => err.render(headers),
        }
    }

    /// The HTTP status.
    #[cfg(test)]
    pub fn status(&self) -> StatusCode {
        match self {
            ImsError::Format(_) => StatusCode::BAD_REQUEST,
            ImsError::Glance(err) => err.status(),
        }
    }
}

/// What an IMS handler answers.
pub type ImsAnswer = Result<Response<SampleBody>, ImsError>;

/// The malformed-request error.
pub fn format_error(msg: impl Into<String>) -> ImsError {
    ImsError::Format(msg.into())
}

/// A JSON object body, or IMS's 400.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ImsError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(format_error("The request message format is invalid.")),
    }
}

/// `200 {"job_id": …}`, IMS's answer to an asynchronous request.
pub fn job_accepted(job: &str) -> Response<SampleBody> {
    response::json(glance_json::to_bytes(&json!({"job_id": job})))
}
