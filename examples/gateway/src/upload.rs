//! The client's request body on its way upstream: a read timeout for the client, and a signal
//! when the whole body has been handed to the upstream connection.
//!
//! Two clocks must not be confused. The upstream's response timeout measures the *upstream*:
//! it starts once the request — body included — has been sent. A client that uploads slowly
//! is the client's problem: between two reads of its body at most `client_body` may pass
//! (nginx's `client_body_timeout`), else the request ends with **408** and nothing is held
//! against the upstream node. Before this split, a 1 byte/s upload ran into the response
//! timeout, answered 504 and ejected a healthy node.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use crate::body::BoxError;

/// How the client's body ended, as far as the upload is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFailure {
    /// The client sent nothing for longer than the client body timeout.
    Timeout,
    /// The client's stream broke (reset, closed early, invalid chunking).
    Aborted,
}

const SENDING: u8 = 0;
const SENT: u8 = 1;
const TIMED_OUT: u8 = 2;
const ABORTED: u8 = 3;

/// Shared between the body (in the upstream connection) and the proxy waiting for the
/// response.
#[derive(Debug)]
pub struct Upload {
    state: AtomicU8,
    sent: Notify,
}

impl Upload {
    fn new(state: u8) -> Arc<Upload> {
        Arc::new(Upload {
            state: AtomicU8::new(state),
            sent: Notify::new(),
        })
    }

    /// An upload with nothing to send (already sent).
    pub fn done() -> Arc<Upload> {
        // A finished upload never changes state again, so one per thread serves every request
        // without a body (no allocation, and no reference count shared between cores).
        thread_local! {
            static DONE: Arc<Upload> = Upload::new(SENT);
        }
        DONE.with(Arc::clone)
    }

    fn finish(&self, state: u8) {
        let _ = self
            .state
            .compare_exchange(SENDING, state, Ordering::AcqRel, Ordering::Acquire);
        if state == SENT {
            self.sent.notify_waiters();
        }
    }

    /// Waits until the whole body was read from the client (never returns if the client
    /// fails instead).
    pub async fn sent(&self) {
        loop {
            let notified = self.sent.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.state.load(Ordering::Acquire) == SENT {
                return;
            }
            notified.await;
        }
    }

    /// Whether the client, not the upstream, broke the exchange.
    pub fn client_failure(&self) -> Option<ClientFailure> {
        match self.state.load(Ordering::Acquire) {
            TIMED_OUT => Some(ClientFailure::Timeout),
            ABORTED => Some(ClientFailure::Aborted),
            _ => None,
        }
    }
}

/// The error a timed-out client body reports to the upstream connection.
#[derive(Debug)]
pub struct ClientBodyTimeout(pub Duration);

impl std::fmt::Display for ClientBodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the client sent no request body data for {:?}", self.0)
    }
}

impl std::error::Error for ClientBodyTimeout {}

pin_project_lite::pin_project! {
    /// A client body with a read timeout that reports its end to an [`Upload`].
    pub struct ClientBody<B> {
        #[pin]
        inner: B,
        timeout: Duration,
        #[pin]
        sleep: Sleep,
        upload: Arc<Upload>,
    }
}

impl<B: Body> ClientBody<B> {
    /// Wraps `inner`; between two frames the client may pause at most `timeout`.
    pub fn new(inner: B, timeout: Duration) -> (ClientBody<B>, Arc<Upload>) {
        let upload = Upload::new(if inner.is_end_stream() { SENT } else { SENDING });
        let body = ClientBody {
            inner,
            timeout,
            sleep: tokio::time::sleep(timeout),
            upload: upload.clone(),
        };
        (body, upload)
    }
}

impl<B> Body for ClientBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = Instant::now() + *this.timeout;
                this.sleep.as_mut().reset(next);
                if this.inner.is_end_stream() {
                    this.upload.finish(SENT);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.upload.finish(ABORTED);
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                this.upload.finish(SENT);
                Poll::Ready(None)
            }
            Poll::Pending => match this.sleep.poll(cx) {
                Poll::Ready(()) => {
                    this.upload.finish(TIMED_OUT);
                    Poll::Ready(Some(Err(Box::new(ClientBodyTimeout(*this.timeout)))))
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    /// A client that sends one byte, then nothing.
    struct Stalls(bool);

    impl Body for Stalls {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            if std::mem::replace(&mut self.0, true) {
                Poll::Pending
            } else {
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"a")))))
            }
        }
    }

    #[tokio::test]
    async fn a_complete_body_signals_sent() {
        let full = Full::new(Bytes::from_static(b"abc"));
        let (body, upload) = ClientBody::new(full, Duration::from_secs(5));
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"abc");
        upload.sent().await;
        assert_eq!(upload.client_failure(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_client_times_out_as_a_client_failure() {
        let (body, upload) = ClientBody::new(Stalls(false), Duration::from_millis(300));
        let err = body.collect().await.unwrap_err();
        assert!(err.to_string().contains("no request body data"), "{err}");
        assert_eq!(upload.client_failure(), Some(ClientFailure::Timeout));
    }
}
