//! Extension-field transforms on forwarded responses: `GET /v2/images`
//! lists and `PATCH` answers (image details are transformed at fill time,
//! in `fill`). Only 200 JSON bodies of a declared, bounded length are
//! touched; anything else streams through as received.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::BodyExt;

use super::{Answer, Proxy};
use crate::body::ProxyBody;
use crate::cache::entry::strong_etag;
use crate::config::TransformConfig;
use crate::error::ProxyError;
use crate::transform::{self, Mode};

/// A body-level transform: `None` means "serve as received".
type Reshape = fn(&[u8], &TransformConfig) -> Option<Bytes>;

impl Proxy {
    /// Transforms each image of a 200 list body within
    /// `transform.max_list_bytes`; larger lists pass through with a warning.
    pub(super) async fn transform_list(&self, answer: Answer) -> Result<Answer, ProxyError> {
        let settings = self.shared.core.settings.load_full();
        let limit = settings.transform.max_list_bytes;
        reshape(
            answer,
            &settings.transform,
            limit,
            "image list",
            transform::transform_list_body,
        )
        .await
    }

    /// Transforms a 200 image body that did not come through a fill: a
    /// `PATCH` answer (the updated image), a bypassed image read.
    pub(super) async fn transform_image_answer(
        &self,
        answer: Answer,
    ) -> Result<Answer, ProxyError> {
        let settings = self.shared.core.settings.load_full();
        let limit = settings.cache.max_object_bytes;
        reshape(
            answer,
            &settings.transform,
            limit,
            "PATCH answer",
            transform::transform_image_body,
        )
        .await
    }
}

async fn reshape(
    answer: Answer,
    config: &TransformConfig,
    limit: usize,
    what: &'static str,
    apply: Reshape,
) -> Result<Answer, ProxyError> {
    if config.mode == Mode::Passthrough || !is_json_200(&answer.response) {
        return Ok(answer);
    }
    let Some(length) = declared_length(&answer.response) else {
        return Ok(answer);
    };
    if length > limit {
        tracing::warn!(
            what,
            length,
            limit,
            "too large to transform: passed through as received"
        );
        return Ok(answer);
    }
    let Answer {
        response,
        upstream_status,
        outcome,
        upstream_elapsed,
    } = answer;
    let (mut parts, body) = response.into_parts();
    let received = body
        .collect()
        .await
        .map_err(|err| {
            ProxyError::BadGateway(format!("the upstream response body broke off: {err}"))
        })?
        .to_bytes();
    let body = match apply(&received, config) {
        Some(changed) => {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(changed.len()));
            if parts.headers.contains_key(header::ETAG) {
                parts.headers.insert(header::ETAG, strong_etag(&changed));
            }
            changed
        }
        None => received,
    };
    Ok(Answer {
        response: Response::from_parts(parts, ProxyBody::full(body)),
        upstream_status,
        outcome,
        upstream_elapsed,
    })
}

fn is_json_200(response: &Response<ProxyBody>) -> bool {
    response.status() == StatusCode::OK
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

fn declared_length(response: &Response<ProxyBody>) -> Option<usize> {
    response
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
