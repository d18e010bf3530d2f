//! TLS termination end to end: routing over HTTPS, SNI, ALPN h2, certificate reloads, bad
//! files; and HTTPS upstreams.

mod common;

use std::time::Duration;

use common::tls::{connect, peer_leaf, tempdir, tls_gateway, write_leaf, HttpsConn, TestCa};
use common::*;
use gray_gateway::{Certificates, UpstreamTls};
use gray_gateway::{ConfigSource, DemoUpstream, Gateway, GatewayError, TlsErrorKind, TlsOptions};
use http::{StatusCode, Version};

const H1: &[&[u8]] = &[b"http/1.1"];
const H2_H1: &[&[u8]] = &[b"h2", b"http/1.1"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_routes_the_cookie_canary_and_tells_the_upstream() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let ca = TestCa::new("gray test CA");
    let dir = tempdir("tls-route");
    let files = write_leaf(&dir, "gw", &ca.issue(&["gw.test", "127.0.0.1"]));
    let gw = tls_gateway(stable.addr(), canary.addr(), vec![files]).await;
    assert_eq!(gw.proxy_scheme(), "https");

    let stream = connect(gw.proxy_addr(), "gw.test", H1, ca.roots())
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut conn = HttpsConn::new(stream, "gw.test").await;
    let (r, version) = conn.get("/echo", &[("cookie", "canary=xaaa")]).await;
    assert_eq!((r.status, version), (StatusCode::OK, Version::HTTP_11));
    assert_eq!(r.upstream(), "canary");
    let echo = r.json();
    assert_eq!(echo["headers"]["x-forwarded-proto"][0], "https");
    assert_eq!(echo["headers"]["x-gray"][0], "canary-cookie");
    assert_eq!(echo["headers"]["host"][0], "gw.test");
    let (r, _) = conn.get("/", &[]).await;
    assert_eq!(r.upstream(), "stable");

    // A client addressing the gateway by IP sends no SNI and gets the default certificate.
    let stream = connect(gw.proxy_addr(), "127.0.0.1", H1, ca.roots())
        .await
        .unwrap();
    let mut conn = HttpsConn::new(stream, "127.0.0.1").await;
    assert_eq!(conn.get("/", &[]).await.0.upstream(), "stable");

    // Plain HTTP to the TLS listener gets no HTTP answer.
    let plain = client();
    let url = format!("http://{}/", gw.proxy_addr());
    let r = send(
        &plain,
        http::Request::get(url).body(Default::default()).unwrap(),
    )
    .await;
    assert!(r.is_err(), "{r:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_picks_the_certificate_of_each_name() {
    let stable = upstream("stable").await;
    let ca = TestCa::new("gray test CA");
    let dir = tempdir("tls-sni");
    let (a, b) = (ca.issue(&["a.test"]), ca.issue(&["*.b.test"]));
    let files = vec![write_leaf(&dir, "a", &a), write_leaf(&dir, "b", &b)];
    let gw = tls_gateway(stable.addr(), stable.addr(), files).await;
    for (name, want) in [("a.test", &a.der), ("shop.b.test", &b.der)] {
        let stream = connect(gw.proxy_addr(), name, H1, ca.roots())
            .await
            .unwrap();
        assert_eq!(&peer_leaf(&stream), want, "certificate for {name}");
        let mut conn = HttpsConn::new(stream, name).await;
        assert_eq!(conn.get("/", &[]).await.0.status, StatusCode::OK);
    }
    // A name no certificate covers gets the first one, which the client rejects.
    let e = connect(gw.proxy_addr(), "c.test", H1, ca.roots()).await;
    assert!(e.is_err(), "c.test must not verify");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_h2_answers_over_http2() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let ca = TestCa::new("gray test CA");
    let dir = tempdir("tls-h2");
    let files = write_leaf(&dir, "gw", &ca.issue(&["gw.test"]));
    let gw = tls_gateway(stable.addr(), canary.addr(), vec![files]).await;
    let stream = connect(gw.proxy_addr(), "gw.test", H2_H1, ca.roots())
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut conn = HttpsConn::new(stream, "gw.test").await;
    for _ in 0..3 {
        let (r, version) = conn.get("/echo", &[("cookie", "canary=xaaa")]).await;
        assert_eq!(version, Version::HTTP_2);
        assert_eq!(r.upstream(), "canary");
        // The node is reached over HTTP/1.1 as always.
        assert_eq!(r.json()["version"], "HTTP/1.1");
        assert_eq!(r.json()["headers"]["x-forwarded-proto"][0], "https");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_certificate_is_served_on_new_connections_and_a_bad_one_is_rejected() {
    let stable = upstream("stable").await;
    let ca = TestCa::new("gray test CA");
    let dir = tempdir("tls-reload");
    let (old, new) = (ca.issue(&["gw.test"]), ca.issue(&["gw.test"]));
    let files = write_leaf(&dir, "gw", &old);
    let gw = tls_gateway(stable.addr(), stable.addr(), vec![files.clone()]).await;
    let first = connect(gw.proxy_addr(), "gw.test", H1, ca.roots())
        .await
        .unwrap();
    assert_eq!(peer_leaf(&first), old.der);
    let mut kept = HttpsConn::new(first, "gw.test").await;
    assert_eq!(kept.get("/", &[]).await.0.status, StatusCode::OK);

    // The watcher sees the files change (it may catch the new certificate with the old key
    // once; that is rejected and the next look applies the pair).
    write_leaf(&dir, "gw", &new);
    eventually("the new certificate is served", 500, || {
        let (addr, roots, want) = (gw.proxy_addr(), ca.roots(), new.der.clone());
        async move {
            let s = connect(addr, "gw.test", H1, roots).await.unwrap();
            peer_leaf(&s) == want
        }
    })
    .await;
    // The connection opened before keeps working.
    assert_eq!(kept.get("/", &[]).await.0.status, StatusCode::OK);

    // A bad certificate is rejected with the file named; the current one keeps serving.
    let rejected_before = gw.reloader().status().tls.unwrap().rejected;
    std::fs::write(
        &files.cert,
        "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    eventually("the bad certificate is rejected", 500, || {
        let gw = &gw;
        async move { gw.reloader().status().tls.unwrap().rejected > rejected_before }
    })
    .await;
    let status = gw.reloader().status().tls.unwrap();
    let error = status.last_error.unwrap();
    assert!(error.contains(&*files.cert.to_string_lossy()), "{error}");
    let s = connect(gw.proxy_addr(), "gw.test", H1, ca.roots())
        .await
        .unwrap();
    assert_eq!(peer_leaf(&s), new.der);
    let mut conn = HttpsConn::new(s, "gw.test").await;
    assert_eq!(conn.get("/", &[]).await.0.status, StatusCode::OK);
    // The admin API shows it.
    let st = admin(&gw, "GET", "/api/status", "").await.json();
    let shown = st["reload"]["tls"]["last_error"].as_str().unwrap();
    assert!(
        shown.contains("gw.pem") && shown.contains("certificate"),
        "{st}"
    );
    let metrics = admin(&gw, "GET", "/metrics", "").await.body;
    assert!(
        metrics.contains("gray_gateway_tls_reloads_total{result=\"rejected\"}"),
        "{metrics}"
    );

    // A manual reload after fixing the file applies it.
    write_leaf(&dir, "gw", &old);
    gw.reloader().reload_async("test").await.unwrap();
    assert_eq!(gw.reloader().status().tls.unwrap().last_error, None);
    let s = connect(gw.proxy_addr(), "gw.test", H1, ca.roots())
        .await
        .unwrap();
    assert_eq!(peer_leaf(&s), old.der);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn bad_tls_files_stop_the_start_with_the_file_named() {
    let ca = TestCa::new("gray test CA");
    let dir = tempdir("tls-bad");
    let a = write_leaf(&dir, "a", &ca.issue(&["a.test"]));
    let b = write_leaf(&dir, "b", &ca.issue(&["b.test"]));
    let missing = dir.join("missing.pem");
    let cases = [
        (
            gray_gateway::CertificateFiles::new(&missing, &a.key),
            TlsErrorKind::Read,
            missing.clone(),
        ),
        (
            gray_gateway::CertificateFiles::new(&a.cert, &b.key),
            TlsErrorKind::KeyMismatch,
            b.key.clone(),
        ),
        (
            gray_gateway::CertificateFiles::new(&a.key, &a.key),
            TlsErrorKind::NoCertificate,
            a.key.clone(),
        ),
    ];
    for (files, kind, file) in cases {
        let mut o = options(ConfigSource::Embedded(gray_gateway::DEFAULT_CONFIG.into()));
        o.tls = Some(TlsOptions {
            certificates: vec![files],
        });
        let err = Gateway::start(o).await.unwrap_err();
        let GatewayError::Tls(e) = &err else {
            panic!("not a TLS error: {err}");
        };
        assert_eq!((e.kind(), e.file()), (kind, file.as_path()), "{err}");
        assert!(err.to_string().contains(&*file.to_string_lossy()), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One group `web` whose only node is `node`.
fn web_group(node: std::net::SocketAddr) -> String {
    format!(
        "version: 1\ngroups:\n  web:\n    nodes:\n      - {{ address: \"{node}\" }}\ndefault: web\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstreams_are_verified_with_the_ca_file() {
    let ca = TestCa::new("gray upstream CA");
    let dir = tempdir("tls-upstream");
    let node_files = write_leaf(&dir, "node", &ca.issue(&["127.0.0.1"]));
    let node_certs = Certificates::load(TlsOptions {
        certificates: vec![node_files],
    })
    .unwrap();
    let canary = DemoUpstream::start_tls(
        "canary",
        ([127, 0, 0, 1], 0).into(),
        node_certs.server_config(),
    )
    .await
    .unwrap();
    let stable = upstream("stable").await;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let gw = gateway_with(
        &seed_config(&[stable.addr()], &[canary.addr()], "10s"),
        |o| {
            o.upstream_tls = UpstreamTls {
                targets: vec!["canary".into()],
                ca_file: Some(ca_file.clone()),
            }
        },
    )
    .await;
    let c = client();
    for _ in 0..3 {
        let r = get(&c, gw.proxy_addr(), "/echo", &[("cookie", "canary=xaaa")]).await;
        assert_eq!(
            (r.status, r.upstream()),
            (StatusCode::OK, "canary"),
            "{}",
            r.body
        );
        assert_eq!(r.json()["tls"], true);
    }
    let r = get(&c, gw.proxy_addr(), "/echo", &[]).await;
    assert_eq!(
        (r.upstream(), r.json()["tls"].clone()),
        ("stable", false.into())
    );
    // Kept-alive HTTPS connections are reused.
    assert_eq!(canary.connections(), 1);

    // Without the CA (the bundled public roots) the node's certificate is not trusted: 502
    // with the reason, and the same node reached as plain HTTP is no HTTP server either.
    let untrusting = gateway_with(&web_group(canary.addr()), |o| {
        o.upstream_tls = UpstreamTls {
            targets: vec![canary.addr().to_string()],
            ca_file: None,
        };
        o.timeouts.connect = Duration::from_secs(2);
    })
    .await;
    let r = get(&c, untrusting.proxy_addr(), "/", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
    assert!(r.body.contains("certificate"), "{}", r.body);

    // A CA file that is not PEM stops the start with its name.
    let bad = dir.join("bad-ca.pem");
    std::fs::write(&bad, "hello\n").unwrap();
    let mut o = options(ConfigSource::Embedded(web_group(canary.addr())));
    o.upstream_tls = UpstreamTls {
        targets: vec!["*".into()],
        ca_file: Some(bad.clone()),
    };
    let err = Gateway::start(o).await.unwrap_err().to_string();
    assert!(err.contains(&*bad.to_string_lossy()), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_webhooks_reach_https_urls_verified_like_upstreams() {
    let ca = TestCa::new("gray webhook CA");
    let dir = tempdir("tls-webhook");
    let files = write_leaf(&dir, "hook", &ca.issue(&["127.0.0.1"]));
    let certs = Certificates::load(TlsOptions {
        certificates: vec![files],
    })
    .unwrap();
    let hook = DemoUpstream::start_tls("hook", ([127, 0, 0, 1], 0).into(), certs.server_config())
        .await
        .unwrap();
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let config = judged_rollout(
        stable.addr(),
        canary.addr(),
        &format!(", webhook: \"https://{}/rollout\"", hook.addr()),
    );
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let delivered = |m: &str, result: &str| {
        m.contains(&format!(
            "gray_gateway_rollout_webhooks_total{{result=\"{result}\"}} 1"
        ))
    };
    // Trusting the CA (as for upstreams): the POST is delivered.
    let gw = gateway_with(&config, |o| o.upstream_tls.ca_file = Some(ca_file.clone())).await;
    let r = admin(&gw, "POST", "/api/rollouts/web/pause", "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    eventually("the https webhook delivered", 250, || async {
        delivered(&admin(&gw, "GET", "/metrics", "").await.body, "delivered")
    })
    .await;
    assert!(hook.connections() >= 1);
    // Without that CA the certificate is not trusted and nothing is delivered.
    let untrusting = gateway(&config).await;
    let r = admin(&untrusting, "POST", "/api/rollouts/web/pause", "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    eventually("the untrusted webhook failed", 250, || async {
        delivered(
            &admin(&untrusting, "GET", "/metrics", "").await.body,
            "failed",
        )
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}
