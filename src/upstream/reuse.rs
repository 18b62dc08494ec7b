//! Telling a dead pooled connection from a failing upstream. An upstream
//! may close a keep-alive connection at any time (uWSGI does after a
//! request whose body it did not read; every server does past its idle
//! timeout), and the pool learns of it only when the next request written
//! on it gets no answer. That request is not the upstream failing: it is
//! retried once on a new connection (idempotent requests only).
//!
//! Which connections were used before: every connection to the upstream
//! carries a flag ([`Answered`]) in the metadata hyper-util attaches to
//! its responses and errors; it turns true when a response arrives on it
//! ([`mark_answered`]). A request that fails on a connection with the flag
//! set went out on a connection that had served another request —
//! whenever that connection was opened (hyper-util's pool may hand a
//! waiting request a connection opened after the request began, once
//! another request has used it). A response, not a byte: TLS handshakes
//! and HTTP/2 SETTINGS are not answers.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use http::{Extensions, Uri};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Whether the upstream has answered a request on a connection yet.
#[derive(Clone, Debug, Default)]
pub(crate) struct Answered(Arc<AtomicBool>);

/// Whether a request that failed with `err` went out on a connection the
/// upstream had already answered on: a pooled one, used before.
pub(crate) fn was_reused(err: &hyper_util::client::legacy::Error) -> bool {
    let Some(connected) = err.connect_info() else {
        return false;
    };
    let mut extras = Extensions::new();
    connected.get_extras(&mut extras);
    extras
        .get::<Answered>()
        .is_some_and(|Answered(flag)| flag.load(Ordering::Acquire))
}

/// Notes that a response arrived on the connection it came on.
pub(crate) fn mark_answered(extensions: &Extensions) {
    if let Some(Answered(flag)) = extensions.get::<Answered>() {
        flag.store(true, Ordering::Release);
    }
}

/// A TCP connector whose connections carry [`Answered`].
#[derive(Clone, Debug)]
pub(crate) struct Marking<C>(pub(crate) C);

impl<C> tower_service::Service<Uri> for Marking<C>
where
    C: tower_service::Service<Uri, Response = TokioIo<TcpStream>>,
    C::Future: Send + 'static,
{
    type Response = TokioIo<Marked>;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            let stream = connecting.await?.into_inner();
            Ok(TokioIo::new(Marked {
                stream,
                answered: Answered::default(),
            }))
        })
    }
}

/// A TCP connection to the upstream and whether it has answered yet.
#[derive(Debug)]
pub(crate) struct Marked {
    stream: TcpStream,
    answered: Answered,
}

impl Connection for Marked {
    fn connected(&self) -> Connected {
        self.stream.connected().extra(self.answered.clone())
    }
}

impl AsyncRead for Marked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Marked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
}
