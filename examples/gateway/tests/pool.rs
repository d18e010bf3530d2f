//! The per-worker upstream pool (`gray_gateway::pool`) against a hand-written HTTP/1.1 node
//! that counts its connections: keep-alive reuse (also after bodiless answers), a node closing
//! idle connections never surfaces as an error, `Connection: close` is honoured, idle
//! connections are closed after the idle timeout.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A node answering every request on a connection by its path:
/// `/close-soon` keeps the connection open for 30 ms after the answer, then closes it (a short
/// keep-alive timeout); `/close` answers with `Connection: close`; `/empty` answers 204;
/// anything else 200 `ok`. HEAD gets the headers only.
struct Node {
    addr: SocketAddr,
    opened: Arc<AtomicUsize>,
    closed_by_peer: Arc<AtomicUsize>,
}

async fn node() -> Node {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let opened = Arc::new(AtomicUsize::new(0));
    let closed_by_peer = Arc::new(AtomicUsize::new(0));
    let (o, c) = (opened.clone(), closed_by_peer.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            o.fetch_add(1, Ordering::SeqCst);
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 2048];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match tokio::time::timeout(Duration::from_millis(30), s.read(&mut chunk))
                            .await
                        {
                            Ok(Ok(0)) | Ok(Err(_)) => {
                                c.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                            // Idle: a /close-soon connection ends here.
                            Err(_) if buf.is_empty() && closing(&s) => return,
                            Err(_) => {}
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 4);
                    let mut words = head.split_whitespace();
                    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                    let (status, extra, body) = match path {
                        "/close" => ("200 OK", "connection: close\r\n", "ok"),
                        "/empty" => ("204 No Content", "", ""),
                        _ => ("200 OK", "", "ok"),
                    };
                    let length = if status.starts_with("204") {
                        String::new()
                    } else {
                        format!("content-length: {}\r\n", body.len())
                    };
                    let body = if method == "HEAD" { "" } else { body };
                    let answer = format!("HTTP/1.1 {status}\r\n{length}{extra}\r\n{body}");
                    if s.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                    if path == "/close" {
                        return;
                    }
                    if path == "/close-soon" {
                        mark_closing(&s);
                    }
                }
            });
        }
    });
    Node {
        addr,
        opened,
        closed_by_peer,
    }
}

// The node remembers a /close-soon connection by its local port.
static CLOSING: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

fn mark_closing(s: &tokio::net::TcpStream) {
    if let Ok(peer) = s.peer_addr() {
        CLOSING.lock().unwrap().push(peer.port());
    }
}

fn closing(s: &tokio::net::TcpStream) -> bool {
    s.peer_addr()
        .is_ok_and(|p| CLOSING.lock().unwrap().contains(&p.port()))
}

fn config(node: SocketAddr) -> String {
    format!(
        "version: 1\ngroups:\n  stable:\n    nodes: [{{ address: \"{node}\", max_fails: 1, fail_timeout: 10s }}]\ndefault: stable\n"
    )
}

async fn one_worker(node: SocketAddr, pool_idle: Duration) -> gray_gateway::Gateway {
    gateway_with(&config(node), |o| {
        o.workers = 1;
        o.timeouts.pool_idle = pool_idle;
    })
    .await
}

async fn failures(gw: &gray_gateway::Gateway) -> String {
    admin(gw, "GET", "/metrics", "")
        .await
        .body
        .lines()
        .filter(|l| l.starts_with("gray_gateway_upstream_failures_total") && !l.ends_with(" 0"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn connections_are_reused_also_after_bodiless_answers() {
    let n = node().await;
    let gw = one_worker(n.addr, Duration::from_secs(60)).await;
    let c = client();
    for path in ["/", "/empty", "/", "/empty"].iter().cycle().take(20) {
        let r = get(&c, gw.proxy_addr(), path, &[]).await;
        assert!(r.status.is_success(), "{path}: {}", r.status);
    }
    for _ in 0..10 {
        let req = http::Request::head(format!("http://{}/", gw.proxy_addr()))
            .body(Default::default())
            .unwrap();
        assert_eq!(send(&c, req).await.unwrap().status, StatusCode::OK);
    }
    assert_eq!(
        n.opened.load(Ordering::SeqCst),
        1,
        "30 requests, one connection"
    );
    assert_eq!(failures(&gw).await, "");
}

#[tokio::test]
async fn a_node_closing_idle_connections_is_never_an_error() {
    let n = node().await;
    let gw = one_worker(n.addr, Duration::from_secs(60)).await;
    let c = client();
    for i in 0..8 {
        let r = get(&c, gw.proxy_addr(), "/close-soon", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "request {i}: {}", r.body);
        // The node closes the pooled connection meanwhile.
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    assert_eq!(
        n.opened.load(Ordering::SeqCst),
        8,
        "a new connection each time"
    );
    assert_eq!(
        failures(&gw).await,
        "",
        "stale connections are not failures"
    );
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let n = node().await;
    let gw = one_worker(n.addr, Duration::from_secs(60)).await;
    let c = client();
    for _ in 0..5 {
        let r = get(&c, gw.proxy_addr(), "/close", &[]).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(n.opened.load(Ordering::SeqCst), 5);
    assert_eq!(failures(&gw).await, "");
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let n = node().await;
    let gw = one_worker(n.addr, Duration::from_millis(150)).await;
    let c = client();
    assert_eq!(
        get(&c, gw.proxy_addr(), "/", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(n.closed_by_peer.load(Ordering::SeqCst), 0);
    // The sweep closes it without any further request.
    for _ in 0..100 {
        if n.closed_by_peer.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        n.closed_by_peer.load(Ordering::SeqCst),
        1,
        "the idle connection was closed"
    );
    // The next request opens a new one.
    assert_eq!(
        get(&c, gw.proxy_addr(), "/", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(n.opened.load(Ordering::SeqCst), 2);
}
