//! Sending mirror copies beside the requests they copy (see `gray_core::mirror`).
//!
//! The client's request is answered exactly as without a mirror: the copy is spawned as its own
//! task, its response is read to the end and dropped, and nothing the copy does (a slow or
//! dead mirror node, a timeout) reaches the client. Bounds keep a mirror from costing more than
//! it is allowed: at most `max_in_flight` copies of one mirror run at once (one more is dropped
//! and counted, never queued), each within its `timeout`; a request body is copied only while
//! it stays within `max_body` — the client's body streams to the primary node as it arrives,
//! and a copy whose body grows past the limit is dropped, so the primary never waits for it.
//!
//! Counters on `/metrics`: `gray_gateway_mirror_requests_total{mirror,result}` (`ok`, `failed`,
//! `timeout`) and `gray_gateway_mirror_dropped_total{mirror,reason}` (`in_flight`,
//! `body_too_large`, `method`, `no_node`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use gray_core::mirror::{MirrorPlan, Mirroring};
use http::{HeaderValue, Request};
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::body::{Body, BoxError};
use crate::forward::{remove_hop_by_hop, upstream_uri};
use crate::upstream_tls::{Connector, UpstreamTls};

/// Per mirror: its in-flight bound and counters.
#[derive(Debug, Clone)]
struct Entry {
    slots: Arc<Semaphore>,
    bound: u32,
    counts: Arc<[AtomicU64; 7]>,
}

const OK: usize = 0;
const FAILED: usize = 1;
const TIMEOUT: usize = 2;
const IN_FLIGHT: usize = 3;
const BODY: usize = 4;
const METHOD: usize = 5;
const NO_NODE: usize = 6;

/// Sends the copies of one gateway.
#[derive(Clone)]
pub struct Mirrors {
    client: Client<Connector, Full<Bytes>>,
    upstream_tls: UpstreamTls,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl std::fmt::Debug for Mirrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirrors").finish_non_exhaustive()
    }
}

impl Mirrors {
    /// Copies go out with `client` (the proxy's connector: HTTPS nodes as `upstream_tls`
    /// says).
    pub(crate) fn new(connector: Connector, upstream_tls: UpstreamTls) -> Mirrors {
        Mirrors {
            client: Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector),
            upstream_tls,
            entries: Arc::default(),
        }
    }

    fn entry(&self, mirror: &str, bound: u32) -> Entry {
        let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let e = map.entry(mirror.to_string()).or_insert_with(|| Entry {
            slots: Arc::new(Semaphore::new(bound as usize)),
            bound,
            counts: Arc::default(),
        });
        if e.bound != bound {
            // The config changed the bound: a new semaphore (copies in flight finish on the
            // old one); the counters carry on.
            e.slots = Arc::new(Semaphore::new(bound as usize));
            e.bound = bound;
        }
        e.clone()
    }

    /// What to do with the request the proxy is about to send: `None` when nothing is copied;
    /// else a ticket that takes the request's parts and body. Counts skipped copies.
    pub(crate) fn ticket(&self, mirroring: Option<Mirroring>) -> Option<Ticket> {
        match mirroring? {
            Mirroring::Skipped { mirror, reason } => {
                let e = self.entry_for_count(&mirror);
                let i = match reason {
                    gray_core::mirror::SkipReason::Method => METHOD,
                    gray_core::mirror::SkipReason::NoNode => NO_NODE,
                };
                e.counts[i].fetch_add(1, Ordering::Relaxed);
                None
            }
            Mirroring::Send(plan) => {
                let e = self.entry(&plan.mirror, plan.max_in_flight);
                match e.slots.clone().try_acquire_owned() {
                    Ok(permit) => Some(Ticket {
                        plan,
                        entry: e,
                        permit,
                        mirrors: self.clone(),
                    }),
                    Err(_) => {
                        e.counts[IN_FLIGHT].fetch_add(1, Ordering::Relaxed);
                        None
                    }
                }
            }
        }
    }

    /// The entry of `mirror` for counting only (its bound unchanged).
    fn entry_for_count(&self, mirror: &str) -> Entry {
        let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(mirror.to_string())
            .or_insert_with(|| Entry {
                slots: Arc::new(Semaphore::new(1)),
                bound: 1,
                counts: Arc::default(),
            })
            .clone()
    }

    /// The counters in the Prometheus text format.
    pub fn write_prometheus(&self, out: &mut String) {
        let map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<&String> = map.keys().collect();
        names.sort();
        out.push_str("# HELP gray_gateway_mirror_requests_total Mirror copies sent, by result (the copy's answer is discarded).\n# TYPE gray_gateway_mirror_requests_total counter\n");
        for name in &names {
            for (i, result) in [(OK, "ok"), (FAILED, "failed"), (TIMEOUT, "timeout")] {
                let _ = writeln!(
                    out,
                    "gray_gateway_mirror_requests_total{{mirror=\"{name}\",result=\"{result}\"}} {}",
                    map[*name].counts[i].load(Ordering::Relaxed)
                );
            }
        }
        out.push_str("# HELP gray_gateway_mirror_dropped_total Requests a mirror sampled but did not copy, by reason.\n# TYPE gray_gateway_mirror_dropped_total counter\n");
        for name in &names {
            for (i, reason) in [
                (IN_FLIGHT, "in_flight"),
                (BODY, "body_too_large"),
                (METHOD, "method"),
                (NO_NODE, "no_node"),
            ] {
                let _ = writeln!(
                    out,
                    "gray_gateway_mirror_dropped_total{{mirror=\"{name}\",reason=\"{reason}\"}} {}",
                    map[*name].counts[i].load(Ordering::Relaxed)
                );
            }
        }
    }
}

/// A copy that may be sent: it holds one of its mirror's in-flight slots.
pub(crate) struct Ticket {
    plan: MirrorPlan,
    entry: Entry,
    permit: OwnedSemaphorePermit,
    mirrors: Mirrors,
}

impl Ticket {
    /// Sends the copy of a request whose body is empty (or already known to be): at once.
    pub(crate) fn send_now(self, parts: &http::request::Parts) {
        let req = self.request(parts);
        self.spawn(req, async { Some(Bytes::new()) });
    }

    /// Sends the copy of a request with `body`: returns the body to send to the primary node,
    /// which passes every frame through unchanged and, while the body stays within the
    /// mirror's `max_body`, keeps a copy; the copy is sent once the body has ended.
    pub(crate) fn send_with_body(self, parts: &http::request::Parts, body: Body) -> Body {
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.plan.max_body) {
            self.entry.counts[BODY].fetch_add(1, Ordering::Relaxed);
            return body;
        }
        let (tx, rx) = oneshot::channel();
        let tee = Tee {
            inner: body,
            copy: Some(BytesMut::new()),
            limit: self.plan.max_body,
            done: Some(tx),
            entry: self.entry.clone(),
        };
        let req = self.request(parts);
        self.spawn(req, async move { rx.await.ok() });
        BodyExt::boxed(tee)
    }

    /// The copy's request head.
    fn request(&self, parts: &http::request::Parts) -> Option<http::request::Builder> {
        let https = self
            .mirrors
            .upstream_tls
            .applies(&self.plan.group, &self.plan.node);
        let uri = upstream_uri(https, &self.plan.node, &parts.uri).ok()?;
        let mut b = Request::builder().method(parts.method.clone()).uri(uri);
        let h = b.headers_mut()?;
        h.clone_from(&parts.headers);
        remove_hop_by_hop(h);
        h.remove(http::header::CONTENT_LENGTH);
        if let Some(host) = &self.plan.host {
            h.insert(http::header::HOST, HeaderValue::from_str(host).ok()?);
        }
        h.insert(
            http::HeaderName::from_bytes(self.plan.header.as_bytes()).ok()?,
            HeaderValue::from_static("1"),
        );
        Some(b)
    }

    /// Runs the copy on its own task once `body` yields its bytes (`None`: no copy after all).
    fn spawn(
        self,
        req: Option<http::request::Builder>,
        body: impl std::future::Future<Output = Option<Bytes>> + Send + 'static,
    ) {
        let Ticket {
            plan,
            entry,
            permit,
            mirrors,
        } = self;
        tokio::spawn(async move {
            let _slot = permit;
            let Some(req) = req else {
                entry.counts[FAILED].fetch_add(1, Ordering::Relaxed);
                return;
            };
            // No bytes: the body outgrew the limit (counted by the tee) or the client went
            // away; either way there is no copy.
            let Some(bytes) = body.await else {
                return;
            };
            let exchange = async {
                let req = req.body(Full::new(bytes)).ok()?;
                let resp = mirrors.client.request(req).await.ok()?;
                // Read the answer to its end so the connection can be reused; drop it.
                resp.into_body().collect().await.ok()?;
                Some(())
            };
            let i = match tokio::time::timeout(plan.timeout, exchange).await {
                Ok(Some(())) => OK,
                Ok(None) => FAILED,
                Err(_) => TIMEOUT,
            };
            entry.counts[i].fetch_add(1, Ordering::Relaxed);
        });
    }
}

/// The primary's body, passed through frame by frame, with a copy kept up to a limit.
struct Tee {
    inner: Body,
    copy: Option<BytesMut>,
    limit: u64,
    done: Option<oneshot::Sender<Bytes>>,
    entry: Entry,
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
