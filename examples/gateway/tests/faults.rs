//! Faults under load: a dying canary, a hanging upstream, an upstream that never completes
//! the TCP handshake, reloads while traffic flows, a bad config file.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use gray_gateway::{ConfigSource, Gateway};
use http::StatusCode;

/// One request's outcome as seen by the load generator.
#[derive(Debug, Clone)]
#[allow(dead_code)] // `error` is read through Debug in failure messages
struct Outcome {
    after_mark: bool,
    status: Option<StatusCode>,
    upstream: String,
    error: String,
}

/// Runs `workers` loops of requests until `stop`; `mark` is sampled before each request.
fn load(
    addr: std::net::SocketAddr,
    workers: usize,
    headers: Vec<(&'static str, &'static str)>,
    stop: Arc<AtomicBool>,
    mark: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<Vec<Outcome>>> {
    (0..workers)
        .map(|_| {
            let (stop, mark, done, headers) =
                (stop.clone(), mark.clone(), done.clone(), headers.clone());
            tokio::spawn(async move {
                let c = client();
                let mut out = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let after_mark = mark.load(Ordering::SeqCst);
                    let mut b = http::Request::get(format!("http://{addr}/"));
                    for (k, v) in &headers {
                        b = b.header(*k, *v);
                    }
                    let r = send(&c, b.body(Default::default()).unwrap()).await;
                    out.push(match r {
                        Ok(r) => Outcome {
                            after_mark,
                            status: Some(r.status),
                            upstream: r.upstream().to_owned(),
                            error: r.body,
                        },
                        Err(e) => Outcome {
                            after_mark,
                            status: None,
                            upstream: String::new(),
                            error: e,
                        },
                    });
                    done.fetch_add(1, Ordering::Relaxed);
                }
                out
            })
        })
        .collect()
}

async fn wait_for_requests(done: &AtomicUsize, more: usize) {
    let target = done.load(Ordering::Relaxed) + more;
    eventually("the load generator makes progress", 3000, || async {
        done.load(Ordering::Relaxed) >= target
    })
    .await;
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<Vec<Outcome>>>) -> Vec<Outcome> {
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_canary_under_load_moves_traffic_to_stable_without_losing_requests() {
    const WORKERS: usize = 6;
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    // A short fail_timeout, so the dead node is also probed again during the test.
    let gw = gateway(&seed_config(&[stable.addr()], &[canary.addr()], "300ms")).await;
    let (stop, mark, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let tasks = load(
        gw.proxy_addr(),
        WORKERS,
        vec![("cookie", "canary=xaaa")],
        stop.clone(),
        mark.clone(),
        done.clone(),
    );
    wait_for_requests(&done, 200).await;
    canary.kill();
    let engine = gw.engine().clone();
    eventually("the canary node is ejected", 3000, || {
        let engine = engine.clone();
        async move { engine.nodes("canary").unwrap().nodes[0].health == "down" }
    })
    .await;
    mark.store(true, Ordering::SeqCst);
    // Keep the load on past fail_timeout, so probes of the dead node happen too.
    wait_for_requests(&done, 300).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    wait_for_requests(&done, 100).await;
    stop.store(true, Ordering::Relaxed);
    let all = collect(tasks).await;

    let before: Vec<_> = all.iter().filter(|o| !o.after_mark).collect();
    let after: Vec<_> = all.iter().filter(|o| o.after_mark).collect();
    assert!(
        before.iter().any(|o| o.upstream == "canary"),
        "the canary served before the kill"
    );
    let lost_before = before
        .iter()
        .filter(|o| o.status != Some(StatusCode::OK))
        .count();
    assert!(
        lost_before <= WORKERS,
        "at most the requests in flight at the kill may fail: {lost_before}"
    );
    assert!(after.len() >= 400);
    let lost: Vec<_> = after
        .iter()
        .filter(|o| o.status != Some(StatusCode::OK))
        .collect();
    assert!(lost.is_empty(), "requests lost after ejection: {lost:?}");
    assert!(
        after.iter().all(|o| o.upstream == "stable"),
        "after ejection everything is served by stable"
    );
    // The dead node was probed again after fail_timeout, failed, and is down again; those
    // requests were retried on stable.
    let status = gw.engine().nodes("canary").unwrap();
    assert!(status.nodes[0].failures >= 2, "{status:?}");
    let metrics = admin(&gw, "GET", "/metrics", "").await.body;
    assert!(
        metric(&metrics, "gray_gateway_retries_total{result=\"ok\"}") >= 1,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "gray_gateway_retries_total{result=\"failed\"}"),
        0
    );
}

/// The value of one sample in Prometheus text.
fn metric(text: &str, sample: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {sample} in {text}"))
}

/// The gateway counted exactly one failed upstream attempt of `kind`, and the node of group
/// `slow` is ejected.
async fn assert_one_failure_ejected(gw: &Gateway, kind: &str) {
    let metrics = admin(gw, "GET", "/metrics", "").await.body;
    let sample = format!("gray_gateway_upstream_failures_total{{kind=\"{kind}\"}}");
    assert_eq!(metric(&metrics, &sample), 1, "{kind}");
    assert_eq!(gw.engine().nodes("slow").unwrap().nodes[0].health, "down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_upstream_times_out_with_504_and_is_ejected() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = listener.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    let acceptor = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            keep.lock().unwrap().push(s);
        }
    });
    let stable = upstream("stable").await;
    let mut opts = options(ConfigSource::Embedded(format!(
        r#"version: 1
groups:
  stable: {{ nodes: [{{ address: "{}" }}] }}
  slow: {{ nodes: [{{ address: "{hang_addr}", max_fails: 1, fail_timeout: 60s }}], fallback: stable }}
rules: [{{ id: slow, when: {{ path: {{ prefix: /slow }} }}, route: slow }}]
default: stable
"#,
        stable.addr()
    )));
    opts.timeouts.response_header = Duration::from_millis(300);
    let gw = Gateway::start(opts).await.unwrap();
    let c = client();
    let r = get(&c, gw.proxy_addr(), "/slow", &[]).await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(
        r.body.contains("sent no response headers within 300ms"),
        "{}",
        r.body
    );
    assert_eq!(held.lock().unwrap().len(), 1, "timeouts are not retried");
    assert_one_failure_ejected(&gw, "response_timeout").await;
    // Ejected: the fallback serves the same path now.
    let r = get(&c, gw.proxy_addr(), "/slow", &[]).await;
    assert_eq!((r.status, r.upstream()), (StatusCode::OK, "stable"));
    acceptor.abort();
}

/// A TCP listener that never accepts and whose accept queue is already full, so the kernel
/// drops further SYNs: a connection attempt to its address hangs (Linux keeps retrying the
/// SYN for a minute or more). Returns the address and what must stay alive meanwhile.
async fn unanswered_address() -> (
    std::net::SocketAddr,
    (tokio::net::TcpListener, Vec<tokio::net::TcpStream>),
) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = socket.local_addr().unwrap();
    // A backlog of 0 leaves room for a single connection that is never accepted.
    let listener = socket.listen(0).unwrap();
    let mut fillers = Vec::new();
    loop {
        match tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => fillers.push(s),
            Ok(Err(e)) => panic!("connecting to the filling listener: {e}"),
            // The queue is full: this attempt hung, as the gateway's will.
            Err(_) => break,
        }
        assert!(fillers.len() < 16, "the accept queue never filled");
    }
    (addr, (listener, fillers))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_timeout_is_a_504_ejects_the_node_and_is_retried_elsewhere() {
    let (hang_addr, _keep) = unanswered_address().await;
    let stable = upstream("stable").await;
    let config = |fallback: &str| {
        format!(
            r#"version: 1
groups:
  stable: {{ nodes: [{{ address: "{}" }}] }}
  empty: {{ nodes: [] }}
  slow: {{ nodes: [{{ address: "{hang_addr}", max_fails: 1, fail_timeout: 60s }}]{fallback} }}
rules: [{{ id: slow, when: {{ path: {{ prefix: /slow }} }}, route: slow }}]
default: stable
"#,
            stable.addr()
        )
    };
    // A lone node: the timeout is the answer. (Its fallback has no node, so there is nowhere
    // to retry, but the lone node may be ejected: without a fallback the last node never is.)
    let mut opts = options(ConfigSource::Embedded(config(", fallback: empty")));
    opts.timeouts.connect = Duration::from_millis(300);
    let gw = Gateway::start(opts).await.unwrap();
    let c = client();
    let started = std::time::Instant::now();
    let r = get(&c, gw.proxy_addr(), "/slow", &[]).await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{}", r.body);
    assert!(
        r.body.contains(&format!(
            "connecting to upstream {hang_addr} timed out after 300ms"
        )),
        "{}",
        r.body
    );
    assert!(r.body.contains("no other node available"), "{}", r.body);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout bounds the wait"
    );
    assert_one_failure_ejected(&gw, "connect_timeout").await;

    // With a fallback, the retry (a GET without a body is safe to repeat) reaches it.
    let mut opts = options(ConfigSource::Embedded(config(", fallback: stable")));
    opts.timeouts.connect = Duration::from_millis(300);
    let gw = Gateway::start(opts).await.unwrap();
    let r = get(&c, gw.proxy_addr(), "/slow", &[]).await;
    assert_eq!(
        (r.status, r.upstream()),
        (StatusCode::OK, "stable"),
        "{}",
        r.body
    );
    assert_one_failure_ejected(&gw, "connect_timeout").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_to_a_lone_node_is_a_502() {
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let gw = gateway(&format!(
        "version: 1\ngroups: {{ g: {{ nodes: [{{ address: \"{dead_addr}\", max_fails: 0 }}] }} }}\ndefault: g\n"
    ))
    .await;
    let r = get(&client(), gw.proxy_addr(), "/", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r.body.contains("cannot connect to upstream"), "{}", r.body);
    assert!(r.body.contains("no other node available"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_100_times_under_load_fails_no_request() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let a = seed_config(&[stable.addr()], &[canary.addr()], "10s");
    // B swaps the roles: the cookie now selects stable, everyone else canary.
    let b = format!(
        "version: 1\ngroups:\n  stable: {{ nodes: [{{ address: \"{}\" }}] }}\n  canary: {{ nodes: [{{ address: \"{}\" }}] }}\nrules: [{{ id: c, when: {{ cookie: {{ name: canary, regex: \"aaa$\" }} }}, route: stable }}]\ndefault: canary\n",
        stable.addr(),
        canary.addr()
    );
    let dir = tempdir();
    let path = dir.join("gray.yaml");
    std::fs::write(&path, &a).unwrap();
    let gw = Gateway::start(options(ConfigSource::File(path.clone())))
        .await
        .unwrap();
    let (stop, mark, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let mut tasks = load(
        gw.proxy_addr(),
        3,
        vec![("cookie", "canary=xaaa")],
        stop.clone(),
        mark.clone(),
        done.clone(),
    );
    tasks.extend(load(
        gw.proxy_addr(),
        3,
        vec![],
        stop.clone(),
        mark.clone(),
        done.clone(),
    ));
    wait_for_requests(&done, 50).await;
    for i in 0..100 {
        let r = if i % 10 == 9 {
            // Every tenth reload re-reads the file (which holds A).
            admin(&gw, "POST", "/api/reload", "").await
        } else {
            admin(&gw, "POST", "/api/reload", if i % 2 == 0 { &b } else { &a }).await
        };
        assert_eq!(r.status, StatusCode::OK, "reload {i}: {}", r.body);
        if i % 10 == 0 {
            wait_for_requests(&done, 10).await;
        }
    }
    wait_for_requests(&done, 50).await;
    stop.store(true, Ordering::Relaxed);
    let all = collect(tasks).await;
    let failed: Vec<_> = all
        .iter()
        .filter(|o| o.status != Some(StatusCode::OK))
        .collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        failed.first()
    );
    assert!(
        all.iter().any(|o| o.upstream == "canary") && all.iter().any(|o| o.upstream == "stable")
    );
    assert_eq!(gw.engine().generation(), 101);
    let status = admin(&gw, "GET", "/api/status", "").await.json();
    assert_eq!(status["reload"]["reloads"], 100);
    assert_eq!(status["reload"]["rejected"], 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_file_is_rejected_and_the_running_config_keeps_serving() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let good = seed_config(&[stable.addr()], &[canary.addr()], "10s");
    let dir = tempdir();
    let path = dir.join("gray.yaml");
    std::fs::write(&path, &good).unwrap();
    let gw = Gateway::start(options(ConfigSource::File(path.clone())))
        .await
        .unwrap();
    let c = client();
    let canary_cookie = [("cookie", "canary=xaaa")];

    std::fs::write(&path, good.replace("default: stable", "default: stabel")).unwrap();
    eventually("the watcher rejects the bad file", 500, || async {
        gw.reloader().status().rejected == 1
    })
    .await;
    let status = admin(&gw, "GET", "/api/status", "").await.json();
    let err = status["reload"]["last_error"].as_str().unwrap();
    assert!(err.contains("stabel"), "{err}");
    // The error names the file and the line of the bad value.
    assert!(
        err.contains(&format!("default ({}, line ", path.display())),
        "{err}"
    );
    assert_eq!(status["generation"], 1);
    assert_eq!(
        get(&c, gw.proxy_addr(), "/", &canary_cookie)
            .await
            .upstream(),
        "canary"
    );

    // A good file is picked up again: the cookie rule now routes to stable.
    std::fs::write(
        &path,
        good.replace(
            "route: canary\n    set_headers: { x-gray: canary-cookie }",
            "route: stable",
        ),
    )
    .unwrap();
    eventually("the watcher applies the fixed file", 500, || async {
        gw.engine().generation() == 2
    })
    .await;
    assert_eq!(
        get(&c, gw.proxy_addr(), "/", &canary_cookie)
            .await
            .upstream(),
        "stable"
    );
    assert_eq!(gw.reloader().status().last_error, None);
    let _ = std::fs::remove_dir_all(dir);
}

/// A fresh directory under the target's temp dir.
fn tempdir() -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "gray-gateway-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
