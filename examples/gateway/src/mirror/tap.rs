//! The bodies that pass through the gateway unchanged while a mirror keeps a bounded copy:
//! the client's request body ([`Tee`]) and the primary's response ([`PrimaryTap`]).

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use gray_core::mirror::compare::Answer;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::oneshot;

use super::shared::{Entry, BODY};
use crate::body::{Body, BoxError};

/// The compared headers of a response, `(name, value)`.
pub(super) fn kept_headers(h: &http::HeaderMap, names: &[String]) -> Vec<(String, String)> {
    names
        .iter()
        .filter_map(|n| {
            h.get(n.as_str()).map(|v| {
                (
                    n.clone(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
        })
        .collect()
}

/// Put on the primary's response when the mirror compares: passes the response through
/// unchanged and hands its status, compared headers and body (within the limit) to the copy's
/// task once the client has received all of it.
pub(crate) struct PrimaryTap {
    pub(super) tx: oneshot::Sender<Answer>,
    pub(super) headers: Vec<String>,
    pub(super) max_body: u64,
}

impl PrimaryTap {
    /// `resp` with its body tapped.
    pub(crate) fn wrap(self, resp: http::Response<Body>) -> http::Response<Body> {
        let (parts, body) = resp.into_parts();
        let answer = Answer {
            status: parts.status.as_u16(),
            headers: kept_headers(&parts.headers, &self.headers),
            body: Vec::new(),
        };
        let tap = ResponseTap {
            inner: body,
            answer: Some(answer),
            limit: self.max_body,
            tx: Some(self.tx),
        };
        http::Response::from_parts(parts, BodyExt::boxed(tap))
    }
}

/// The primary's response body on its way to the client, with a bounded copy.
struct ResponseTap {
    inner: Body,
    answer: Option<Answer>,
    limit: u64,
    tx: Option<oneshot::Sender<Answer>>,
}

impl http_body::Body for ResponseTap {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(a)) = (frame.data_ref(), this.answer.as_mut()) {
                    if a.body.len() as u64 + data.len() as u64 > this.limit {
                        // Too long to compare: the copy's task counts it as not compared.
                        this.answer = None;
                        this.tx = None;
                    } else {
                        a.body.extend_from_slice(data);
                    }
                }
                if this.inner.is_end_stream() {
                    this.finish();
                }
            }
            Poll::Ready(None) => this.finish(),
            Poll::Ready(Some(Err(_))) => {
                this.answer = None;
                this.tx = None;
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl ResponseTap {
    fn finish(&mut self) {
        if let (Some(a), Some(tx)) = (self.answer.take(), self.tx.take()) {
            let _ = tx.send(a);
        }
    }
}

/// The primary's body, passed through frame by frame, with a copy kept up to a limit.
pub(super) struct Tee {
    pub(super) inner: Body,
    pub(super) copy: Option<BytesMut>,
    pub(super) limit: u64,
    pub(super) done: Option<oneshot::Sender<Bytes>>,
    pub(super) entry: Entry,
}

impl Tee {
    /// The body outgrew the limit (or broke): no copy.
    fn abandon(&mut self, too_large: bool) {
        if self.copy.take().is_some() && too_large {
            self.entry.counts[BODY].fetch_add(1, Ordering::Relaxed);
        }
        // Dropping the sender tells the copy's task there is nothing to send.
        self.done = None;
    }
}

impl http_body::Body for Tee {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(copy)) = (frame.data_ref(), this.copy.as_mut()) {
                    if copy.len() as u64 + data.len() as u64 > this.limit {
                        this.abandon(true);
                    } else {
                        copy.extend_from_slice(data);
                    }
                }
                if this.inner.is_end_stream() {
                    this.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.abandon(false);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Tee {
    /// The body ended: the copy goes out with what was kept.
    fn finish(&mut self) {
        if let (Some(copy), Some(done)) = (self.copy.take(), self.done.take()) {
            let _ = done.send(copy.freeze());
        }
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        // The primary's body did not end (the client went away): no copy.
        self.done = None;
    }
}
