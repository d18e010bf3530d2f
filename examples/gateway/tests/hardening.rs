//! The gateway driven as an attacker and an unlucky operator would drive it, on real sockets:
//! cross-site admin requests, slow uploaders, failing backends, silent connections and header
//! tricks. Each test reproduces a defect that was seen, then checks the fix.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use gray_gateway::{ConfigSource, Gateway};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends raw bytes and reads until the server closes or `limit` passes; returns what arrived.
async fn raw(addr: SocketAddr, request: &[u8], limit: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one HTTP/1.1 response head and its `Content-Length` body from `s`.
async fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.unwrap();
    head + &String::from_utf8_lossy(&body)
}

fn metric(text: &str, sample: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {sample} in\n{text}"))
}

fn one_group(addr: SocketAddr, extra: &str) -> String {
    format!(
        "version: 1\ngroups: {{ web: {{ nodes: [{{ address: \"{addr}\", max_fails: 1, fail_timeout: 60s }}]{extra} }} }}\ndefault: web\n"
    )
}

// ---------------------------------------------------------------------------------------------
// 1. Cross-site requests and DNS rebinding against the token-less admin API

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_requests_cannot_change_the_token_less_admin_api() {
    let stable = upstream("stable").await;
    let gw = gateway(&one_group(stable.addr(), "")).await;
    let admin_addr = gw.admin_addr().unwrap();
    let origin = format!("http://{admin_addr}");
    let evil =
        "version: 1\ngroups: { web: { nodes: [{ address: \"127.0.0.1:9\" }] } }\ndefault: web\n";
    // What a page on another origin can send without a preflight: a text/plain POST.
    type Case<'a> = (
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        StatusCode,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/reload",
            vec![
                ("content-type", "text/plain"),
                ("origin", "http://attacker.example"),
                ("sec-fetch-site", "cross-site"),
            ],
            StatusCode::FORBIDDEN,
            "another site",
        ),
        (
            "POST",
            "/api/reload",
            vec![
                ("content-type", "text/plain"),
                ("origin", "http://attacker.example"),
            ],
            StatusCode::FORBIDDEN,
            "origin",
        ),
        // An older browser that sends neither Origin nor Sec-Fetch-Site: the content type.
        (
            "POST",
            "/api/reload",
            vec![("content-type", "text/plain")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
        ),
        (
            "POST",
            "/api/groups/web/nodes",
            vec![("content-type", "application/x-www-form-urlencoded")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        // A form-encoded weight change (PUT's alias POST).
        (
            "POST",
            "/api/groups/web/nodes/x/weight",
            vec![("content-type", "multipart/form-data; boundary=x")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        // DNS rebinding: attacker.example resolved to 127.0.0.1.
        (
            "GET",
            "/api/groups",
            vec![("host", "attacker.example:18090")],
            StatusCode::FORBIDDEN,
            "DNS rebinding",
        ),
        (
            "POST",
            "/api/reload",
            vec![("host", "attacker.example"), ("x-gray-admin", "1")],
            StatusCode::FORBIDDEN,
            "DNS rebinding",
        ),
        // The seed-style GET aliases are off by default.
        (
            "GET",
            "/upstream_add?upstream=web&server=127.0.0.1:9",
            vec![],
            StatusCode::NOT_FOUND,
            "--admin-legacy-get",
        ),
    ];
    for (method, path, headers, want, text) in cases {
        let r = admin_with(&gw, method, path, evil, &headers).await;
        assert_eq!(r.status, want, "{method} {path} {headers:?}: {}", r.body);
        assert!(r.body.contains(text), "{method} {path}: {}", r.body);
    }
    assert_eq!(gw.engine().generation(), 1, "nothing changed");
    assert_eq!(
        gw.engine().nodes("web").unwrap().nodes.len(),
        1,
        "no node was added"
    );

    // What the console and scripts send is accepted: same origin, JSON, YAML, the marker.
    let node = r#"{"address": "127.0.0.1:9", "weight": 0}"#;
    let r = admin_with(
        &gw,
        "POST",
        "/api/groups/web/nodes",
        node,
        &[
            ("content-type", "application/json"),
            ("origin", &origin),
            ("sec-fetch-site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = admin_with(
        &gw,
        "POST",
        "/api/reload",
        &one_group(stable.addr(), ""),
        &[("content-type", "application/yaml"), ("host", "localhost")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = admin(&gw, "POST", "/api/reload", "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Explain changes nothing: a plain `curl -d` works.
    let r = admin_with(
        &gw,
        "POST",
        "/api/explain?format=text",
        r#"{"path": "/"}"#,
        &[("content-type", "application/x-www-form-urlencoded")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // PUT and DELETE cannot be sent cross-origin without a preflight; they need no marker.
    let r = admin_with(
        &gw,
        "PUT",
        &format!("/api/groups/web/nodes/{}/weight", stable.addr()),
        r#"{"weight": 3}"#,
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // ... but not from another site either.
    let r = admin_with(
        &gw,
        "DELETE",
        &format!("/api/groups/web/nodes/{}", stable.addr()),
        "",
        &[("sec-fetch-site", "same-site")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_get_endpoints_are_opt_in_and_still_refuse_other_sites() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let gw = gateway_with(&one_group(a.addr(), ""), |o| o.admin_legacy_get = true).await;
    let add = format!("/upstream_add?upstream=web&server={}", b.addr());
    // An <img src> on another site's page.
    let r = admin_with(&gw, "GET", &add, "", &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(gw.engine().nodes("web").unwrap().nodes.len(), 1);
    // A script or curl (no browser headers) may use them when enabled.
    let r = admin_with(&gw, "GET", &add, "", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(gw.engine().nodes("web").unwrap().nodes.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_any_host_is_served_but_cross_site_changes_are_refused() {
    let stable = upstream("stable").await;
    let gw = gateway_with(&one_group(stable.addr(), ""), |o| {
        o.admin_token = Some("s3cret".into())
    })
    .await;
    let auth = ("authorization", "Bearer s3cret");
    let r = admin_with(
        &gw,
        "GET",
        "/api/groups",
        "",
        &[auth, ("host", "gray-admin.internal.example")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = admin_with(
        &gw,
        "POST",
        "/api/reload",
        "",
        &[
            auth,
            ("x-gray-admin", "1"),
            ("sec-fetch-site", "cross-site"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

// ---------------------------------------------------------------------------------------------
// 2. A slow uploader must not take a healthy node out

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upload_is_the_clients_problem_not_the_nodes() {
    let stable = upstream("stable").await;
    let gw = gateway_with(&one_group(stable.addr(), ""), |o| {
        o.timeouts.response_header = Duration::from_millis(400);
        o.timeouts.client_body = Duration::from_millis(300);
    })
    .await;
    let addr = gw.proxy_addr();

    // A client that keeps sending, slower than the response timeout in total: the upload
    // completes and the upstream answers (before, this was a 504 and an ejected node).
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: shop\r\nContent-Length: 10\r\n\r\n")
        .await
        .unwrap();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        s.write_all(b"x").await.unwrap();
    }
    let resp = read_response(&mut s).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"body_bytes\":10"), "{resp}");

    // A client that stops sending: 408 after the client body timeout, and the node stays up.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: shop\r\nContent-Length: 100000\r\n\r\nabc")
        .await
        .unwrap();
    let resp = read_response(&mut s).await;
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert!(resp.contains("no request body data"), "{resp}");
    let web = gw.engine().nodes("web").unwrap();
    assert_eq!(web.nodes[0].health, "up", "{web:?}");
    let c = client();
    assert_eq!(get(&c, addr, "/", &[]).await.status, StatusCode::OK);
    let m = admin(&gw, "GET", "/metrics", "").await.body;
    assert_eq!(
        metric(
            &m,
            "gray_gateway_client_errors_total{kind=\"body_timeout\"}"
        ),
        1
    );
    assert_eq!(
        metric(
            &m,
            "gray_gateway_upstream_failures_total{kind=\"response_timeout\"}"
        ),
        0
    );
}

// ---------------------------------------------------------------------------------------------
// 3. What counts as a passive health failure

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_upstream_500_does_not_take_the_only_node_out() {
    let stable = upstream("stable").await;
    let gw = gateway(&one_group(stable.addr(), "")).await;
    let c = client();
    let r = get(&c, gw.proxy_addr(), "/status/500", &[]).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    for _ in 0..5 {
        let r = get(&c, gw.proxy_addr(), "/", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    // Even when 5xx counts (`fail_on`), the last node of a group without a fallback stays.
    let gw = gateway(&one_group(
        stable.addr(),
        ", fail_on: [error, timeout, http_5xx]",
    ))
    .await;
    for _ in 0..3 {
        let r = get(&c, gw.proxy_addr(), "/status/503", &[]).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        let r = get(&c, gw.proxy_addr(), "/", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_5xx_failure_moves_traffic_to_the_fallback() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let gw = gateway(&format!(
        r#"version: 1
groups:
  stable: {{ nodes: [{{ address: "{}" }}] }}
  canary:
    fallback: stable
    fail_on: [error, timeout, http_500]
    nodes: [{{ address: "{}", max_fails: 1, fail_timeout: 60s }}]
default: canary
"#,
        stable.addr(),
        canary.addr()
    ))
    .await;
    let c = client();
    assert_eq!(
        get(&c, gw.proxy_addr(), "/", &[]).await.upstream(),
        "canary"
    );
    let r = get(&c, gw.proxy_addr(), "/status/500", &[]).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        get(&c, gw.proxy_addr(), "/", &[]).await.upstream(),
        "stable"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Silent and idle connections, the connection cap, running out of descriptors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_connections_are_closed() {
    let stable = upstream("stable").await;
    let gw = gateway_with(&one_group(stable.addr(), ""), |o| {
        o.limits.header_timeout = Duration::from_millis(300);
        o.limits.keepalive_timeout = Duration::from_millis(500);
    })
    .await;
    let addr = gw.proxy_addr();
    // Never sends a byte.
    let closed = raw(addr, b"", Duration::from_secs(10)).await;
    assert_eq!(closed, "", "closed without an answer");
    // HTTP/2 preface and SETTINGS, then silence: GOAWAY, then closed.
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(preface).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "an idle h2 connection stays open");
    assert!(
        !out.is_empty(),
        "the server spoke h2 (SETTINGS, GOAWAY) before closing"
    );
    // Keep-alive: one request, then idle.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let resp = read_response(&mut s).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "an idle keep-alive connection stays open");
    assert!(rest.is_empty());
    // A request in flight is not idle: a slow response is not cut by the keep-alive timeout.
    let slow = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_addr = slow.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = slow.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")
            .await;
    });
    let gw2 = gateway_with(&one_group(slow_addr, ""), |o| {
        o.limits.header_timeout = Duration::from_millis(300);
        o.limits.keepalive_timeout = Duration::from_millis(300);
    })
    .await;
    let r = get(&client(), gw2.proxy_addr(), "/", &[]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "slow"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_keeps_the_admin_listener_reachable_under_an_fd_limit() {
    // The gateway binary under `prlimit --nofile=256`, with 371 silent connections.
    let stable = upstream("stable").await;
    let dir = std::env::temp_dir().join(format!("gray-fd-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gray.yaml");
    std::fs::write(&config, one_group(stable.addr(), "")).unwrap();
    let port = |l: std::net::TcpListener| l.local_addr().unwrap().port();
    let (proxy_port, admin_port) = (
        port(std::net::TcpListener::bind("127.0.0.1:0").unwrap()),
        port(std::net::TcpListener::bind("127.0.0.1:0").unwrap()),
    );
    let mut child = tokio::process::Command::new("prlimit")
        .arg("--nofile=256")
        .arg(env!("CARGO_BIN_EXE_gateway"))
        .args(["--config", config.to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{proxy_port}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin_port}")])
        .args(["--header-timeout", "2s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("prlimit and the gateway binary");
    let proxy: SocketAddr = ([127, 0, 0, 1], proxy_port).into();
    let admin_addr: SocketAddr = ([127, 0, 0, 1], admin_port).into();
    let c = client();
    let admin_ok = || async {
        matches!(
            tokio::time::timeout(
                Duration::from_secs(5),
                send(
                    &c,
                    http::Request::get(format!("http://{admin_addr}/api/status"))
                        .body(Default::default())
                        .unwrap()
                )
            )
            .await,
            Ok(Ok(r)) if r.status == StatusCode::OK
        )
    };
    eventually("the gateway starts", 500, &admin_ok).await;

    let mut silent = Vec::new();
    for _ in 0..371 {
        silent.push(TcpStream::connect(proxy).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        admin_ok().await,
        "the admin listener answers while 371 clients sit silent"
    );
    // The silent clients are closed after the header timeout and new ones are served.
    let r = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let fresh = client();
            if let Ok(r) = tokio::time::timeout(
                Duration::from_secs(10),
                send(
                    &fresh,
                    http::Request::get(format!("http://{proxy}/"))
                        .body(Default::default())
                        .unwrap(),
                ),
            )
            .await
            {
                break r;
            }
        }
    })
    .await
    .expect("the proxy serves again once the silent clients are gone");
    assert_eq!(r.unwrap().status, StatusCode::OK);
    drop(silent);
    let _ = child.start_kill();
    let out = child.wait_with_output().await.unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let warnings = log.matches("accept failed").count();
    assert!(
        warnings <= 20,
        "accept failures are rate-limited: {warnings}\n{log}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------------------------
// 5–8. Header edge cases

fn seed(stable: SocketAddr, canary: SocketAddr) -> String {
    seed_config(&[stable], &[canary], "10s")
        + "headers: { routing_prefixes: [\"n-d-\"], inbound: override }\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn underscore_spellings_of_routing_headers_are_stripped_over_http1_and_h2() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let gw = gateway(&seed(stable.addr(), canary.addr())).await;
    for http2 in [false, true] {
        let c = client_from(None, http2);
        let r = get(
            &c,
            gw.proxy_addr(),
            "/echo",
            &[("n_d_env", "x"), ("N_D_Version", "9"), ("n-d-zone", "z")],
        )
        .await;
        let headers = &r.json()["headers"];
        for name in ["n_d_env", "n_d_version", "n-d-zone"] {
            assert!(
                headers.get(name).is_none(),
                "{name} reached the upstream (h2={http2}): {headers}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cannot_remove_the_decisions_headers() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let gw = gateway(&seed(stable.addr(), canary.addr())).await;
    let resp = raw(
        gw.proxy_addr(),
        b"GET /echo HTTP/1.1\r\nHost: a\r\nCookie: canary=xaaa\r\nConnection: x-gray, close\r\nx-gray: spoofed\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains(r#""x-gray":["canary-cookie"]"#), "{resp}");
    assert!(resp.contains(r#""upstream":"canary""#), "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absolute_form_target_decides_and_is_forwarded_with_the_same_host() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let gw = gateway(&format!(
        r#"version: 1
groups:
  stable: {{ nodes: [{{ address: "{}" }}] }}
  canary: {{ nodes: [{{ address: "{}" }}] }}
rules: [{{ id: beta, when: {{ host: {{ suffix: .beta.example.com }} }}, route: canary }}]
default: stable
"#,
        stable.addr(),
        canary.addr()
    ))
    .await;
    let resp = raw(
        gw.proxy_addr(),
        b"GET http://x.beta.example.com/echo HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(resp.contains(r#""upstream":"canary""#), "{resp}");
    assert!(resp.contains(r#""host":["x.beta.example.com"]"#), "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_answered_by_the_gateway() {
    let stable = upstream("stable").await;
    let gw = gateway(&one_group(stable.addr(), "")).await;
    let resp = raw(
        gw.proxy_addr(),
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        Duration::from_secs(3),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 405"), "{resp}");
    assert!(resp.contains("not a tunnel"), "{resp}");
    assert_eq!(stable.connections(), 0, "nothing reached the upstream");
}

// ---------------------------------------------------------------------------------------------
// 10–11. Reloads: off the serving threads, deleted files

#[tokio::test]
async fn a_large_reload_compiles_off_the_serving_thread() {
    // On a current-thread runtime a compile on the runtime's thread would stop every other
    // task until it ends; on the blocking pool the ticker keeps running meanwhile.
    let stable = upstream("stable").await;
    let gw = Gateway::start(options(ConfigSource::Embedded(one_group(
        stable.addr(),
        "",
    ))))
    .await
    .unwrap();
    let mut big = String::from("version: 1\nip_sets:\n  many:\n    entries: [");
    for i in 0..200_000u32 {
        let [_, b, c, d] = i.to_be_bytes();
        big.push_str(&format!("\"10.{b}.{c}.{d}\","));
    }
    big.push_str("]\n");
    big.push_str(&one_group(stable.addr(), "").replace("version: 1\n", ""));
    big.push_str("rules: [{ id: many, when: { ip: [many] }, route: web }]\n");
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = {
        let (ticks, stop) = (ticks.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        })
    };
    tokio::task::yield_now().await;
    let before = ticks.load(std::sync::atomic::Ordering::Relaxed);
    let generation = gw
        .reloader()
        .apply_text_async(big, "test")
        .await
        .expect("the big config compiles");
    let during = ticks.load(std::sync::atomic::Ordering::Relaxed) - before;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    ticker.await.unwrap();
    assert_eq!(generation, 2);
    assert!(
        during > 0,
        "the runtime thread was blocked during the compile"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_config_file_is_recorded_and_the_running_config_keeps_serving() {
    let stable = upstream("stable").await;
    let dir = std::env::temp_dir().join(format!("gray-deleted-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gray.yaml");
    std::fs::write(&path, one_group(stable.addr(), "")).unwrap();
    let gw = Gateway::start(options(ConfigSource::File(path.clone())))
        .await
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    eventually("the deletion is recorded", 500, || async {
        gw.reloader().status().rejected == 1
    })
    .await;
    let err = gw.reloader().status().last_error.unwrap();
    assert!(err.contains("gray.yaml"), "{err}");
    let r = get(&client(), gw.proxy_addr(), "/", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        gw.reloader().status().rejected,
        1,
        "recorded once, not every poll"
    );
    std::fs::write(&path, one_group(stable.addr(), "")).unwrap();
    eventually("the file is applied again", 500, || async {
        gw.reloader().status().reloads == 1
    })
    .await;
    assert_eq!(gw.reloader().status().last_error, None);
    let _ = std::fs::remove_dir_all(dir);
}
