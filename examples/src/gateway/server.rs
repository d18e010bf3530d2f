//! Serving a tower service on a TCP listener: HTTP/1.1 and HTTP/2 with prior knowledge (h2c)
//! on the same port, the peer address inserted into every request, a 30 s limit for reading
//! HTTP/1.1 request headers, graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gray_tower::PeerAddr;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::{Service, ServiceExt};

use super::proxy::Body;

/// Stops a running server: `stop()` ends accepting and lets open connections finish their
/// requests (graceful), `abort()` drops every connection at once.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
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

    /// Stops accepting, finishes in-flight requests, then returns.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
    }

    /// Drops the listener and every connection immediately (like a killed process).
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Waits until the server ends.
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `service` (cloned per request) on `listener`.
pub fn serve<S>(listener: TcpListener, service: S) -> std::io::Result<ServerHandle>
where
    S: Service<Request<Incoming>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = accepted.clone();
    let task = tokio::spawn(async move {
        // Connection tasks live in the set, so aborting the accept task drops them all.
        let mut conns = JoinSet::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // A client must send its request headers within 30 s (slow-header clients are cut off).
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30));
        builder.http2().timer(TokioTimer::new());
        loop {
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and similar: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stopped.changed() => break,
                Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let _ = stream.set_nodelay(true);
            let svc = service.clone();
            let hyper_svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(PeerAddr(peer));
                svc.clone().oneshot(req)
            });
            let conn = builder
                .serve_connection(TokioIo::new(stream), hyper_svc)
                .into_owned();
            let mut stopped = stopped.clone();
            conns.spawn(async move {
                tokio::pin!(conn);
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    }
                    _ = stopped.changed() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            });
        }
        while conns.join_next().await.is_some() {}
    });
    Ok(ServerHandle {
        addr,
        accepted,
        stop,
        task,
    })
}
