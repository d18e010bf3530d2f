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
    idle: Mutex<Idle>,
    sweeping: AtomicBool,
}

/// Idle connections by node, plain and TLS apart.
#[derive(Default)]
struct Idle {
    plain: HashMap<Box<str>, Vec<Parked>>,
    tls: HashMap<Box<str>, Vec<Parked>>,
}

impl Idle {
    fn of(&mut self, https: bool) -> &mut HashMap<Box<str>, Vec<Parked>> {
        if https {
            &mut self.tls
        } else {
            &mut self.plain
        }
    }
}

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
                idle: Mutex::default(),
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// Idle connections held now (all nodes).
    pub fn idle(&self) -> usize {
        let idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        idle.plain
            .values()
            .chain(idle.tls.values())
            .map(Vec::len)
            .sum()
    }

    /// Sends `req` (origin-form URI, `Host` set) to `node` (`host:port`, over TLS when
    /// `https`) on a pooled connection, or a new one, and waits for the response headers.
    pub async fn send(
        &self,
        https: bool,
        node: &str,
        mut req: Request<Body>,
    ) -> Result<Response<PooledBody>, PoolError> {
        while let Some(mut sender) = self.checkout(https, node) {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(self.wrap(resp, sender, https, node)),
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
        Ok(self.wrap(resp, sender, https, node))
    }

    fn checkout(&self, https: bool, node: &str) -> Option<http1::SendRequest<Body>> {
        let mut idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let parked = idle.of(https).get_mut(node)?;
        let now = Instant::now();
        while let Some(p) = parked.pop() {
            if !p.sender.is_closed() && now.duration_since(p.since) < self.inner.idle_timeout {
                return Some(p.sender);
            }
        }
        None
    }

    fn checkin(&self, https: bool, node: &str, sender: http1::SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        {
            let mut idle = self
                .inner
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let map = idle.of(https);
            let parked = match map.get_mut(node) {
                Some(p) => p,
                None => map.entry(node.into()).or_default(),
            };
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
        https: bool,
        node: &str,
    ) -> Response<PooledBody> {
        // A switched connection belongs to its tunnel, never to the pool.
        let back = (resp.status() != StatusCode::SWITCHING_PROTOCOLS).then(|| Back {
            pool: self.clone(),
            https,
            node: node.into(),
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
        let mut idle = inner.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let Idle { plain, tls } = &mut *idle;
        for map in [plain, tls] {
            map.retain(|_, parked| {
                parked.retain(|p| {
                    !p.sender.is_closed() && now.duration_since(p.since) < inner.idle_timeout
                });
                !parked.is_empty()
            });
        }
    }
}

/// Where a connection goes back to once its response body has been read.
struct Back {
    pool: Pool,
    https: bool,
    node: Box<str>,
    sender: http1::SendRequest<Body>,
}

impl Back {
    fn park(self) {
        self.pool.checkin(self.https, &self.node, self.sender);
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
