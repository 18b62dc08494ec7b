//! IMS's asynchronous writes: the member batch calls and image
//! registration answer `{"job_id": …}` and change their images only when
//! the job runs. From the accepted answer until the job is seen to end,
//! the images it names are held out of the cache (fills are served, not
//! stored); when it ends they are invalidated once more, here and across
//! the fleet. The end is seen on a client's own poll of the job
//! (`GET /v1/{project_id}/jobs/{job_id}` answering `SUCCESS` or `FAIL`),
//! or assumed after `cache.job_hold`: the proxy never calls the upstream
//! with a client's credentials on its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header;
use http_body_util::BodyExt;

use super::{Answer, Proxy, declared_length};
use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::route::ImageId;

/// Jobs a client's poll can end early, at once; past it a job's hold
/// still ends after `cache.job_hold`, only not earlier.
const MAX_JOBS: usize = 10_000;

/// The largest job answer read (they are a few hundred bytes).
const MAX_JOB_BODY: u64 = 64 * 1024;

/// What a pending job's write named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum JobImages {
    /// These images.
    Named(Vec<ImageId>),
    /// Images the proxy could not read from the request: every entry.
    All,
}

/// One held job: its images, and whether its end was handled (by a poll
/// or by its timer, whichever came first).
struct Held {
    images: JobImages,
    ended: AtomicBool,
}

/// Jobs whose end a client's poll may show, by job id.
#[derive(Default)]
pub(super) struct Jobs {
    pending: Mutex<HashMap<String, Arc<Held>>>,
}

impl Jobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Held>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a poll of `job` may end a held job.
    pub(super) fn is_pending(&self, job: &str) -> bool {
        self.lock().contains_key(job)
    }
}

/// How an IMS job stands, from its JSON (`status`: `INIT`, `RUNNING`,
/// `SUCCESS`, `FAIL`).
pub(super) fn job_ended(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|job| job.get("status")?.as_str().map(str::to_owned))
        .is_some_and(|status| matches!(status.as_str(), "SUCCESS" | "FAIL"))
}

/// The `job_id` of an accepted asynchronous write's answer.
pub(super) fn job_id(body: &[u8]) -> Option<String> {
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    let id = answer.get("job_id")?.as_str()?;
    (!id.is_empty()).then(|| id.to_owned())
}

/// Reads a small, plain answer body whole (declared, at most
/// [`MAX_JOB_BODY`], not content-encoded) and answers with the bytes
/// read; any other answer is passed on untouched, unread (`None`).
pub(super) async fn read_small(answer: Answer) -> Result<(Answer, Option<Bytes>), ProxyError> {
    let headers = answer.response.headers();
    let small = declared_length(headers).is_some_and(|n| n <= MAX_JOB_BODY);
    if !small || headers.contains_key(header::CONTENT_ENCODING) {
        return Ok((answer, None));
    }
    let Answer {
        response,
        upstream_status,
        outcome,
        upstream_elapsed,
    } = answer;
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|err| {
            ProxyError::BadGateway(format!("the upstream response body broke off: {err}"))
        })?
        .to_bytes();
    let answer = Answer {
        response: http::Response::from_parts(parts, ProxyBody::full(bytes.clone())),
        upstream_status,
        outcome,
        upstream_elapsed,
    };
    Ok((answer, Some(bytes)))
}

impl Proxy {
    /// Holds `images` out of the cache until `job` is seen to end, or for
    /// `hold` at most: the timer task owns the hold, so it always ends.
    /// The caller has already invalidated them.
    pub(super) fn hold_for_job(&self, job: String, images: JobImages, hold: Duration) {
        if let JobImages::Named(ids) = &images {
            self.shared.core.cache.store.hold_images(ids);
        }
        let held = Arc::new(Held {
            images,
            ended: AtomicBool::new(false),
        });
        {
            let mut pending = self.shared.jobs.lock();
            if pending.len() < MAX_JOBS {
                pending.insert(job.clone(), held.clone());
            } else {
                tracing::warn!(%job, "too many IMS jobs held: this one ends after cache.job_hold, not on a poll");
            }
        }
        self.shared.metrics.record_job_held();
        let proxy = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(hold).await;
            proxy.shared.jobs.lock().remove(&job);
            if proxy.release_job(&held).await {
                tracing::info!(%job, "IMS job not seen to end within cache.job_hold: its images are released");
            }
        });
    }

    /// The job ended: its images are invalidated again and released, in
    /// a task of its own (a poller hanging up cannot leave them held).
    /// Returns whether it was held.
    pub(super) async fn end_job(&self, job: &str) -> bool {
        let Some(held) = self.shared.jobs.lock().remove(job) else {
            return false;
        };
        let proxy = self.clone();
        let job = job.to_owned();
        let ending = tokio::spawn(async move {
            if proxy.release_job(&held).await {
                tracing::debug!(%job, images = ?held.images, "IMS job ended: images invalidated");
            }
        });
        let _ = ending.await;
        true
    }

    /// Invalidates and releases a held job's images, once.
    async fn release_job(&self, held: &Held) -> bool {
        if held.ended.swap(true, Ordering::AcqRel) {
            return false;
        }
        match &held.images {
            JobImages::Named(ids) => {
                self.invalidate(ids).await;
                self.shared.core.cache.store.release_images(ids);
            }
            JobImages::All => {
                self.purge_all().await;
            }
        }
        true
    }

    /// A poll of an IMS job: forwarded; an answer saying a held job has
    /// ended releases its images.
    pub(super) async fn poll_job(&self, answer: Answer, job: &str) -> Result<Answer, ProxyError> {
        if !answer.response.status().is_success() || !self.shared.jobs.is_pending(job) {
            return Ok(answer);
        }
        let (answer, body) = read_small(answer).await?;
        if body.as_deref().is_some_and(job_ended) {
            self.end_job(job).await;
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only SUCCESS and FAIL end a job; INIT, RUNNING and anything else
    /// keep it held.
    #[test]
    fn job_states() {
        assert!(job_ended(br#"{"status": "SUCCESS", "job_id": "j"}"#));
        assert!(job_ended(br#"{"status": "FAIL", "fail_reason": "x"}"#));
        assert!(!job_ended(br#"{"status": "RUNNING"}"#));
        assert!(!job_ended(br#"{"status": "INIT"}"#));
        assert!(!job_ended(br#"{"job_id": "j"}"#));
        assert!(!job_ended(b"garbage"));
    }

    /// The job id of an accepted answer.
    #[test]
    fn job_ids() {
        assert_eq!(
            job_id(br#"{"job_id": "ff8080"}"#).as_deref(),
            Some("ff8080")
        );
        assert_eq!(job_id(br#"{"job_id": ""}"#), None);
        assert_eq!(job_id(br#"{"id": "x"}"#), None);
    }
}
