//! The bodies that pass through the gateway unchanged while a mirror keeps a bounded copy:
//! the client's request body on its way to the primary, and the primary's response on its way
//! to the client ([`PrimaryTap`]). Both are a [`Copying`] body.

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
        let (status, headers) = (
            parts.status.as_u16(),
            kept_headers(&parts.headers, &self.headers),
        );
        let tx = self.tx;
        // Too long to compare: the copy's task sees no answer and counts it as not compared.
        let tap = Copying::new(body, self.max_body, None, move |body: Bytes| {
            let _ = tx.send(Answer {
                status,
                headers,
                body: body.to_vec(),
            });
        });
        http::Response::from_parts(parts, BodyExt::boxed(tap))
    }
}

/// A body passed through frame by frame, with a copy kept up to `limit` bytes and handed to
/// `done` when the body ends. A body that outgrows the limit (counted as `body_too_large` on
/// `too_large`'s mirror, when given) or breaks gives no copy: `done` is dropped uncalled.
pub(super) struct Copying<F> {
    inner: Body,
    copy: Option<BytesMut>,
    limit: u64,
    too_large: Option<Entry>,
    done: Option<F>,
}

impl<F: FnOnce(Bytes)> Copying<F> {
    pub(super) fn new(inner: Body, limit: u64, too_large: Option<Entry>, done: F) -> Self {
        Copying {
            inner,
            copy: Some(BytesMut::new()),
            limit,
            too_large,
            done: Some(done),
        }
    }

    /// No copy after all (dropping `done` tells the waiting side).
    fn abandon(&mut self, too_large: bool) {
        if self.copy.take().is_some() && too_large {
            if let Some(e) = &self.too_large {
                e.counts[BODY].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.done = None;
    }

    /// The body ended: the copy goes out with what was kept.
    fn finish(&mut self) {
        if let (Some(copy), Some(done)) = (self.copy.take(), self.done.take()) {
            done(copy.freeze());
        }
    }
}

impl<F: FnOnce(Bytes) + Send + Sync + Unpin + 'static> http_body::Body for Copying<F> {
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
            }
            Poll::Ready(Some(Err(_))) => this.abandon(false),
            Poll::Ready(None) => this.finish(),
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
