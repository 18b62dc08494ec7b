//! Telling a dead pooled connection from a failing upstream. An upstream
//! may close a keep-alive connection at any time (uWSGI does after a
//! request whose body it did not read; every server does past its idle
//! timeout), and the pool learns of it only when the next request written
//! on it gets no answer. That request is not the upstream failing: it is
//! retried once on a new connection (idempotent requests only).
//!
//! To know whether a failed request went out on a connection older than
//! itself, every connection carries the instant it was opened
//! ([`Opened`]) in the metadata hyper-util attaches to its errors.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Extensions, Uri};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};

/// When a connection to the upstream was opened.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Opened(pub(crate) Instant);

/// Whether a request that began at `started` and failed with `err` was
/// written on a connection opened before it, i.e. a pooled one.
pub(crate) fn was_reused(err: &hyper_util::client::legacy::Error, started: Instant) -> bool {
    let Some(connected) = err.connect_info() else {
        return false;
    };
    let mut extras = Extensions::new();
    connected.get_extras(&mut extras);
    extras
        .get::<Opened>()
        .is_some_and(|Opened(at)| *at < started)
}

/// A connector whose connections carry [`Opened`].
#[derive(Clone, Debug)]
pub(crate) struct Stamping<C>(pub(crate) C);

impl<C> tower_service::Service<Uri> for Stamping<C>
where
    C: tower_service::Service<Uri>,
    C::Future: Send + 'static,
{
    type Response = Stamped<C::Response>;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            Ok(Stamped {
                io,
                opened: Instant::now(),
            })
        })
    }
}

/// A connection and when it was opened.
#[derive(Debug)]
pub(crate) struct Stamped<T> {
    io: T,
    opened: Instant,
}

impl<T: Connection> Connection for Stamped<T> {
    fn connected(&self) -> Connected {
        self.io.connected().extra(Opened(self.opened))
    }
}

impl<T: Read + Unpin> Read for Stamped<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for Stamped<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}
