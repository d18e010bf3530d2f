//! gray-tower in real servers on 127.0.0.1: axum with `ConnectInfo`, hyper with `PeerAddr`,
//! steering per group and outcome reports.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use gray_core::{Decision, Engine, Format};
use gray_tower::{GrayLayer, GroupSteer, PeerAddr, ReportLayer};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::ServiceBuilder;

const CONFIG: &str = r#"
version: 1
client_ip: { trusted_proxies: ["127.0.0.1"], header: x-forwarded-for }
ip_sets: { testers: { entries: ["10.8.0.0/16"] } }
groups:
  stable: { nodes: [{ address: "127.0.0.1:6002" }] }
  canary: { nodes: [{ address: "127.0.0.1:6004", max_fails: 1, fail_timeout: 60s }], fallback: stable, fail_on: [error, timeout, http_503] }
rules:
  - { id: testers, when: { ip: [testers] }, route: canary, set_headers: { x-gray: testers } }
default: stable
"#;

async fn get_text(addr: SocketAddr, headers: &[(&str, &str)]) -> (u16, String) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut b = http::Request::get(format!("http://{addr}/"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = client
        .request(b.body(Full::default()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn axum_with_connect_info_resolves_the_client_through_the_trusted_proxy() {
    let engine = Arc::new(Engine::from_str(CONFIG, Format::Yaml).unwrap());
    let app = Router::new()
        .route(
            "/",
            get(
                |Extension(d): Extension<Decision>, h: http::HeaderMap| async move {
                    let tag = h.get("x-gray").map(|v| v.to_str().unwrap().to_owned());
                    format!("{} {}", d.group(), tag.unwrap_or_default())
                },
            ),
        )
        .layer(GrayLayer::new(engine.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    // The peer is 127.0.0.1 (trusted), so X-Forwarded-For is believed.
    let (_, body) = get_text(addr, &[("x-forwarded-for", "10.8.1.2")]).await;
    assert_eq!(body, "canary testers");
    let (_, body) = get_text(addr, &[("x-gray", "forged")]).await;
    assert_eq!(
        body, "stable forged",
        "non-routing client headers are left alone"
    );
    server.abort();
}

#[tokio::test]
async fn hyper_with_peer_addr_steers_per_group_and_reports_5xx() {
    let engine = Arc::new(Engine::from_str(CONFIG, Format::Yaml).unwrap());
    let reply = |status: u16, text: &'static str| {
        tower::util::BoxCloneService::new(tower::service_fn(
            move |_req: http::Request<hyper::body::Incoming>| async move {
                Ok::<_, Infallible>(
                    http::Response::builder()
                        .status(status)
                        .body(Full::new(Bytes::from_static(text.as_bytes())))
                        .unwrap(),
                )
            },
        ))
    };
    let steer = GroupSteer::new(reply(500, "nowhere"))
        .route("stable", reply(200, "stable"))
        .route("canary", reply(503, "canary is broken"));
    let app = ServiceBuilder::new()
        .layer(GrayLayer::new(engine.clone()))
        .layer(ReportLayer::new(engine.clone()))
        .service(steer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            let svc = ServiceBuilder::new()
                .map_request(move |mut req: http::Request<_>| {
                    req.extensions_mut().insert(PeerAddr(peer));
                    req
                })
                .service(app.clone());
            tokio::spawn(
                hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(
                        TokioIo::new(stream),
                        hyper_util::service::TowerToHyperService::new(svc),
                    )
                    .into_owned(),
            );
        }
    });
    let tester = [("x-forwarded-for", "10.8.9.9")];
    assert_eq!(
        get_text(addr, &tester).await,
        (503, "canary is broken".into())
    );
    // The 503 was recorded and canary's fail_on counts it: canary (max_fails 1) is ejected and
    // testers fall back to stable.
    assert_eq!(engine.nodes("canary").unwrap().nodes[0].health, "down");
    assert_eq!(get_text(addr, &tester).await, (200, "stable".into()));
    assert_eq!(get_text(addr, &[]).await, (200, "stable".into()));
    server.abort();
}
