//! What a handler may do with an image, as Glance's policy layer decides
//! it: see it (else 404, never 403, so a private image's existence does not
//! leak) and change it (owner only, else 403 naming the policy action).
//! The route handlers (`images`, `patch`, `members`, `files`) answer
//! through these; `handlers` only dispatches to them.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::auth::Caller;
use super::control::Shared;
use super::errors::GlanceError;
use super::store::Record;

/// What a handler needs to know about the request it answers.
pub struct Ctx<'a> {
    /// Shared service state.
    pub shared: &'a Shared,
    /// The authenticated caller.
    pub caller: Caller,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

/// Runs `f` on an image the caller can see; 404 (as Glance) otherwise.
pub fn read_visible<T>(
    ctx: &Ctx<'_>,
    id: &str,
    f: impl FnOnce(&Record, &Bytes) -> T,
) -> Result<T, GlanceError> {
    let found = ctx.shared.store.read(id, |record, body| {
        ctx.caller.can_see(record).then(|| f(record, body))
    });
    found
        .flatten()
        .ok_or_else(|| GlanceError::image_not_found(id))
}

/// Runs `f` on an image the caller owns. Invisible → 404, visible but not
/// owned → 403 naming the policy `action`, as Glance's policy layer does.
/// On `Err`, `f` must leave the record unchanged.
pub fn modify_owned<T>(
    ctx: &Ctx<'_>,
    id: &str,
    action: &str,
    f: impl FnOnce(&mut Record) -> Result<T, GlanceError>,
) -> Result<T, GlanceError> {
    let result = ctx.shared.store.modify(id, |record| {
        if !ctx.caller.can_see(record) {
            return Err(GlanceError::image_not_found(id));
        }
        if !ctx.caller.owns(record) {
            return Err(forbidden(action));
        }
        f(record)
    });
    result.unwrap_or_else(|| Err(GlanceError::image_not_found(id)))
}

/// Glance's policy refusal.
pub fn forbidden(action: &str) -> GlanceError {
    GlanceError::new(
        StatusCode::FORBIDDEN,
        format!("You are not authorized to complete {action} action."),
    )
}
