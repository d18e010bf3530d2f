//! The state of one proxied request's future stays small: it is moved into place (boxed) for
//! every request, so each kilobyte of it is copied per request. Rare paths (connecting, the
//! retry, HTTP/2) are boxed out of it; this test catches a change that pulls one back in.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use gray_core::{Engine, Format};
use gray_gateway::proxy::Proxy;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// At most this many bytes of state for `Proxy::forward` (4 856 when written; 11 536 with the
/// connect path, HTTP/2 and the retry inlined).
const LIMIT: usize = 6 * 1024;

#[tokio::test]
async fn a_proxied_requests_future_stays_small() {
    let engine = Engine::from_str(
        "version: 1\ngroups: { stable: { nodes: [{ address: \"127.0.0.1:9\" }] } }\ndefault: stable\n",
        Format::Yaml,
    )
    .expect("compiles");
    let proxy = Proxy::new(
        Arc::new(engine),
        Default::default(),
        Default::default(),
        Default::default(),
    )
    .expect("proxy");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let (proxy, tx) = (proxy.clone(), tx.clone());
            async move {
                let fut = proxy.forward(req);
                let _ = tx.send(std::mem::size_of_val(&fut));
                Ok::<_, Infallible>(fut.await)
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), svc)
            .await;
    });
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut send, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let req = http::Request::get("/")
        .header("host", "shop.test")
        .body(Empty::new())
        .expect("request");
    // The node (port 9) refuses: a 502, which is fine, the future's size is what counts.
    let _ = send.send_request(req).await;
    let size = rx.recv().await.expect("the service ran");
    assert!(
        size <= LIMIT,
        "Proxy::forward's future holds {size} bytes (limit {LIMIT}): box the rare path that \
         grew it, in a statement of its own"
    );
}
