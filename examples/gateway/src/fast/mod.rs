//! The shortcut for plain HTTP/1.1: a worker serves the common request — HTTP/1.1 over TCP,
//! an origin-form target, no upgrade, no `Expect`, a body of known length — straight from the
//! socket to a pooled plain-TCP upstream socket and back, with no `http` types, no header map
//! and no task or channel per request, and hands the connection to hyper (the bytes it read
//! included) at the first request of another shape.
//!
//! It does what the hyper path does ([`crate::ingress`], [`gray_tower::Gray`],
//! [`crate::proxy`]): hop-by-hop headers removed both ways, the decision's headers set and the
//! inbound routing headers it refuses removed, `X-Forwarded-For` / `X-Forwarded-Proto`,
//! passive health and the traffic record with each attempt's latency, the same 502/503/504
//! answers and counters, the one retry of an idempotent bodiless request on another node,
//! 408/400 for a client that stalls or breaks its body (never held against the node), the
//! header, keep-alive and response-header timeouts, and graceful shutdown (the exchange under
//! way finishes, then the connection closes).
//!
//! Not on the shortcut, so always on the hyper path: TLS clients, HTTP/1.0 and HTTP/2, chunked
//! uploads, `Expect: 100-continue`, bodies over [`MAX_BODY`], upgrades, and every request
//! while the rules mirror anything or the gateway speaks TLS or HTTP/2 to some node.
//! `GatewayOptions::http1_shortcut` turns it off.
//!
//! Files: `head` (parsing and writing heads) and `chunked` (where a chunked body ends) →
//! `clock` (timeouts without a timer per request, `Date`) and `pool` (idle upstream sockets)
//! → this file (the connection loop and one exchange).

mod chunked;
mod clock;
mod head;
mod pool;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use gray_core::{Decision, Outcome};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::forward::idempotent_name;
use crate::proxy::{another_node, log_access, Failure, Proxy};
use crate::server::{Ending, Http1Conn, Shortcut};
use crate::upload::ClientFailure;
use chunked::Chunked;
use clock::Clock;
use head::{Framing, NotHere, RequestHead, View};
use pool::RawPool;

/// The longest request body the shortcut sends itself (it sends a body whole before reading
/// the answer; longer uploads stream on the hyper path, which can answer early).
pub const MAX_BODY: u64 = 64 * 1024;
/// The longest request or response head the shortcut reads; a longer one goes to hyper (a
/// request, answered there with its limits) or is a broken exchange (a response).
const MAX_HEAD: usize = 64 * 1024;
/// Read buffer size for bodies.
const CHUNK: usize = 16 * 1024;

/// A worker's shortcut: the worker's [`Proxy`] (engine, counters, timeouts) and its idle
/// upstream sockets.
pub struct FastHttp1 {
    proxy: Proxy,
    pool: Arc<RawPool>,
}

impl FastHttp1 {
    /// The shortcut for `proxy`'s worker, or `None` when the proxy reaches some node over TLS
    /// or HTTP/2 (those stay on the hyper path).
    pub fn new(proxy: &Proxy) -> Option<FastHttp1> {
        if !proxy.plain_http1_only() {
            return None;
        }
        Some(FastHttp1 {
            proxy: proxy.clone(),
            pool: RawPool::new(proxy.timeouts().pool_idle),
        })
    }
}

impl Shortcut for FastHttp1 {
    fn serve<'a>(
        &'a self,
        conn: Http1Conn<'a>,
    ) -> Pin<Box<dyn Future<Output = Ending> + Send + 'a>> {
        Box::pin(self.run(conn))
    }
}

/// What one request became.
enum Next {
    /// Answered; the connection can carry another request.
    KeepAlive,
    /// Answered (or not), the connection ends.
    Close,
}

/// The buffers a connection reuses for every request.
struct Buffers {
    /// Bytes for the other side, built before one write.
    out: Vec<u8>,
    /// The node's response as read.
    up: Vec<u8>,
    /// Request body bytes beyond what arrived with the head.
    body: Vec<u8>,
}

/// A request decided and written for its node by [`FastHttp1::prepare`].
struct Prepared {
    decision: Decision,
    /// The head's length in the read buffer, and the body's (`Content-Length`).
    head_len: usize,
    body_len: u64,
    /// The client asked to close after this exchange.
    close: bool,
    /// Idempotent, without a body: may be sent again to another node.
    replayable: bool,
    /// A `HEAD` request (its answer has no body).
    method_head: bool,
}

impl FastHttp1 {
    async fn run(&self, conn: Http1Conn<'_>) -> Ending {
        let Http1Conn {
            stream,
            peer,
            read,
            limits,
            stopped,
        } = conn;
        let t = self.proxy.timeouts();
        let step = limits
            .header_timeout
            .min(limits.keepalive_timeout)
            .min(t.response_header)
            .min(t.client_body);
        let mut clock = Clock::new(step);
        let mut bufs = Buffers {
            out: Vec::with_capacity(4096),
            up: Vec::with_capacity(8192),
            body: Vec::new(),
        };
        let mut served = 0u64;
        read.reserve(8192);
        if *stopped.borrow() {
            return Ending::Closed;
        }
        // One wait for the stop for the whole connection (not one per request): it resolves
        // once, and the connection ends then.
        let mut stop = std::pin::pin!(stopped.changed());
        loop {
            // A complete head: the idle limit until its first byte, then the header timeout.
            let idle = if served == 0 {
                limits.header_timeout
            } else {
                limits.keepalive_timeout
            };
            let mut deadline = Instant::now()
                + if read.is_empty() {
                    idle
                } else {
                    limits.header_timeout
                };
            let mut started = !read.is_empty();
            let prepared = loop {
                if started {
                    let mut storage = [httparse::EMPTY_HEADER; head::MAX_HEADERS];
                    match head::parse_request(read, &mut storage) {
                        Ok(h) => break self.prepare(&h, peer.ip(), &mut bufs.out),
                        Err(NotHere::Other) => return Ending::Hyper { served },
                        Err(NotHere::Partial) if read.len() > MAX_HEAD => {
                            return Ending::Hyper { served }
                        }
                        Err(NotHere::Partial) => {}
                    }
                }
                if read.capacity() - read.len() < 1024 {
                    read.reserve(8192);
                }
                let got = tokio::select! {
                    biased;
                    r = clock.within(deadline, stream.read_buf(read)) => r,
                    _ = &mut stop, if !started => return Ending::Closed,
                };
                match got {
                    Some(Ok(0)) | Some(Err(_)) | None => return Ending::Closed,
                    Some(Ok(_)) => {
                        if !started {
                            started = true;
                            deadline = Instant::now() + limits.header_timeout;
                        }
                    }
                }
            };
            let Some(prepared) = prepared else {
                return Ending::Hyper { served };
            };
            let next = self
                .request(stream, peer, read, prepared, &mut bufs, &mut clock)
                .await;
            match next {
                Next::Close => return Ending::Closed,
                Next::KeepAlive => served += 1,
            }
            if std::future::poll_fn(|cx| Poll::Ready(stop.as_mut().poll(cx).is_ready())).await {
                return Ending::Closed;
            }
        }
    }

    /// Decides the request of head `h` and writes its head for the node into `out`; `None`
    /// when the request is not for the shortcut after all (a body over [`MAX_BODY`], rules that
    /// mirror).
    fn prepare(
        &self,
        h: &RequestHead<'_, '_>,
        peer: IpAddr,
        out: &mut Vec<u8>,
    ) -> Option<Prepared> {
        let engine = self.proxy.engine();
        if h.body > MAX_BODY || engine.has_mirrors() {
            return None;
        }
        let decision = engine.decide(&View { head: h, peer });
        out.clear();
        if let Some(node) = decision.node_address() {
            head::write_request(out, h, &decision, peer, node);
        }
        Some(Prepared {
            replayable: h.body == 0 && idempotent_name(h.method),
            method_head: h.method == "HEAD",
            head_len: h.len,
            body_len: h.body,
            close: h.close,
            decision,
        })
    }

    /// Serves the request at the start of `read`, decided and written by [`Self::prepare`].
    async fn request(
        &self,
        client: &mut TcpStream,
        peer: SocketAddr,
        read: &mut Vec<u8>,
        prepared: Prepared,
        bufs: &mut Buffers,
        clock: &mut Clock,
    ) -> Next {
        let peer_ip = peer.ip();
        let access = tracing::enabled!(target: "gray::access", tracing::Level::DEBUG)
            .then(std::time::Instant::now);
        let Prepared {
            decision,
            head_len,
            body_len,
            close,
            replayable,
            method_head,
        } = prepared;
        // The body: what arrived with the head, the rest read (bounded) below.
        let avail = read.len() - head_len;
        let in_buffer = usize::try_from(body_len).map_or(avail, |b| b.min(avail));
        let consumed = head_len + in_buffer;
        let body_missing = body_len - in_buffer as u64;

        let (status, close) = match decision.node_address() {
            None => {
                self.proxy
                    .counters()
                    .no_upstream
                    .fetch_add(1, Ordering::Relaxed);
                let text = format!(
                    "no upstream available for group {:?} (nodes down, draining or weight 0)",
                    decision.requested_group()
                );
                let close = close || body_missing > 0;
                bufs.out.clear();
                head::write_text(&mut bufs.out, StatusCode::SERVICE_UNAVAILABLE, &text, close);
                if client.write_all(&bufs.out).await.is_err() {
                    return Next::Close;
                }
                (503, close)
            }
            Some(node) => {
                bufs.out.extend_from_slice(&read[head_len..consumed]);
                let sent = Instant::now();
                let first = self
                    .exchange(client, node, body_missing, bufs, clock, method_head)
                    .await;
                self.record(&decision, &first, sent.elapsed());
                match first {
                    Ok(resp) => match self.respond(client, node, resp, bufs, close).await {
                        Some((status, close)) => (status, close),
                        None => return Next::Close,
                    },
                    Err(f) if f.is_retryable() && replayable => {
                        self.proxy.counters().failed(&f);
                        tracing::warn!(node, group = decision.group(), error = %f.reason(node, self.proxy.timeouts()), "upstream failed; retrying once");
                        match self
                            .retry(
                                client,
                                peer_ip,
                                read,
                                &decision,
                                node,
                                f,
                                bufs,
                                clock,
                                close,
                                method_head,
                            )
                            .await
                        {
                            Some(r) => r,
                            None => return Next::Close,
                        }
                    }
                    Err(f) => {
                        self.proxy.counters().failed(&f);
                        let reason = f.reason(node, self.proxy.timeouts());
                        if f.is_upstream() {
                            tracing::warn!(node, group = decision.group(), error = %reason, "upstream failed");
                        } else {
                            tracing::info!(node, error = %reason, "client failed while sending its body");
                        }
                        // A body not read to its end leaves the connection unusable.
                        let close = close || !f.is_upstream() || body_missing > 0;
                        bufs.out.clear();
                        head::write_text(&mut bufs.out, f.status(), &reason, close);
                        if client.write_all(&bufs.out).await.is_err() {
                            return Next::Close;
                        }
                        (f.status().as_u16(), close)
                    }
                }
            }
        };
        if let Some(start) = access {
            // Only when the access log is on: the head is parsed again for its request line.
            let mut storage = [httparse::EMPTY_HEADER; head::MAX_HEADERS];
            let (method, uri) =
                head::parse_request(read, &mut storage).map_or(("", ""), |h| (h.method, h.target));
            log_access(&method, &uri, status, &decision, start);
        }
        read.drain(..consumed);
        if close {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }

    /// The single retry after a retryable failure of `failed` (as the hyper path's).
    #[allow(clippy::too_many_arguments)]
    async fn retry(
        &self,
        client: &mut TcpStream,
        peer: IpAddr,
        read: &[u8],
        first: &Decision,
        failed: &str,
        first_failure: Failure,
        bufs: &mut Buffers,
        clock: &mut Clock,
        close: bool,
        method_head: bool,
    ) -> Option<(u16, bool)> {
        let engine = self.proxy.engine();
        let timeouts = self.proxy.timeouts();
        bufs.out.clear();
        let (again, group, node) = {
            let mut storage = [httparse::EMPTY_HEADER; head::MAX_HEADERS];
            let h = head::parse_request(read, &mut storage).ok()?;
            let view = View { head: &h, peer };
            let again = engine.decide(&view);
            let target = match again.node_address() {
                Some(n) if n != failed => Some((again.group().to_owned(), n.to_owned())),
                _ => another_node(engine, first.group(), failed),
            };
            let Some((group, node)) = target else {
                let text = format!(
                    "{}; no other node available for a retry",
                    first_failure.reason(failed, timeouts)
                );
                head::write_text(&mut bufs.out, first_failure.status(), &text, close);
                client.write_all(&bufs.out).await.ok()?;
                return Some((first_failure.status().as_u16(), close));
            };
            let with = if again.node_address() == Some(node.as_str()) {
                &again
            } else {
                first
            };
            head::write_request(&mut bufs.out, &h, with, peer, &node);
            (again, group, node)
        };
        let sent = Instant::now();
        let result = self
            .exchange(client, &node, 0, bufs, clock, method_head)
            .await;
        let latency = sent.elapsed();
        let stats = self.proxy.counters();
        stats.retried(matches!(&result, Ok(r) if r.head.status < 500));
        if again.node_address() == Some(node.as_str()) {
            self.record(&again, &result, latency);
        } else if let Some(outcome) = outcome(&result) {
            let _ = engine.record_node_timed(&group, &node, outcome, latency);
        }
        match result {
            Ok(resp) => self.respond(client, &node, resp, bufs, close).await,
            Err(f) => {
                stats.failed(&f);
                let reason = f.reason(&node, timeouts);
                tracing::warn!(node, error = %reason, "retry failed");
                bufs.out.clear();
                head::write_text(&mut bufs.out, f.status(), &reason, close);
                client.write_all(&bufs.out).await.ok()?;
                Some((f.status().as_u16(), close))
            }
        }
    }

    /// Passive health and the traffic record for one attempt (client failures are not the
    /// node's).
    fn record(&self, decision: &Decision, result: &Result<Exchanged, Failure>, latency: Duration) {
        if let Some(outcome) = outcome(result) {
            self.proxy.engine().record_timed(decision, outcome, latency);
        }
    }

    /// Sends the request in `bufs.out` (head and the body bytes that came with it) and
    /// `body_missing` more body bytes from the client to `node`, and reads the response head
    /// into `bufs.up`.
    async fn exchange(
        &self,
        client: &mut TcpStream,
        node: &str,
        body_missing: u64,
        bufs: &mut Buffers,
        clock: &mut Clock,
        method_head: bool,
    ) -> Result<Exchanged, Failure> {
        let t = self.proxy.timeouts();
        let mut upstream = match self.pool.checkout(node) {
            Some(s) => s,
            None => connect(node, t.connect).await?,
        };
        upstream
            .write_all(&bufs.out)
            .await
            .map_err(|e| Failure::Exchange(e.to_string()))?;
        let mut left = body_missing;
        if left > 0 {
            bufs.body.resize(CHUNK, 0);
            while left > 0 {
                let want = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
                let deadline = Instant::now() + t.client_body;
                let n = match clock
                    .within(deadline, client.read(&mut bufs.body[..want]))
                    .await
                {
                    None => return Err(Failure::Client(ClientFailure::Timeout)),
                    Some(Ok(0)) | Some(Err(_)) => {
                        return Err(Failure::Client(ClientFailure::Aborted))
                    }
                    Some(Ok(n)) => n,
                };
                upstream
                    .write_all(&bufs.body[..n])
                    .await
                    .map_err(|e| Failure::Exchange(e.to_string()))?;
                left -= n as u64;
            }
        }
        let deadline = Instant::now() + t.response_header;
        bufs.up.clear();
        loop {
            if bufs.up.capacity() - bufs.up.len() < 1024 {
                bufs.up.reserve(8192);
            }
            match clock
                .within(deadline, upstream.read_buf(&mut bufs.up))
                .await
            {
                None => return Err(Failure::ResponseTimeout),
                Some(Ok(0)) => {
                    return Err(Failure::Exchange(
                        "connection closed before message completed".to_owned(),
                    ))
                }
                Some(Err(e)) => return Err(Failure::Exchange(e.to_string())),
                Some(Ok(_)) => {}
            }
            match head::parse_response(&bufs.up, method_head) {
                // An interim response (100 Continue, 103 Early Hints) is not passed on.
                Ok(h) if h.status < 200 => {
                    if h.status == 101 {
                        return Err(Failure::Exchange(
                            "unexpected 101 Switching Protocols".to_owned(),
                        ));
                    }
                    bufs.up.drain(..h.len);
                }
                Ok(h) => return Ok(Exchanged { head: h, upstream }),
                Err(head::BadResponse::Partial) if bufs.up.len() <= MAX_HEAD => {}
                Err(_) => return Err(Failure::Exchange("invalid response head".to_owned())),
            }
        }
    }

    /// Writes the node's response to the client: head, then the body by its framing. `None`
    /// when a side broke (the connection closes).
    async fn respond(
        &self,
        client: &mut TcpStream,
        node: &str,
        resp: Exchanged,
        bufs: &mut Buffers,
        close: bool,
    ) -> Option<(u16, bool)> {
        let Exchanged { head, mut upstream } = resp;
        bufs.out.clear();
        head::write_response(&mut bufs.out, &bufs.up[..head.len], head.framing, close);
        let reusable = match head.framing {
            Framing::Empty => {
                client.write_all(&bufs.out).await.ok()?;
                (head.reusable && bufs.up.len() == head.len).then_some(upstream)
            }
            Framing::Length(n) => {
                let have = (bufs.up.len() - head.len) as u64;
                let now = have.min(n);
                bufs.out
                    .extend_from_slice(&bufs.up[head.len..head.len + now as usize]);
                client.write_all(&bufs.out).await.ok()?;
                let mut left = n - now;
                let extra = have > n;
                while left > 0 {
                    bufs.up.clear();
                    bufs.up.resize(CHUNK, 0);
                    let want = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
                    let got = upstream.read(&mut bufs.up[..want]).await.ok()?;
                    if got == 0 {
                        return None;
                    }
                    client.write_all(&bufs.up[..got]).await.ok()?;
                    left -= got as u64;
                }
                (head.reusable && !extra).then_some(upstream)
            }
            Framing::Chunked => {
                let mut walk = Chunked::new();
                let rest = &bufs.up[head.len..];
                let used = walk.feed(rest).ok()?;
                let extra = used < rest.len();
                bufs.out.extend_from_slice(&rest[..used]);
                client.write_all(&bufs.out).await.ok()?;
                while !walk.done() {
                    bufs.up.clear();
                    bufs.up.resize(CHUNK, 0);
                    let got = upstream.read(&mut bufs.up[..]).await.ok()?;
                    if got == 0 {
                        return None;
                    }
                    let used = walk.feed(&bufs.up[..got]).ok()?;
                    client.write_all(&bufs.up[..used]).await.ok()?;
                    if used < got {
                        return None;
                    }
                }
                (head.reusable && !extra).then_some(upstream)
            }
            Framing::UntilClose => {
                let rest = bufs.up.len() - head.len;
                if rest > 0 {
                    chunk_header(&mut bufs.out, rest);
                    bufs.out.extend_from_slice(&bufs.up[head.len..]);
                    bufs.out.extend_from_slice(b"\r\n");
                }
                client.write_all(&bufs.out).await.ok()?;
                loop {
                    bufs.up.clear();
                    bufs.up.resize(CHUNK, 0);
                    let got = upstream.read(&mut bufs.up[..]).await.ok()?;
                    bufs.out.clear();
                    if got == 0 {
                        bufs.out.extend_from_slice(b"0\r\n\r\n");
                        client.write_all(&bufs.out).await.ok()?;
                        break;
                    }
                    chunk_header(&mut bufs.out, got);
                    bufs.out.extend_from_slice(&bufs.up[..got]);
                    bufs.out.extend_from_slice(b"\r\n");
                    client.write_all(&bufs.out).await.ok()?;
                }
                None
            }
        };
        if let Some(s) = reusable {
            self.pool.checkin(node, s);
        }
        Some((head.status, close))
    }
}

/// A response head read from a node, with the node's socket.
struct Exchanged {
    head: head::ResponseHead,
    upstream: TcpStream,
}

fn chunk_header(out: &mut Vec<u8>, n: usize) {
    use std::io::Write as _;
    let _ = write!(out, "{n:x}\r\n");
}

/// What an attempt tells passive health about the node: nothing when the client broke it.
fn outcome(result: &Result<Exchanged, Failure>) -> Option<Outcome> {
    match result {
        Ok(r) => Some(Outcome::Status(r.head.status)),
        Err(f) => f.outcome(),
    }
}

/// A new plain TCP connection to `node` (`ip:port`, or `host:port` resolved by the system),
/// within `limit`.
async fn connect(node: &str, limit: Duration) -> Result<TcpStream, Failure> {
    let connecting = async {
        match node.parse::<SocketAddr>() {
            Ok(addr) => TcpStream::connect(addr).await,
            Err(_) => TcpStream::connect(node).await,
        }
    };
    match tokio::time::timeout(limit, connecting).await {
        Err(_) => Err(Failure::ConnectTimeout),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => Err(Failure::ConnectTimeout),
        Ok(Err(e)) => Err(Failure::Connect(e.to_string())),
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
    }
}
