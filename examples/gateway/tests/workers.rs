//! The proxy listener served by several worker threads (`server::serve_sharded`): the kernel
//! spreads connections over every worker, a connection stays on its worker, the connection cap
//! and the counters are shared, and a graceful stop drains every worker.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use gray_gateway::server::{bind_listeners, serve_sharded, ServerLimits};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answers with the name of the thread that serves the request; `/slow` after 300 ms.
fn thread_name_service() -> impl tower::Service<
    Request<Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
       + Send
       + Sync
       + 'static {
    tower::service_fn(|req: Request<Incoming>| async move {
        if req.uri().path() == "/slow" {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(name))))
    })
}

/// One HTTP/1.1 exchange on an open connection; the body of the answer.
async fn get(s: &mut TcpStream, path: &str) -> String {
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: t\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before the answer: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if body.len() >= len {
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                return body[..len].to_owned();
            }
        }
    }
}

#[tokio::test]
async fn connections_spread_over_workers_and_stay_on_theirs() {
    let listeners = bind_listeners("127.0.0.1:0".parse().unwrap(), 2).unwrap();
    let addr = listeners.local_addr();
    let server = serve_sharded(
        listeners,
        |_| thread_name_service(),
        ServerLimits::default(),
        None,
    )
    .unwrap();
    assert_eq!(server.workers(), 2);
    let mut seen = std::collections::BTreeSet::new();
    let mut conns = Vec::new();
    for _ in 0..32 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let first = get(&mut s, "/").await;
        // Every request of a connection is served by the worker that accepted it.
        for _ in 0..3 {
            assert_eq!(get(&mut s, "/").await, first);
        }
        seen.insert(first);
        conns.push(s);
    }
    // 32 connections hashed over two sockets: all on one worker has a chance of 2^-31.
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["gray-worker-0", "gray-worker-1"]
    );
    assert_eq!(server.accepted(), 32);
    assert_eq!(server.open_connections(), 32);
    drop(conns);
    for _ in 0..100 {
        if server.open_connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        server.open_connections(),
        0,
        "closed connections are counted out"
    );
}

#[tokio::test]
async fn the_cap_is_shared_and_a_stop_drains_every_worker() {
    let listeners = bind_listeners("127.0.0.1:0".parse().unwrap(), 2).unwrap();
    let addr = listeners.local_addr();
    let limits = ServerLimits {
        max_connections: 4,
        ..ServerLimits::default()
    };
    let server = serve_sharded(listeners, |_| thread_name_service(), limits, None).unwrap();
    // Requests in flight on both workers while the server stops: all finish.
    let mut slow = Vec::new();
    for _ in 0..4 {
        slow.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            get(&mut s, "/slow").await
        }));
    }
    for _ in 0..100 {
        if server.open_connections() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.open_connections(), 4);
    // A fifth connection waits in the backlog: the cap counts every worker's connections.
    let mut fifth = TcpStream::connect(addr).await.unwrap();
    fifth
        .write_all(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let waited = tokio::time::timeout(Duration::from_millis(150), fifth.read(&mut byte)).await;
    assert!(waited.is_err(), "served beyond the shared cap");
    assert!(server.stop().await, "every worker drained in time");
    let mut workers = std::collections::BTreeSet::new();
    for s in slow {
        workers.insert(s.await.unwrap());
    }
    assert!(!workers.is_empty());
    // After the stop the listeners are closed.
    assert!(TcpStream::connect(addr).await.is_err());
}
