//! Image writes: forwarded as they are. While one is in flight no fill
//! stores its images (what a fill fetched may predate the write); once
//! the upstream accepts it (2xx/3xx) every identity's entries of those
//! images are dropped, here and across the fleet. A write the upstream
//! refuses (4xx, 5xx) or never answers changes nothing: nobody can keep
//! the fleet's cache cold with writes that do not happen.
//!
//! The fence, in order: (1) the images are marked as written, so fills
//! that end from now on are served but not stored; (2) the write goes
//! upstream; (3) if accepted, the images' generations are bumped (entries
//! stored before, and fills that began before, are void) and the fleet
//! is told; (4) the mark is lifted. A read that raced with the write
//! therefore never stores what it fetched before the write's answer.

use http::Method;

use super::{Answer, Forward, Proxy};
use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::metrics::WriteResult;
use crate::route::ImageId;

impl Proxy {
    /// Forwards an image write and invalidates its images if the upstream
    /// accepted it.
    pub(super) async fn write(
        &self,
        forward: Forward<'_>,
        body: ProxyBody,
        ids: &[ImageId],
    ) -> Result<Answer, ProxyError> {
        let is_patch = forward.method == Method::PATCH;
        let writing = self.shared.cache.store.begin_writes(ids);
        let answer = self.forward(forward, body).await;
        let result = write_result(&answer);
        self.shared.metrics.record_write(result);
        if result == WriteResult::Accepted {
            self.invalidate(ids).await;
        } else {
            tracing::debug!(images = ?ids, ?result, "write not accepted: entries kept");
        }
        drop(writing);
        match answer {
            Ok(answer) if is_patch => self.transform_image_answer(answer).await,
            other => other,
        }
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
