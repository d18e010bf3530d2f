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
//!
//! A node that speaks HTTP/2 ([`Route::h2`], [`crate::upstream_h2`]) has one shared
//! connection per worker instead (`hyper::client::conn::http2`, its task on the worker's
//! runtime too): every request clones its `SendRequest` and opens a stream on it, nothing is
//! checked out. It is made on first use — concurrent first requests wait for the same
//! attempt — and replaced when it is closed (the node sent GOAWAY or dropped it); a request
//! that could not be handed to a connection that had just closed goes out on a new one. The
//! idle sweep closes it once no stream is open and none started for the idle timeout. Over TLS
//! the node may select HTTP/1.1 in ALPN instead: then its requests use the HTTP/1.1 pool above.

mod h2;

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
use hyper::client::conn::{http1, http2};
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

use self::h2::{h2_form, http1_form, H2Slot, OpenStream, Shared};
use crate::body::{Body, BoxError};
use crate::forward::idempotent;
use crate::upstream_tls::{negotiated_h2, Connector};

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

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::Connect(e) => write!(f, "cannot connect: {e}"),
            PoolError::Exchange(e) => write!(f, "the exchange broke: {e}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PoolError::Connect(e) => Some(e.as_ref()),
            PoolError::Exchange(e) => Some(e),
        }
    }
}

/// How a request reaches its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Route {
    /// Over TLS.
    pub https: bool,
    /// Over the node's shared HTTP/2 connection: with prior knowledge (h2c) on a plain
    /// connection, over TLS when the node selects `h2` in ALPN (else HTTP/1.1). Never set for
    /// an upgrade, which needs HTTP/1.1.
    pub h2: bool,
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

/// Each node's connections, plain and TLS apart. A node's slot is made once and then shared
/// by the responses that will return a connection to it.
#[derive(Default)]
struct Nodes {
    plain: HashMap<Box<str>, Arc<Slot>>,
    tls: HashMap<Box<str>, Arc<Slot>>,
}

/// A node's idle HTTP/1.1 connections and its shared HTTP/2 one.
#[derive(Default)]
struct Slot {
    idle: Mutex<Vec<Parked>>,
    h2: H2Slot,
}

/// A connection just made.
enum Fresh {
    Http1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

/// Where trying a node's shared HTTP/2 connection left a request.
enum Via {
    /// Answered, or failed.
    Done(Result<Response<PooledBody>, PoolError>),
    /// The node speaks HTTP/1.1 (it selected it in ALPN): the request goes over HTTP/1.1,
    /// on the connection just made for it if there is one.
    Http1(Request<Body>, Option<http1::SendRequest<Body>>),
}

/// The head of an idempotent request without a body, to send it again.
struct Replay {
    method: http::Method,
    uri: Uri,
    headers: http::HeaderMap,
}

impl Replay {
    fn of(req: &Request<Body>) -> Option<Replay> {
        (idempotent(req.method()) && req.body().is_end_stream()).then(|| Replay {
            method: req.method().clone(),
            uri: req.uri().clone(),
            headers: req.headers().clone(),
        })
    }

    fn request(self) -> Result<Request<Body>, http::Error> {
        use http_body_util::{BodyExt, Empty};
        let mut req = Request::builder()
            .method(self.method)
            .uri(self.uri)
            .body(Empty::new().map_err(|never| match never {}).boxed())?;
        *req.headers_mut() = self.headers;
        Ok(req)
    }
}

/// An HTTP/2 exchange that failed; with the request when it never left (the connection had
/// closed).
struct H2Failure {
    unsent: Option<Request<Body>>,
    error: PoolError,
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

    /// Sends `req` (origin-form URI, `Host` set) to `node` (`host:port`) the way `route` says,
    /// on a pooled connection or a new one, and waits for the response headers.
    pub async fn send(
        &self,
        route: Route,
        node: &str,
        mut req: Request<Body>,
    ) -> Result<Response<PooledBody>, PoolError> {
        let slot = self.slot(route.https, node);
        if route.h2 {
            // Boxed, as the connect below: the common HTTP/1.1 exchange's future stays small
            // (it is moved into place on every request). Boxed in a statement of its own: a
            // temporary of the awaiting statement would keep its place in this future's state.
            let shared = Box::pin(self.send_shared(&slot, route, node, req));
            match shared.await {
                Via::Done(r) => return r,
                Via::Http1(back, own) => {
                    req = back;
                    http1_form(&mut req);
                    if let Some(sender) = own {
                        return self.exchange_http1(sender, req, slot).await;
                    }
                }
            }
        }
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
        // Boxed: connecting (TCP, TLS, the handshake) is rare with keep-alive, and its state
        // would otherwise make every request's future several kilobytes larger.
        let connect = Box::pin(self.connect(route, node));
        match connect.await? {
            Fresh::Http1(sender) => self.exchange_http1(sender, req, slot).await,
            Fresh::H2(sender) => {
                // The node had selected HTTP/1.1 and now selects h2: this is its shared
                // connection from now on.
                slot.h2.install(sender.clone());
                self.start_sweep();
                self.exchange_h2(sender, req, route, node, &slot)
                    .await
                    .map_err(|f| f.error)
            }
        }
    }

    /// Sends `req` on the node's shared HTTP/2 connection, made first if there is none (or
    /// the node's choice of HTTP/1.1, or a connect failure shared with concurrent requests).
    async fn send_shared(
        &self,
        slot: &Arc<Slot>,
        route: Route,
        node: &str,
        mut req: Request<Body>,
    ) -> Via {
        let mut replay = Replay::of(&req);
        let mut replaced = false;
        loop {
            let cell = slot.h2.current(self.inner.idle_timeout);
            let mut own = None;
            let shared = cell
                .get_or_init(|| async {
                    match self.connect(route, node).await {
                        Ok(Fresh::H2(sender)) => {
                            self.start_sweep();
                            Shared::H2(sender)
                        }
                        Ok(Fresh::Http1(sender)) => {
                            own = Some(Ok(sender));
                            Shared::Http1(Instant::now())
                        }
                        Err(e) => {
                            let failed = match &e {
                                PoolError::Connect(e) => Shared::failed(e),
                                PoolError::Exchange(e) => Shared::Failed {
                                    timed_out: false,
                                    reason: e.to_string(),
                                },
                            };
                            own = Some(Err(e));
                            failed
                        }
                    }
                })
                .await;
            let reused = own.is_none();
            let sender = match (shared, own) {
                (_, Some(Ok(sender))) => return Via::Http1(req, Some(sender)),
                (_, Some(Err(e))) => return Via::Done(Err(e)),
                (Shared::Http1(_), None) => return Via::Http1(req, None),
                (Shared::Failed { timed_out, reason }, None) => {
                    return Via::Done(Err(PoolError::Connect(Shared::error(*timed_out, reason))))
                }
                (Shared::H2(sender), None) => sender.clone(),
            };
            match self.exchange_h2(sender, req, route, node, slot).await {
                Ok(resp) => return Via::Done(Ok(resp)),
                // The connection had closed before the request left: once more, on a new one.
                Err(H2Failure {
                    unsent: Some(back), ..
                }) if !replaced => {
                    slot.h2.forget(&cell);
                    replaced = true;
                    req = back;
                }
                // The connection broke under a request it had taken (the node closed it as
                // the request went out): an idempotent one without a body goes once more.
                Err(f) if reused && !replaced && replay.is_some() => {
                    tracing::debug!(node, error = %f.error, "shared HTTP/2 connection broke; sending again");
                    slot.h2.forget(&cell);
                    replaced = true;
                    match replay.take().map(Replay::request) {
                        Some(Ok(again)) => req = again,
                        _ => return Via::Done(Err(f.error)),
                    }
                }
                Err(f) => return Via::Done(Err(f.error)),
            }
        }
    }

    /// One exchange on an HTTP/2 connection.
    async fn exchange_h2(
        &self,
        mut sender: http2::SendRequest<Body>,
        mut req: Request<Body>,
        route: Route,
        node: &str,
        slot: &Slot,
    ) -> Result<Response<PooledBody>, H2Failure> {
        h2_form(&mut req, route.https, node);
        if let Err(e) = sender.ready().await {
            return Err(H2Failure {
                unsent: Some(req),
                error: PoolError::Exchange(e),
            });
        }
        let stream = slot.h2.stream();
        match sender.try_send_request(req).await {
            Ok(resp) => Ok(resp.map(|body| PooledBody {
                body,
                back: None,
                stream: Some(stream),
            })),
            Err(mut e) => Err(H2Failure {
                unsent: e.take_message(),
                error: PoolError::Exchange(e.into_error()),
            }),
        }
    }

    /// One exchange on a new HTTP/1.1 connection.
    async fn exchange_http1(
        &self,
        mut sender: http1::SendRequest<Body>,
        req: Request<Body>,
        slot: Arc<Slot>,
    ) -> Result<Response<PooledBody>, PoolError> {
        let resp = sender
            .send_request(req)
            .await
            .map_err(PoolError::Exchange)?;
        Ok(self.wrap(resp, sender, slot))
    }

    /// A new connection to `node`: HTTP/2 for an h2 route over plain TCP, or over TLS when the
    /// node selects `h2` in ALPN; else HTTP/1.1.
    async fn connect(&self, route: Route, node: &str) -> Result<Fresh, PoolError> {
        let scheme = if route.https { "https" } else { "http" };
        let uri: Uri = format!("{scheme}://{node}/")
            .parse()
            .map_err(|e: http::uri::InvalidUri| PoolError::Connect(e.into()))?;
        let io = self
            .inner
            .connector
            .connect(uri, route.h2 && route.https)
            .await
            .map_err(PoolError::Connect)?;
        if route.h2 && (!route.https || negotiated_h2(&io)) {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .handshake(io)
                .await
                .map_err(|e| PoolError::Connect(e.into()))?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "upstream HTTP/2 connection ended with an error");
                }
            });
            return Ok(Fresh::H2(sender));
        }
        let (sender, conn) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|e| PoolError::Connect(e.into()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(Fresh::Http1(sender))
    }

    /// Starts the idle sweep unless it runs.
    fn start_sweep(&self) {
        if !self.inner.sweeping.swap(true, Ordering::Relaxed) {
            tokio::spawn(sweep(Arc::downgrade(&self.inner)));
        }
    }

    fn checkout(&self, slot: &Slot) -> Option<http1::SendRequest<Body>> {
        let mut parked = slot.idle.lock().unwrap_or_else(PoisonError::into_inner);
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
            let mut parked = slot.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if parked.len() >= MAX_IDLE_PER_NODE {
                return;
            }
            parked.push(Parked {
                sender,
                since: Instant::now(),
            });
        }
        self.start_sweep();
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
        resp.map(|body| PooledBody {
            body,
            back,
            stream: None,
        })
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
            slot.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|p| {
                    !p.sender.is_closed() && now.duration_since(p.since) < inner.idle_timeout
                });
            slot.h2.sweep(now, inner.idle_timeout);
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
/// body dropped before its end closes the connection (its state is unknown). Over HTTP/2 it
/// keeps its stream counted as open instead (the connection is not idle until it ends).
pub struct PooledBody {
    body: Incoming,
    back: Option<Back>,
    stream: Option<OpenStream>,
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
                self.stream = None;
            }
            Poll::Ready(Some(Err(_))) => {
                self.back = None;
                self.stream = None;
            }
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
