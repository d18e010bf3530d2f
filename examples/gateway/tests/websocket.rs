//! WebSocket (HTTP/1.1 Upgrade) through the gateway: routed by the rules, echoed end to end,
//! over plain HTTP and TLS, and part of graceful shutdown.

mod common;

use std::time::Duration;

use common::tls::{connect, gw_test_gateway};
use common::ws::{cut_by_shutdown, echo, ws_echo};
use common::*;
use futures_util::StreamExt;
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn ws_request(url: &str, cookie: Option<&str>) -> http::Request<()> {
    let mut req = url.into_client_request().unwrap();
    if let Some(c) = cookie {
        req.headers_mut().insert("cookie", c.parse().unwrap());
    }
    req
}

/// Opens a WebSocket on `stream`, checks the greeting and echoes two messages; returns the
/// server's name.
async fn chat<S>(stream: S, url: &str, cookie: Option<&str>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut ws, resp) = tokio_tungstenite::client_async(ws_request(url, cookie), stream)
        .await
        .expect("handshake through the gateway");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    let hello = ws.next().await.unwrap().unwrap().into_text().unwrap();
    let (name, gray) = hello.split_once(' ').unwrap();
    let name = name.to_owned();
    let expected_gray = if cookie.is_some() {
        "x-gray=canary-cookie"
    } else {
        "x-gray=-"
    };
    assert_eq!(gray, expected_gray, "the decision's headers reach the node");
    for text in ["hello", "again"] {
        echo(&mut ws, &name, text).await;
    }
    ws.close(None).await.unwrap();
    name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echoes_through_the_gateway_and_the_canary_cookie_decides_the_node() {
    let (stable, canary) = (ws_echo("stable").await, ws_echo("canary").await);
    let gw = gateway(&seed_config(&[stable], &[canary], "10s")).await;
    let url = format!("ws://{}/chat", gw.proxy_addr());
    for _ in 0..2 {
        let s = TcpStream::connect(gw.proxy_addr()).await.unwrap();
        assert_eq!(chat(s, &url, None).await, "stable");
        let s = TcpStream::connect(gw.proxy_addr()).await.unwrap();
        assert_eq!(chat(s, &url, Some("canary=xaaa")).await, "canary");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_over_tls() {
    let (stable, canary) = (ws_echo("stable").await, ws_echo("canary").await);
    let (gw, ca, dir) = gw_test_gateway("ws-tls", stable, canary).await;
    let s = connect(gw.proxy_addr(), "gw.test", &[b"http/1.1"], ca.roots())
        .await
        .unwrap();
    assert_eq!(
        chat(s, "wss://gw.test/chat", Some("canary=xaaa")).await,
        "canary"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_the_node_declines_is_an_ordinary_response() {
    let web = upstream("stable").await;
    let gw = gateway(&seed_config(&[web.addr()], &[web.addr()], "10s")).await;
    let mut s = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    s.write_all(
        b"GET /echo HTTP/1.1\r\nHost: shop.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let text = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early");
            head.extend_from_slice(&buf[..n]);
            let t = String::from_utf8_lossy(&head).into_owned();
            if t.contains("\r\n\r\n") && t.trim_end().ends_with('}') {
                return t;
            }
        }
    })
    .await
    .expect("an answer");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("x-upstream: stable"), "{text}");
    // The node saw the upgrade request as one (Connection and Upgrade restored).
    assert!(text.contains(r#""upgrade":["websocket"]"#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_an_open_tunnel_until_the_deadline_then_cuts_it() {
    let (stable, canary) = (ws_echo("stable").await, ws_echo("canary").await);
    let gw = gateway_with(&seed_config(&[stable], &[canary], "10s"), |o| {
        o.limits.shutdown_timeout = Duration::from_millis(500);
    })
    .await;
    let addr = gw.proxy_addr();
    let url = format!("ws://{addr}/chat");
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(ws_request(&url, None), s)
        .await
        .unwrap();
    let _hello = ws.next().await.unwrap().unwrap();
    let shutdown = tokio::spawn(gw.shutdown());
    // While draining, the tunnel still carries messages, and new connections are refused.
    echo(&mut ws, "stable", "during").await;
    eventually("the listener is closed", 250, || async move {
        TcpStream::connect(addr).await.is_err()
    })
    .await;
    cut_by_shutdown(shutdown, &mut ws).await;
}
