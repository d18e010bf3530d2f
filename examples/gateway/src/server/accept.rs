//! Accepting connections: the accept loop with its cap and back-off, the [`ServerHandle`] that
//! stops it, and the single-runtime entry points ([`serve`], [`serve_with`], [`serve_tls`]).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore, TryAcquireError};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::conn::{self, HttpService, ResponseBody};
use super::lease::{ConnectionLease, Slot};
use super::limits::ServerLimits;
use super::shortcut::SharedShortcut;

/// Stops a running server: `stop()` ends accepting and lets open connections finish their
/// requests (graceful), `abort()` drops every connection at once. One handle covers every
/// accept loop of the server (one, or one per worker thread: [`super::serve_sharded`]).
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    connections: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
    cut: Arc<watch::Sender<bool>>,
    in_time: Arc<AtomicUsize>,
    pub(super) tasks: Vec<tokio::task::JoinHandle<()>>,
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
        self.connections.load(Ordering::Relaxed)
    }

    /// Accept loops serving the listener: 1, or the number of worker threads.
    pub fn workers(&self) -> usize {
        self.tasks.len()
    }

    /// Closes the listener, lets open connections finish their requests (and tunnels their
    /// traffic) for at most the shutdown timeout, cuts the rest, then returns. True when
    /// everything finished in time.
    pub async fn stop(mut self) -> bool {
        let _ = self.stop.send(true);
        for task in &mut self.tasks {
            let _ = task.await;
        }
        self.in_time.load(Ordering::Acquire) == self.tasks.len()
    }

    /// Drops the listener and every connection immediately (like a killed process).
    pub fn abort(&self) {
        for task in &self.tasks {
            task.abort();
        }
        let _ = self.cut.send(true);
    }

    /// Waits until the server ends.
    pub async fn wait(mut self) {
        for task in &mut self.tasks {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.abort();
    }
}

/// What every accept loop of one server shares: the counters, the connection cap, the stop and
/// cut signals.
#[derive(Clone)]
pub(super) struct Shared {
    addr: SocketAddr,
    limits: ServerLimits,
    accepted: Arc<AtomicU64>,
    /// Connections open now (each holds a permit of `open`).
    connections: Arc<AtomicUsize>,
    open: Arc<Semaphore>,
    limit: usize,
    stop: watch::Receiver<bool>,
    cut: Arc<watch::Sender<bool>>,
    /// Accept loops whose connections all finished within the shutdown timeout.
    in_time: Arc<AtomicUsize>,
}

impl Shared {
    /// The shared state of a server on `addr`, and the handle that will control it once its
    /// loops' tasks are added.
    pub(super) fn new(addr: SocketAddr, limits: ServerLimits) -> (Shared, ServerHandle) {
        let (stop, stop_rx) = watch::channel(false);
        let cut = Arc::new(watch::channel(false).0);
        let limit = limits.max_connections.max(1);
        let shared = Shared {
            addr,
            limits,
            accepted: Arc::default(),
            connections: Arc::default(),
            open: Arc::new(Semaphore::new(limit)),
            limit,
            stop: stop_rx,
            cut: cut.clone(),
            in_time: Arc::default(),
        };
        let handle = ServerHandle {
            addr,
            accepted: shared.accepted.clone(),
            connections: shared.connections.clone(),
            stop,
            cut,
            in_time: shared.in_time.clone(),
            tasks: Vec::new(),
        };
        (shared, handle)
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
/// [server docs](super#tls)).
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
    let (shared, mut handle) = Shared::new(listener.local_addr()?, limits);
    handle.tasks.push(tokio::spawn(accept_loop(
        listener, service, None, tls, shared,
    )));
    Ok(handle)
}

/// Accepts connections on `listener` and serves each on its own task of the current runtime
/// until the server stops, then drains them (see the [server docs](super)).
pub(super) async fn accept_loop<S, B>(
    listener: TcpListener,
    service: S,
    shortcut: SharedShortcut,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Shared,
) where
    S: HttpService<B>,
    B: ResponseBody,
{
    let Shared {
        addr,
        limits,
        accepted,
        connections,
        open: permits,
        limit,
        stop: mut stopped,
        cut,
        in_time,
    } = shared;
    let cut_rx = cut.subscribe();
    // Connection tasks live in the set, so aborting the accept task drops them all.
    let mut conns = JoinSet::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    // RFC 8441 extended CONNECT (WebSocket over HTTP/2, [`crate::tunnel`]).
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol();
    let builder = Arc::new(builder);
    let mut errors = AcceptErrors {
        last_log: None,
        suppressed: 0,
    };
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    errors.failed(addr, &e);
                    tokio::time::sleep(backoff(&e)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        // At the cap, hold the connection unserved and accept nothing more until one closes.
        // (Taking the place before accepting would strand a place in every worker waiting on
        // an idle socket while another worker's socket has clients queued.)
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => break,
            Err(TryAcquireError::NoPermits) => tokio::select! {
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                _ = stopped.changed() => break,
            },
        };
        accepted.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let lease = ConnectionLease {
            _slot: Arc::new(Slot::new(permit, &connections)),
            cut: cut_rx.clone(),
            tunnels: Arc::default(),
        };
        conns.spawn(conn::connection(
            stream,
            shortcut.clone(),
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
    // Every connection (and tunnel) of every loop holds a permit of the shared cap: all are
    // back when everything ended.
    let drained = async {
        while conns.join_next().await.is_some() {}
        let _ = permits
            .acquire_many(u32::try_from(limit).unwrap_or(u32::MAX))
            .await;
    };
    let finished = tokio::time::timeout(limits.shutdown_timeout, drained)
        .await
        .is_ok();
    if finished {
        in_time.fetch_add(1, Ordering::AcqRel);
    } else {
        let open = connections.load(Ordering::Relaxed);
        tracing::warn!(listener = %addr, open, timeout = ?limits.shutdown_timeout,
            "shutdown timeout passed: cutting the connections still open");
    }
    let _ = cut.send(true);
    conns.shutdown().await;
}
