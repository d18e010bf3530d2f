//! Mirroring through the gateway with real backends: the client gets exactly stable's answer,
//! never waits for the mirror, loses nothing when the mirror is down; the in-flight bound
//! drops and counts; a large upload reaches the primary whole and is not copied.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::*;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// What a mirror backend saw of one copy.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: http::HeaderMap,
    body_bytes: usize,
}

/// A mirror backend that records each request and answers only when the test lets it
/// (`release`), so a test can tell "the client's answer did not wait" without a clock.
struct Shadow {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    gate: Arc<Semaphore>,
}

impl Shadow {
    async fn start(open: bool) -> Shadow {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Semaphore::new(if open {
            Semaphore::MAX_PERMITS
        } else {
            0
        }));
        let (s, g) = (seen.clone(), gate.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (s, g) = (s.clone(), g.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (s, g) = (s.clone(), g.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let n = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes().len())
                                .unwrap_or(0);
                            s.lock().unwrap().push(Seen {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_string(),
                                headers: parts.headers,
                                body_bytes: n,
                            });
                            g.acquire().await.unwrap().forget();
                            let mut r = Response::new(Full::new(Bytes::from_static(
                                b"shadow says something else",
                            )));
                            r.headers_mut()
                                .insert("x-upstream", "shadow".parse().unwrap());
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Shadow { addr, seen, gate }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }
}

fn config(stable: SocketAddr, shadow: SocketAddr, mirror: &str) -> String {
    format!(
        "version: 1\ngroups:\n  stable:\n    nodes: [{{ address: \"{stable}\" }}]\n    mirror: {{ to: shadow{mirror} }}\n  shadow:\n    nodes: [{{ address: \"{shadow}\" }}]\ndefault: stable\n"
    )
}

fn counter(metrics: &str, line: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_gets_stables_answer_without_waiting_for_the_mirror() {
    let stable = upstream("stable").await;
    let shadow = Shadow::start(false).await;
    let gw = gateway(&config(
        stable.addr(),
        shadow.addr,
        ", header: x-copy, host: shadow.internal",
    ))
    .await;
    let c = client();
    // What stable answers directly, and what the client gets through the gateway while the
    // mirror holds every copy unanswered.
    let direct = get(&c, stable.addr(), "/echo?x=1", &[]).await;
    for i in 0..5 {
        let r = get(&c, gw.proxy_addr(), "/echo?x=1", &[("cookie", "sid=1")]).await;
        assert_eq!((r.status, r.upstream()), (StatusCode::OK, "stable"));
        let (mut a, mut b) = (r.json(), direct.json());
        // The forwarded request carries the gateway's headers; the answer's shape is stable's.
        a["headers"] = serde_json::Value::Null;
        b["headers"] = serde_json::Value::Null;
        assert_eq!(a, b, "request {i}");
    }
    // A plain answer is byte-identical to stable's own.
    let plain = get(&c, stable.addr(), "/", &[]).await;
    let through = get(&c, gw.proxy_addr(), "/", &[]).await;
    assert_eq!((through.status, &through.body), (plain.status, &plain.body));
    eventually("the copies arrive", 250, || async {
        shadow.seen().len() == 6
    })
    .await;
    // Every client answer came while no copy had been answered: nothing waited for them.
    let seen = shadow.seen();
    for s in &seen {
        assert_eq!(s.method, "GET");
        assert!(s.path == "/echo" || s.path == "/", "{}", s.path);
        assert_eq!(s.headers.get("x-copy").unwrap(), "1");
        assert_eq!(s.headers.get("host").unwrap(), "shadow.internal");
        if s.path == "/echo" {
            assert_eq!(s.headers.get("cookie").unwrap(), "sid=1");
        }
    }
    shadow.release(6);
    eventually("the copies' answers are read and counted", 250, || async {
        counter(
            &admin(&gw, "GET", "/metrics", "").await.body,
            "gray_gateway_mirror_requests_total{mirror=\"group stable\",result=\"ok\"}",
        ) == 6
    })
    .await;
    let m = admin(&gw, "GET", "/metrics", "").await.body;
    assert_eq!(
        counter(
            &m,
            "gray_gateway_mirror_duration_seconds_count{mirror=\"group stable\"}"
        ),
        6,
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_that_is_down_costs_the_client_nothing() {
    let stable = upstream("stable").await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let gw = gateway(&config(stable.addr(), dead, ", timeout: 2s")).await;
    let c = client();
    for _ in 0..10 {
        let r = get(&c, gw.proxy_addr(), "/", &[]).await;
        assert_eq!((r.status, r.upstream()), (StatusCode::OK, "stable"));
    }
    eventually("the failed copies are counted", 250, || async {
        counter(
            &admin(&gw, "GET", "/metrics", "").await.body,
            "gray_gateway_mirror_requests_total{mirror=\"group stable\",result=\"failed\"}",
        ) == 10
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_flight_bound_drops_and_counts_and_methods_are_filtered() {
    let stable = upstream("stable").await;
    let shadow = Shadow::start(false).await;
    let gw = gateway(&config(stable.addr(), shadow.addr, ", max_in_flight: 2")).await;
    let c = client();
    for _ in 0..6 {
        assert_eq!(
            get(&c, gw.proxy_addr(), "/", &[]).await.status,
            StatusCode::OK
        );
    }
    let m = admin(&gw, "GET", "/metrics", "").await.body;
    assert_eq!(
        counter(
            &m,
            "gray_gateway_mirror_dropped_total{mirror=\"group stable\",reason=\"in_flight\"}"
        ),
        4,
        "{m}"
    );
    eventually("two copies in flight", 250, || async {
        shadow.seen().len() == 2
    })
    .await;
    // A POST is not mirrored unless the mirror lists it.
    let post = Request::post(format!("http://{}/", gw.proxy_addr()))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    assert_eq!(send(&c, post).await.unwrap().status, StatusCode::OK);
    let m = admin(&gw, "GET", "/metrics", "").await.body;
    assert_eq!(
        counter(
            &m,
            "gray_gateway_mirror_dropped_total{mirror=\"group stable\",reason=\"method\"}"
        ),
        1
    );
    shadow.release(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_copied_within_the_limit_and_a_large_upload_is_not() {
    let stable = upstream("stable").await;
    let shadow = Shadow::start(true).await;
    let gw = gateway(&config(
        stable.addr(),
        shadow.addr,
        ", methods: [POST], max_body: 65536",
    ))
    .await;
    let c = client();
    let post = |body: Vec<u8>| {
        Request::post(format!("http://{}/echo", gw.proxy_addr()))
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    // 1 KiB: the primary and the copy both get all of it.
    let r = send(&c, post(vec![b'a'; 1024])).await.unwrap();
    assert_eq!(r.json()["body_bytes"], 1024);
    eventually("the small copy", 250, || async { shadow.seen().len() == 1 }).await;
    assert_eq!(shadow.seen()[0].body_bytes, 1024);
    // 10 MB: the primary gets every byte, the copy is dropped (by its Content-Length).
    let big = vec![b'b'; 10 * 1024 * 1024];
    let r = send(&c, post(big.clone())).await.unwrap();
    assert_eq!(
        (r.status, r.json()["body_bytes"].as_u64()),
        (StatusCode::OK, Some(big.len() as u64))
    );
    let m = admin(&gw, "GET", "/metrics", "").await.body;
    assert_eq!(
        counter(
            &m,
            "gray_gateway_mirror_dropped_total{mirror=\"group stable\",reason=\"body_too_large\"}"
        ),
        1,
        "{m}"
    );
    assert_eq!(shadow.seen().len(), 1, "no copy of the large upload");
    // 1 MB streamed without a length: the primary gets it all; the copy is dropped once the
    // body passes the limit (the primary never waited for it).
    let chunks: Vec<Result<http_body::Frame<Bytes>, std::convert::Infallible>> = (0..16)
        .map(|_| Ok(http_body::Frame::data(Bytes::from(vec![b'c'; 64 * 1024]))))
        .collect();
    let streamed = Request::post(format!("http://{}/echo", gw.proxy_addr()))
        .body(http_body_util::StreamBody::new(futures_util::stream::iter(
            chunks,
        )))
        .unwrap();
    let raw = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::StreamBody<_>>();
    let resp = raw.request(streamed).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["body_bytes"], 16 * 64 * 1024);
    eventually("the streamed copy dropped", 250, || async {
        counter(
            &admin(&gw, "GET", "/metrics", "").await.body,
            "gray_gateway_mirror_dropped_total{mirror=\"group stable\",reason=\"body_too_large\"}",
        ) == 2
    })
    .await;
    assert_eq!(shadow.seen().len(), 1);
}

/// A JSON backend: `{"version": V, "ts": <a fresh value each time>, "items": [1, 2]}` with a
/// `content-type` and a `set-cookie` of its own.
async fn json_backend(version: u32, cookie: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Each backend's clock reads differently (as two real servers' would).
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(
        u64::from(version) * 1_000_000 + u64::from(addr.port()),
    ));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let counter = counter.clone();
                    async move {
                        let _ = req.into_body().collect().await;
                        let ts = counter.fetch_add(7, std::sync::atomic::Ordering::Relaxed);
                        let body =
                            format!(r#"{{"version": {version}, "ts": {ts}, "items": [1, 2]}}"#);
                        let mut r = Response::new(Full::new(Bytes::from(body)));
                        r.headers_mut()
                            .insert("content-type", "application/json".parse().unwrap());
                        r.headers_mut()
                            .insert("set-cookie", cookie.parse().unwrap());
                        r.headers_mut()
                            .insert("x-upstream", format!("v{version}").parse().unwrap());
                        Ok::<_, std::convert::Infallible>(r)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_field_is_reported_and_noise_between_baselines_is_not() {
    let stable = json_backend(1, "sid=stable-secret").await;
    let stable2 = json_backend(1, "sid=stable-secret").await;
    let canary = json_backend(2, "sid=canary-secret").await;
    let spec = format!(
        "version: 1\ngroups:\n  stable:\n    nodes: [{{ address: \"{stable}\" }}]\n    mirror: {{ to: canary, compare: {{ baseline: baseline, headers: [content-type, set-cookie] }} }}\n  canary:\n    nodes: [{{ address: \"{canary}\" }}]\n  baseline:\n    nodes: [{{ address: \"{stable2}\" }}]\ndefault: stable\n"
    );
    let gw = gateway(&spec).await;
    let c = client();
    for _ in 0..4 {
        let r = get(
            &c,
            gw.proxy_addr(),
            "/api/item",
            &[("authorization", "Bearer user-token")],
        )
        .await;
        assert_eq!(
            (r.status, r.upstream()),
            (StatusCode::OK, "v1"),
            "the client always gets stable's answer"
        );
        assert_eq!(r.json()["version"], 1);
    }
    eventually("four comparisons", 250, || async {
        counter(
            &admin(&gw, "GET", "/metrics", "").await.body,
            "gray_gateway_mirror_compared_total{mirror=\"group stable\",result=\"different\"}",
        ) == 4
    })
    .await;
    let m = admin(&gw, "GET", "/metrics", "").await.body;
    // `version` and the cookie differ on every copy; `ts` differs between the two stables too,
    // so it is noise and never counted.
    assert_eq!(
        counter(
            &m,
            "gray_gateway_mirror_differences_total{mirror=\"group stable\",kind=\"field\"}"
        ),
        4,
        "{m}"
    );
    assert_eq!(
        counter(
            &m,
            "gray_gateway_mirror_differences_total{mirror=\"group stable\",kind=\"header\"}"
        ),
        4,
        "{m}"
    );
    assert_eq!(
        counter(
            &m,
            "gray_gateway_mirror_differences_total{mirror=\"group stable\",kind=\"status\"}"
        ),
        0
    );
    let latest = admin(&gw, "GET", "/api/mirrors", "").await;
    let l = latest.json();
    let first = &l["latest"][0];
    assert_eq!(first["path"], "/api/item");
    let diffs = first["differences"].as_array().unwrap();
    let places: Vec<String> = diffs
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["kind"].as_str().unwrap(),
                d["path"].as_str().or(d["name"].as_str()).unwrap()
            )
        })
        .collect();
    assert_eq!(places, ["header set-cookie", "field version"], "{l}");
    assert_eq!(first["noise"], serde_json::json!(["ts"]));
    // Secrets never reach the API.
    assert!(
        !latest.body.contains("secret") && !latest.body.contains("user-token"),
        "{}",
        latest.body
    );
}
