//! One server on several cores: a worker thread per core, each with a single-threaded Tokio
//! runtime and its own listening socket on the same address (`SO_REUSEPORT`), so the kernel
//! spreads new connections over the workers and a connection, its requests and the upstream
//! connections they use all stay on one thread — no work stealing and no wake-ups across cores
//! on the request path (nginx's `worker_processes` with `reuseport`).
//!
//! The workers share the connection cap, the counters and the stop and cut signals of one
//! [`ServerHandle`]: stopping it closes every listener at once and drains every worker's
//! connections within one shutdown deadline.

use std::io;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

use super::accept::{accept_loop, ServerHandle, Shared};
use super::conn::{HttpService, ResponseBody};
use super::limits::ServerLimits;
use super::shortcut::SharedShortcut;

/// The kernel's queue of connections not yet accepted, per listening socket.
const BACKLOG: i32 = 1024;

/// Listening sockets bound to one address, one per worker (see [`bind_listeners`]).
#[derive(Debug)]
pub struct Listeners {
    addr: SocketAddr,
    sockets: Vec<std::net::TcpListener>,
}

impl Listeners {
    /// The bound address (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many sockets (workers) there are.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// Never true: [`bind_listeners`] binds at least one socket.
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }
}

/// Binds `workers` listening sockets (at least one) to `addr`. With more than one, every
/// socket has `SO_REUSEPORT` and the first one's port (the kernel's choice for port 0) is
/// bound by the others. A single socket is bound without it, so no other process can share
/// the port.
pub fn bind_listeners(addr: SocketAddr, workers: usize) -> io::Result<Listeners> {
    let workers = workers.max(1);
    let mut bound = addr;
    let mut sockets = Vec::with_capacity(workers);
    for _ in 0..workers {
        let socket = Socket::new(
            Domain::for_address(bound),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        if workers > 1 {
            socket.set_reuse_port(true)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&bound.into())?;
        socket.listen(BACKLOG)?;
        let listener = std::net::TcpListener::from(socket);
        bound = listener.local_addr()?;
        sockets.push(listener);
    }
    Ok(Listeners {
        addr: bound,
        sockets,
    })
}

/// Serves on every socket of `listeners`, each on its own worker thread running a
/// single-threaded runtime; `make(i)` builds worker `i`'s service (so each worker can keep its
/// own upstream pool). Every connection is served over TLS with `tls` when given (see
/// [`super::serve_tls`]). A thread ends when its accept loop has drained after a stop, or at
/// once when the handle is aborted or dropped.
pub fn serve_sharded<S, B, F>(
    listeners: Listeners,
    mut make: F,
    limits: ServerLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> io::Result<ServerHandle>
where
    S: HttpService<B>,
    B: ResponseBody,
    F: FnMut(usize) -> S,
{
    serve_sharded_with(listeners, |i| (make(i), None), limits, tls)
}

/// [`serve_sharded`] with a [`Shortcut`](super::Shortcut) per worker: `make(i)` builds worker
/// `i`'s service and the shortcut its plain HTTP/1.1 connections go to first (TLS connections
/// never do).
pub fn serve_sharded_with<S, B, F>(
    listeners: Listeners,
    mut make: F,
    limits: ServerLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> io::Result<ServerHandle>
where
    S: HttpService<B>,
    B: ResponseBody,
    F: FnMut(usize) -> (S, SharedShortcut),
{
    let (shared, mut handle) = Shared::new(listeners.addr, limits);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    for (i, socket) in listeners.sockets.into_iter().enumerate() {
        let (service, shortcut) = make(i);
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        let (started, task) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name(format!("gray-worker-{i}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = started.send(Err(e));
                        return;
                    }
                };
                let listener = {
                    let _in_runtime = runtime.enter();
                    match TcpListener::from_std(socket) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = started.send(Err(e));
                            return;
                        }
                    }
                };
                // The thread lives as long as its accept loop: until the loop has drained
                // (a stop) or its task is aborted (abort, or the handle dropped); dropping the
                // runtime then ends whatever is left on it.
                let (done, finished) = tokio::sync::oneshot::channel::<()>();
                let task = runtime.spawn(async move {
                    accept_loop(listener, service, shortcut, acceptor, shared).await;
                    drop(done);
                });
                if started.send(Ok(task)).is_err() {
                    return;
                }
                runtime.block_on(async move {
                    let _ = finished.await;
                });
            })?;
        match task.recv() {
            Ok(Ok(task)) => handle.tasks.push(task),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::Error::other("a worker thread ended while starting")),
        }
    }
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_share_one_port() {
        let l = bind_listeners("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        assert_eq!(l.len(), 3);
        assert_ne!(l.local_addr().port(), 0);
        for s in &l.sockets {
            assert_eq!(s.local_addr().unwrap(), l.local_addr());
        }
    }

    #[test]
    fn a_single_socket_does_not_share_its_port() {
        let one = bind_listeners("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let err = bind_listeners(one.local_addr(), 2).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
