//! Request handling: count, delay, fault, authenticate, route, answer.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::access::{Ctx, read_visible};
use super::auth::{self, Caller};
use super::body::SampleBody;
use super::control::Shared;
use super::control_http;
use super::documents;
use super::errors::{self, GlanceError};
use super::faults;
use super::files;
use super::images;
use super::members;
use super::patch;
use super::response;
use super::routes::{self, Route};
use super::server::Role;

/// Largest body accepted by the JSON endpoints.
const MAX_JSON_BODY: usize = 1024 * 1024;

/// The request's connection is to be closed without an answer (the `Down`
/// fault). hyper closes a connection whose service fails.
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sample fault: connection dropped")
    }
}

impl std::error::Error for Dropped {}

/// The service function: every request on every connection comes here.
pub async fn handle(
    shared: Arc<Shared>,
    role: Role,
    req: Request<Incoming>,
) -> Result<Response<SampleBody>, Dropped> {
    let path = req.uri().path();
    let control = match (role, path.strip_prefix("/_sample/")) {
        (Role::Combined | Role::Control, Some(rest)) => Some(rest),
        // Not a control path: answered like an unknown endpoint.
        (Role::Control, None) => Some(""),
        (Role::Combined | Role::Api, _) => None,
    };
    if let Some(rest) = control {
        return Ok(control_http::handle(
            &shared,
            req.method(),
            rest,
            req.uri().query(),
        ));
    }
    // Counted first: a request that reached the upstream counts, whatever
    // latency or fault follows.
    shared.counters.record(req.method().as_str(), path);
    shared.record_headers(req.headers());
    let latency = shared.latency();
    if !latency.is_zero() && routes::strip_version(path).is_some() {
        tokio::time::sleep(latency).await;
    }
    if shared.faults.is_down() {
        return Err(Dropped);
    }
    if let Some(response) = documents::versions(req.method(), path, req.headers()) {
        return Ok(response);
    }
    let Ok(caller) = auth::authenticate(req.headers()) else {
        return Ok(errors::unauthorized());
    };
    Ok(route(&shared, caller, req).await)
}

async fn route(shared: &Shared, caller: Caller, req: Request<Incoming>) -> Response<SampleBody> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let route = routes::parse(path).unwrap_or(Route::Unknown);
    let ctx = Ctx {
        shared,
        caller,
        headers: &parts.headers,
    };
    let query = parts.uri.query();
    let result = match (&parts.method, &route) {
        (&Method::GET, Route::Image(id)) => image_detail(&ctx, id),
        (&Method::GET, Route::Images) => images::list(&ctx, query),
        (&Method::GET, Route::File(id)) => files::download(&ctx, id),
        (&Method::PUT, Route::File(id)) => files::upload(&ctx, id, body).await,
        (&Method::GET, Route::Schema(name)) => documents::schema(name),
        (&Method::GET, Route::Members(id)) => members::list(&ctx, id),
        (&Method::GET, Route::Member(id, m)) => members::show(&ctx, id, m),
        (&Method::DELETE, Route::Image(id)) => images::delete(&ctx, id),
        (&Method::DELETE, Route::Tag(id, tag)) => images::delete_tag(&ctx, id, tag),
        (&Method::DELETE, Route::Member(id, m)) => members::delete(&ctx, id, m),
        (_, Route::Unknown) => Err(GlanceError::no_route()),
        (&Method::PATCH | &Method::POST | &Method::PUT, _) => read_json_body(shared, body)
            .await
            .and_then(|bytes| write_with_body(&ctx, &parts.method, &route, bytes)),
        _ => Err(GlanceError::method_not_allowed(
            parts.method.as_str(),
            route.allow(),
        )),
    };
    match result {
        Ok(response) => response,
        Err(err) if parts.method == Method::HEAD => err.render_head(),
        Err(err) => err.render(&parts.headers),
    }
}

/// The writes that carry a (JSON) body, dispatched once it is read.
fn write_with_body(
    ctx: &Ctx<'_>,
    method: &Method,
    route: &Route<'_>,
    body: Bytes,
) -> Result<Response<SampleBody>, GlanceError> {
    match (method, route) {
        (&Method::PATCH, Route::Image(id)) => patch::patch(ctx, id, &body),
        (&Method::POST, Route::Images) => images::create(ctx, &body),
        (&Method::PUT, Route::Tag(id, tag)) => images::add_tag(ctx, id, tag),
        (&Method::POST, Route::Action(id, action)) => images::action(ctx, id, action),
        (&Method::POST, Route::Members(id)) => members::add(ctx, id, &body),
        (&Method::PUT, Route::Member(id, m)) => members::update(ctx, id, m, &body),
        _ => Err(GlanceError::method_not_allowed(
            method.as_str(),
            route.allow(),
        )),
    }
}

/// Reads a JSON endpoint's body (bounded) and records it for the tests.
async fn read_json_body(shared: &Shared, body: Incoming) -> Result<Bytes, GlanceError> {
    let bytes = match Limited::new(body, MAX_JSON_BODY).collect().await {
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

/// `GET /v2/images/{id}`: the cached body, unless a fault says otherwise.
fn image_detail(ctx: &Ctx<'_>, id: &str) -> Result<Response<SampleBody>, GlanceError> {
    let fault = ctx.shared.faults.on_image_detail();
    if let Some(response) = faults::respond(&fault, id, &ctx.shared.store) {
        return Ok(response);
    }
    read_visible(ctx, id, |_, body| response::json(body.clone()))
}
