//! The shortcut's upstream connections: plain TCP sockets kept idle per node, per worker
//! thread (no task, no channel per connection). The newest idle socket is used first; one
//! whose node closed it (or sent something unasked) is recognised without a system call from
//! the readiness the runtime already holds, and dropped; sockets idle longer than the pool's
//! idle time are closed by a sweep.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

/// Idle sockets kept per node and worker at most.
const MAX_IDLE_PER_NODE: usize = 256;

struct Idle {
    stream: TcpStream,
    since: Instant,
}

/// A worker's idle upstream sockets.
pub(crate) struct RawPool {
    idle: Mutex<HashMap<Box<str>, VecDeque<Idle>>>,
    keep: Duration,
    sweeping: std::sync::atomic::AtomicBool,
}

impl RawPool {
    pub(crate) fn new(keep: Duration) -> Arc<RawPool> {
        Arc::new(RawPool {
            idle: Mutex::new(HashMap::new()),
            keep,
            sweeping: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// An idle socket to `node` that is still open, if there is one.
    pub(crate) fn checkout(&self, node: &str) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(node)?;
        while let Some(Idle { stream, since }) = list.pop_back() {
            if since.elapsed() >= self.keep {
                // This and every older one are past their time.
                list.clear();
                return None;
            }
            if open(&stream) {
                return Some(stream);
            }
        }
        None
    }

    /// Keeps `stream` to `node` for the next request (a worker's runtime must be current).
    pub(crate) fn checkin(self: &Arc<Self>, node: &str, stream: TcpStream) {
        let now = Instant::now();
        {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let list = match idle.get_mut(node) {
                Some(l) => l,
                None => idle.entry(node.into()).or_default(),
            };
            if list.len() >= MAX_IDLE_PER_NODE {
                list.pop_front();
            }
            list.push_back(Idle { stream, since: now });
        }
        if !self
            .sweeping
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tokio::spawn(sweep(Arc::downgrade(self), self.keep));
        }
    }

    fn sweep_now(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|_, list| {
            while list.front().is_some_and(|i| i.since.elapsed() >= self.keep) {
                list.pop_front();
            }
            !list.is_empty()
        });
    }
}

/// Closes expired idle sockets every half idle time while the pool exists.
async fn sweep(pool: Weak<RawPool>, keep: Duration) {
    let every = (keep / 2).max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(every).await;
        match pool.upgrade() {
            Some(p) => p.sweep_now(),
            None => return,
        }
    }
}

/// Whether an idle socket is still open: the runtime reports it readable once the node closed
/// it or wrote to it; then one read tells (an idle HTTP/1.1 connection has nothing to say).
fn open(stream: &TcpStream) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    match stream.poll_read_ready(&mut cx) {
        Poll::Pending => true,
        Poll::Ready(Err(_)) => false,
        Poll::Ready(Ok(())) => {
            let mut probe = [0u8; 1];
            matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_socket_the_node_closed_is_not_handed_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let pool = RawPool::new(Duration::from_secs(60));
        let a = TcpStream::connect(&addr).await.unwrap();
        let (mut server_a, _) = listener.accept().await.unwrap();
        let b = TcpStream::connect(&addr).await.unwrap();
        let (server_b, _) = listener.accept().await.unwrap();
        pool.checkin(&addr, a);
        pool.checkin(&addr, b);
        drop(server_b);
        server_a.write_all(b"").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // b (the newest) was closed by its node: a comes out, then nothing.
        let got = pool.checkout(&addr).expect("the open socket");
        assert_eq!(got.local_addr().unwrap(), server_a.peer_addr().unwrap());
        assert!(pool.checkout(&addr).is_none());
        assert!(pool.checkout("127.0.0.1:1").is_none());
    }

    #[tokio::test]
    async fn expired_sockets_are_dropped() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let pool = RawPool::new(Duration::from_millis(30));
        pool.checkin(&addr, TcpStream::connect(&addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(pool.idle.lock().unwrap().is_empty(), "swept");
        assert!(pool.checkout(&addr).is_none());
    }
}
