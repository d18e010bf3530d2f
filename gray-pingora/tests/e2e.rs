//! End to end over real sockets: a pingora server running `GrayProxy` on 127.0.0.1, two plain
//! HTTP upstreams, and a node whose port refuses connections.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gray_core::{Engine, Format};
use gray_pingora::GrayProxy;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use tokio::sync::Notify;

/// An HTTP/1.1 upstream answering every request with its name and the request head it got.
fn upstream(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || answer(name, stream));
        }
    });
    addr
}

fn answer(name: &str, mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let body = format!("{name}\n{}", String::from_utf8_lossy(&head));
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// One request through the proxy: the status and the body.
fn get(proxy: SocketAddr, headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(proxy).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET /api/items HTTP/1.1\r\nHost: shop.example\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// Waits until `engine`'s metrics contain `line`: pingora answers the client before its
/// logging phase, where the outcome is recorded, has run.
fn recorded(engine: &Engine, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !engine.metrics().contains(line) {
        assert!(
            Instant::now() < deadline,
            "{line} not in\n{}",
            engine.metrics()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Stops the pingora server when notified (instead of waiting for a Unix signal).
struct Stop(Arc<Notify>);

#[async_trait]
impl ShutdownSignalWatch for Stop {
    async fn recv(&self) -> ShutdownSignal {
        self.0.notified().await;
        ShutdownSignal::FastShutdown
    }
}

#[test]
fn pingora_routes_strips_spoofed_headers_and_reports_outcomes() {
    let stable = upstream("stable");
    let canary = upstream("canary");
    let dead = free_port();
    let engine = Arc::new(
        Engine::from_str(
            &format!(
                r#"
version: 1
groups:
  stable: {{ nodes: [{{ address: "{stable}" }}] }}
  canary: {{ nodes: [{{ address: "{canary}" }}] }}
  dead: {{ nodes: [{{ address: "{dead}" }}] }}
  empty: {{ nodes: [{{ address: "{stable}", weight: 0 }}] }}
rules:
  - id: canary-cookie
    when: {{ cookie: {{ name: canary, regex: "aaa$" }} }}
    route: canary
    set_headers: {{ x-gray: canary }}
  - id: dead
    when: {{ header: {{ name: x-to, equals: dead }} }}
    route: dead
  - id: empty
    when: {{ header: {{ name: x-to, equals: empty }} }}
    route: empty
default: stable
"#
            ),
            Format::Yaml,
        )
        .unwrap(),
    );

    let proxy = free_port();
    let stop = Arc::new(Notify::new());
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let server = {
        let engine = engine.clone();
        let stop = stop.clone();
        thread::spawn(move || {
            let mut server = Server::new(None).unwrap();
            server.bootstrap();
            let mut service =
                pingora::proxy::http_proxy_service(&server.configuration, GrayProxy::new(engine));
            service.add_tcp(&proxy.to_string());
            server.add_service(service);
            server.run(RunArgs {
                shutdown_signal: Box::new(Stop(stop)),
            });
            let _ = done_tx.send(());
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(proxy).is_err() {
        assert!(
            Instant::now() < deadline,
            "pingora did not listen on {proxy}"
        );
        thread::sleep(Duration::from_millis(20));
    }

    // The canary cookie reaches the canary, with the rule's header; spoofed routing headers
    // from an untrusted client never reach an upstream.
    let (status, body) = get(proxy, "Cookie: canary=xaaa\r\nN-D-Version: evil\r\n");
    assert_eq!(status, 200, "{body}");
    let lower = body.to_ascii_lowercase();
    assert!(lower.starts_with("canary\n"), "{body}");
    assert!(lower.contains("x-gray: canary\r\n"), "{body}");
    assert!(!lower.contains("n-d-version"), "{body}");
    assert!(lower.contains("host: shop.example\r\n"), "{body}");

    // No cookie (or a cookie that does not match): stable.
    let (status, body) = get(proxy, "n-d-version: evil\r\n");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("stable\n"), "{body}");
    assert!(!body.to_ascii_lowercase().contains("n-d-version"), "{body}");
    let (_, body) = get(proxy, "Cookie: canary=aaab\r\n");
    assert!(body.starts_with("stable\n"), "{body}");

    // A refused connection is a 502, recorded as a failure of the node.
    let (status, _) = get(proxy, "x-to: dead\r\n");
    assert_eq!(status, 502);
    recorded(
        &engine,
        &format!("gray_node_failures_total{{group=\"dead\",node=\"{dead}\"}} 1\n"),
    );
    // A group without an available node (weight 0) is answered with 503.
    let (status, _) = get(proxy, "x-to: empty\r\n");
    assert_eq!(status, 503);

    // Outcomes were recorded in the logging phase: counters and latency histograms.
    for (group, node, class, count) in [
        ("canary", canary, "2xx", 1),
        ("stable", stable, "2xx", 2),
        ("dead", dead, "error", 1),
    ] {
        let line = format!(
            "gray_upstream_responses_total{{group=\"{group}\",node=\"{node}\",class=\"{class}\"}} {count}\n"
        );
        recorded(&engine, &line);
        let line = format!(
            "gray_upstream_request_duration_seconds_count{{group=\"{group}\",node=\"{node}\"}} {count}\n"
        );
        recorded(&engine, &line);
    }

    stop.notify_one();
    done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("pingora shuts down");
    server.join().unwrap();
}
