//! A real WebSocket node (tokio-tungstenite) for the WebSocket tests.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A WebSocket server answering every text message with `NAME: message`; the first message
/// also carries the `x-gray` header it saw on the handshake. It accepts the first subprotocol
/// a client offers (`Sec-WebSocket-Protocol`).
pub async fn ws_echo(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut gray = String::new();
                // The callback's error type is tungstenite's, not ours.
                #[allow(clippy::result_large_err)]
                let callback = |req: &Request, mut resp: Response| {
                    gray = req
                        .headers()
                        .get("x-gray")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_owned();
                    let offered = req
                        .headers()
                        .get("sec-websocket-protocol")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.split(',').next())
                        .and_then(|p| p.trim().parse().ok());
                    if let Some(chosen) = offered {
                        resp.headers_mut().insert("sec-websocket-protocol", chosen);
                    }
                    Ok(resp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                    return;
                };
                let _ = ws
                    .send(Message::text(format!("{name} x-gray={gray}")))
                    .await;
                while let Some(Ok(msg)) = ws.next().await {
                    match msg {
                        Message::Text(t) => {
                            let sent = ws.send(Message::text(format!("{name}: {t}"))).await;
                            if sent.is_err() {
                                return;
                            }
                        }
                        Message::Close(_) => return,
                        _ => {}
                    }
                }
            });
        }
    });
    addr
}

/// Sends `text` on `ws` and checks that node `name` echoes it.
pub async fn echo<S>(ws: &mut WebSocketStream<S>, name: &str, text: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    ws.send(Message::text(text)).await.unwrap();
    let back = ws.next().await.unwrap().unwrap().into_text().unwrap();
    assert_eq!(back.as_str(), format!("{name}: {text}"));
}

/// Waits for a gateway's `shutdown` that had the tunnel of `ws` open past its deadline, and
/// checks that the tunnel was cut.
pub async fn cut_by_shutdown<S>(
    shutdown: tokio::task::JoinHandle<bool>,
    ws: &mut WebSocketStream<S>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let finished = tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown ends after its deadline")
        .unwrap();
    assert!(!finished, "the tunnel was still open at the deadline");
    let next = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("the cut tunnel ends");
    assert!(!matches!(next, Some(Ok(Message::Text(_)))), "{next:?}");
}
