//! Image writes: forwarded as they are; once the upstream accepts one
//! (2xx/3xx), every identity's entries of its images are dropped, here
//! and across the fleet. A write the upstream refuses (4xx, 5xx) or never
//! answers changes nothing: nobody can keep the fleet's cache cold with
//! writes that do not happen.
//!
//! The fence is the images' generations: bumped only once the upstream
//! has accepted the write, and checked on every read and every store
//! (here, and by the Redis tier's store script). An entry stored before
//! the bump, or by a fill that began before it, is void after it; so a
//! read that raced with an accepted write never serves or stores what it
//! fetched before the write's answer, and a refused write leaves
//! everything as it was.
//!
//! Once sent, a write is followed to its end in a task of its own: a
//! client that hangs up after its write reached the upstream does not keep
//! the write from invalidating.
//!
//! Where a write names its images in its JSON body (IMS's member batch
//! calls, its v1 tag call), the body is read (at most [`MAX_WRITE_BODY`];
//! past it the request is refused with 413, never forwarded unread) and
//! forwarded as read; a body whose ids cannot be read (not the expected
//! JSON, more than [`MAX_BODY_IDS`] images) makes the write, if the
//! upstream accepts it anyway, invalidate every entry (counted:
//! `imgcache_invalidations_conservative_total`). An asynchronous write
//! (an IMS job) then holds its images out of the cache until the job ends
//! ([`super::jobs`]).

use http::{Method, Request, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::jobs::{self, JobImages};
use super::{Answer, Forward, Proxy};
use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::metrics::WriteResult;
use crate::route::{ImageId, Write};

/// The largest write body read for the image ids in it (IMS's member
/// batch bodies are a few KiB).
pub const MAX_WRITE_BODY: usize = 1024 * 1024;

/// Most distinct images one write may name in its body before it is
/// treated as naming everything.
pub const MAX_BODY_IDS: usize = 1000;

impl Proxy {
    /// Forwards an image write and invalidates its images if the upstream
    /// accepted it.
    pub(super) async fn write(
        &self,
        mut forward: Forward<'_>,
        body: ProxyBody,
        write: Write,
    ) -> Result<Answer, ProxyError> {
        let is_patch = forward.method == Method::PATCH;
        let (images, body) = self.images_of(&write, body).await?;
        if write.asynchronous {
            // Its answer is read for the job id: plain JSON, please.
            forward.headers.remove(header::ACCEPT_ENCODING);
        }
        let request = forward.into_request(&self.shared.core.upstream, body)?;
        let proxy = self.clone();
        let asynchronous = write.asynchronous;
        let followed =
            tokio::spawn(async move { proxy.follow_write(request, images, asynchronous).await });
        let answer = followed.await.map_err(|_| {
            ProxyError::BadGateway("the write could not be followed to its end".into())
        })??;
        if is_patch {
            self.transform_image_answer(answer).await
        } else {
            Ok(answer)
        }
    }

    /// Sends the write and, if the upstream accepts it, invalidates its
    /// images (and holds them while an IMS job runs).
    async fn follow_write(
        self,
        request: Request<ProxyBody>,
        images: JobImages,
        asynchronous: bool,
    ) -> Result<Answer, ProxyError> {
        let answer = self.send(request).await;
        let result = write_result(&answer);
        self.shared.metrics.record_write(result);
        match answer {
            Ok(answer) if result == WriteResult::Accepted => {
                self.invalidate_images(&images).await;
                if asynchronous {
                    self.follow_job(answer, images).await
                } else {
                    Ok(answer)
                }
            }
            other => {
                tracing::debug!(?images, ?result, "write not accepted: entries kept");
                other
            }
        }
    }

    /// The images a write names: in its path, and in its body where the
    /// table says so (the body is then read, and returned to forward).
    async fn images_of(
        &self,
        write: &Write,
        body: ProxyBody,
    ) -> Result<(JobImages, ProxyBody), ProxyError> {
        let Some(location) = write.body else {
            return Ok((JobImages::Named(write.ids.clone()), body));
        };
        let idle = self.shared.core.upstream.idle_timeout();
        let read = tokio::time::timeout(idle, Limited::new(body, MAX_WRITE_BODY).collect()).await;
        let bytes = match read {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(err)) if err.is::<LengthLimitError>() => {
                return Err(ProxyError::TooLarge(format!(
                    "the request body is larger than {MAX_WRITE_BODY} bytes; imgcache reads the images this call names from it"
                )));
            }
            _ => {
                return Err(ProxyError::BadRequest(
                    "the request body could not be read".into(),
                ));
            }
        };
        let images = match location.read(&bytes) {
            Some(mut ids) => {
                ids.extend(write.ids.iter().cloned());
                ids.sort_unstable();
                ids.dedup();
                if ids.len() > MAX_BODY_IDS {
                    JobImages::All
                } else {
                    JobImages::Named(ids)
                }
            }
            None => JobImages::All,
        };
        Ok((images, ProxyBody::full(bytes)))
    }

    /// Invalidates what an accepted write named: its images, or every
    /// entry when they could not be read.
    async fn invalidate_images(&self, images: &JobImages) {
        match images {
            JobImages::Named(ids) => self.invalidate(ids).await,
            JobImages::All => {
                self.shared.metrics.record_conservative_invalidation();
                tracing::info!(
                    "an accepted write named images the proxy could not read: every entry is invalidated"
                );
                self.purge_all().await;
            }
        }
    }

    /// An accepted asynchronous write: its answer's job id holds the
    /// images until the job ends.
    async fn follow_job(&self, answer: Answer, images: JobImages) -> Result<Answer, ProxyError> {
        let (answer, body) = jobs::read_small(answer).await?;
        match body.as_deref().and_then(jobs::job_id) {
            Some(job) => {
                let hold = self.shared.core.settings.load().cache.job_hold;
                self.hold_for_job(job, images, hold);
            }
            None => tracing::warn!(
                ?images,
                "an accepted asynchronous write named no job_id: its images are not held"
            ),
        }
        Ok(answer)
    }

    /// Drops every identity's entries of these images, here and (with
    /// the fleet tier) on every instance.
    pub(super) async fn invalidate(&self, ids: &[ImageId]) {
        for id in ids {
            let dropped = self.drop_local(id).await;
            if let Some(fleet) = &self.shared.core.fleet {
                fleet.invalidate(id).await;
            }
            tracing::debug!(image = ?id, dropped, "invalidated");
        }
    }
}

/// How the upstream took a write: only a 2xx or 3xx answer is a write
/// that may have changed something.
fn write_result(answer: &Result<Answer, ProxyError>) -> WriteResult {
    match answer {
        Ok(answer) => {
            let status = answer.response.status();
            if status.is_success() || status.is_redirection() {
                WriteResult::Accepted
            } else {
                WriteResult::Refused
            }
        }
        Err(_) => WriteResult::Unanswered,
    }
}
