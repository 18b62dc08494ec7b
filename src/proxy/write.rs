//! Image writes: forwarded as they are. While one is in flight no fill
//! stores its images (what a fill fetched may predate the write); once
//! the upstream accepts it (2xx/3xx) every identity's entries of those
//! images are dropped, here and across the fleet. A write the upstream
//! refuses (4xx, 5xx) or never answers changes nothing: nobody can keep
//! the fleet's cache cold with writes that do not happen.
//!
//! Where a write names its images in its JSON body (IMS's member batch
//! calls, its v1 tag call), the body is read (at most
//! [`MAX_WRITE_BODY`], as declared) and forwarded as read; a body that
//! cannot be read that way — too large, chunked, not the expected JSON —
//! makes the write invalidate every entry if the upstream accepts it
//! (counted: `imgcache_invalidations_conservative_total`). An
//! asynchronous write (an IMS job) holds its images out of the cache until
//! the job ends ([`super::jobs`]).
//!
//! The fence, in order: (1) the images are marked as written, so fills
//! that end from now on are served but not stored; (2) the write goes
//! upstream; (3) if accepted, the images' generations are bumped (entries
//! stored before, and fills that began before, are void) and the fleet
//! is told; (4) the mark is lifted. A read that raced with the write
//! therefore never stores what it fetched before the write's answer.

use http::{HeaderMap, Method};
use http_body_util::{BodyExt, Limited};

use super::jobs::{self, JobImages};
use super::{Answer, Forward, Proxy, declared_length};
use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::metrics::WriteResult;
use crate::route::{ImageId, Write};

/// The largest write body read for the image ids in it (IMS's member
/// batch bodies are a few KiB).
pub const MAX_WRITE_BODY: u64 = 1024 * 1024;

impl Proxy {
    /// Forwards an image write and invalidates its images if the upstream
    /// accepted it.
    pub(super) async fn write(
        &self,
        forward: Forward<'_>,
        body: ProxyBody,
        write: Write,
    ) -> Result<Answer, ProxyError> {
        let is_patch = forward.method == Method::PATCH;
        let (images, body) = self.images_of(&write, &forward.headers, body).await?;
        let named: &[ImageId] = match &images {
            JobImages::Named(ids) => ids,
            JobImages::All => &[],
        };
        let writing = self.shared.cache.store.begin_writes(named);
        let answer = self.forward(forward, body).await;
        let result = write_result(&answer);
        self.shared.metrics.record_write(result);
        let answer = match answer {
            Ok(answer) if result == WriteResult::Accepted => {
                self.invalidate_images(&images).await;
                if write.asynchronous {
                    self.follow_job(answer, images).await
                } else {
                    answer
                }
            }
            other => {
                tracing::debug!(?images, ?result, "write not accepted: entries kept");
                other?
            }
        };
        drop(writing);
        if is_patch {
            self.transform_image_answer(answer).await
        } else {
            Ok(answer)
        }
    }

    /// The images a write names: in its path, and in its body where the
    /// table says so (the body is then read, and returned to forward).
    async fn images_of(
        &self,
        write: &Write,
        headers: &HeaderMap,
        body: ProxyBody,
    ) -> Result<(JobImages, ProxyBody), ProxyError> {
        let Some(location) = write.body else {
            return Ok((JobImages::Named(write.ids.clone()), body));
        };
        let readable = declared_length(headers).is_some_and(|n| n <= MAX_WRITE_BODY);
        if !readable {
            return Ok((JobImages::All, body));
        }
        let idle = self.shared.upstream.idle_timeout();
        let limit = usize::try_from(MAX_WRITE_BODY).unwrap_or(usize::MAX);
        let read = tokio::time::timeout(idle, Limited::new(body, limit).collect()).await;
        let bytes = match read {
            Ok(Ok(collected)) => collected.to_bytes(),
            _ => {
                return Err(ProxyError::BadRequest(
                    "the request body could not be read".into(),
                ));
            }
        };
        let images = match location.read(&bytes) {
            Some(mut ids) => {
                ids.extend(write.ids.iter().cloned());
                JobImages::Named(ids)
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
                    "a write whose images could not be read from its body was accepted: every entry is invalidated"
                );
                self.purge_all().await;
            }
        }
    }

    /// An accepted asynchronous write: its answer's job id holds the
    /// images until the job ends.
    async fn follow_job(&self, answer: Answer, images: JobImages) -> Answer {
        let (answer, body) = jobs::read_small(answer).await;
        match body.as_deref().and_then(jobs::job_id) {
            Some(job) => {
                let hold = self.shared.settings.load().cache.job_hold;
                self.hold_for_job(job, images, hold);
            }
            None => tracing::warn!(
                ?images,
                "an accepted asynchronous write named no job_id: its images are not held"
            ),
        }
        answer
    }

    /// Drops every identity's entries of these images, here and (with
    /// the fleet tier) on every instance.
    pub(super) async fn invalidate(&self, ids: &[ImageId]) {
        for id in ids {
            let dropped = self.drop_local(id).await;
            if let Some(fleet) = &self.shared.fleet {
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
