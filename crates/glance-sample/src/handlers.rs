//! Request handling: count, uWSGI drops, delay, fault, throttle,
//! authenticate, settle due jobs, route (Glance's, else IMS's), answer;
//! then punish an untaken body as uWSGI does.

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Request, Response};
use hyper::body::Incoming;

use super::access::{Ctx, read_visible};
use super::auth;
use super::body::SampleBody;
use super::control::Shared;
use super::control_http;
use super::documents;
use super::errors::{self, GlanceError};
use super::faults;
use super::files;
use super::images;
use super::import;
use super::ims;
use super::ims_routes;
use super::members;
use super::patch;
use super::request_body::BodySlot;
use super::response;
use super::routes::{self, Route};
use super::uwsgi::Connection;

/// Which requests a listener answers. `server` tags each listener with
/// one; it is defined here, where it is acted on, so that `server` (the
/// accept loop) depends on the handler and not the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Glance's API and, under `/_sample/`, the control endpoints (tests,
    /// benchmarks).
    Combined,
    /// Glance's API only: `/_sample/…` is a path like any other (`404`
    /// for a caller with a token, as Glance answers it).
    Api,
    /// The control endpoints only (`/_sample/…`; anything else `404`).
    Control,
}

/// The request's connection is to be closed without an answer (the `Down`
/// fault, uWSGI's drops). hyper closes an HTTP/1 connection whose service
/// fails (h2: resets the stream).
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
    conn: Arc<Connection>,
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
    // latency, fault or uWSGI drop follows.
    shared.counters.record(req.method().as_str(), path);
    shared.record_headers(req.headers());
    if let Some(refusal) = shared.uwsgi.refuse(&conn, path) {
        tracing::debug!(?refusal, path, "sample: dropped as uWSGI would");
        return Err(Dropped);
    }
    let version = req.version();
    let (parts, body) = req.into_parts();
    let mut body = BodySlot::new(body);
    let response = respond(&shared, &parts, &mut body).await?;
    if let Some(unread) = body.untaken() {
        shared.uwsgi.left_unread(&conn, version, unread).await;
    }
    Ok(response)
}

/// Latency, faults, throttles and authentication, then the route.
async fn respond(
    shared: &Shared,
    parts: &Parts,
    body: &mut BodySlot,
) -> Result<Response<SampleBody>, Dropped> {
    let path = parts.uri.path();
    let latency = shared.latency();
    if !latency.is_zero() && routes::strip_version(path).is_some() {
        tokio::time::sleep(latency).await;
    }
    if shared.faults.is_down() {
        return Err(Dropped);
    }
    if let Some(response) = shared.throttles.check(&parts.headers) {
        return Ok(response);
    }
    if let Some(response) = documents::versions(&parts.method, path, &parts.headers) {
        return Ok(response);
    }
    let Ok(caller) = auth::authenticate(&parts.headers) else {
        return Ok(errors::unauthorized());
    };
    // Jobs due by now end before anything reads the catalogue.
    shared.jobs.settle(&shared.store);
    let ctx = Ctx {
        shared,
        caller,
        headers: &parts.headers,
    };
    let route = routes::parse(path).unwrap_or(Route::Unknown);
    if route == Route::Unknown
        && let Some(ims) = ims_routes::parse(path)
    {
        return Ok(ims::dispatch(&ctx, &parts.method, ims, body).await);
    }
    Ok(route_glance(&ctx, parts, &route, body).await)
}

/// A Glance route; the routes that take a body take it from `body`.
async fn route_glance(
    ctx: &Ctx<'_>,
    parts: &Parts,
    route: &Route<'_>,
    body: &mut BodySlot,
) -> Response<SampleBody> {
    let query = parts.uri.query();
    let result = match (&parts.method, route) {
        (&Method::GET, Route::Image(id)) => image_detail(ctx, id),
        (&Method::GET, Route::Images) => images::list(ctx, query),
        (&Method::GET, Route::File(id)) => files::download(ctx, id),
        (&Method::PUT, Route::File(id)) => match body.take() {
            Ok(data) => files::upload(ctx, id, data).await,
            Err(err) => Err(err),
        },
        (&Method::PUT, Route::Stage(id)) => match body.take() {
            Ok(data) => files::stage(ctx, id, data).await,
            Err(err) => Err(err),
        },
        (&Method::GET, Route::Schema(name)) => documents::schema(name),
        (&Method::GET, Route::Members(id)) => members::list(ctx, id),
        (&Method::GET, Route::Member(id, m)) => members::show(ctx, id, m),
        (&Method::DELETE, Route::Image(id)) => images::delete(ctx, id),
        (&Method::DELETE, Route::Tag(id, tag)) => images::delete_tag(ctx, id, tag),
        (&Method::DELETE, Route::Member(id, m)) => members::delete(ctx, id, m),
        (_, Route::Unknown) => Err(GlanceError::no_route()),
        (&Method::PATCH | &Method::POST | &Method::PUT, _) => match body.json(ctx.shared).await {
            Ok(bytes) => write_with_body(ctx, &parts.method, route, bytes),
            Err(err) => Err(err),
        },
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
        (&Method::POST, Route::Import(id)) => import::import(ctx, id, &body),
        (&Method::POST, Route::Members(id)) => members::add(ctx, id, &body),
        (&Method::PUT, Route::Member(id, m)) => members::update(ctx, id, m, &body),
        _ => Err(GlanceError::method_not_allowed(
            method.as_str(),
            route.allow(),
        )),
    }
}

/// `GET /v2/images/{id}`: the cached body, unless a fault says otherwise.
fn image_detail(ctx: &Ctx<'_>, id: &str) -> Result<Response<SampleBody>, GlanceError> {
    let fault = ctx.shared.faults.on_image_detail();
    if let Some(response) = faults::respond(&fault, id, &ctx.shared.store) {
        return Ok(response);
    }
    read_visible(ctx, id, |_, body| response::json(body.clone()))
}
