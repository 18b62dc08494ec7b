//! Response bodies: whole buffers, generated file content, and the broken
//! bodies that fault injection needs. Generated bodies produce one bounded
//! chunk per poll, so memory stays flat whatever their length.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};

use super::pattern;

/// The body type of every sample-service response.
pub type SampleBody = BoxBody<Bytes, io::Error>;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> SampleBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> SampleBody {
    Empty::new()
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// An empty body that still makes hyper write an explicit
/// `Content-Length: 0`, which Glance sends even on 204 (fixtures 05, 30)
/// and hyper would otherwise leave out.
pub fn explicit_zero() -> SampleBody {
    ExplicitZero.boxed()
}

/// `len` bytes of the file pattern (see [`pattern`]).
pub fn pattern_file(len: u64) -> SampleBody {
    PatternBody {
        offset: 0,
        end: len,
    }
    .boxed()
}

/// `prefix`, then `fill` bytes of `x`, then `suffix`.
pub fn padded(prefix: Bytes, fill: u64, suffix: Bytes) -> SampleBody {
    PaddedBody {
        prefix: Some(prefix),
        fill,
        suffix: Some(suffix),
    }
    .boxed()
}

/// How a [`cut`] body ends after its data.
#[derive(Clone, Copy, Debug)]
pub enum Cut {
    /// The stream errors, so the server aborts the connection mid-body.
    Reset,
    /// The stream never yields again.
    Stall,
}

/// A body that declares `declared` bytes, sends `data`, then ends as `cut`
/// says. `declared` should be more than `data.len()`.
pub fn cut(data: Bytes, declared: u64, cut: Cut) -> SampleBody {
    CutBody {
        data: Some(data),
        flushed: false,
        declared,
        cut,
    }
    .boxed()
}

struct ExplicitZero;

impl Body for ExplicitZero {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(None)
    }

    /// Not "ended" up front: hyper then honours the Content-Length header
    /// instead of dropping it.
    fn is_end_stream(&self) -> bool {
        false
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(0)
    }
}

struct PatternBody {
    offset: u64,
    end: u64,
}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let left = self.end - self.offset;
        if left == 0 {
            return Poll::Ready(None);
        }
        let len = left.min(pattern::CHUNK_SIZE as u64) as usize;
        let chunk = pattern::chunk(self.offset, len);
        self.offset += len as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.offset == self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end - self.offset)
    }
}

/// Filler for padded bodies; a window of it is served without copying.
static FILL: [u8; pattern::CHUNK_SIZE] = [b'x'; pattern::CHUNK_SIZE];

struct PaddedBody {
    prefix: Option<Bytes>,
    fill: u64,
    suffix: Option<Bytes>,
}

impl Body for PaddedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        if self.fill > 0 {
            let len = self.fill.min(FILL.len() as u64) as usize;
            self.fill -= len as u64;
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&FILL[..len])))));
        }
        Poll::Ready(self.suffix.take().map(|s| Ok(Frame::data(s))))
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.fill == 0 && self.suffix.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let len = |b: &Option<Bytes>| b.as_ref().map_or(0, |b| b.len() as u64);
        SizeHint::with_exact(len(&self.prefix) + self.fill + len(&self.suffix))
    }
}

struct CutBody {
    data: Option<Bytes>,
    /// Whether the server has had a chance to write out `data`.
    flushed: bool,
    declared: u64,
    cut: Cut,
}

impl Body for CutBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if !self.flushed {
            // Pending once (already woken) so hyper flushes the head and
            // the data to the socket before the body breaks; otherwise the
            // client would see no response at all.
            self.flushed = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match self.cut {
            Cut::Reset => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "sample fault: connection reset mid-body",
            )))),
            // Never woken: the connection stays open until the client or the
            // server's shutdown drops it.
            Cut::Stall => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        false
    }

    /// The full declared length, so hyper announces it in Content-Length.
    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.declared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A padded body is exactly prefix + fill + suffix.
    #[tokio::test]
    async fn padded_body_has_exact_length() {
        let body = padded(
            Bytes::from_static(b"{\""),
            100_000,
            Bytes::from_static(b"\"}"),
        );
        assert_eq!(body.size_hint().exact(), Some(100_004));
        let bytes = body.collect().await.expect("collect").to_bytes();
        assert_eq!(bytes.len(), 100_004);
        assert!(bytes.starts_with(b"{\"xxx") && bytes.ends_with(b"xx\"}"));
    }

    /// The pattern body yields exactly `len` pattern bytes.
    #[tokio::test]
    async fn pattern_body_yields_pattern() {
        let bytes = pattern_file(200_000)
            .collect()
            .await
            .expect("collect")
            .to_bytes();
        assert_eq!(bytes.len(), 200_000);
        assert!(
            bytes
                .iter()
                .enumerate()
                .all(|(i, b)| *b == pattern::sample_file_byte(i as u64))
        );
    }

    /// A reset body errors after its data.
    #[tokio::test]
    async fn reset_body_errors_after_data() {
        let mut body = cut(Bytes::from_static(b"abc"), 10, Cut::Reset);
        let first = body.frame().await.expect("frame").expect("data");
        assert_eq!(
            first.into_data().expect("data frame"),
            Bytes::from_static(b"abc")
        );
        assert!(body.frame().await.expect("frame").is_err());
    }
}
