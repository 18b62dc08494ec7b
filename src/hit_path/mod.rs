//! The hit path: an HTTP/1.1 connection starts here, and while its
//! requests are plain `GET`s of fresh cached images, they are answered
//! from memory with the entry's prepared bytes, one `writev` each, without
//! hyper's per-request machinery. The first request that is anything else
//! (a miss, a write, a stale entry, a validator, a malformed or HTTP/2
//! head, a body) hands the connection, with every byte read so far, to
//! hyper for the rest of its life.
//!
//! What a request gets does not depend on the path it takes: it is
//! admitted and planned as hyper's requests are (`Proxy::plan_plain_get`),
//! the response carries the same headers, and it is counted and logged by
//! the same finish step (`Proxy::finish`); when hyper answers it, the
//! verdict on its signature goes along. The header read timeout and
//! graceful drain behave as hyper's.

mod exchange;
mod request;
mod response;
mod rewind;

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, Uri};
use hyper::server::conn::http1;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use exchange::Ended;

use crate::access_log::AccessLog;
use crate::error::ProxyError;
use crate::proxy::{Arrival, Finished, HitPathPlan, Proxy, Verdict};
use crate::request_id::RequestId;
use crate::tls::{self, ClientCert};

pub use request::read_buffer_size;
pub use response::write_head;
pub use rewind::Rewind;

use request::{Head, MAX_HEADERS};

/// First size of a connection's read buffer; it grows up to the header
/// limit for a long head.
const READ_BUFFER: usize = 4096;

/// How a connection left the hit path.
pub enum Outcome<S> {
    /// It is over (closed by the client, timed out, drained, failed).
    Closed,
    /// hyper takes it from here, bytes already read included, speaking
    /// this protocol.
    HandOff(Rewind<S>, Protocol),
}

/// What hyper should expect on a handed-off connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1: the hit path answered on it, or read a head that is not the
    /// start of HTTP/2's preface.
    Http1,
    /// HTTP/1.1 or h2c (prior knowledge), as its first bytes say.
    Any,
}

impl Protocol {
    /// The protocol of a connection whose first bytes are `read`, after
    /// `answered` responses.
    fn of(read: &[u8], answered: usize) -> Protocol {
        if answered == 0 && request::is_h2_preface(read) {
            Protocol::Any
        } else {
            Protocol::Http1
        }
    }
}

/// What to do with the bytes at the front of the read buffer.
enum Step {
    /// A response head was written into the output, to go out with this
    /// body; the request was this long. The access event is written once
    /// the response is sent.
    Answered {
        len: usize,
        body: Bytes,
        log: Option<Box<AccessLog>>,
        /// The client asked to close after this answer.
        close: bool,
    },
    /// The head is not complete yet.
    ReadMore,
    /// Not the hit path's to answer.
    HandOff,
    /// hyper answers this request (of `len` head bytes and `body` body
    /// bytes), with the verdict on its signature when there is one; then
    /// the connection comes back, unless the client asked to close it.
    Exchange {
        len: usize,
        body: u64,
        verdict: Option<Verdict>,
        close: bool,
    },
    /// Not a request anybody could answer: the error goes out, then the
    /// connection closes (as hyper closes after its own 400).
    Refuse(ProxyError),
}

/// What a connection on the hit path is served with.
pub struct Serving<'a> {
    /// The proxy: decisions, cache, metrics.
    pub proxy: &'a Proxy,
    /// The client's address (for forwarding headers).
    pub peer: SocketAddr,
    /// hyper's HTTP/1 server, for the requests it answers one at a time.
    pub http1: &'a http1::Builder,
    /// How long a request head may take to arrive (also the idle limit).
    pub header_read_timeout: Duration,
    /// What TLS told about the client (`None`: plain HTTP).
    pub tls: Option<&'a tls::Peer>,
    /// `server.max_header_bytes`: the limit on a request head.
    pub max_header_bytes: usize,
}

/// Serves `stream` until it closes or must stay with hyper. `stop` turns
/// true when the server drains: an idle connection then closes, a busy
/// one closes after its response.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    serving: Serving<'_>,
    mut stop: watch::Receiver<bool>,
) -> Outcome<S> {
    let mut conn = Connection {
        stream,
        serving,
        input: BytesMut::with_capacity(READ_BUFFER),
        output: Vec::with_capacity(READ_BUFFER),
        deadline: None,
        answered: 0,
    };
    loop {
        let closing = *stop.borrow();
        let serving = &conn.serving;
        let cert = serving.tls.and_then(|tls| tls.client_cert.as_ref());
        let (proxy, limit, peer) = (serving.proxy, serving.max_header_bytes, serving.peer);
        let client = (peer, cert);
        let goes_on =
            match answer(proxy, client, limit, &conn.input, &mut conn.output, closing).await {
                Step::Answered {
                    len,
                    body,
                    log,
                    close,
                } => {
                    let sent = conn.send_hit(len, &body, log).await.is_ok();
                    if sent && close {
                        // As hyper does after `Connection: close`: the answer is
                        // out, the rest of what the client sent is ignored.
                        linger(&mut conn.stream).await;
                        return Outcome::Closed;
                    }
                    sent && !closing
                }
                Step::Exchange {
                    len,
                    body,
                    verdict,
                    close,
                } => {
                    let answered = conn.exchange(len, body, verdict).await.is_ok();
                    if answered && close {
                        linger(&mut conn.stream).await;
                        return Outcome::Closed;
                    }
                    answered && !*stop.borrow()
                }
                Step::HandOff => return conn.hand_off(),
                Step::Refuse(err) => return conn.refuse(&err).await,
                Step::ReadMore => {
                    !(closing && conn.input.is_empty()) && conn.read_more(&mut stop).await.is_ok()
                }
            };
        if !goes_on {
            return Outcome::Closed;
        }
    }
}

/// A connection on the hit path, between requests.
struct Connection<'a, S> {
    stream: S,
    serving: Serving<'a>,
    /// Bytes read and not yet answered.
    input: BytesMut,
    /// The response head being written.
    output: Vec<u8>,
    /// When the head now being read must be complete (hyper's header read
    /// timeout, which also bounds how long a connection may sit idle).
    deadline: Option<tokio::time::Instant>,
    answered: usize,
}

/// The connection is over.
struct Over;

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<'_, S> {
    /// Sends a fresh hit whose head is in `output`; `len` bytes of input
    /// were its request.
    async fn send_hit(
        &mut self,
        len: usize,
        body: &[u8],
        mut log: Option<Box<AccessLog>>,
    ) -> Result<(), Over> {
        self.input.advance(len);
        self.deadline = None;
        let written = write_all(&mut self.stream, &self.output, body).await;
        if let (Err(_), Some(log)) = (&written, &mut log) {
            log.mark_aborted();
        }
        drop(log);
        self.answered += 1;
        written.map_err(|_| Over)
    }

    /// Lets hyper answer the request at the front of the input (`len`
    /// head bytes, `body` body bytes), then takes the connection back.
    async fn exchange(
        &mut self,
        len: usize,
        body: u64,
        verdict: Option<Verdict>,
    ) -> Result<(), Over> {
        let whole = len.saturating_add(usize::try_from(body).unwrap_or(usize::MAX));
        let in_buffer = self.input.len().min(whole);
        let request = self.input.split_to(in_buffer).freeze();
        let rest = (len as u64 + body).saturating_sub(in_buffer as u64);
        let Serving {
            proxy,
            peer,
            http1,
            tls,
            ..
        } = self.serving;
        let client = exchange::Client { peer, tls, verdict };
        let ended = exchange::serve(
            &mut self.stream,
            request,
            rest,
            &mut self.input,
            proxy,
            client,
            http1,
        )
        .await;
        self.deadline = None;
        self.answered += 1;
        match ended {
            Ended::Answered => Ok(()),
            Ended::Closed => Err(Over),
        }
    }

    /// Gives the connection, with the bytes read so far, to hyper for good.
    fn hand_off(self) -> Outcome<S> {
        self.serving.proxy.metrics().record_hit_path_handoff();
        let protocol = Protocol::of(&self.input, self.answered);
        Outcome::HandOff(Rewind::new(self.stream, self.input.freeze()), protocol)
    }

    /// Answers a head nobody can answer with the proxy's error, and closes.
    async fn refuse(mut self, err: &ProxyError) -> Outcome<S> {
        let status = err.status().as_u16();
        tracing::debug!(status, %err, "refused a request head");
        let refused = Finished {
            status,
            ..Finished::new(Instant::now(), RequestId::generate())
        };
        self.serving.proxy.finish(&refused, None);
        self.output.clear();
        response::write_error(&mut self.output, err);
        if write_all(&mut self.stream, &self.output, &[]).await.is_ok() {
            linger(&mut self.stream).await;
        }
        Outcome::Closed
    }

    /// Reads more of the next head, within the header read timeout; a
    /// drain that begins while the connection is idle ends the wait.
    async fn read_more(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), Over> {
        let timeout = self.serving.header_read_timeout;
        let until = *self
            .deadline
            .get_or_insert_with(|| tokio::time::Instant::now() + timeout);
        if self.input.capacity() - self.input.len() < READ_BUFFER / 4 {
            self.input.reserve(READ_BUFFER);
        }
        let idle = self.input.is_empty();
        tokio::select! {
            read = self.stream.read_buf(&mut self.input) => match read {
                Ok(0) | Err(_) => Err(Over),
                Ok(_) => Ok(()),
            },
            () = tokio::time::sleep_until(until) => Err(Over),
            _ = stop.changed(), if idle => Ok(()),
        }
    }
}

/// Answers the request at the front of `input` into `output` if it is a
/// plain GET of a fresh cached image for this client (its address and
/// certificate).
async fn answer(
    proxy: &Proxy,
    (peer, client_cert): (SocketAddr, Option<&ClientCert>),
    max_header_bytes: usize,
    input: &[u8],
    output: &mut Vec<u8>,
    closing: bool,
) -> Step {
    let started = Instant::now();
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let get = match request::parse(input, &mut headers, max_header_bytes) {
        Head::Plain(get) => get,
        Head::Exchange { len, body } => {
            return Step::Exchange {
                len,
                body,
                verdict: None,
                close: false,
            };
        }
        Head::Partial => return Step::ReadMore,
        Head::Other => return Step::HandOff,
        Head::Malformed(why) => return Step::Refuse(ProxyError::BadRequest(why.into())),
        Head::TooLarge => return Step::Refuse(ProxyError::HeadersTooLarge(max_header_bytes)),
    };
    let hit = match proxy
        .plan_plain_get(get.path, get.headers, client_cert)
        .await
    {
        HitPathPlan::Answer(hit) => hit,
        HitPathPlan::Hyper(verdict) => {
            return Step::Exchange {
                len: get.len,
                body: 0,
                verdict,
                close: get.close,
            };
        }
    };
    output.clear();
    let close = get.close;
    // The client's id, or a new one (measured: a few tens of ns with
    // uuid's thread-local RNG; the hit itself costs tens of µs).
    let id = RequestId::of_client(get.headers).unwrap_or_else(RequestId::generate);
    response::write_head(output, &hit, id.as_bytes(), closing || close);
    proxy.metrics().record_hit_path_response();
    let user_agent = get
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("user-agent"))
        .map(|h| h.value);
    let arrival = Arrival::logged(
        &Method::GET,
        || Uri::try_from(get.path).ok(),
        peer,
        user_agent,
    );
    let log = proxy
        .finish(&hit.finished(started, id), arrival)
        .map(|mut log| {
            log.add_bytes(hit.entry.body.len());
            Box::new(log)
        });
    Step::Answered {
        len: get.len,
        body: hit.entry.body.clone(),
        log,
        close,
    }
}

/// Writes `head` then `body` without copying either: one `writev`, unless
/// the socket takes only part of it.
async fn write_all<S: AsyncWrite + Unpin>(
    stream: &mut S,
    head: &[u8],
    body: &[u8],
) -> io::Result<()> {
    let mut slices = [IoSlice::new(head), IoSlice::new(body)];
    let mut pending = &mut slices[..];
    IoSlice::advance_slices(&mut pending, 0);
    while !pending.is_empty() {
        match stream.write_vectored(pending).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => IoSlice::advance_slices(&mut pending, n),
        }
    }
    Ok(())
}

/// After an error answer: stop writing, and read (and drop) what the
/// client is still sending for a moment, so closing with unread bytes
/// does not reset the connection before the client has read the answer.
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    const LINGER: Duration = Duration::from_millis(500);
    const MOST: usize = 256 * 1024;
    let _ = stream.shutdown().await;
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut read = 0;
        while read < MOST {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::Protocol;

    /// Only a connection that has not been answered yet and starts like
    /// HTTP/2's preface may become h2c.
    #[test]
    fn protocol_at_hand_off() {
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00";
        assert_eq!(Protocol::of(preface, 0), Protocol::Any);
        assert_eq!(Protocol::of(b"PRI * HT", 0), Protocol::Any);
        assert_eq!(Protocol::of(preface, 1), Protocol::Http1);
        assert_eq!(
            Protocol::of(b"POST /v2/images HTTP/1.1\r\n", 0),
            Protocol::Http1
        );
        assert_eq!(Protocol::of(b"GET / HTTP/1.1\r\n\r\n", 3), Protocol::Http1);
    }
}
