//! One request answered by hyper on a connection the hit path owns, after
//! which the connection comes back to the hit path: a miss, a bypass, a
//! write or a 304 on a keep-alive connection does not demote the fresh
//! hits that follow it to hyper's slower path.
//!
//! hyper is given exactly this request's bytes (head and
//! `Content-Length` body) through [`Gate`]; past them its reads wait, so
//! it can read nothing of the next request. The response body is wrapped
//! so its drop (hyper is done with it: written to the end, or not to be
//! written, as for `HEAD`) is seen, and once hyper has flushed after that
//! the exchange is over: the connection is taken back from hyper
//! (`into_parts`), unshut.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::body::ProxyBody;
use crate::proxy::{Proxy, Verdict};
use crate::tls;

/// Request body bytes hyper left unread (the answer came before the
/// upload was read) that are read and dropped to keep the connection; a
/// larger rest closes it.
const MOST_DISCARDED: u64 = 1 << 20;

/// How an exchange ended.
pub enum Ended {
    /// Answered; the connection is the hit path's again.
    Answered,
    /// The connection is over (the client left, hyper closed it, a write
    /// timed out, or too much of an unread body was left).
    Closed,
}

/// Who is on the other end of the connection.
pub struct Client<'a> {
    pub peer: SocketAddr,
    /// What TLS told about it (`None`: plain HTTP).
    pub tls: Option<&'a tls::Peer>,
    /// The verdict on the request's signature, when the hit path reached
    /// one: hyper's side takes it instead of judging the bytes again.
    pub verdict: Option<Verdict>,
}

/// Serves one request with hyper: `request` holds the bytes of it already
/// read (head included), `rest` the body bytes still on the socket.
/// `input` holds what was read of the requests after it; a byte read
/// while watching for a hang-up is added to it.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: Bytes,
    rest: u64,
    input: &mut BytesMut,
    proxy: &Proxy,
    client: Client<'_>,
    builder: &http1::Builder,
) -> Ended {
    proxy.metrics().record_hit_path_exchange();
    let state = Arc::new(State::default());
    let gate = Gate {
        stream,
        request,
        rest,
        watch: input.is_empty(),
        next: None,
        state: state.clone(),
    };
    let (proxy, signal) = (proxy.clone(), state.clone());
    let (peer, tls, verdict) = (client.peer, client.tls.cloned(), client.verdict);
    let service = service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
        let (proxy, signal) = (proxy.clone(), signal.clone());
        if let Some(tls) = &tls {
            request.extensions_mut().insert(tls.clone());
        }
        if let Some(verdict) = &verdict {
            request.extensions_mut().insert(verdict.clone());
        }
        async move {
            let response = proxy.handle(request, peer).await?;
            Ok::<_, std::convert::Infallible>(response.map(|body| Signalled { body, signal }))
        }
    });
    let mut connection = builder.serve_connection(TokioIo::new(gate), service);
    let over = std::future::poll_fn(|cx| match Pin::new(&mut connection).poll(cx) {
        Poll::Ready(_) => Poll::Ready(true),
        Poll::Pending if state.complete.load(Ordering::Acquire) => Poll::Ready(false),
        Poll::Pending => Poll::Pending,
    })
    .await;
    if over {
        return Ended::Closed;
    }
    let parts = connection.into_parts();
    let gate = parts.io.into_inner();
    let unread = gate.rest;
    if let Some(byte) = gate.next {
        input.extend_from_slice(&[byte]);
    }
    // Whatever hyper read and did not consume is this request's body.
    discard(parts.read_buf, unread, stream).await
}

/// Reads and drops `rest` body bytes from the socket (the ones in `read`
/// are already off it), when there are few enough.
async fn discard<S: AsyncRead + Unpin>(read: Bytes, rest: u64, stream: &mut S) -> Ended {
    drop(read);
    if rest > MOST_DISCARDED {
        return Ended::Closed;
    }
    let mut left = rest;
    let mut buf = [0u8; 8192];
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(buf.len()).min(buf.len());
        match stream.read(&mut buf[..want]).await {
            Ok(0) | Err(_) => return Ended::Closed,
            Ok(n) => left -= n as u64,
        }
    }
    Ended::Answered
}

/// What the gate and the response body tell the exchange.
#[derive(Default)]
struct State {
    /// hyper dropped the response body: it has queued all of the
    /// response it will write.
    body_done: AtomicBool,
    /// And flushed it all after that.
    complete: AtomicBool,
}

/// The client stream as hyper sees it for one exchange: this request's
/// bytes, then nothing (reads wait for ever; the exchange ends first).
struct Gate<'a, S> {
    stream: &'a mut S,
    request: Bytes,
    rest: u64,
    /// Whether to watch the socket for a hang-up once the request is in
    /// (not when bytes of a next request were read already).
    watch: bool,
    /// The first byte of the next request, read while watching.
    next: Option<u8>,
    state: Arc<State>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Gate<'_, S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.request.is_empty() {
            let n = this.request.len().min(buf.remaining());
            buf.put_slice(&this.request[..n]);
            this.request.advance(n);
            return Poll::Ready(Ok(()));
        }
        if this.rest == 0 {
            return this.watch_for_hang_up(cx);
        }
        let filled = buf.filled().len();
        if this.rest >= buf.remaining() as u64 {
            // All of `buf` may be body: read into it directly.
            ready!(Pin::new(&mut *this.stream).poll_read(cx, buf))?;
        } else {
            // Only the body's tail: never past it, into the next request.
            let mut tail = [0u8; 4096];
            let want = usize::try_from(this.rest).map_or(tail.len(), |rest| rest.min(tail.len()));
            let mut limited = ReadBuf::new(&mut tail[..want]);
            ready!(Pin::new(&mut *this.stream).poll_read(cx, &mut limited))?;
            buf.put_slice(limited.filled());
        }
        this.rest -= (buf.filled().len() - filled) as u64;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> Gate<'_, S> {
    /// Past this request, hyper must see nothing of the next one (the hit
    /// path reads it), but must see the client hang up, or a response
    /// streaming from a stalled upstream would hold on until the idle
    /// timeout. So one byte is read: end of stream or an error goes to
    /// hyper; a byte of the next request is kept for the hit path, and
    /// hyper waits.
    fn watch_for_hang_up(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.watch || self.next.is_some() {
            return Poll::Pending;
        }
        let mut byte = [0u8; 1];
        let mut one = ReadBuf::new(&mut byte);
        ready!(Pin::new(&mut *self.stream).poll_read(cx, &mut one))?;
        match one.filled() {
            // End of stream: hyper sees it as such (nothing read).
            [] => Poll::Ready(Ok(())),
            [first, ..] => {
                self.next = Some(*first);
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Gate<'_, S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut *self.stream).poll_flush(cx);
        if matches!(flushed, Poll::Ready(Ok(()))) && self.state.body_done.load(Ordering::Acquire) {
            self.state.complete.store(true, Ordering::Release);
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.stream).poll_shutdown(cx)
    }
}

/// A response body that says when hyper is done with it.
struct Signalled {
    body: ProxyBody,
    signal: Arc<State>,
}

impl Drop for Signalled {
    fn drop(&mut self) {
        self.signal.body_done.store(true, Ordering::Release);
    }
}

impl Body for Signalled {
    type Data = <ProxyBody as Body>::Data;
    type Error = <ProxyBody as Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
