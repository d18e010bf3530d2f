//! What a request knows of its client connection: whether it came over TLS, and its share of
//! the connection's place under the cap ([`ConnectionLease`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, OwnedSemaphorePermit};

/// Marks a request that arrived over TLS (see [`super::serve_tls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTls;

/// A request's share of its client connection, in the request's extensions: while a clone is
/// alive the connection counts as open (against the cap, and for shutdown). A tunnel that
/// outlives its HTTP exchange keeps it and ends when [`ConnectionLease::cut`] resolves; while
/// it holds [`ConnectionLease::tunnel`], its connection is not idle (an HTTP/2 connection
/// carrying a WebSocket stream and no request is busy, not idle).
#[derive(Debug, Clone)]
pub struct ConnectionLease {
    pub(super) _slot: Arc<Slot>,
    pub(super) cut: watch::Receiver<bool>,
    pub(super) tunnels: Arc<AtomicUsize>,
}

/// A tunnel counted as open on its client connection until dropped (see
/// [`ConnectionLease::tunnel`]).
#[derive(Debug)]
pub struct OpenTunnel(Arc<AtomicUsize>);

impl Drop for OpenTunnel {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's place under the cap, counted in [`super::ServerHandle::open_connections`] until
/// the last lease of it is dropped.
#[derive(Debug)]
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
    open: Arc<AtomicUsize>,
}

impl Slot {
    pub(super) fn new(permit: OwnedSemaphorePermit, open: &Arc<AtomicUsize>) -> Slot {
        open.fetch_add(1, Ordering::Relaxed);
        Slot {
            _permit: permit,
            open: open.clone(),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ConnectionLease {
    /// Resolves when the server cuts what is left open (the shutdown deadline passed, or the
    /// server was dropped).
    pub async fn cut(&mut self) {
        let _ = self.cut.wait_for(|cut| *cut).await;
    }

    /// Counts a tunnel as open on this connection until the guard is dropped: the
    /// connection's idle timeout does not run meanwhile.
    pub fn tunnel(&self) -> OpenTunnel {
        self.tunnels.fetch_add(1, Ordering::AcqRel);
        OpenTunnel(self.tunnels.clone())
    }

    /// Whether a tunnel is open on this connection.
    pub(super) fn tunnels_open(&self) -> bool {
        self.tunnels.load(Ordering::Acquire) > 0
    }
}
