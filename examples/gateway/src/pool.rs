//! Keep-alive connections to the upstream nodes, one pool per worker thread.
//!
//! Built on `hyper::client::conn::http1`: a connection is a `SendRequest` handle and a
//! connection task spawned on the worker's own runtime, so a request, its upstream connection
//! and the response all stay on one thread. A connection goes back to the pool when its
//! response body has been read to the end (nginx's `keepalive`), and is taken out again with
//! no channel hop or task of its own. A pooled connection the node has closed meanwhile is
//! noticed before use (`is_closed`) or, when the request could not be written to it, the request
//! comes back and goes out on the next connection — so a node's keep-alive timeout never
//! surfaces as an error. Idle connections are closed after the idle timeout, and at most
//! [`MAX_IDLE_PER_NODE`] are kept per node.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use tokio::time::Instant;
use tower::Service;

use crate::body::{Body, BoxError};
use crate::upstream_tls::Connector;

/// Idle connections kept per node and worker at most (nginx's `keepalive` per upstream).
pub const MAX_IDLE_PER_NODE: usize = 256;

/// How often idle connections past the idle timeout are closed, at most (more often for a
/// shorter idle timeout).
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Why an exchange through the pool failed.
#[derive(Debug)]
pub enum PoolError {
    /// No connection to the node could be made (TCP, TLS, or the connect timeout).
    Connect(BoxError),
    /// The connection broke before the response headers arrived.
    Exchange(hyper::Error),
}

/// One worker's upstream connections (cheap to clone: the clones share them).
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connector: Connector,
    idle_timeout: Duration,
    nodes: Mutex<Nodes>,
    sweeping: AtomicBool,
}

/// Each node's idle connections, plain and TLS apart. A node's slot is made once and then
/// shared by the responses that will return a connection to it.
#[derive(Default)]
struct Nodes {
    plain: HashMap<Box<str>, Arc<Slot>>,
    tls: HashMap<Box<str>, Arc<Slot>>,
}

type Slot = Mutex<Vec<Parked>>;

struct Parked {
    sender: http1::SendRequest<Body>,
    since: Instant,
}

impl Pool {
    /// A pool connecting with `connector`, closing connections idle for `idle_timeout`.
    pub fn new(connector: Connector, idle_timeout: Duration) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                connector,
                idle_timeout,
                nodes: Mutex::default(),
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// The slot of `node`, made on first use.
    fn slot(&self, https: bool, node: &str) -> Arc<Slot> {
        let mut nodes = self
            .inner
            .nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let map = if https {
            &mut nodes.tls
        } else {
            &mut nodes.plain
        };
        match map.get(node) {
            Some(slot) => slot.clone(),
            None => map.entry(node.into()).or_default().clone(),
        }
    }

    /// Sends `req` (origin-form URI, `Host` set) to `node` (`host:port`, over TLS when
    /// `https`) on a pooled connection, or a new one, and waits for the response headers.
    pub async fn send(
        &self,
        https: bool,
        node: &str,
        mut req: Request<Body>,
    ) -> Result<Response<PooledBody>, PoolError> {
        let slot = self.slot(https, node);
        while let Some(mut sender) = self.checkout(&slot) {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(self.wrap(resp, sender, slot)),
                Err(mut e) => match e.take_message() {
                    // Not written: the connection had closed. Try the next one.
                    Some(back) => req = back,
                    None => return Err(PoolError::Exchange(e.into_error())),
                },
            }
        }
        let scheme = if https { "https" } else { "http" };
        let uri: Uri = format!("{scheme}://{node}/")
            .parse()
            .map_err(|e: http::uri::InvalidUri| PoolError::Connect(e.into()))?;
        let mut connector = self.inner.connector.clone();
        let io = connector.call(uri).await.map_err(PoolError::Connect)?;
        let (mut sender, conn) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|e| PoolError::Connect(e.into()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        let resp = sender
            .send_request(req)
            .await
            .map_err(PoolError::Exchange)?;
        Ok(self.wrap(resp, sender, slot))
    }

    fn checkout(&self, slot: &Slot) -> Option<http1::SendRequest<Body>> {
        let mut parked = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        while let Some(p) = parked.pop() {
            if !p.sender.is_closed() && now.duration_since(p.since) < self.inner.idle_timeout {
                return Some(p.sender);
            }
        }
        None
    }

    fn checkin(&self, slot: &Slot, sender: http1::SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        {
            let mut parked = slot.lock().unwrap_or_else(PoisonError::into_inner);
            if parked.len() >= MAX_IDLE_PER_NODE {
                return;
            }
            parked.push(Parked {
                sender,
                since: Instant::now(),
            });
        }
        if !self.inner.sweeping.swap(true, Ordering::Relaxed) {
            tokio::spawn(sweep(Arc::downgrade(&self.inner)));
        }
    }

    fn wrap(
        &self,
        resp: Response<Incoming>,
        sender: http1::SendRequest<Body>,
        slot: Arc<Slot>,
    ) -> Response<PooledBody> {
        // A switched connection belongs to its tunnel, never to the pool.
        let back = (resp.status() != StatusCode::SWITCHING_PROTOCOLS).then(|| Back {
            pool: self.clone(),
            slot,
            sender,
        });
        resp.map(|body| PooledBody { body, back })
    }
}

/// Closes idle connections past the idle timeout, until the pool is gone.
async fn sweep(pool: Weak<Inner>) {
    let period = match pool.upgrade() {
        Some(inner) => SWEEP_EVERY.min(inner.idle_timeout / 2),
        None => return,
    };
    let mut every = tokio::time::interval(period.max(Duration::from_millis(10)));
    every.tick().await;
    loop {
        every.tick().await;
        let Some(inner) = pool.upgrade() else { return };
        let now = Instant::now();
        let slots: Vec<Arc<Slot>> = {
            let nodes = inner.nodes.lock().unwrap_or_else(PoisonError::into_inner);
            nodes
                .plain
                .values()
                .chain(nodes.tls.values())
                .cloned()
                .collect()
        };
        for slot in slots {
            slot.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|p| {
                    !p.sender.is_closed() && now.duration_since(p.since) < inner.idle_timeout
                });
        }
    }
}

/// Where a connection goes back to once its response body has been read.
struct Back {
    pool: Pool,
    slot: Arc<Slot>,
    sender: http1::SendRequest<Body>,
}

impl Back {
    fn park(self) {
        self.pool.checkin(&self.slot, self.sender);
    }
}

/// An upstream response body that returns its connection to the pool when read to the end; a
/// body dropped before its end closes the connection (its state is unknown).
pub struct PooledBody {
    body: Incoming,
    back: Option<Back>,
}

impl http_body::Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        let r = Pin::new(&mut self.body).poll_frame(cx);
        match &r {
            Poll::Ready(None) => {
                if let Some(back) = self.back.take() {
                    back.park();
                }
            }
            Poll::Ready(Some(Err(_))) => self.back = None,
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // A body with nothing to read (HEAD, 204, 304, an empty body) may never be polled.
        if self.body.is_end_stream() {
            if let Some(back) = self.back.take() {
                back.park();
            }
        }
    }
}
