//! Serving a tower service on a TCP listener: HTTP/1.1 and HTTP/2 with prior knowledge (h2c)
//! on the same port, the peer address inserted into every request, connection limits and
//! timeouts ([`ServerLimits`]), graceful shutdown.
//!
//! # Limits (nginx's equivalents in brackets)
//!
//! * **Header timeout** (`client_header_timeout`, default 30 s): a new connection must send a
//!   complete request head within this time — a connection that never sends a byte is closed
//!   after it, and so is an HTTP/1.1 client that trickles its headers.
//! * **Keep-alive timeout** (`keepalive_timeout`, default 75 s): a connection with no request
//!   in flight and no bytes moving either way for this long is closed (HTTP/1.1 keep-alive and
//!   HTTP/2 alike; HTTP/2 gets a GOAWAY first).
//! * **Connection cap** (`worker_connections`): at most `max_connections` client connections
//!   are open; at the cap the listener stops accepting (new clients wait in the kernel's
//!   backlog) instead of running the process out of file descriptors. The default is derived
//!   from the process's open-file limit, leaving room for one upstream connection per client
//!   connection and for the admin listener.
//! * **Accept errors** (`EMFILE`, `ENFILE`, ...) back off and are logged at most once a
//!   second with a count, so the listener recovers by itself when descriptors free up.
//!
//! # TLS
//!
//! [`serve_tls`] terminates TLS ([`crate::tls`]) before HTTP: the handshake must finish within
//! the header timeout, ALPN `h2` selects HTTP/2 and anything else HTTP/1.1. Requests of a TLS
//! connection carry the [`ClientTls`] extension.
//!
//! # Upgrades and graceful shutdown
//!
//! HTTP/1.1 connections are served with upgrades (`101 Switching Protocols`, e.g. WebSocket):
//! every request carries a [`ConnectionLease`], which a tunnel that outlives its exchange keeps
//! so the connection still counts against the cap and takes part in shutdown.
//!
//! [`ServerHandle::stop`] closes the listener at once (new connections are refused), lets
//! every open connection finish its requests — HTTP/1.1 closes after the current exchange,
//! HTTP/2 sends GOAWAY — and waits for tunnels, for at most
//! [`ServerLimits::shutdown_timeout`]; whatever is still open then is cut.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gray_tower::PeerAddr;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::{Service, ServiceExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connection limits and timeouts of a listener; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time a new connection has to send its first request head.
    pub header_timeout: Duration,
    /// Time an idle connection (no request in flight, no bytes moving) is kept open.
    pub keepalive_timeout: Duration,
    /// Open client connections at most; at the cap the listener stops accepting.
    pub max_connections: usize,
    /// How long [`ServerHandle::stop`] lets open connections finish before it cuts them.
    pub shutdown_timeout: Duration,
}

impl Default for ServerLimits {
    /// 30 s header timeout, 75 s keep-alive timeout, [`default_max_connections`], 30 s
    /// shutdown timeout.
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(75),
            max_connections: default_max_connections(),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl ServerLimits {
    /// Limits for the admin listener: the proxy's timeouts, at most 64 connections (an
    /// operator's browser and scripts, never the traffic).
    pub fn admin(proxy: &ServerLimits) -> ServerLimits {
        ServerLimits {
            max_connections: 64,
            ..*proxy
        }
    }
}

/// The open-file limit of this process (soft), read from `/proc/self/limits`; 1024 where that
/// cannot be read.
pub fn open_file_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|soft| match soft {
                    "unlimited" => Some(u64::MAX),
                    n => n.parse().ok(),
                })
        })
        .unwrap_or(1024)
}

/// The default connection cap: half of what the open-file limit leaves after 128 descriptors
/// kept for the admin listener, upstream pools and files (each proxied client connection may
/// hold one upstream connection), between 16 and 65 536.
pub fn default_max_connections() -> usize {
    let spare = open_file_limit().saturating_sub(128) / 2;
    usize::try_from(spare.clamp(16, 65_536)).unwrap_or(65_536)
}

/// What a server serves: a tower service of HTTP requests, cloned per request, that always
/// answers (implemented for every such service).
pub trait HttpService<B>:
    Service<Request<Incoming>, Response = Response<B>, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S, B> HttpService<B> for S where
    S: Service<
            Request<Incoming>,
            Response = Response<B>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// A response body a server can send (implemented for every such body).
pub trait ResponseBody:
    http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static
{
}

impl<B> ResponseBody for B where
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static
{
}

/// Marks a request that arrived over TLS (see [`serve_tls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTls;

/// A request's share of its client connection, in the request's extensions: while a clone is
/// alive the connection counts as open (against the cap, and for shutdown). A tunnel that
/// outlives its HTTP exchange keeps it and ends when [`ConnectionLease::cut`] resolves.
#[derive(Debug, Clone)]
pub struct ConnectionLease {
    _slot: Arc<OwnedSemaphorePermit>,
    cut: watch::Receiver<bool>,
}

impl ConnectionLease {
    /// Resolves when the server cuts what is left open (the shutdown deadline passed, or the
    /// server was dropped).
    pub async fn cut(&mut self) {
        let _ = self.cut.wait_for(|cut| *cut).await;
    }
}

/// Stops a running server: `stop()` ends accepting and lets open connections finish their
/// requests (graceful), `abort()` drops every connection at once.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    open: Arc<Semaphore>,
    limit: usize,
    stop: watch::Sender<bool>,
    cut: Arc<watch::Sender<bool>>,
    finished: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.limit.saturating_sub(self.open.available_permits())
    }

    /// Closes the listener, lets open connections finish their requests (and tunnels their
    /// traffic) for at most the shutdown timeout, cuts the rest, then returns. True when
    /// everything finished in time.
    pub async fn stop(mut self) -> bool {
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
        self.finished.load(Ordering::Acquire)
    }

    /// Drops the listener and every connection immediately (like a killed process).
    pub fn abort(&self) {
        self.task.abort();
        let _ = self.cut.send(true);
    }

    /// Waits until the server ends.
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.task.abort();
        let _ = self.cut.send(true);
    }
}

/// Serves `service` (cloned per request) on `listener` with the default [`ServerLimits`].
pub fn serve<S, B>(listener: TcpListener, service: S) -> io::Result<ServerHandle>
where
    S: HttpService<B>,
    B: ResponseBody,
{
    serve_with(listener, service, ServerLimits::default())
}

/// What a connection's watchdog needs to know: when bytes last moved, how many requests are
/// in flight, and whether one was ever received.
#[derive(Debug)]
struct Activity {
    origin: Instant,
    /// Milliseconds since `origin` of the last read or write that moved bytes.
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
    requests: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// When the connection counts as idle for too long, if nothing moves until then; `None`
    /// while a request is in flight.
    fn deadline(&self, limits: &ServerLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let limit = if self.requests.load(Ordering::Relaxed) == 0 {
            limits.header_timeout
        } else {
            limits.keepalive_timeout
        };
        Some(self.origin + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + limit)
    }
}

/// A socket that records when bytes move.
struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Counts a request as in flight until its response body has been sent (or dropped).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> InFlight {
        activity.requests.fetch_add(1, Ordering::Relaxed);
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as in flight.
    struct Tracked<B> {
        #[pin]
        body: B,
        guard: InFlight,
    }
}

impl<B: http_body::Body> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Logs accept failures at most once a second, with how many were suppressed.
struct AcceptErrors {
    last_log: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    fn failed(&mut self, addr: SocketAddr, e: &io::Error) {
        let now = Instant::now();
        if self
            .last_log
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(listener = %addr, error = %e, suppressed = self.suppressed,
            "accept failed; backing off (suppressed: similar failures since the last report)");
        self.last_log = Some(now);
        self.suppressed = 0;
    }
}

/// How long the accept loop pauses after an accept error: short for a connection that failed
/// on its own (reset before accept), longer when the process is out of descriptors.
fn backoff(e: &io::Error) -> Duration {
    match e.raw_os_error() {
        // EMFILE, ENFILE, ENOBUFS, ENOMEM
        Some(24 | 23 | 105 | 12) => Duration::from_millis(100),
        _ => Duration::from_millis(5),
    }
}

/// A client connection: plain TCP, or TLS over it.
enum ClientStream {
    Plain(Watched<TcpStream>),
    Tls(Box<tokio_rustls::server::TlsStream<Watched<TcpStream>>>),
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ClientStream::Plain(s) => s.is_write_vectored(),
            ClientStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Serves `service` (cloned per request) on `listener` with `limits`.
pub fn serve_with<S, B>(
    listener: TcpListener,
    service: S,
    limits: ServerLimits,
) -> io::Result<ServerHandle>
where
    S: HttpService<B>,
    B: ResponseBody,
{
    serve_inner(listener, service, limits, None)
}

/// Serves `service` on `listener` with `limits`, every connection over TLS with `tls` (see the
/// [module docs](self#tls)).
pub fn serve_tls<S, B>(
    listener: TcpListener,
    service: S,
    limits: ServerLimits,
    tls: Arc<rustls::ServerConfig>,
) -> io::Result<ServerHandle>
where
    S: HttpService<B>,
    B: ResponseBody,
{
    serve_inner(
        listener,
        service,
        limits,
        Some(tokio_rustls::TlsAcceptor::from(tls)),
    )
}

fn serve_inner<S, B>(
    listener: TcpListener,
    service: S,
    limits: ServerLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> io::Result<ServerHandle>
where
    S: HttpService<B>,
    B: ResponseBody,
{
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    let (cut, cut_rx) = watch::channel(false);
    let cut = Arc::new(cut);
    let cut_all = cut.clone();
    let finished = Arc::new(AtomicBool::new(false));
    let all_finished = finished.clone();
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = accepted.clone();
    let limit = limits.max_connections.max(1);
    let open = Arc::new(Semaphore::new(limit));
    let permits = open.clone();
    let task = tokio::spawn(async move {
        // Connection tasks live in the set, so aborting the accept task drops them all.
        let mut conns = JoinSet::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        let mut errors = AcceptErrors {
            last_log: None,
            suppressed: 0,
        };
        loop {
            // At the cap, stop accepting until a connection closes.
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                _ = stopped.changed() => break,
                Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            };
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        errors.failed(addr, &e);
                        drop(permit);
                        tokio::time::sleep(backoff(&e)).await;
                        continue;
                    }
                },
                _ = stopped.changed() => break,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let _ = stream.set_nodelay(true);
            let lease = ConnectionLease {
                _slot: Arc::new(permit),
                cut: cut_rx.clone(),
            };
            conns.spawn(connection(
                stream,
                peer,
                service.clone(),
                builder.clone(),
                limits,
                tls.clone(),
                lease,
                stopped.clone(),
            ));
        }
        // Refuse new connections from now on.
        drop(listener);
        // Every connection (and tunnel) holds a permit: all are back when everything ended.
        let drained = async {
            while conns.join_next().await.is_some() {}
            let _ = permits
                .acquire_many(u32::try_from(limit).unwrap_or(u32::MAX))
                .await;
        };
        let in_time = tokio::time::timeout(limits.shutdown_timeout, drained)
            .await
            .is_ok();
        if !in_time {
            let open = limit.saturating_sub(permits.available_permits());
            tracing::warn!(listener = %addr, open, timeout = ?limits.shutdown_timeout,
                "shutdown timeout passed: cutting the connections still open");
        }
        all_finished.store(in_time, Ordering::Release);
        let _ = cut_all.send(true);
        conns.shutdown().await;
    });
    Ok(ServerHandle {
        addr,
        accepted,
        open,
        limit,
        stop,
        cut,
        finished,
        task,
    })
}

/// Serves one client connection until it ends, is idle too long, or the server stops.
#[allow(clippy::too_many_arguments)]
async fn connection<S, B>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: ServerLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    lease: ConnectionLease,
    mut stopped: watch::Receiver<bool>,
) where
    S: HttpService<B>,
    B: ResponseBody,
{
    let activity = Activity::new();
    let io = Watched {
        io: stream,
        activity: activity.clone(),
    };
    let io = match tls {
        None => ClientStream::Plain(io),
        Some(acceptor) => {
            match tokio::time::timeout(limits.header_timeout, acceptor.accept(io)).await {
                Ok(Ok(s)) => ClientStream::Tls(Box::new(s)),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            }
        }
    };
    let is_tls = matches!(io, ClientStream::Tls(_));
    let seen = activity.clone();
    let request_lease = lease.clone();
    let hyper_svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let ext = req.extensions_mut();
        ext.insert(PeerAddr(peer));
        ext.insert(request_lease.clone());
        if is_tls {
            ext.insert(ClientTls);
        }
        let guard = InFlight::start(&seen);
        let call = service.clone().oneshot(req);
        async move {
            let resp = call.await?;
            Ok::<_, Infallible>(resp.map(|body| Tracked { body, guard }))
        }
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), hyper_svc);
    tokio::pin!(conn);
    let idle = async {
        loop {
            match activity.deadline(&limits) {
                Some(at) if Instant::now() >= at => return,
                Some(at) => tokio::time::sleep_until(at).await,
                // A request is in flight: look again in a while.
                None => {
                    let again = limits.keepalive_timeout.min(Duration::from_secs(1));
                    tokio::time::sleep(again).await
                }
            }
        }
    };
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            return;
        }
        _ = idle => {
            tracing::debug!(%peer, "closing an idle connection");
        }
        _ = stopped.changed() => {}
    }
    // Idle or stopping: HTTP/1.1 closes once the current exchange (if any) is done, HTTP/2
    // sends GOAWAY and finishes its streams. When stopping, the server's shutdown timeout
    // bounds this.
    conn.as_mut().graceful_shutdown();
    if *stopped.borrow() {
        let _ = conn.await;
    } else {
        let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
    }
    drop(lease);
}
