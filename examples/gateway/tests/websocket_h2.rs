//! WebSocket over HTTP/2 (RFC 8441 extended CONNECT) through the gateway: an HTTP/2 client
//! (h2c and TLS) runs real WebSocket sessions on its streams, routed by the rules to real
//! WebSocket nodes spoken to over HTTP/1.1; handshake failures, refused protocols, idle
//! connections and shutdown.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::tls::{connect, gw_test_gateway};
use common::ws::{cut_by_shutdown, echo, ws_echo};
use common::*;
use futures_util::StreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper::ext::Protocol;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

type H2 = SendRequest<Empty<Bytes>>;

/// An HTTP/2 connection over `io` whose peer has announced `SETTINGS_ENABLE_CONNECT_PROTOCOL`
/// (the server's SETTINGS have come once a first exchange is done: a plain CONNECT, which the
/// gateway answers itself with 405).
async fn h2_client<I>(io: I, authority: &str) -> H2
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .expect("HTTP/2 handshake with the gateway");
    // The connection task tells what the server's SETTINGS said.
    let (announced, seen) = watch::channel(false);
    tokio::spawn(async move {
        tokio::pin!(conn);
        let mut look = tokio::time::interval(Duration::from_millis(5));
        loop {
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = look.tick() => {
                    let _ = announced.send(conn.is_extended_connect_protocol_enabled());
                }
            }
        }
    });
    let first = Request::connect(authority).body(Empty::new()).unwrap();
    let resp = send
        .send_request(first)
        .await
        .expect("an answer to CONNECT");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let mut seen = seen;
    tokio::time::timeout(Duration::from_secs(5), seen.wait_for(|on| *on))
        .await
        .expect("the gateway announces SETTINGS_ENABLE_CONNECT_PROTOCOL")
        .expect("the connection is open");
    send
}

/// Sends an extended CONNECT for `protocol` to `path` with `headers`.
async fn extended_connect(
    send: &mut H2,
    authority: &str,
    path: &str,
    protocol: &'static str,
    headers: &[(&str, &str)],
) -> Response<Incoming> {
    let mut b = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("http://{authority}{path}"))
        .header("sec-websocket-version", "13");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut req = b.body(Empty::new()).unwrap();
    req.extensions_mut().insert(Protocol::from_static(protocol));
    send.ready().await.expect("connection ready");
    send.send_request(req).await.expect("an answer to CONNECT")
}

/// A WebSocket session on an accepted extended CONNECT: checks the node's greeting (its name
/// and the decision's `x-gray` header it saw), echoes two messages, closes; returns the name.
async fn chat(resp: Response<Incoming>, expected_gray: &str) -> String {
    assert_eq!(resp.status(), StatusCode::OK, "{resp:?}");
    let upgraded = hyper::upgrade::on(resp)
        .await
        .expect("the stream is a tunnel");
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    let hello = ws.next().await.unwrap().unwrap().into_text().unwrap();
    let (name, gray) = hello.split_once(' ').unwrap();
    let name = name.to_owned();
    assert_eq!(gray, format!("x-gray={expected_gray}"));
    for text in ["hello", "again"] {
        echo(&mut ws, &name, text).await;
    }
    ws.close(None).await.unwrap();
    name
}

async fn body_text(resp: Response<Incoming>) -> String {
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

const CANARY: (&str, &str) = ("cookie", "canary=xaaa");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_over_h2c_is_routed_by_the_rules_and_echoed() {
    let (stable, canary) = (ws_echo("stable").await, ws_echo("canary").await);
    let gw = gateway(&seed_config(&[stable], &[canary], "10s")).await;
    let authority = "shop.test";
    let tcp = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    let mut send = h2_client(tcp, authority).await;
    // Two sessions on streams of the one connection at the same time, to different nodes.
    let to_canary = extended_connect(&mut send, authority, "/chat", "websocket", &[CANARY]).await;
    let to_stable = extended_connect(&mut send, authority, "/chat", "websocket", &[]).await;
    let (a, b) = tokio::join!(chat(to_canary, "canary-cookie"), chat(to_stable, "-"));
    assert_eq!((a.as_str(), b.as_str()), ("canary", "stable"));
    // The connection goes on serving after the tunnels closed.
    for _ in 0..2 {
        let resp = extended_connect(&mut send, authority, "/chat", "websocket", &[CANARY]).await;
        assert_eq!(chat(resp, "canary-cookie").await, "canary");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_over_h2_with_tls_and_a_subprotocol() {
    let (stable, canary) = (ws_echo("stable").await, ws_echo("canary").await);
    let (gw, ca, dir) = gw_test_gateway("ws-h2-tls", stable, canary).await;
    let tls = connect(gw.proxy_addr(), "gw.test", &[b"h2"], ca.roots())
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut send = h2_client(tls, "gw.test").await;
    let headers = [CANARY, ("sec-websocket-protocol", "chat.v2, chat.v1")];
    let resp = extended_connect(&mut send, "gw.test", "/chat", "websocket", &headers).await;
    // The node's choice of subprotocol comes back on the 200.
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat.v2");
    assert!(resp.headers().get("sec-websocket-accept").is_none());
    assert_eq!(chat(resp, "canary-cookie").await, "canary");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A node that answers every request head with `answer` and then keeps the connection open.
async fn raw_node(answer: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                if read_head(&mut s).await.is_none() {
                    return;
                }
                let _ = s.write_all(answer.as_bytes()).await;
                tokio::time::sleep(Duration::from_secs(5)).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_the_node_does_not_complete_are_ordinary_answers_or_502() {
    let web = upstream("stable").await;
    let forged = raw_node(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n",
    )
    .await;
    let gw = gateway(&seed_config(&[web.addr()], &[forged], "10s")).await;
    let tcp = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    let mut send = h2_client(tcp, "shop.test").await;
    // A refusal from the node reaches the client as it is.
    let resp = extended_connect(&mut send, "shop.test", "/status/403", "websocket", &[]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // A 2xx that is no 101 would read as "tunnel open" on a CONNECT: 502.
    let resp = extended_connect(&mut send, "shop.test", "/chat", "websocket", &[]).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(body_text(resp).await.contains("instead of 101"));
    // A 101 whose Sec-WebSocket-Accept does not belong to the key: 502.
    let resp = extended_connect(&mut send, "shop.test", "/chat", "websocket", &[CANARY]).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(body_text(resp).await.contains("Sec-WebSocket-Accept"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_protocols_are_refused() {
    let web = upstream("stable").await;
    let gw = gateway(&seed_config(&[web.addr()], &[web.addr()], "10s")).await;
    let tcp = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    let mut send = h2_client(tcp, "shop.test").await;
    let resp = extended_connect(&mut send, "shop.test", "/udp", "connect-udp", &[]).await;
    assert_eq!(resp.status(), StatusCode::NOT_IMPLEMENTED);
    let text = body_text(resp).await;
    assert!(
        text.contains("connect-udp") && text.contains("only websocket"),
        "{text}"
    );
    assert_eq!(web.connections(), 0, "nothing reached the node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_tunnel_keeps_its_connection_and_shutdown_cuts_it_at_the_deadline() {
    let (stable, canary) = (ws_echo("stable").await, ws_echo("canary").await);
    let gw = gateway_with(&seed_config(&[stable], &[canary], "10s"), |o| {
        o.limits.header_timeout = Duration::from_millis(200);
        o.limits.keepalive_timeout = Duration::from_millis(300);
        o.limits.shutdown_timeout = Duration::from_millis(500);
    })
    .await;
    let tcp = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    let mut send = h2_client(tcp, "shop.test").await;
    let resp = extended_connect(&mut send, "shop.test", "/chat", "websocket", &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let upgraded = hyper::upgrade::on(resp).await.unwrap();
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    let _hello = ws.next().await.unwrap().unwrap();
    // Quiet for longer than the keep-alive timeout: the tunnel keeps the connection busy.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    echo(&mut ws, "stable", "still here").await;
    // Shutdown waits for the open tunnel until its deadline, then cuts it.
    let shutdown = tokio::spawn(gw.shutdown());
    echo(&mut ws, "stable", "during").await;
    cut_by_shutdown(shutdown, &mut ws).await;
}
