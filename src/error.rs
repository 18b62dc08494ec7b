//! The proxy's own errors, and the one place they become HTTP responses.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

/// Boxed error for body streams and I/O plumbing.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything that makes the proxy answer with an error of its own.
/// Upstream error *statuses* are not here: those pass through unchanged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProxyError {
    /// The upstream could not be reached or broke the exchange.
    #[error("upstream unreachable or broken: {0}")]
    BadGateway(String),
    /// The upstream did not answer within the response timeout.
    #[error("upstream did not answer within {0}")]
    GatewayTimeout(String),
    /// The client's request cannot be forwarded as it is.
    #[error("malformed request: {0}")]
    BadRequest(String),
    /// The client's request body is larger than the proxy will read.
    #[error("request body too large: {0}")]
    TooLarge(String),
    /// The client's request headers exceed `server.max_header_bytes`.
    #[error("request headers are larger than {0} bytes")]
    HeadersTooLarge(usize),
    /// The path is outside the configured `server.path_prefix`.
    #[error("no route: {0}")]
    NotFound(String),
    /// The proxy refuses to send more to the upstream right now.
    #[error("upstream unavailable: {reason}")]
    Unavailable {
        /// Why (circuit open, queue full…).
        reason: String,
        /// Seconds for `Retry-After`.
        retry_after: u64,
    },
    /// The upstream asked this caller (and only it) to wait.
    #[error("the upstream asked this caller to slow down; retry after {retry_after}s")]
    Throttled {
        /// Seconds for `Retry-After`.
        retry_after: u64,
    },
}

impl ProxyError {
    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ProxyError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProxyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ProxyError::NotFound(_) => StatusCode::NOT_FOUND,
            ProxyError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The JSON error body of docs/design.md "Responses":
    /// `{"error": {"code": 502, "title": "Bad Gateway", "message": "…"}}`.
    pub fn body(&self) -> Bytes {
        let status = self.status();
        let body = serde_json::json!({
            "error": {
                "code": status.as_u16(),
                "title": status.canonical_reason().unwrap_or("Error"),
                "message": self.to_string(),
            }
        });
        Bytes::from(body.to_string())
    }

    /// The whole response, with whatever body type is made from bytes
    /// (`ProxyBody`, in the proxy).
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let body = self.body();
        let mut response = Response::new(B::from(body));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let ProxyError::Unavailable { retry_after, .. } | ProxyError::Throttled { retry_after } =
            &self
        {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error body is the JSON shape docs/design.md promises, with the
    /// status's code and canonical title.
    #[test]
    fn error_body_shape() {
        let err = ProxyError::GatewayTimeout("15s".into());
        let body: serde_json::Value =
            serde_json::from_slice(&err.body()).expect("error body is JSON");
        assert_eq!(body["error"]["code"], 504);
        assert_eq!(body["error"]["title"], "Gateway Timeout");
        assert_eq!(
            body["error"]["message"],
            "upstream did not answer within 15s"
        );
    }

    /// Each error maps to the status docs/design.md gives it.
    #[test]
    fn statuses() {
        assert_eq!(ProxyError::BadGateway(String::new()).status(), 502);
        assert_eq!(ProxyError::BadRequest(String::new()).status(), 400);
        assert_eq!(ProxyError::HeadersTooLarge(1).status(), 431);
        let unavailable = ProxyError::Unavailable {
            reason: "circuit open".into(),
            retry_after: 3,
        };
        let response = unavailable.into_response::<Bytes>();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
    }
}
