//! Glance's error responses, byte for byte as webob renders them.
//!
//! webob builds a "body" from the explanation and detail, then wraps it per
//! the request's `Accept` (offers `text/html`, then `application/json`):
//! - HTML (`*/*`, `text/html`; fixture 03): the body inside an HTML page.
//! - JSON (`application/json`; fixture 03c): `{"message": body, "code":
//!   "404 Not Found", "title": "Not Found"}`.
//! - plain text (no `Accept`, or nothing acceptable): `"404 Not Found\n\n"`
//!   plus the body with newlines turned into spaces and `<br …>` tags into
//!   newlines, so a missing image reads
//!   `"404 Not Found\n\nNo image found with ID <id>\n\n   "`.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderName};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{Map, Value};

use super::body::{self, SampleBody};
use super::response::{self, APPLICATION_JSON, REQUEST_ID, TEXT_HTML};

/// `Content-Type` of plain-text error bodies.
const TEXT_PLAIN: &str = "text/plain; charset=UTF-8";

/// Which webob template lays out the body.
#[derive(Clone, Debug)]
enum Template {
    /// `explanation<br /><br />\ndetail\n\n`
    Standard,
    /// 415's own template naming the rejected media type.
    UnsupportedMediaType(String),
    /// 405's own template naming the method.
    MethodNotAllowed(String),
}

/// A Glance (webob) error, rendered per `Accept` by [`GlanceError::render`].
#[derive(Clone, Debug)]
pub struct GlanceError {
    status: StatusCode,
    explanation: String,
    detail: String,
    template: Template,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// The representation webob picks for an error body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `text/html; charset=UTF-8`
    Html,
    /// `application/json`
    Json,
    /// `text/plain; charset=UTF-8`
    Plain,
}

impl GlanceError {
    /// An error with Glance's explanation text.
    pub fn new(status: StatusCode, explanation: impl Into<String>) -> Self {
        GlanceError {
            status,
            explanation: explanation.into(),
            detail: String::new(),
            template: Template::Standard,
            headers: Vec::new(),
        }
    }

    /// The 404 for a missing, deleted or invisible image (fixtures 03, 22, 31).
    pub fn image_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("No image found with ID {id}"),
        )
    }

    /// webob's default 404 for a path no route matches.
    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "The resource could not be found.")
    }

    /// The 415 for a PATCH with a non-json-patch type (fixture 04b).
    pub fn unsupported_patch_type(content_type: &str) -> Self {
        const TYPES: &str = "application/openstack-images-v2.0-json-patch, \
                             application/openstack-images-v2.1-json-patch";
        let mut err = Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "");
        err.template = Template::UnsupportedMediaType(content_type.to_owned());
        err.detail = format!("Image PATCH expects Content-Type one of: {TYPES}");
        err.with_header(
            HeaderName::from_static("accept-patch"),
            HeaderValue::from_static(TYPES),
        )
    }

    /// The 405 for a method a route does not allow, with `Allow`.
    pub fn method_not_allowed(method: &str, allow: &'static str) -> Self {
        let mut err = Self::new(StatusCode::METHOD_NOT_ALLOWED, "");
        err.template = Template::MethodNotAllowed(method.to_owned());
        err.with_header(http::header::ALLOW, HeaderValue::from_static(allow))
    }

    /// Adds a response header (sent before the standard ones).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The HTTP status.
    #[cfg(test)]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// `"404 Not Found"`, as webob prints the status.
    fn status_line(&self) -> String {
        let reason = self.status.canonical_reason().unwrap_or("Unknown Error");
        format!("{} {reason}", self.status.as_u16())
    }

    /// webob's `_make_body`, with `escape` applied to the substituted values.
    fn make_body(&self, escape: fn(&str) -> Cow<'_, str>) -> String {
        let detail = escape(&self.detail);
        match &self.template {
            Template::Standard => {
                format!("{}<br /><br />\n{detail}\n\n", escape(&self.explanation))
            }
            Template::UnsupportedMediaType(ct) => format!(
                "The request media type {} is not supported by this server.\n<br /><br />\n{detail}",
                escape(ct)
            ),
            Template::MethodNotAllowed(method) => format!(
                "The method {} is not allowed for this resource. <br /><br />\n{detail}",
                escape(method)
            ),
        }
    }

    /// The body bytes in the given flavour.
    pub fn body(&self, flavor: Flavor) -> Bytes {
        let status = self.status_line();
        match flavor {
            Flavor::Html => Bytes::from(format!(
                "<html>\n <head>\n  <title>{status}</title>\n </head>\n <body>\n  \
                 <h1>{status}</h1>\n  {}\n </body>\n</html>",
                self.make_body(html_escape)
            )),
            Flavor::Json => {
                let mut map = Map::new();
                map.insert("message".into(), Value::String(self.make_body(no_escape)));
                map.insert("code".into(), Value::String(status));
                let title = self.status.canonical_reason().unwrap_or("Unknown Error");
                map.insert("title".into(), Value::String(title.to_owned()));
                glance_json::to_bytes(&Value::Object(map))
            }
            Flavor::Plain => Bytes::from(format!(
                "{status}\n\n{}",
                strip_tags(&self.make_body(no_escape))
            )),
        }
    }

    /// The response for a request with these headers.
    pub fn render(&self, request: &HeaderMap) -> Response<SampleBody> {
        self.render_as(negotiate(request.get(ACCEPT)))
    }

    /// The response in a fixed flavour.
    pub fn render_as(&self, flavor: Flavor) -> Response<SampleBody> {
        let content_type = match flavor {
            Flavor::Html => TEXT_HTML,
            Flavor::Json => APPLICATION_JSON,
            Flavor::Plain => TEXT_PLAIN,
        };
        let mut out = Response::new(body::empty());
        *out.status_mut() = self.status;
        let headers = out.headers_mut();
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        let bytes = self.body(flavor);
        headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len() as u64));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(REQUEST_ID, response::request_id());
        *out.body_mut() = body::full(bytes);
        out
    }

    /// The bodiless answer to a HEAD request (fixture 02c): type, zero
    /// length, the extra headers, request id.
    pub fn render_head(&self) -> Response<SampleBody> {
        let mut out = Response::new(body::empty());
        *out.status_mut() = self.status;
        let headers = out.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_HTML));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(0u64));
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        headers.insert(REQUEST_ID, response::request_id());
        out
    }
}

/// The 401 of fixture 29: HTML whatever the `Accept`, and no request id
/// (keystonemiddleware answers before Glance's request-id middleware runs).
pub fn unauthorized() -> Response<SampleBody> {
    const BODY: &str = "<html>\n <head>\n  <title>401 Unauthorized</title>\n </head>\n <body>\n  \
        <h1>401 Unauthorized</h1>\n  This server could not verify that you are authorized to \
        access the document you requested. Either you supplied the wrong credentials (e.g., bad \
        password), or your browser does not understand how to supply the credentials \
        required.<br /><br />\n\n\n\n </body>\n</html>";
    let mut out = Response::new(body::full(Bytes::from_static(BODY.as_bytes())));
    *out.status_mut() = StatusCode::UNAUTHORIZED;
    let headers = out.headers_mut();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(BODY.len() as u64));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_HTML));
    out
}

/// webob's choice among `text/html` and `application/json` for an
/// `Accept` value: highest q wins, ties go to HTML; none acceptable (or no
/// header) → plain text; an unparseable header accepts everything → HTML.
pub fn negotiate(accept: Option<&HeaderValue>) -> Flavor {
    let Some(value) = accept.and_then(|v| v.to_str().ok()) else {
        return match accept {
            Some(_) => Flavor::Html,
            None => Flavor::Plain,
        };
    };
    let Some(ranges) = parse_accept(value) else {
        return Flavor::Html;
    };
    let html = quality(&ranges, "text", "html");
    let json = quality(&ranges, "application", "json");
    match (html, json) {
        (h, j) if h <= 0.0 && j <= 0.0 => Flavor::Plain,
        (h, j) if j > h => Flavor::Json,
        _ => Flavor::Html,
    }
}

/// `(type, subtype, q)` for each media range, or None when malformed.
fn parse_accept(value: &str) -> Option<Vec<(String, String, f32)>> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut params = item.split(';').map(str::trim);
        let (ty, sub) = params.next()?.split_once('/')?;
        let mut q = 1.0;
        for param in params {
            if let Some((k, v)) = param.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = v
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))?;
            }
        }
        out.push((ty.to_ascii_lowercase(), sub.to_ascii_lowercase(), q));
    }
    Some(out)
}

/// The q of the most specific range matching `ty/sub` (0 when none does).
fn quality(ranges: &[(String, String, f32)], ty: &str, sub: &str) -> f32 {
    let specificity = |(t, s, _): &&(String, String, f32)| match (t.as_str(), s.as_str()) {
        (t, s) if t == ty && s == sub => Some(2),
        (t, "*") if t == ty => Some(1),
        ("*", "*") => Some(0),
        _ => None,
    };
    ranges
        .iter()
        .filter_map(|r| specificity(&r).map(|rank| (rank, r.2)))
        .max_by_key(|(rank, _)| *rank)
        .map_or(0.0, |(_, q)| q)
}

/// webob's `no_escape`, for JSON and plain-text bodies.
fn no_escape(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

/// Python's `html.escape(s, quote=True)`.
fn html_escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// webob's `strip_tags`: newlines → spaces, `<br…>` → newline, other tags gone.
fn strip_tags(s: &str) -> String {
    let flat = s.replace('\n', " ").replace('\r', "");
    let mut out = String::with_capacity(flat.len());
    let mut rest = flat.as_str();
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        out.push_str(&rest[..open]);
        let tag = &rest[open..open + close + 1];
        if tag.get(..3).is_some_and(|t| t.eq_ignore_ascii_case("<br")) {
            out.push('\n');
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[path = "errors_tests.rs"]
mod tests;
