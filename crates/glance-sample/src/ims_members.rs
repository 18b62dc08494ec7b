//! IMS's member batches on `/v1/cloudimages/members`: add (`POST`
//! `{"images", "projects"}`), accept or reject (`PUT` `{"images",
//! "project_id", "status"}`), remove (`DELETE` `{"images", "projects"}`).
//! Each answers `200 {"job_id"}` at once and changes the memberships, and
//! so who sees a shared image, only when its job ends.
//!
//! Every image is checked before the job starts, so a refused batch
//! changes nothing. Adding members to a private image makes it `shared`
//! when the job ends, as sharing a private image in IMS does.

use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::access::{Ctx, forbidden};
use super::clock;
use super::errors::GlanceError;
use super::ims_answer::{ImsAnswer, ImsError, format_error, job_accepted, json_object};
use super::jobs::{Entities, Kind, NewJob, Outcome};
use super::store::{Member, Store};

/// What a batch does to each image.
#[derive(Clone, Debug)]
enum Change {
    Add(Vec<String>),
    Status { project: String, status: String },
    Remove(Vec<String>),
}

impl Change {
    fn job_type(&self) -> &'static str {
        match self {
            Change::Add(_) => "imsAddImageMembersJob",
            Change::Status { .. } => "imsUpdateImageMembersJob",
            Change::Remove(_) => "imsDelImageMembersJob",
        }
    }

    fn projects(&self) -> Vec<String> {
        match self {
            Change::Add(p) | Change::Remove(p) => p.clone(),
            Change::Status { project, .. } => vec![project.clone()],
        }
    }
}

/// A non-empty list of strings, or IMS's 400.
fn strings(request: &Map<String, Value>, key: &str) -> Result<Vec<String>, ImsError> {
    let list = request.get(key).and_then(Value::as_array);
    let strings: Option<Vec<String>> = list
        .filter(|l| !l.is_empty())
        .and_then(|l| l.iter().map(|v| v.as_str().map(str::to_owned)).collect());
    strings.ok_or_else(|| format_error(format!("{key} must be a non-empty list of strings.")))
}

/// The batch named by the method and body.
fn parse(method: &Method, body: &[u8]) -> Result<(Vec<String>, Change), ImsError> {
    let request = json_object(body)?;
    let images = strings(&request, "images")?;
    let change = match *method {
        Method::POST => Change::Add(strings(&request, "projects")?),
        Method::DELETE => Change::Remove(strings(&request, "projects")?),
        _ => {
            let project = request.get("project_id").and_then(Value::as_str);
            let status = request.get("status").and_then(Value::as_str);
            match (project, status) {
                (Some(p), Some(s @ ("accepted" | "rejected"))) if !p.is_empty() => Change::Status {
                    project: p.to_owned(),
                    status: s.to_owned(),
                },
                _ => {
                    return Err(format_error(
                        "project_id and status (accepted or rejected) are required.",
                    ));
                }
            }
        }
    };
    Ok((images, change))
}

/// `POST`, `PUT` or `DELETE /v1/cloudimages/members`.
pub fn batch(ctx: &Ctx<'_>, method: &Method, body: &[u8]) -> ImsAnswer {
    let (images, change) = parse(method, body)?;
    for image in &images {
        check(ctx, image, &change)?;
    }
    let pairs = images
        .iter()
        .flat_map(|i| change.projects().into_iter().map(move |p| (i.clone(), p)))
        .collect();
    let job_type = change.job_type();
    let job = ctx.shared.jobs.start(NewJob {
        kind: Kind::Ims(job_type),
        project: ctx.caller.project.clone(),
        entities: Entities::Members(pairs),
        finish: Box::new(move |store, _, outcome| {
            if *outcome == Outcome::Success {
                for image in &images {
                    apply(store, image, &change);
                }
            }
        }),
    });
    Ok(job_accepted(&job))
}

/// Whether the caller may apply `change` to `image` (Glance's member
/// policy: the owner adds and removes, the member itself accepts).
fn check(ctx: &Ctx<'_>, image: &str, change: &Change) -> Result<(), GlanceError> {
    let verdict = ctx.shared.store.read(image, |record, _| {
        if !ctx.caller.can_see(record) {
            return Err(GlanceError::image_not_found(image));
        }
        match change {
            Change::Add(_) if !ctx.caller.owns(record) => Err(forbidden("add_member")),
            Change::Add(_) if !matches!(record.visibility(), "private" | "shared") => Err(
                GlanceError::new(StatusCode::FORBIDDEN, "Only shared images have members."),
            ),
            Change::Remove(_) if !ctx.caller.owns(record) => Err(forbidden("delete_member")),
            Change::Status { project, .. } => {
                if *project != ctx.caller.project && !ctx.caller.is_admin() {
                    return Err(forbidden("modify_member"));
                }
                if !record.has_member(project) {
                    let msg = format!("Member {project} not found");
                    return Err(GlanceError::new(StatusCode::NOT_FOUND, msg));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    });
    verdict.unwrap_or_else(|| Err(GlanceError::image_not_found(image)))
}

/// The change, when the job ends (an image deleted meanwhile is skipped).
fn apply(store: &Store, image: &str, change: &Change) {
    let now = clock::now_timestamp();
    let _ = store.modify(image, |record| {
        match change {
            Change::Add(projects) => {
                for project in projects {
                    if !record.has_member(project) {
                        record.members.push(Member {
                            project: project.clone(),
                            status: "pending".into(),
                            created_at: now.clone(),
                            updated_at: now.clone(),
                        });
                    }
                }
                if record.visibility() == "private" {
                    record.fields.insert("visibility".into(), json!("shared"));
                }
            }
            Change::Status { project, status } => {
                for m in record.members.iter_mut().filter(|m| m.project == *project) {
                    m.status.clone_from(status);
                    m.updated_at.clone_from(&now);
                }
            }
            Change::Remove(projects) => record.members.retain(|m| !projects.contains(&m.project)),
        }
        Ok::<(), ()>(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bodies parse per method; malformed ones are IMS's 400.
    #[test]
    fn batches_parse() {
        let add = parse(
            &Method::POST,
            br#"{"images": ["i"], "projects": ["p", "q"]}"#,
        );
        let (images, change) = add.expect("add");
        assert_eq!(images, ["i"]);
        assert_eq!(change.projects(), ["p", "q"]);
        assert_eq!(change.job_type(), "imsAddImageMembersJob");
        let status = parse(
            &Method::PUT,
            br#"{"images": ["i"], "project_id": "p", "status": "accepted"}"#,
        );
        assert_eq!(
            status.expect("status").1.job_type(),
            "imsUpdateImageMembersJob"
        );
        for (method, bad) in [
            (Method::POST, r#"{"images": [], "projects": ["p"]}"#),
            (Method::POST, r#"{"images": ["i"]}"#),
            (Method::DELETE, r#"{"images": [1], "projects": ["p"]}"#),
            (
                Method::PUT,
                r#"{"images": ["i"], "project_id": "p", "status": "pending"}"#,
            ),
            (Method::PUT, "[]"),
        ] {
            let err = parse(&method, bad.as_bytes()).expect_err(bad);
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
