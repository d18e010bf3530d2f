//! An axum application with gray as one tower layer:
//! `cargo run -p gray-examples --bin axum_app` then
//! `curl -H 'Cookie: canary=xaaa' http://127.0.0.1:18070/`.
//!
//! Each handler sees the `Decision` as a request extension (which group would serve, which
//! rule matched, the headers gray set); `ReportLayer` feeds 5xx answers back to passive health.
//! `GET /explain` shows why. Serve with `into_make_service_with_connect_info::<SocketAddr>()`
//! so gray knows the TCP peer (forwarded headers are only believed from trusted proxies).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::routing::get;
use axum::{Extension, Router};
use gray_core::{Decision, Engine, Format};
use gray_examples::DEFAULT_CONFIG;
use gray_tower::{GrayLayer, HttpRequestView, ReportLayer};
use tower::ServiceBuilder;

async fn index(Extension(decision): Extension<Decision>, req: Request) -> String {
    let tag = req
        .headers()
        .get("x-gray")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    format!("{decision}\nx-gray: {tag}\n")
}

async fn explain(
    Extension(engine): Extension<Arc<Engine>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> String {
    // The request arrives with gray's headers already applied; explain what the engine sees.
    let view = HttpRequestView::new(&req).with_peer(Some(peer.ip()));
    engine.explain(&view).to_string()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen: SocketAddr = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => "127.0.0.1:18070".parse()?,
    };
    let engine = Arc::new(Engine::from_str(DEFAULT_CONFIG, Format::Yaml)?);
    let app = Router::new()
        .route("/", get(index))
        .route("/explain", get(explain))
        .layer(
            ServiceBuilder::new()
                .layer(Extension(engine.clone()))
                .layer(GrayLayer::new(engine.clone()))
                .layer(ReportLayer::new(engine)),
        );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    println!("axum app with gray on http://{addr}");
    println!("  curl http://{addr}/");
    println!("  curl -H 'Cookie: canary=xaaa' http://{addr}/");
    println!("  curl -H 'Cookie: canary=xaaa' http://{addr}/explain");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
