//! `server.write_timeout`: a client connection on which no byte of a
//! response could be written for that long is closed (nginx's
//! `send_timeout`). Without it a client that pipelines requests and never
//! reads its responses holds a connection slot, and the responses'
//! buffers, for ever. One wrapper under both the hit path and hyper
//! (HTTP/1 and HTTP/2), so every way of answering is bounded alike.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::metrics::Metrics;

/// `inner`, whose writes fail with `TimedOut` once one has made no
/// progress for `limit`. Reads pass through untouched.
pub struct WriteTimeout<S> {
    inner: S,
    limit: Duration,
    /// Armed while a write is waiting for the client; made on the first
    /// wait, so connections whose writes always go straight out never
    /// allocate it.
    timer: Option<Pin<Box<Sleep>>>,
    waiting: bool,
    timed_out: bool,
    metrics: Option<Arc<Metrics>>,
}

impl<S> WriteTimeout<S> {
    /// Wraps `inner`; a timeout is counted in `metrics`, when given.
    pub fn new(inner: S, limit: Duration, metrics: Option<Arc<Metrics>>) -> Self {
        WriteTimeout {
            inner,
            limit,
            timer: None,
            waiting: false,
            timed_out: false,
            metrics,
        }
    }

    /// The error every write returns once the limit has passed.
    fn timeout_error() -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "the client read none of its response within server.write_timeout",
        )
    }

    /// Runs one write-side operation under the limit.
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>>
    where
        S: Unpin,
    {
        if self.timed_out {
            return Poll::Ready(Err(Self::timeout_error()));
        }
        match op(Pin::new(&mut self.inner), cx) {
            Poll::Pending => self.wait(cx),
            ready => {
                self.waiting = false;
                ready
            }
        }
    }

    /// The write is waiting for the client: start the clock (if it is not
    /// running) and fail once it has run out.
    fn wait<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let deadline = Instant::now() + self.limit;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.waiting {
            timer.as_mut().reset(deadline);
            self.waiting = true;
        }
        match timer.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.timed_out = true;
                if let Some(metrics) = &self.metrics {
                    metrics.record_write_timeout();
                }
                Poll::Ready(Err(Self::timeout_error()))
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.bounded(cx, |inner, cx| inner.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.bounded(cx, |inner, cx| inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.bounded(cx, |inner, cx| inner.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A peer that never reads: writes fill the pipe, then fail with
    /// `TimedOut` once the limit passes (on tokio's paused clock), and the
    /// timeout is counted once.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_write_times_out() {
        let (ours, _theirs) = tokio::io::duplex(1024);
        let metrics = Arc::new(Metrics::new());
        let mut io = WriteTimeout::new(ours, Duration::from_secs(60), Some(metrics.clone()));
        let chunk = [0u8; 512];
        io.write_all(&chunk).await.expect("fits in the pipe");
        let started = Instant::now();
        let err = io.write_all(&[0u8; 4096]).await.expect_err("times out");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_secs(60));
        assert_eq!(
            io.write_all(b"x").await.expect_err("stays failed").kind(),
            io::ErrorKind::TimedOut
        );
        let text = metrics
            .encode(&crate::metrics::Snapshot::default())
            .expect("encodes");
        assert!(
            text.contains("imgcache_client_write_timeouts_total 1"),
            "{text}"
        );
    }

    /// A slow reader that keeps taking bytes is never cut off: the clock
    /// starts again with every write that makes progress.
    #[tokio::test(start_paused = true)]
    async fn progress_resets_the_clock() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut io = WriteTimeout::new(ours, Duration::from_secs(10), None);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let mut total = 0;
            while total < 64 * 20 {
                tokio::time::sleep(Duration::from_secs(5)).await;
                total += tokio::io::AsyncReadExt::read(&mut theirs, &mut buf)
                    .await
                    .expect("read");
            }
            total
        });
        io.write_all(&[7u8; 64 * 20])
            .await
            .expect("a reader every 5 s keeps a 10 s limit");
        assert_eq!(reader.await.expect("reader"), 64 * 20);
    }
}
