//! A service in the middle of a call chain (`svc-a` in gateway → `svc-a` → `svc-b`): every
//! request it receives is answered by calling the next service through
//! [`gray_tower::CallLayer`], so the instance of `svc-b` is the one the gateway's routing
//! headers chose, and those headers travel on.
//!
//! The service's own spec names its callees as groups (with each instance's `version`,
//! `region`, … metadata) and the peers it believes (`headers.trusted_peers`: the gateway).
//! The answer is the callee's (status and body) with `x-called` naming the instance called.
//! Run it with `cargo run -p gray-examples --bin svc_a -- --config svc-a.yaml`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use gray_core::Engine;
use gray_tower::call::{Call, CallContext, CallLayer};
use gray_tower::PeerAddr;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tower::{Layer, ServiceExt};

/// The client svc-a calls with: hyper's pooled client behind gray's call layer.
pub type ChainClient = Call<Client<HttpConnector, Empty<Bytes>>>;

/// A running svc-a.
pub struct MiddleService {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl MiddleService {
    /// Serves on `listener`, answering every request by calling `callee` (a group of
    /// `engine`'s spec) with a GET of the same path and query. Fails only when the listener
    /// has no local address.
    pub fn start(
        listener: TcpListener,
        engine: Arc<Engine>,
        callee: &str,
    ) -> std::io::Result<MiddleService> {
        let addr = listener.local_addr()?;
        let client: ChainClient = CallLayer::new(engine)
            .layer(Client::builder(TokioExecutor::new()).build(HttpConnector::new()));
        let callee: Arc<str> = callee.into();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let (client, callee) = (client.clone(), callee.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                        req.extensions_mut().insert(PeerAddr(peer));
                        handle(client.clone(), callee.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(MiddleService { addr, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MiddleService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers one inbound request by calling the callee.
async fn handle(
    client: ChainClient,
    callee: Arc<str>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let ctx = CallContext::of(&req);
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let call = Request::get(format!("http://{callee}{path}"))
        .extension(ctx)
        .body(Empty::new());
    let call = match call {
        Ok(c) => c,
        Err(e) => return Ok(plain(StatusCode::BAD_REQUEST, format!("bad path: {e}\n"))),
    };
    match client.oneshot(call).await {
        Ok(resp) => {
            let called = resp
                .extensions()
                .get::<gray_core::Selection>()
                .and_then(|s| s.node_address().map(str::to_owned));
            let (parts, body) = resp.into_parts();
            let bytes = match body.collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return Ok(plain(StatusCode::BAD_GATEWAY, format!("{callee}: {e}\n"))),
            };
            let mut out = Response::new(Full::new(bytes));
            *out.status_mut() = parts.status;
            if let Some(v) = parts.headers.get("x-upstream") {
                out.headers_mut().insert("x-upstream", v.clone());
            }
            if let Some(v) = called.and_then(|c| HeaderValue::from_str(&c).ok()) {
                out.headers_mut().insert("x-called", v);
            }
            Ok(out)
        }
        Err(e) => Ok(plain(StatusCode::BAD_GATEWAY, format!("{callee}: {e}\n"))),
    }
}

fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text)));
    *r.status_mut() = status;
    r
}
