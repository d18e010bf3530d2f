//! The proxy service: forwards each request to the node its [`Decision`] picked.
//!
//! * Upstream connections are HTTP/1.1 and pooled (keep-alive) per node and worker thread
//!   ([`crate::pool`]), or one shared HTTP/2 connection per node and worker for the nodes
//!   [`UpstreamH2`] names; request and response bodies stream through without buffering.
//! * Hop-by-hop headers are removed both ways, `X-Forwarded-For` gets the peer appended,
//!   `Host` is kept (or taken from the HTTP/2 authority).
//! * Failures answer with a short plain-text reason: **503** when no node is available in the
//!   decided group or its fallbacks, **502** when connecting fails or the upstream breaks the
//!   exchange, **504** when connecting or the response headers time out.
//! * Every outcome is recorded, with its latency, for passive health and the traffic record
//!   ([`Engine::record_timed`]): the group's `fail_on`
//!   says which outcomes count (by default connect errors and timeouts, as nginx). A client
//!   that stalls or breaks its upload is the client's failure (**408** / **400**) and is never
//!   held against the node.
//! * **Retry:** when connecting to the node fails (refused, unreachable, connect timeout) or the
//!   node drops the connection before sending response headers, and the request is idempotent
//!   (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) with an empty body, the request is decided again
//!   after the failure was reported — so an ejected node is skipped and a group's fallback
//!   applies — and sent once more to a different node (another available node of the serving
//!   group if the decision picks the same node again). Like nginx's `proxy_next_upstream
//!   error`, never more than one retry; response-header timeouts are not retried; requests
//!   with a body are never retried (the body is streamed and cannot be replayed).

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use gray_core::{Decision, Engine, Outcome};
use gray_tower::{apply_decision, peer_addr, HttpRequestView};
use http::{Request, Response, StatusCode, Version};
use http_body::Body as _;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;

use tracing::Instrument;

use crate::forward::{
    append_forwarded_for, ensure_host, idempotent, origin_form, remove_hop_by_hop,
};
use crate::pool::{Pool, PoolError, Route};
use crate::server::{ClientTls, ConnectionLease};
use crate::tls::TlsError;
use crate::tunnel::{self, h2::ExtendedConnect, Upgrade};
use crate::upload::{ClientBody, ClientFailure, Upload};
use crate::upstream_h2::UpstreamH2;
use crate::upstream_tls::{Connector, UpstreamTls};

pub use crate::body::{text_response, Body, BoxError};
use crate::mirror::Mirrors;

/// Timeouts and pool settings of the upstream client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyTimeouts {
    /// TCP connect timeout per attempt.
    pub connect: Duration,
    /// Time from sending the whole request (body included) until the response headers
    /// arrive.
    pub response_header: Duration,
    /// Longest pause between two reads of a client's request body (nginx
    /// `client_body_timeout`); a client that exceeds it gets **408** and nothing is held
    /// against the upstream.
    pub client_body: Duration,
    /// How long an idle pooled upstream connection is kept.
    pub pool_idle: Duration,
}

impl Default for ProxyTimeouts {
    fn default() -> Self {
        ProxyTimeouts {
            connect: Duration::from_secs(2),
            response_header: Duration::from_secs(30),
            client_body: Duration::from_secs(60),
            pool_idle: Duration::from_secs(60),
        }
    }
}

/// The forwarding service (a tower `Service`, used inside [`gray_tower::Gray`]).
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Arc<Engine>,
    pool: Pool,
    connector: Connector,
    timeouts: ProxyTimeouts,
    upstream_tls: UpstreamTls,
    upstream_h2: UpstreamH2,
    stats: Arc<ProxyStats>,
    mirrors: Mirrors,
}

/// Counters of upstream failures and retries, exported by the admin `/metrics`.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub(crate) no_upstream: AtomicU64,
    connect: AtomicU64,
    connect_timeout: AtomicU64,
    response_timeout: AtomicU64,
    exchange: AtomicU64,
    retries: AtomicU64,
    retries_ok: AtomicU64,
    client_body_timeout: AtomicU64,
    client_aborted: AtomicU64,
    /// The mirrors' counters (see [`crate::mirror`]).
    mirrors: std::sync::OnceLock<Mirrors>,
}

impl ProxyStats {
    /// Counts a retry, and whether it got an answer below 500.
    pub(crate) fn retried(&self, ok: bool) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        if ok {
            self.retries_ok.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn failed(&self, f: &Failure) {
        let c = match f {
            Failure::Connect(_) => &self.connect,
            Failure::ConnectTimeout => &self.connect_timeout,
            Failure::ResponseTimeout => &self.response_timeout,
            Failure::Exchange(_) => &self.exchange,
            Failure::Client(ClientFailure::Timeout) => &self.client_body_timeout,
            Failure::Client(ClientFailure::Aborted) => &self.client_aborted,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The mirrors of this proxy (their counters and latest differences).
    pub fn mirrors(&self) -> Option<&Mirrors> {
        self.mirrors.get()
    }

    /// The counters in the Prometheus text format.
    pub fn write_prometheus(&self, out: &mut String) {
        if let Some(m) = self.mirrors.get() {
            m.write_prometheus(out);
        }
        use std::fmt::Write as _;
        out.push_str("# HELP gray_gateway_upstream_failures_total Failed upstream attempts by kind.\n# TYPE gray_gateway_upstream_failures_total counter\n");
        for (kind, c) in [
            ("no_upstream", &self.no_upstream),
            ("connect", &self.connect),
            ("connect_timeout", &self.connect_timeout),
            ("response_timeout", &self.response_timeout),
            ("exchange", &self.exchange),
        ] {
            let _ = writeln!(
                out,
                "gray_gateway_upstream_failures_total{{kind=\"{kind}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP gray_gateway_client_errors_total Requests the client broke while its body was being sent upstream (never held against the upstream).\n# TYPE gray_gateway_client_errors_total counter\n");
        for (kind, c) in [
            ("body_timeout", &self.client_body_timeout),
            ("aborted", &self.client_aborted),
        ] {
            let _ = writeln!(
                out,
                "gray_gateway_client_errors_total{{kind=\"{kind}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP gray_gateway_retries_total Retries on another node, by result.\n# TYPE gray_gateway_retries_total counter\n");
        let (all, ok) = (
            self.retries.load(Ordering::Relaxed),
            self.retries_ok.load(Ordering::Relaxed),
        );
        let _ = writeln!(out, "gray_gateway_retries_total{{result=\"ok\"}} {ok}");
        let _ = writeln!(
            out,
            "gray_gateway_retries_total{{result=\"failed\"}} {}",
            all.saturating_sub(ok)
        );
    }
}

/// Why an upstream exchange failed.
#[derive(Debug)]
pub(crate) enum Failure {
    Connect(String),
    ConnectTimeout,
    ResponseTimeout,
    Exchange(String),
    /// The client, not the upstream, broke the exchange (its body stalled or broke).
    Client(ClientFailure),
}

impl Failure {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Failure::Connect(_) | Failure::Exchange(_) => StatusCode::BAD_GATEWAY,
            Failure::ConnectTimeout | Failure::ResponseTimeout => StatusCode::GATEWAY_TIMEOUT,
            Failure::Client(ClientFailure::Timeout) => StatusCode::REQUEST_TIMEOUT,
            Failure::Client(ClientFailure::Aborted) => StatusCode::BAD_REQUEST,
        }
    }

    /// Failures before any response arrived that are safe to retry for idempotent requests
    /// without a body: the node was unreachable or dropped the exchange. Response timeouts are
    /// not retried (the node may still be working on it, and the client already waited).
    pub(crate) fn is_retryable(&self) -> bool {
        !matches!(self, Failure::ResponseTimeout | Failure::Client(_))
    }

    /// What the failure tells passive health about the node: nothing when the client broke
    /// the exchange.
    pub(crate) fn outcome(&self) -> Option<Outcome> {
        Some(match self {
            Failure::Connect(_) => Outcome::ConnectError,
            Failure::ConnectTimeout | Failure::ResponseTimeout => Outcome::Timeout,
            Failure::Exchange(_) => Outcome::Reset,
            Failure::Client(_) => return None,
        })
    }

    /// Whether the failure says something about the upstream node (passive health).
    pub(crate) fn is_upstream(&self) -> bool {
        !matches!(self, Failure::Client(_))
    }

    pub(crate) fn reason(&self, node: &str, t: &ProxyTimeouts) -> String {
        match self {
            Failure::Connect(e) => format!("cannot connect to upstream {node}: {e}"),
            Failure::ConnectTimeout => format!(
                "connecting to upstream {node} timed out after {:?}",
                t.connect
            ),
            Failure::ResponseTimeout => format!(
                "upstream {node} sent no response headers within {:?}",
                t.response_header
            ),
            Failure::Exchange(e) => format!("upstream {node} failed: {e}"),
            Failure::Client(ClientFailure::Timeout) => format!(
                "the client sent no request body data for {:?}",
                t.client_body
            ),
            Failure::Client(ClientFailure::Aborted) => {
                "the client's request body broke off".to_owned()
            }
        }
    }
}

/// The innermost cause of an error, for short reasons.
fn root_cause<'a>(e: &'a (dyn StdError + 'static)) -> &'a (dyn StdError + 'static) {
    let mut e = e;
    while let Some(next) = e.source() {
        e = next;
    }
    e
}

fn is_timeout(e: &(dyn StdError + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

impl Proxy {
    /// A proxy deciding with `engine` (only when a request has no `Decision` extension yet)
    /// and reporting outcomes to it, reaching the nodes `upstream_tls` names over HTTPS
    /// ([`crate::upstream_tls`]; [`UpstreamTls::default`]: none) and those `upstream_h2` names
    /// over HTTP/2 ([`crate::upstream_h2`]; [`UpstreamH2::default`]: none). Fails when the CA
    /// file is unusable.
    pub fn new(
        engine: Arc<Engine>,
        timeouts: ProxyTimeouts,
        upstream_tls: UpstreamTls,
        upstream_h2: UpstreamH2,
    ) -> Result<Self, TlsError> {
        let config = upstream_tls.client_config()?;
        Ok(Proxy::with_client(
            engine,
            timeouts,
            upstream_tls,
            upstream_h2,
            config,
        ))
    }

    fn with_client(
        engine: Arc<Engine>,
        timeouts: ProxyTimeouts,
        upstream_tls: UpstreamTls,
        upstream_h2: UpstreamH2,
        config: rustls::ClientConfig,
    ) -> Self {
        let connector = Connector::new(config, timeouts.connect);
        let pool = Pool::new(connector.clone(), timeouts.pool_idle);
        let mirrors = Mirrors::new(connector.clone(), upstream_tls.clone());
        let stats = Arc::new(ProxyStats::default());
        let _ = stats.mirrors.set(mirrors.clone());
        Proxy {
            inner: Arc::new(Inner {
                engine,
                pool,
                connector,
                timeouts,
                upstream_tls,
                upstream_h2,
                stats,
                mirrors,
            }),
        }
    }

    /// A proxy like this one (the same engine, counters, mirrors and settings) with an
    /// upstream connection pool of its own: one per worker thread, so that a request and the
    /// pooled connection it uses live on the same thread ([`crate::server::serve_sharded`]).
    pub fn worker(&self) -> Proxy {
        let i = &self.inner;
        Proxy {
            inner: Arc::new(Inner {
                engine: i.engine.clone(),
                pool: Pool::new(i.connector.clone(), i.timeouts.pool_idle),
                connector: i.connector.clone(),
                timeouts: i.timeouts,
                upstream_tls: i.upstream_tls.clone(),
                upstream_h2: i.upstream_h2.clone(),
                stats: i.stats.clone(),
                mirrors: i.mirrors.clone(),
            }),
        }
    }

    /// The failure and retry counters.
    pub fn stats(&self) -> Arc<ProxyStats> {
        self.inner.stats.clone()
    }

    /// The counters, borrowed.
    pub(crate) fn counters(&self) -> &ProxyStats {
        &self.inner.stats
    }

    /// The engine deciding and recording for this proxy.
    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The upstream timeouts.
    pub(crate) fn timeouts(&self) -> &ProxyTimeouts {
        &self.inner.timeouts
    }

    /// True when every node is reached over plain HTTP/1.1 (no `--upstream-tls` or
    /// `--upstream-h2` target).
    pub(crate) fn plain_http1_only(&self) -> bool {
        self.inner.upstream_tls.targets.is_empty() && self.inner.upstream_h2.targets.is_empty()
    }

    /// Forwards one request and always answers (errors become 502/503/504 responses). With
    /// `RUST_LOG=gray::access=debug` each request is logged with its decision, status and time.
    pub async fn forward(&self, mut req: Request<Incoming>) -> Response<Body> {
        let decision = match req.extensions().get::<Decision>() {
            Some(d) => d.clone(),
            None => {
                let d = self.inner.engine.decide(&HttpRequestView::new(&req));
                apply_decision(&d, req.headers_mut());
                d
            }
        };
        let access = tracing::enabled!(target: "gray::access", tracing::Level::DEBUG)
            .then(|| (Instant::now(), req.method().clone(), req.uri().clone()));
        let span = gray_tower::trace::decision_span(&decision);
        // An upgrade (WebSocket) takes over the client's connection (its HTTP/2 stream for an
        // extended CONNECT) once the node agrees.
        let (client_upgrade, lease, h2_websocket) = if req.extensions().get::<Upgrade>().is_some() {
            (
                Some(hyper::upgrade::on(&mut req)),
                req.extensions().get::<ConnectionLease>().cloned(),
                req.extensions().get::<ExtendedConnect>().cloned(),
            )
        } else {
            (None, None, None)
        };
        let resp = self
            .forward_decided(req, decision.clone())
            .instrument(span)
            .await;
        let node = decision.node_address().unwrap_or("(none)");
        let resp = match &h2_websocket {
            Some(ws) => tunnel::h2::splice(resp, client_upgrade, lease, node, ws),
            None => tunnel::splice(resp, client_upgrade, lease, node),
        };
        if let Some((start, method, uri)) = access {
            log_access(&method, &uri, resp.status().as_u16(), &decision, start);
        }
        resp
    }

    async fn forward_decided(&self, req: Request<Incoming>, decision: Decision) -> Response<Body> {
        let Some(node) = decision.node_address() else {
            self.inner.stats.no_upstream.fetch_add(1, Ordering::Relaxed);
            return text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "no upstream available for group {:?} (nodes down, draining or weight 0)",
                    decision.requested_group()
                ),
            );
        };
        let peer = peer_addr(req.extensions()).map(|a| a.ip());
        // A copy for the mirror, if one applies (never of an upgrade: a tunnel is no request).
        let ticket = if req.extensions().get::<Upgrade>().is_none() {
            let mirroring = self
                .inner
                .engine
                .mirror(&decision, &HttpRequestView::new(&req));
            self.inner.mirrors.ticket(mirroring)
        } else {
            None
        };
        let (parts, body) = req.into_parts();
        let replayable = idempotent(&parts.method) && body.is_end_stream();
        let (body, upload, tap): (Body, _, _) = if replayable {
            let tap = ticket.and_then(|t| t.send_now(&parts));
            (
                Empty::new().map_err(|never| match never {}).boxed(),
                Upload::done(),
                tap,
            )
        } else {
            let (body, upload) = ClientBody::new(body, self.inner.timeouts.client_body);
            let (body, tap) = match ticket {
                Some(t) => t.send_with_body(&parts, body.boxed()),
                None => (body.boxed(), None),
            };
            (body, upload, tap)
        };
        let sent = Instant::now();
        let first = match self.upstream_request(&parts, peer, decision.group(), node, body) {
            Ok((route, r)) => self.send(route, node, r, &upload).await,
            Err(e) => Err(Failure::Exchange(e.to_string())),
        };
        self.record(&decision, &first, sent.elapsed());
        match first {
            // With a comparing mirror the client's answer is tapped on its way (unchanged).
            Ok(resp) => match tap {
                Some(tap) => tap.wrap(resp),
                None => resp,
            },
            Err(f) if f.is_retryable() && replayable => {
                self.inner.stats.failed(&f);
                tracing::warn!(node, error = %f.reason(node, &self.inner.timeouts), "upstream failed; retrying once");
                // Boxed: the rare retry's state (about 5 KB) stays out of every request's
                // future. Boxed in a statement of its own: a temporary of the awaiting
                // statement would keep its place in this future's state.
                let retry = Box::pin(self.retry(parts, peer, &decision, node, f));
                retry.await
            }
            Err(f) => {
                self.inner.stats.failed(&f);
                let reason = f.reason(node, &self.inner.timeouts);
                if f.is_upstream() {
                    tracing::warn!(node, error = %reason, "upstream failed");
                } else {
                    tracing::info!(node, error = %reason, "client failed while sending its body");
                }
                let mut resp = text_response(f.status(), reason);
                if !f.is_upstream() {
                    // The request body was not read to its end: the connection cannot carry
                    // another request.
                    resp.headers_mut().insert(
                        http::header::CONNECTION,
                        http::HeaderValue::from_static("close"),
                    );
                }
                resp
            }
        }
    }

    /// Passive health and the traffic record (latency: from sending the request to its
    /// response headers or failure) for the outcome of one attempt: client failures are not
    /// the node's.
    fn record(
        &self,
        decision: &Decision,
        result: &Result<Response<Body>, Failure>,
        latency: Duration,
    ) {
        if let Some(outcome) = outcome(result) {
            self.inner.engine.record_timed(decision, outcome, latency);
        }
    }

    /// The single retry after a retryable failure of `failed`.
    async fn retry(
        &self,
        mut parts: http::request::Parts,
        peer: Option<IpAddr>,
        first: &Decision,
        failed: &str,
        first_failure: Failure,
    ) -> Response<Body> {
        let engine = &self.inner.engine;
        let again = engine.decide(&HttpRequestView::from_parts(&parts));
        let target = match again.node_address() {
            Some(n) if n != failed => Some((again.group().to_owned(), n.to_owned())),
            _ => another_node(engine, first.group(), failed),
        };
        let Some((group, node)) = target else {
            return text_response(
                first_failure.status(),
                format!(
                    "{}; no other node available for a retry",
                    first_failure.reason(failed, &self.inner.timeouts)
                ),
            );
        };
        if again.node_address() == Some(node.as_str()) {
            apply_decision(&again, &mut parts.headers);
        }
        let empty: Body = Empty::new().map_err(|never| match never {}).boxed();
        let sent = Instant::now();
        let result = match self.upstream_request(&parts, peer, &group, &node, empty) {
            Ok((route, r)) => self.send(route, &node, r, &Upload::done()).await,
            Err(e) => Err(Failure::Exchange(e.to_string())),
        };
        let stats = &self.inner.stats;
        stats.retried(matches!(&result, Ok(r) if !r.status().is_server_error()));
        if let Err(f) = &result {
            stats.failed(f);
        }
        let latency = sent.elapsed();
        if again.node_address() == Some(node.as_str()) {
            self.record(&again, &result, latency);
        } else if let Some(outcome) = outcome(&result) {
            // The node may have been removed meanwhile; then there is nothing to report.
            let _ = engine.record_node_timed(&group, &node, outcome, latency);
        }
        match result {
            Ok(resp) => resp,
            Err(f) => {
                let reason = f.reason(&node, &self.inner.timeouts);
                tracing::warn!(node, error = %reason, "retry failed");
                text_response(f.status(), reason)
            }
        }
    }

    /// The request for `node` (and how it goes there: HTTPS, HTTP/2): origin-form, HTTP/1.1
    /// (the pool rewrites it for HTTP/2), the client's headers without hop-by-hop ones, `Host`
    /// kept (else the client's authority, else the node), the forwarded headers.
    fn upstream_request(
        &self,
        parts: &http::request::Parts,
        peer: Option<IpAddr>,
        group: &str,
        node: &str,
        body: Body,
    ) -> Result<(Route, Request<Body>), http::Error> {
        let route = Route {
            https: self.inner.upstream_tls.applies(group, node),
            // An upgrade needs HTTP/1.1.
            h2: parts.extensions.get::<Upgrade>().is_none()
                && self.inner.upstream_h2.applies(group, node),
        };
        let mut req = Request::builder()
            .method(parts.method.clone())
            .uri(origin_form(&parts.uri))
            .version(Version::HTTP_11)
            .body(body)?;
        let h = req.headers_mut();
        h.clone_from(&parts.headers);
        remove_hop_by_hop(h);
        ensure_host(h, &parts.uri);
        if !h.contains_key(http::header::HOST) {
            h.insert(http::header::HOST, http::HeaderValue::from_str(node)?);
        }
        let client_tls = parts.extensions.get::<ClientTls>().is_some();
        append_forwarded_for(h, peer, client_tls);
        if let Some(Upgrade(protocol)) = parts.extensions.get::<Upgrade>() {
            tunnel::restore(h, protocol);
        }
        if let Some(ws) = parts.extensions.get::<ExtendedConnect>() {
            ws.prepare(h);
        }
        Ok((route, req))
    }

    /// Sends `req` and waits for the response headers: at most the response timeout once
    /// `upload` says the request body has been sent, for as long as the client keeps sending
    /// before that.
    async fn send(
        &self,
        route: Route,
        node: &str,
        req: Request<Body>,
        upload: &Upload,
    ) -> Result<Response<Body>, Failure> {
        let fut = self.inner.pool.send(route, node, req);
        let limit = self.inner.timeouts.response_header;
        let timer = async {
            upload.sent().await;
            tokio::time::sleep(limit).await;
        };
        let result = tokio::select! {
            r = fut => Ok(r),
            () = timer => Err(()),
        };
        if let Some(client) = upload.client_failure() {
            if result.as_ref().map_or(true, |r| r.is_err()) {
                return Err(Failure::Client(client));
            }
        }
        match result {
            Err(()) => Err(Failure::ResponseTimeout),
            Ok(Err(PoolError::Connect(e))) => {
                if is_timeout(e.as_ref()) {
                    Err(Failure::ConnectTimeout)
                } else {
                    Err(Failure::Connect(root_cause(e.as_ref()).to_string()))
                }
            }
            Ok(Err(PoolError::Exchange(e))) => Err(Failure::Exchange(root_cause(&e).to_string())),
            Ok(Ok(resp)) => {
                let (mut parts, body) = resp.into_parts();
                let switched = (parts.status == StatusCode::SWITCHING_PROTOCOLS)
                    .then(|| parts.headers.get(http::header::UPGRADE).cloned())
                    .flatten();
                remove_hop_by_hop(&mut parts.headers);
                // The client's connection has its own version (an HTTP/2 node's answer to an
                // HTTP/1.1 client is written as HTTP/1.1).
                parts.version = Version::HTTP_11;
                if let Some(protocol) = &switched {
                    tunnel::restore(&mut parts.headers, protocol);
                }
                Ok(Response::from_parts(
                    parts,
                    body.map_err(BoxError::from).boxed(),
                ))
            }
        }
    }
}

/// What an attempt tells passive health about the node: nothing when the client broke it.
fn outcome(result: &Result<Response<Body>, Failure>) -> Option<Outcome> {
    match result {
        Ok(resp) => Some(Outcome::Status(resp.status().as_u16())),
        Err(f) => f.outcome(),
    }
}

/// The access log line of one request (`RUST_LOG=gray::access=debug`), for both paths.
pub(crate) fn log_access(
    method: &dyn std::fmt::Display,
    uri: &dyn std::fmt::Display,
    status: u16,
    decision: &Decision,
    start: Instant,
) {
    tracing::debug!(
        target: "gray::access",
        %method,
        %uri,
        status,
        rule = decision.rule_id().unwrap_or("(default)"),
        group = decision.group(),
        node = decision.node_address().unwrap_or("(none)"),
        generation = decision.generation(),
        ms = start.elapsed().as_secs_f64() * 1e3,
        "request"
    );
}

/// Another available node of `group` than `failed`, if any (round-robin independent: the
/// first available one after `failed` in configuration order).
pub(crate) fn another_node(engine: &Engine, group: &str, failed: &str) -> Option<(String, String)> {
    let status = engine.nodes(group).ok()?;
    let n = status.nodes.len();
    let start = status
        .nodes
        .iter()
        .position(|s| s.address == failed)
        .map_or(0, |i| i + 1);
    (0..n)
        .map(|k| &status.nodes[(start + k) % n])
        .find(|s| s.address != failed && s.weight > 0 && matches!(s.health, "up" | "probing"))
        .map(|s| (group.to_owned(), s.address.clone()))
}

impl tower::Service<Request<Incoming>> for Proxy {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.forward(req).await) })
    }
}
