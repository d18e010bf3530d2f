//! The calling side of a service in a gray call chain: [`CallLayer`] routes each outgoing
//! request to an instance of the service it names, as the inbound request being handled says.
//!
//! A service in the middle of a chain (gateway → `svc-a` → `svc-b`) receives the gateway's
//! routing headers (`n-d-version: {"svc-b":"1.1"}` …) and must call the matching instance of
//! `svc-b` and pass the headers on. With this layer around its HTTP client it only writes:
//!
//! 1. [`CallContext::of`] the inbound request, inserted into each outgoing request's
//!    extensions;
//! 2. outgoing URIs that name the callee as their host: `http://svc-b/orders/7`.
//!
//! For each request the layer asks [`Engine::select_instance`] for an instance of the group
//! named by the URI host (release routes, weights, blacklists, failover: everything the
//! service's spec says), replaces the URI authority with that instance's address, replaces
//! every routing header of the request with [`Selection::outgoing_headers`] (the inbound ones
//! from a trusted peer, then the service's own release's; from an untrusted peer none), and
//! when the response headers arrive (or the call fails) records the outcome and latency for
//! the instance with [`Engine::record_node_timed`] (the [`Selection`] is in the request's and
//! the response's extensions): passive health, the latency histogram and
//! the live windows see outgoing calls as the gateway's do.
//!
//! ```
//! use std::sync::Arc;
//! use gray_core::{Engine, Format};
//! use gray_tower::call::{CallContext, CallLayer};
//! use http::{Request, Response};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let engine = Arc::new(Engine::from_str(r#"
//! version: 1
//! default: svc-b
//! groups:
//!   svc-b:
//!     nodes:
//!       - { address: "127.0.0.1:4001", metadata: { version: "1.0" } }
//!       - { address: "127.0.0.1:4002", metadata: { version: "1.1" } }
//! headers: { trusted_peers: ["127.0.0.1"] }
//! "#, Format::Yaml)?);
//! // A stand-in for an HTTP client: answers with the URI it was asked for.
//! let client = service_fn(|req: Request<()>| async move {
//!     let version = req.headers().get("n-d-version").cloned();
//!     Ok::<_, std::convert::Infallible>(Response::new((req.uri().to_string(), version)))
//! });
//! let client = CallLayer::new(engine).layer(client);
//!
//! // The inbound request came from the gateway (a trusted peer) asking for svc-b 1.1.
//! let inbound = Request::builder()
//!     .header("n-d-version", r#"{"svc-b":"1.1"}"#)
//!     .extension(gray_tower::PeerAddr("127.0.0.1:50000".parse()?))
//!     .body(())?;
//! let ctx = CallContext::of(&inbound);
//!
//! let call = Request::builder()
//!     .uri("http://svc-b/orders/7")
//!     .extension(ctx)
//!     .body(())?;
//! let (uri, version) = client.oneshot(call).await?.into_body();
//! assert_eq!(uri, "http://127.0.0.1:4002/orders/7");
//! assert_eq!(version.unwrap(), r#"{"svc-b":"1.1"}"#);
//! # Ok(())
//! # }
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use gray_core::{Engine, Outcome, Selection};
use http::header::{HeaderName, HeaderValue};
use http::uri::{Authority, Scheme, Uri};
use http::{HeaderMap, Method, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::peer::peer_addr;
use crate::view::HttpRequestView;

/// The error type of [`Call`]: the inner service's error, boxed, or a [`CallError`].
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Why [`Call`] could not send a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The request URI has no host to name the callee service by.
    NoService {
        /// The request URI.
        uri: String,
    },
    /// The spec has no group by that name.
    UnknownService {
        /// The service named by the URI host.
        service: String,
    },
    /// The group has no instance to call: none configured, or every one filtered out by the
    /// release routes, drained or ejected.
    NoInstance {
        /// The service.
        service: String,
    },
    /// The chosen address or a routing header does not fit into an HTTP request.
    Invalid {
        /// What did not fit, and why.
        reason: String,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::NoService { uri } => write!(
                f,
                "outgoing request to {uri:?} names no service: use a URI whose host is the callee's group, e.g. http://svc-b/path"
            ),
            CallError::UnknownService { service } => write!(
                f,
                "outgoing request names service {service:?}, but the spec has no group by that name"
            ),
            CallError::NoInstance { service } => write!(
                f,
                "no instance of service {service:?} can take the call (none configured, or all filtered out, drained or ejected)"
            ),
            CallError::Invalid { reason } => write!(f, "cannot build the outgoing request: {reason}"),
        }
    }
}

impl StdError for CallError {}

/// The routing context of the inbound request a service is handling, for its outgoing calls:
/// the peer address and the request line and headers, owned so that it can travel into
/// spawned tasks and into each outgoing request's extensions.
///
/// Only what gray may use is kept: routing headers are propagated by [`Call`] only when the
/// peer is trusted (`headers.trusted_peers` of the calling service's spec).
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    peer: Option<IpAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    /// The headers were filtered by this process's own decision (see [`CallContext::of`]).
    decided: bool,
}

impl CallContext {
    /// Captures `req` (its peer address comes from its extensions, see [`crate::peer_addr`]).
    ///
    /// When `req` carries a [`gray_core::Decision`] (it went through this process's
    /// [`crate::GrayLayer`]), the decision is the routing context: the captured headers are
    /// filtered by it as [`crate::apply_decision`] does (inbound routing headers it does not
    /// forward dropped, its own set), and the calls believe them whatever the peer, so a
    /// service that decides itself passes its decision down the chain.
    pub fn of<B>(req: &Request<B>) -> CallContext {
        let mut headers = req.headers().clone();
        let decision = req.extensions().get::<gray_core::Decision>();
        if let Some(d) = decision {
            crate::apply_decision(d, &mut headers);
        }
        CallContext {
            peer: peer_addr(req.extensions()).map(|a| a.ip()),
            method: req.method().clone(),
            uri: req.uri().clone(),
            headers,
            decided: decision.is_some(),
        }
    }

    /// A context from parts known elsewhere: the inbound peer and headers.
    pub fn from_parts(peer: Option<IpAddr>, headers: HeaderMap) -> CallContext {
        CallContext {
            peer,
            headers,
            ..CallContext::default()
        }
    }

    /// The inbound peer's address.
    pub fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    /// The inbound request's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The context as gray reads requests.
    pub fn view(&self) -> HttpRequestView<'_> {
        HttpRequestView::from_fields(&self.method, &self.uri, &self.headers).with_peer(self.peer)
    }
}

/// Maps a failed call to the outcome recorded for the instance.
pub type ErrorClassifier = fn(&(dyn StdError + 'static)) -> Outcome;

/// The default [`ErrorClassifier`]: walks the error's source chain for an I/O error and maps
/// its kind (refused, unreachable, … → `ConnectError`; timed out → `Timeout`), or a source
/// whose type or message says it is a timeout (`tower::timeout`'s `Elapsed`, hyper's
/// timeouts); anything else is `Reset` (the exchange broke after it began).
pub fn classify_error(e: &(dyn StdError + 'static)) -> Outcome {
    use std::io::ErrorKind as K;
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                K::ConnectionRefused | K::AddrNotAvailable | K::NotFound => Outcome::ConnectError,
                K::TimedOut => Outcome::Timeout,
                _ => Outcome::Reset,
            };
        }
        let text = err.to_string().to_ascii_lowercase();
        if text.contains("timed out") || text.contains("deadline has elapsed") {
            return Outcome::Timeout;
        }
        if text.contains("connection refused") || text.contains("error trying to connect") {
            return Outcome::ConnectError;
        }
        cur = err.source();
    }
    Outcome::Reset
}

/// Builds [`Call`]s: routes outgoing requests to the instance gray selects.
#[derive(Clone)]
pub struct CallLayer {
    engine: Arc<Engine>,
    scheme: Scheme,
    classify: ErrorClassifier,
}

impl CallLayer {
    /// Routes with `engine` (the calling service's spec: its callees as groups with their
    /// instances' metadata, its `release`, its `headers.trusted_peers`).
    pub fn new(engine: Arc<Engine>) -> Self {
        CallLayer {
            engine,
            scheme: Scheme::HTTP,
            classify: classify_error,
        }
    }

    /// The scheme of a request URI that has none (default `http`).
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// How a failed call is recorded (default [`classify_error`]).
    pub fn classify_errors(mut self, classify: ErrorClassifier) -> Self {
        self.classify = classify;
        self
    }
}

impl<S> Layer<S> for CallLayer {
    type Service = Call<S>;
    fn layer(&self, inner: S) -> Call<S> {
        Call {
            inner,
            layer: self.clone(),
        }
    }
}

/// An HTTP client service whose requests go to the instance gray selects (see [`mod@self`]).
#[derive(Clone)]
pub struct Call<S> {
    inner: S,
    layer: CallLayer,
}

impl<S> Call<S> {
    /// The engine that selects instances.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.layer.engine
    }
}

impl<S, B, RB> Service<Request<B>> for Call<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<RB>;
    type Error = BoxError;
    type Future = CallFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> CallFuture<S::Future> {
        match route(&self.layer, &mut req) {
            Ok(sel) => CallFuture {
                state: State::Sent {
                    future: self.inner.call(req),
                    record: Some(Recording {
                        engine: self.layer.engine.clone(),
                        selection: sel,
                        started: Instant::now(),
                        classify: self.layer.classify,
                    }),
                },
            },
            Err(e) => CallFuture {
                state: State::Refused { e: Some(e) },
            },
        }
    }
}

/// Selects the instance for `req` and rewrites its URI and routing headers.
fn route<B>(layer: &CallLayer, req: &mut Request<B>) -> Result<Selection, CallError> {
    let service = req
        .uri()
        .host()
        .ok_or_else(|| CallError::NoService {
            uri: req.uri().to_string(),
        })?
        .to_string();
    let empty = CallContext::default();
    let ctx = req.extensions().get::<CallContext>().unwrap_or(&empty);
    let view = ctx.view();
    let sel = if ctx.decided {
        layer.engine.select_instance_filtered(&service, &view)
    } else {
        layer.engine.select_instance(&service, &view)
    };
    if sel.service().is_none() {
        return Err(CallError::UnknownService { service });
    }
    let Some(address) = sel.node_address() else {
        return Err(CallError::NoInstance { service });
    };
    let authority: Authority = address.parse().map_err(|e| CallError::Invalid {
        reason: format!("instance address {address:?} of {service:?} is not a URI authority: {e}"),
    })?;
    let mut headers = Vec::new();
    for (name, value) in sel.outgoing_headers(&view) {
        let n = HeaderName::try_from(name.as_str()).map_err(|e| CallError::Invalid {
            reason: format!("routing header name {name:?}: {e}"),
        })?;
        let v = HeaderValue::try_from(value.as_str()).map_err(|e| CallError::Invalid {
            reason: format!("value of routing header {name:?}: {e}"),
        })?;
        headers.push((n, v));
    }
    let mut parts = req.uri().clone().into_parts();
    parts.scheme = Some(parts.scheme.unwrap_or_else(|| layer.scheme.clone()));
    parts.authority = Some(authority);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    let uri = Uri::from_parts(parts).map_err(|e| CallError::Invalid {
        reason: format!("outgoing URI for {address}: {e}"),
    })?;
    let snap = sel.snapshot();
    let own: Vec<HeaderName> = req
        .headers()
        .keys()
        .filter(|k| snap.is_routing_header(k.as_str()))
        .cloned()
        .collect();
    for k in own {
        req.headers_mut().remove(k);
    }
    for (n, v) in headers {
        req.headers_mut().append(n, v);
    }
    // Hyper sends an absolute-form URI's authority as `Host` only when it sets the header
    // itself; a `Host` copied from the inbound request would name the wrong server.
    req.headers_mut().remove(http::header::HOST);
    *req.uri_mut() = uri;
    req.extensions_mut().insert(sel.clone());
    Ok(sel)
}

/// What to record when the call ends.
struct Recording {
    engine: Arc<Engine>,
    selection: Selection,
    started: Instant,
    classify: ErrorClassifier,
}

impl Recording {
    fn record(self, outcome: Outcome, latency: Duration) {
        if let (Some(service), Some(address)) =
            (self.selection.service(), self.selection.node_address())
        {
            // The node may have left the spec since (a reload): nothing to record then.
            let _ = self
                .engine
                .record_node_timed(service, address, outcome, latency);
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Call`].
    pub struct CallFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        Refused { e: Option<CallError> },
        Sent {
            #[pin]
            future: F,
            record: Option<Recording>,
        },
    }
}

impl<F, RB, E> Future for CallFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<RB>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Refused { e } => {
                Poll::Ready(Err(Box::new(e.take().unwrap_or(CallError::Invalid {
                    reason: "the call future was polled after it completed".into(),
                }))))
            }
            StateProj::Sent { future, record } => {
                let result = ready!(future.poll(cx));
                let rec = record.take();
                match result {
                    Ok(mut resp) => {
                        if let Some(r) = rec {
                            let latency = r.started.elapsed();
                            resp.extensions_mut().insert(r.selection.clone());
                            r.record(Outcome::Status(resp.status().as_u16()), latency);
                        }
                        Poll::Ready(Ok(resp))
                    }
                    Err(e) => {
                        let e: BoxError = e.into();
                        if let Some(r) = rec {
                            let latency = r.started.elapsed();
                            let outcome = (r.classify)(&*e);
                            r.record(outcome, latency);
                        }
                        Poll::Ready(Err(e))
                    }
                }
            }
        }
    }
}
