//! HTTP/2 to upstream nodes: h2c with prior knowledge and ALPN `h2` over TLS, one shared
//! connection per node and worker, reconnects after the node closes it, streamed bodies, and
//! nodes not listed staying HTTP/1.1 — against real nodes on loopback sockets.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use common::tls::{tempdir, write_leaf, TestCa};
use common::*;
use gray_gateway::{Certificates, Gateway, GatewayOptions, TlsOptions, UpstreamH2, UpstreamTls};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A node serving HTTP/1.1 and HTTP/2 (h2c by prior knowledge, or by ALPN over TLS) that
/// answers with its name, the request's version and the number of the connection it came on.
struct Node {
    addr: SocketAddr,
    /// Connections accepted so far.
    made: Arc<AtomicUsize>,
    /// Connections open now.
    open: Arc<AtomicUsize>,
    /// Closing every open connection: `true` with GOAWAY (graceful), `false` by dropping it.
    close: watch::Sender<(u64, bool)>,
}

impl Node {
    async fn start(name: &'static str, tls: Option<Arc<rustls::ServerConfig>>) -> Node {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (made, open) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (close, _) = watch::channel((0, false));
        let node = Node {
            addr,
            made: made.clone(),
            open: open.clone(),
            close: close.clone(),
        };
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let id = made.fetch_add(1, Ordering::SeqCst) + 1;
                let (open, closing, acceptor) = (open.clone(), close.subscribe(), acceptor.clone());
                tokio::spawn(async move {
                    open.fetch_add(1, Ordering::SeqCst);
                    match acceptor {
                        Some(a) => {
                            if let Ok(s) = a.accept(tcp).await {
                                serve(s, name, id, true, closing).await;
                            }
                        }
                        None => serve(tcp, name, id, false, closing).await,
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        node
    }

    /// Closes every open connection (GOAWAY when `graceful`, else dropped) and waits until
    /// they are gone.
    async fn close_connections(&self, graceful: bool) {
        self.close.send_modify(|(n, g)| {
            *n += 1;
            *g = graceful;
        });
        let open = self.open.clone();
        eventually("the node's connections are closed", 250, || {
            let open = open.clone();
            async move { open.load(Ordering::SeqCst) == 0 }
        })
        .await;
    }

    fn made(&self) -> usize {
        self.made.load(Ordering::SeqCst)
    }
}

async fn serve<I>(
    io: I,
    name: &'static str,
    id: usize,
    tls: bool,
    mut closing: watch::Receiver<(u64, bool)>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| async move {
        let text = |v: Option<&str>| v.unwrap_or("-").to_owned();
        let (version, scheme, authority, host) = (
            format!("{:?}", req.version()),
            text(req.uri().scheme_str()),
            text(req.uri().authority().map(|a| a.as_str())),
            text(req.headers().get("host").and_then(|h| h.to_str().ok())),
        );
        let body = req.into_body().collect().await?.to_bytes();
        Ok::<_, hyper::Error>(
            Response::builder()
                .header("x-upstream", name)
                .header("x-version", version)
                .header("x-conn", id.to_string())
                .header("x-scheme", scheme)
                .header("x-authority", authority)
                .header("x-host", host)
                .header("x-tls", tls.to_string())
                .body(Full::new(body))
                .unwrap(),
        )
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = closing.changed() => {
            let graceful = closing.borrow().1;
            if graceful {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }
}

fn header<'a>(r: &'a Reply, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The status and the node's report headers `names` of a reply.
fn seen<'a>(r: &'a Reply, names: &[&str]) -> Vec<&'a str> {
    std::iter::once(r.status.as_str())
        .chain(names.iter().map(|n| header(r, n)))
        .collect()
}

/// Who answered, over which HTTP version, on which of its connections.
const WHO: [&str; 3] = ["x-upstream", "x-version", "x-conn"];

/// A gateway on the seeds' config with one worker (so one pool: every request of a test meets
/// the same upstream connections), speaking HTTP/2 to `h2` (targets), with `change` applied.
async fn h2_gateway(
    stable: SocketAddr,
    canary: SocketAddr,
    h2: &str,
    change: impl FnOnce(&mut GatewayOptions),
) -> Gateway {
    gateway_with(&seed_config(&[stable], &[canary], "10s"), |o| {
        o.workers = 1;
        o.upstream_h2 = UpstreamH2 {
            targets: vec![h2.to_owned()],
        };
        change(o);
    })
    .await
}

/// `n` concurrent GETs of `/` with `headers` through the gateway at `addr`.
async fn concurrent(
    addr: SocketAddr,
    n: usize,
    headers: &'static [(&'static str, &'static str)],
) -> Vec<Reply> {
    let c = client();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { get(&c, addr, "/", headers).await })
        })
        .collect();
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    replies
}

const CANARY: (&str, &str) = ("cookie", "canary=xaaa");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_node_gets_every_request_over_one_shared_http2_connection() {
    let (stable, canary) = (
        Node::start("stable", None).await,
        Node::start("canary", None).await,
    );
    let gw = h2_gateway(stable.addr, canary.addr, "canary", |_| {}).await;
    let addr = gw.proxy_addr();
    let c = client();
    // Concurrent first requests wait for one connection rather than opening one each.
    for r in concurrent(addr, 40, &[CANARY]).await {
        assert_eq!(
            seen(&r, &WHO),
            ["200", "canary", "HTTP/2.0", "1"],
            "{}",
            r.body
        );
    }
    for i in 0..20 {
        let r = get(
            &c,
            addr,
            &format!("/seq/{i}"),
            &[CANARY, ("host", "shop.test")],
        )
        .await;
        assert_eq!(seen(&r, &WHO), ["200", "canary", "HTTP/2.0", "1"]);
        // HTTP/2's :scheme and :authority (the client's Host), no Host header.
        let form = seen(&r, &["x-scheme", "x-authority", "x-host"]);
        assert_eq!(form, ["200", "http", "shop.test", "-"]);
    }
    assert_eq!(canary.made(), 1, "one shared connection");
    // A node not listed stays HTTP/1.1 (and keep-alive).
    for _ in 0..3 {
        let r = get(&c, addr, "/", &[]).await;
        assert_eq!(seen(&r, &WHO), ["200", "stable", "HTTP/1.1", "1"]);
        assert_eq!(header(&r, "x-host"), addr.to_string());
    }
    assert_eq!(stable.made(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_closes_its_connection_is_reconnected_without_an_error() {
    let node = Node::start("web", None).await;
    let gw = h2_gateway(node.addr, node.addr, "*", |_| {}).await;
    let c = client();
    let r = get(&c, gw.proxy_addr(), "/", &[]).await;
    assert_eq!(seen(&r, &WHO), ["200", "web", "HTTP/2.0", "1"]);
    for (graceful, next) in [(true, "2"), (false, "3")] {
        node.close_connections(graceful).await;
        let r = get(&c, gw.proxy_addr(), "/", &[]).await;
        let closed = format!("after closing (graceful: {graceful}): {}", r.body);
        assert_eq!(seen(&r, &WHO), ["200", "web", "HTTP/2.0", next], "{closed}");
    }
    // No failure reached the client, passive health or the retry counters.
    let m = admin(&gw, "GET", "/metrics", "").await.body;
    for kind in ["connect", "exchange"] {
        let line = format!("gray_gateway_upstream_failures_total{{kind=\"{kind}\"}} 0");
        assert!(m.contains(&line), "{m}");
    }
}

/// A request body sent in chunks as they come.
struct Chunks(tokio::sync::mpsc::Receiver<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|c| c.map(|b| Ok(http_body::Frame::data(b))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_request_body_goes_through_over_http2() {
    let node = Node::start("web", None).await;
    let gw = h2_gateway(node.addr, node.addr, &node.addr.to_string(), |o| {
        o.workers = 2
    })
    .await;
    let tcp = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let req = Request::post("/upload")
        .header("host", "shop.test")
        .body(Chunks(rx))
        .unwrap();
    let feed = tokio::spawn(async move {
        for i in 0..5 {
            tokio::time::sleep(Duration::from_millis(30)).await;
            tx.send(Bytes::from(format!("chunk {i};"))).await.unwrap();
        }
    });
    let resp = send.send_request(req).await.unwrap();
    feed.await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-version"], "HTTP/2.0");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"chunk 0;chunk 1;chunk 2;chunk 3;chunk 4;");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_nodes_use_http2_when_they_select_h2_in_alpn() {
    let ca = TestCa::new("gray upstream CA");
    let dir = tempdir("upstream-h2");
    let files = write_leaf(&dir, "node", &ca.issue(&["127.0.0.1"]));
    let both = Certificates::load(TlsOptions {
        certificates: vec![files],
    })
    .unwrap()
    .server_config();
    let mut http1_only = (*both).clone();
    http1_only.alpn_protocols = vec![b"http/1.1".to_vec()];
    let canary = Node::start("canary", Some(both)).await;
    let stable = Node::start("stable", Some(Arc::new(http1_only))).await;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let gw = h2_gateway(stable.addr, canary.addr, "*", |o| {
        o.upstream_tls = UpstreamTls {
            targets: vec!["*".into()],
            ca_file: Some(ca_file.clone()),
        };
    })
    .await;
    let c = client();
    for _ in 0..5 {
        let r = get(&c, gw.proxy_addr(), "/", &[CANARY]).await;
        let over = ["x-upstream", "x-version", "x-tls", "x-scheme"];
        assert_eq!(
            seen(&r, &over),
            ["200", "canary", "HTTP/2.0", "true", "https"]
        );
        // A node that selects HTTP/1.1 is spoken to over HTTP/1.1, its connection kept alive.
        let r = get(&c, gw.proxy_addr(), "/", &[]).await;
        assert_eq!(seen(&r, &over), ["200", "stable", "HTTP/1.1", "true", "-"]);
    }
    assert_eq!((canary.made(), stable.made()), (1, 1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_h2_node_is_a_connect_error_for_every_waiting_request() {
    // A port nothing listens on.
    let gone = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = h2_gateway(gone, gone, "*", |_| {}).await;
    for r in concurrent(gw.proxy_addr(), 5, &[]).await {
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
        assert!(r.body.contains("cannot connect"), "{}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_shared_connection_is_closed_by_the_idle_sweep() {
    let node = Node::start("web", None).await;
    let gw = h2_gateway(node.addr, node.addr, "*", |o| {
        o.timeouts.pool_idle = Duration::from_millis(200);
    })
    .await;
    let c = client();
    let r = get(&c, gw.proxy_addr(), "/", &[]).await;
    assert_eq!(seen(&r, &WHO), ["200", "web", "HTTP/2.0", "1"]);
    let open = node.open.clone();
    eventually("the idle connection is closed", 250, || {
        let open = open.clone();
        async move { open.load(Ordering::SeqCst) == 0 }
    })
    .await;
    let r = get(&c, gw.proxy_addr(), "/", &[]).await;
    assert_eq!(seen(&r, &WHO), ["200", "web", "HTTP/2.0", "2"]);
}
