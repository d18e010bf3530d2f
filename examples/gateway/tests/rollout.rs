//! A rollout that judges itself, end to end: a real canary that answers one request in ten
//! with a 500 is aborted by the gateway's own judgement, all traffic returns to stable, and no
//! request fails because of the switch. Takes about 20 s of real time (10-second intervals).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// An upstream that answers `x-upstream: canary`, with a 500 for every tenth request.
async fn flaky_canary() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let served = served.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    let n = served.fetch_add(1, Ordering::Relaxed);
                    let status = if n % 10 == 9 { 500 } else { 200 };
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .status(status)
                                .header("x-upstream", "canary")
                                .body(Full::new(Bytes::from_static(b"canary\n")))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A webhook receiver: keeps every POSTed body.
async fn webhook_sink() -> (SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    use http_body_util::BodyExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = bodies.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let keep = keep.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let keep = keep.clone();
                    async move {
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        keep.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&body).into_owned());
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, bodies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_canary_is_aborted_by_the_gateway_and_traffic_returns_to_stable() {
    let stable = upstream("stable").await;
    let canary = flaky_canary().await;
    let (hook, posted) = webhook_sink().await;
    let gw = gateway(&judged_rollout(
        stable.addr(),
        canary,
        &format!(", failure_limit: 1, webhook: \"http://{hook}/rollout\""),
    ))
    .await;
    let c = client();
    let addr = gw.proxy_addr();
    let started = Instant::now();
    let (mut from_canary, mut canary_500s, mut aborted_after) = (0, 0, None::<usize>);
    let mut served = 0usize;
    while started.elapsed() < Duration::from_secs(40) {
        let r = get(&c, addr, "/", &[]).await;
        served += 1;
        match (r.upstream(), r.status) {
            ("canary", StatusCode::OK) => from_canary += 1,
            ("canary", StatusCode::INTERNAL_SERVER_ERROR) => canary_500s += 1,
            ("stable", StatusCode::OK) => {}
            (who, status) => panic!("request {served} failed: {status} from {who:?}: {}", r.body),
        }
        if aborted_after.is_none() && served % 20 == 0 {
            let rollouts = admin(&gw, "GET", "/api/rollouts", "").await.json();
            if rollouts[0]["state"]["state"] == "aborted" {
                aborted_after = Some(served);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let aborted_after = aborted_after.expect("the rollout aborted by itself");
    assert!(
        from_canary > 50 && canary_500s > 5,
        "canary {from_canary} ok, {canary_500s} 500s"
    );
    let status = admin(&gw, "GET", "/api/rollouts", "").await.json();
    let reason = status[0]["history"][0]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("error rate"), "{reason}");
    // From now on everything goes to stable, and nothing fails.
    for _ in 0..100 {
        let r = get(&c, addr, "/", &[]).await;
        assert_eq!(
            (r.status, r.upstream()),
            (StatusCode::OK, "stable"),
            "after the abort"
        );
    }
    let m = admin(&gw, "GET", "/metrics", "").await.body;
    assert!(m.contains("gray_rollout_state{group=\"web\"} 3"), "{m}");
    assert!(m.contains("gray_rollout_step{group=\"web\"} 0"));
    // The operator can resume it from the first step.
    let resumed = admin(&gw, "POST", "/api/rollouts/web/resume", "").await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    assert_eq!(resumed.json()["state"]["state"], "progressing");
    // Both transitions reached the webhook, as JSON.
    eventually("two webhook posts", 250, || {
        let n = posted.lock().unwrap().len();
        async move { n >= 2 }
    })
    .await;
    let bodies = posted.lock().unwrap().clone();
    let first: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(first["group"], "web");
    assert_eq!(first["transition"]["to"]["state"], "aborted");
    assert!(first["transition"]["reason"]
        .as_str()
        .unwrap()
        .contains("error rate"));
    let second: serde_json::Value = serde_json::from_str(&bodies[1]).unwrap();
    assert_eq!(second["transition"]["to"]["state"], "progressing");
    let delivered = "gray_gateway_rollout_webhooks_total{result=\"delivered\"} 2";
    for _ in 0..100 {
        if admin(&gw, "GET", "/metrics", "")
            .await
            .body
            .contains(delivered)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admin(&gw, "GET", "/metrics", "")
        .await
        .body
        .contains(delivered));
    let bad = admin(&gw, "POST", "/api/rollouts/web/explode", "").await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
    let none = admin(&gw, "POST", "/api/rollouts/nope/abort", "").await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    let _ = aborted_after;
}
