//! Image members: who else may see a `shared` image.

use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::access::{Ctx, forbidden, modify_owned, read_visible};
use super::body::SampleBody;
use super::clock;
use super::errors::GlanceError;
use super::response;
use super::store::{Member, Record};

type Answer = Result<Response<SampleBody>, GlanceError>;

/// Glance's member representation, in its field order.
fn member_json(image_id: &str, m: &Member) -> Value {
    json!({
        "member_id": m.project,
        "image_id": image_id,
        "status": m.status,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
        "schema": "/v2/schemas/member"
    })
}

fn member_not_found(member: &str) -> GlanceError {
    GlanceError::new(StatusCode::NOT_FOUND, format!("Member {member} not found"))
}

fn member_response(image_id: &str, m: &Member) -> Response<SampleBody> {
    response::json(glance_json::to_bytes(&member_json(image_id, m)))
}

/// `POST /v2/images/{id}/members` with `{"member": "<project>"}`: 200 and
/// the new (pending) membership. Only the owner of a shared image may add.
pub fn add(ctx: &Ctx<'_>, id: &str, body: &[u8]) -> Answer {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let Some(project) = parsed
        .as_ref()
        .and_then(|v| v.get("member"))
        .and_then(Value::as_str)
    else {
        return Err(GlanceError::new(
            StatusCode::BAD_REQUEST,
            "Member to be added not specified",
        ));
    };
    let member = modify_owned(ctx, id, "add_member", |record| {
        if record.visibility() != "shared" {
            let msg = "Only shared images have members.";
            return Err(GlanceError::new(StatusCode::FORBIDDEN, msg));
        }
        if record.has_member(project) {
            let msg = format!("Member {project} is duplicated for image {id}");
            return Err(GlanceError::new(StatusCode::CONFLICT, msg));
        }
        let now = clock::now_timestamp();
        let member = Member {
            project: project.to_owned(),
            status: "pending".into(),
            created_at: now.clone(),
            updated_at: now,
        };
        record.members.push(member.clone());
        Ok(member)
    })?;
    Ok(member_response(id, &member))
}

/// Whether the caller may see this membership: the owner sees all, a
/// member only its own.
fn may_see_member(ctx: &Ctx<'_>, record: &Record, member: &str) -> bool {
    ctx.caller.owns(record) || ctx.caller.project == member
}

/// `GET /v2/images/{id}/members`.
pub fn list(ctx: &Ctx<'_>, id: &str) -> Answer {
    let members = read_visible(ctx, id, |record, _| {
        record
            .members
            .iter()
            .filter(|m| may_see_member(ctx, record, &m.project))
            .map(|m| member_json(id, m))
            .collect::<Vec<_>>()
    })?;
    let doc = json!({"members": members, "schema": "/v2/schemas/members"});
    Ok(response::json(glance_json::to_bytes(&doc)))
}

/// `GET /v2/images/{id}/members/{member}`.
pub fn show(ctx: &Ctx<'_>, id: &str, member: &str) -> Answer {
    let found = read_visible(ctx, id, |record, _| {
        let m = record.members.iter().find(|m| m.project == member)?;
        may_see_member(ctx, record, member).then(|| m.clone())
    })?;
    let m = found.ok_or_else(|| member_not_found(member))?;
    Ok(member_response(id, &m))
}

/// `PUT /v2/images/{id}/members/{member}` with `{"status": …}`: only the
/// member itself may accept or reject.
pub fn update(ctx: &Ctx<'_>, id: &str, member: &str, body: &[u8]) -> Answer {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let status = parsed
        .as_ref()
        .and_then(|v| v.get("status"))
        .and_then(Value::as_str);
    let Some(status @ ("pending" | "accepted" | "rejected")) = status else {
        return Err(GlanceError::new(
            StatusCode::BAD_REQUEST,
            "Status not specified or invalid",
        ));
    };
    let result = ctx.shared.store.modify(id, |record| {
        if !ctx.caller.can_see(record) {
            return Err(GlanceError::image_not_found(id));
        }
        if ctx.caller.project != member && !ctx.caller.is_admin() {
            return Err(forbidden("modify_member"));
        }
        let m = record.members.iter_mut().find(|m| m.project == member);
        let m = m.ok_or_else(|| member_not_found(member))?;
        m.status = status.to_owned();
        m.updated_at = clock::now_timestamp();
        Ok(m.clone())
    });
    let m = result.unwrap_or_else(|| Err(GlanceError::image_not_found(id)))?;
    Ok(member_response(id, &m))
}

/// `DELETE /v2/images/{id}/members/{member}`: 204.
pub fn delete(ctx: &Ctx<'_>, id: &str, member: &str) -> Answer {
    modify_owned(ctx, id, "delete_member", |record| {
        let pos = record.members.iter().position(|m| m.project == member);
        let pos = pos.ok_or_else(|| member_not_found(member))?;
        record.members.remove(pos);
        Ok(())
    })?;
    Ok(response::no_content())
}
