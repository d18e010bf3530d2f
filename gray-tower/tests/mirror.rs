//! `MirrorLayer`: copies go through the mirror service beside the request, never delaying its
//! answer; the in-flight bound drops and counts; requests with a body are not copied.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use gray_core::mirror::MirrorPlan;
use gray_core::{Engine, Format};
use gray_tower::{GrayLayer, MirrorLayer, PeerAddr};
use http_body_util::{Empty, Full};
use tokio::sync::{mpsc, Notify};
use tower::{service_fn, Layer, ServiceExt};

const SPEC: &str = r#"version: 1
groups:
  stable: { nodes: [{ address: "10.0.0.1:80" }], mirror: { to: canary, max_in_flight: 2, methods: [GET, POST], header: x-copy, host: canary.internal } }
  canary: { nodes: [{ address: "10.0.0.2:80" }] }
default: stable
"#;

fn get() -> http::Request<Empty<Bytes>> {
    http::Request::get("/a?b=1")
        .header("cookie", "sid=1")
        .extension(PeerAddr("192.0.2.1:5000".parse().unwrap()))
        .body(Empty::new())
        .unwrap()
}

#[tokio::test]
async fn copies_run_beside_the_request_within_the_bound() {
    let engine = Arc::new(Engine::from_str(SPEC, Format::Yaml).unwrap());
    let (tx, mut rx) = mpsc::unbounded_channel::<http::Request<()>>();
    // A mirror that never answers until released: the client's answers must not wait for it.
    let hold = Arc::new(Notify::new());
    let h = hold.clone();
    let mirror = service_fn(move |copy: http::Request<()>| {
        let (tx, h) = (tx.clone(), h.clone());
        async move {
            tx.send(copy).ok();
            h.notified().await;
            Ok::<_, Infallible>(())
        }
    });
    let layer = MirrorLayer::new(engine.clone(), mirror, |f| {
        tokio::spawn(f);
    });
    let counts = layer.counts();
    let app = GrayLayer::new(engine).layer(layer.layer(service_fn(
        |req: http::Request<Empty<Bytes>>| async move {
            Ok::<_, Infallible>(format!("stable {}", req.uri()))
        },
    )));
    for _ in 0..5 {
        assert_eq!(app.clone().oneshot(get()).await.unwrap(), "stable /a?b=1");
    }
    // Two copies in flight (held), three dropped.
    let first = rx.recv().await.unwrap();
    let _second = rx.recv().await.unwrap();
    assert_eq!(first.uri(), "http://10.0.0.2:80/a?b=1");
    assert_eq!(first.headers()["x-copy"], "1");
    assert_eq!(first.headers()["host"], "canary.internal");
    assert_eq!(first.headers()["cookie"], "sid=1");
    assert_eq!(
        first.extensions().get::<MirrorPlan>().unwrap().group,
        "canary"
    );
    let n = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!((n(&counts.sent), n(&counts.dropped_in_flight)), (2, 3));
    // Released, the slots free up and the next copy goes out.
    hold.notify_waiters();
    tokio::task::yield_now().await;
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert_eq!(app.clone().oneshot(get()).await.unwrap(), "stable /a?b=1");
    assert!(rx.recv().await.is_some());
    assert_eq!(n(&counts.sent), 3);
}

#[tokio::test]
async fn requests_with_a_body_are_not_copied() {
    let engine = Arc::new(Engine::from_str(SPEC, Format::Yaml).unwrap());
    let mirror = service_fn(|_copy: http::Request<()>| async { Ok::<_, Infallible>(()) });
    let layer = MirrorLayer::new(engine.clone(), mirror, |f| {
        tokio::spawn(f);
    });
    let counts = layer.counts();
    let app = GrayLayer::new(engine).layer(layer.layer(service_fn(
        |_req: http::Request<Full<Bytes>>| async { Ok::<_, Infallible>("ok") },
    )));
    let post = http::Request::post("/x")
        .extension(PeerAddr("192.0.2.1:5000".parse().unwrap()))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    assert_eq!(app.oneshot(post).await.unwrap(), "ok");
    let n = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!((n(&counts.sent), n(&counts.skipped_body)), (0, 1));
}
