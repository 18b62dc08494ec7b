//! IMS's native write APIs beside Glance's (issue "coherence"): image
//! updates, registration, member batches and tags that change what
//! `GET /v2/images/{id}` returns, some of them only when an asynchronous
//! job ends (`jobs`).
//!
//! Who may do what is decided as for the Glance routes (`access`): an
//! image the caller cannot see is a 404, one it does not own a 403, both
//! in Glance's error bodies, and a refused request changes nothing. A
//! request IMS itself finds malformed gets IMS's error body
//! (`ims_answer`).

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::access::{Ctx, modify_owned, read_visible};
use super::body::SampleBody;
use super::errors::GlanceError;
use super::files::add_store;
use super::images;
use super::ims_answer::{ImsAnswer, ImsError, format_error, job_accepted, json_object};
use super::ims_members;
use super::ims_routes::ImsRoute;
use super::ims_tags;
use super::jobs::{Entities, Kind, NewJob, Outcome};
use super::patch;
use super::request_body::BodySlot;
use super::response;

/// Answers an IMS route; the routes that take a body take it from `body`.
pub async fn dispatch(
    ctx: &Ctx<'_>,
    method: &Method,
    route: ImsRoute<'_>,
    body: &mut BodySlot,
) -> Response<SampleBody> {
    let answer = match (method, &route) {
        (&Method::GET, ImsRoute::Job(job)) => job_status(ctx, job),
        (&Method::GET, ImsRoute::Tags(image)) => ims_tags::list(ctx, image),
        // The reference's example answer: 200, Glance's empty-body headers.
        (&Method::DELETE, ImsRoute::LegacyImage(image)) => images::delete(ctx, image)
            .map(|_| response::empty(StatusCode::OK))
            .map_err(ImsError::from),
        (&Method::DELETE, ImsRoute::Tag(image, key)) => ims_tags::delete(ctx, image, key),
        (&Method::PATCH, ImsRoute::CloudImage(_))
        | (&Method::PUT, ImsRoute::Register(_) | ImsRoute::V1Tags)
        | (&Method::POST | &Method::PUT | &Method::DELETE, ImsRoute::Members)
        | (&Method::POST, ImsRoute::Tags(_))
        | (&Method::POST, ImsRoute::Tag(..)) => match body.json(ctx.shared).await {
            Ok(bytes) => write(ctx, method, &route, &bytes),
            Err(err) => Err(err.into()),
        },
        _ => Err(GlanceError::method_not_allowed(method.as_str(), route.allow()).into()),
    };
    answer.unwrap_or_else(|err| err.render(ctx.headers))
}

/// The writes with a JSON body, once it is read.
fn write(ctx: &Ctx<'_>, method: &Method, route: &ImsRoute<'_>, body: &Bytes) -> ImsAnswer {
    match (method, route) {
        (&Method::PATCH, ImsRoute::CloudImage(image)) => update(ctx, image, body),
        (&Method::PUT, ImsRoute::Register(image)) => register(ctx, image, body),
        (&Method::PUT, ImsRoute::V1Tags) => ims_tags::put_v1(ctx, body),
        (&Method::POST, ImsRoute::Tags(image)) => ims_tags::add(ctx, image, body),
        (&Method::POST, ImsRoute::Tag(image, action)) if action == "action" => {
            ims_tags::batch(ctx, image, body)
        }
        (_, ImsRoute::Members) => ims_members::batch(ctx, method, body),
        _ => Err(GlanceError::method_not_allowed(method.as_str(), route.allow()).into()),
    }
}

/// `PATCH /v2/cloudimages/{image_id}`: a json-patch array (any
/// `Content-Type`), active images only; 200 with the image as
/// `GET /v2/images/{id}` shows it.
fn update(ctx: &Ctx<'_>, image: &str, body: &[u8]) -> ImsAnswer {
    let status = read_visible(ctx, image, |record, _| record.status().to_owned())?;
    if status != "active" {
        return Err(format_error(format!(
            "Only images in active status can be updated (status {status})."
        )));
    }
    Ok(patch::apply_document(ctx, image, body, false)?)
}

/// `PUT /v1/cloudimages/{image_id}/upload` with `{"image_url":
/// "bucket:file"}`: 200 `{"job_id"}`; the queued image is `saving` until
/// the `imsNativeImportImageJob` ends, then `active` (`killed` if it
/// fails).
fn register(ctx: &Ctx<'_>, image: &str, body: &[u8]) -> ImsAnswer {
    let request = json_object(body)?;
    let url = request.get("image_url").and_then(Value::as_str);
    if !url.is_some_and(|u| {
        u.split_once(':')
            .is_some_and(|(b, f)| !b.is_empty() && !f.is_empty())
    }) {
        return Err(format_error("image_url must be given as bucket:file."));
    }
    let job = modify_owned(ctx, image, "upload_image", |record| {
        if record.status() != "queued" {
            let msg = format!(
                "Image status transition from {} to saving is not allowed",
                record.status()
            );
            return Err(GlanceError::new(StatusCode::CONFLICT, msg));
        }
        record.fields.insert("status".into(), json!("saving"));
        images::touch(record);
        let (id, store_id) = (image.to_owned(), ctx.shared.backends.default_store());
        Ok(ctx.shared.jobs.start(NewJob {
            kind: Kind::Ims("imsNativeImportImageJob"),
            project: ctx.caller.project.clone(),
            entities: Entities::Image(image.to_owned()),
            finish: Box::new(move |store, _, outcome| {
                let _ = store.modify(&id, |record| {
                    if record.status() != "saving" {
                        return Err(());
                    }
                    let active = *outcome == Outcome::Success;
                    let status = if active { "active" } else { "killed" };
                    record.fields.insert("status".into(), json!(status));
                    if let (true, Some(store_id)) = (active, &store_id) {
                        add_store(&mut record.fields, store_id);
                    }
                    images::touch(record);
                    Ok(())
                });
            }),
        }))
    })?;
    Ok(job_accepted(&job))
}

/// `GET /v1/{project_id}/jobs/{job_id}`: the job as IMS's "Querying the
/// Status of an Asynchronous Job" shows it; another project's job is a
/// 404, as a missing one.
fn job_status(ctx: &Ctx<'_>, job: &str) -> ImsAnswer {
    let view = ctx
        .shared
        .jobs
        .ims_view(job, &ctx.caller.project, ctx.caller.is_admin());
    let view = view.ok_or_else(|| {
        GlanceError::new(
            StatusCode::NOT_FOUND,
            format!("Job {job} could not be found."),
        )
    })?;
    Ok(response::json(glance_json::to_bytes(&view)))
}
