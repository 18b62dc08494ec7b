//! The one body type the proxy sends in both directions: nothing, bytes
//! from memory (cache hits, errors), or a stream from the other side with
//! an idle timeout between frames.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::access_log::AccessLog;

/// A body stream stopped sending for longer than the idle timeout.
#[derive(Debug, thiserror::Error)]
#[error("body stream idle for more than {0:?}")]
pub struct IdleTimeoutError(pub Duration);

/// Any error a body or connection passes along.
pub use crate::error::BoxError;

/// A place under `upstream.max_in_flight`, held by the body of the
/// upstream response it was taken for until that body is done with.
pub struct SlotPermit(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

impl SlotPermit {
    /// Wraps a semaphore permit.
    pub fn new(permit: tokio::sync::OwnedSemaphorePermit) -> Self {
        SlotPermit(permit)
    }
}

/// A request or response body, plus the access-log record that is written
/// once the body has been sent (or abandoned).
pub struct ProxyBody {
    kind: Kind,
    log: Option<AccessLog>,
    /// Keeps an upstream slot taken while this body streams.
    _slot: Option<SlotPermit>,
}

enum Kind {
    Empty,
    Full(Option<Bytes>),
    Stream(IdleTimeout<Incoming>),
}

impl From<Bytes> for ProxyBody {
    fn from(bytes: Bytes) -> Self {
        ProxyBody::full(bytes)
    }
}

impl ProxyBody {
    /// No body at all.
    pub fn empty() -> Self {
        ProxyBody {
            kind: Kind::Empty,
            log: None,
            _slot: None,
        }
    }

    /// A body already in memory; cloning `Bytes` is a reference count.
    pub fn full(bytes: Bytes) -> Self {
        let kind = if bytes.is_empty() {
            Kind::Empty
        } else {
            Kind::Full(Some(bytes))
        };
        ProxyBody {
            kind,
            log: None,
            _slot: None,
        }
    }

    /// A body streamed from a peer; fails if no frame arrives for `idle`.
    pub fn stream(incoming: Incoming, idle: Duration) -> Self {
        ProxyBody {
            kind: Kind::Stream(IdleTimeout::new(incoming, idle)),
            log: None,
            _slot: None,
        }
    }

    /// Attaches the access-log record written when this body is done.
    pub fn with_log(mut self, log: AccessLog) -> Self {
        self.log = Some(log);
        self
    }

    /// Holds an upstream slot until this body is done.
    pub fn with_slot(mut self, slot: Option<SlotPermit>) -> Self {
        self._slot = slot;
        self
    }

    fn count(&mut self, frame: &Frame<Bytes>) {
        if let (Some(log), Some(data)) = (self.log.as_mut(), frame.data_ref()) {
            log.add_bytes(data.len());
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = match &mut this.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(stream) => Pin::new(stream).poll_frame(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => this.count(frame),
            Poll::Ready(Some(Err(_))) => {
                if let Some(log) = this.log.as_mut() {
                    log.mark_aborted();
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Stream(stream) => stream.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(stream) => stream.size_hint(),
        }
    }
}

/// Wraps a body so that a gap of more than `timeout` between frames ends
/// it with an error (a stalled peer must not hold a connection forever).
pub struct IdleTimeout<B> {
    inner: B,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<B> IdleTimeout<B> {
    /// Starts the clock now.
    pub fn new(inner: B, timeout: Duration) -> Self {
        IdleTimeout {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl<B> Body for IdleTimeout<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = Instant::now() + this.timeout;
                this.deadline.as_mut().reset(next);
                Poll::Ready(frame.map(|result| result.map_err(Into::into)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(IdleTimeoutError(this.timeout).into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
