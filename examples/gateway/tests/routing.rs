//! End-to-end routing through the gateway on real sockets: the seeds' scenarios, header
//! security and the forwarding rules.

mod common;

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::Full;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_cookie_canary_over_http1_and_h2c() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let gw = gateway(&seed_config(&[stable.addr()], &[canary.addr()], "10s")).await;
    let addr = gw.proxy_addr();
    for http2 in [false, true] {
        let c = client_from(None, http2);
        for (cookie, want) in [
            ("canary=xaaa", "canary"),
            ("theme=dark; canary=userAAA", "canary"), // ~* ignores case
            ("canary=aaab", "stable"),
            ("canary2=xaaa", "stable"),
        ] {
            let r = get(&c, addr, "/", &[("cookie", cookie)]).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.upstream(), want, "cookie {cookie:?} over h2c={http2}");
        }
        assert_eq!(get(&c, addr, "/", &[]).await.upstream(), "stable");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_003_004_ip_gray_list_through_a_trusted_proxy() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let gw = gateway(&seed_config(&[stable.addr()], &[canary.addr()], "10s")).await;
    let addr = gw.proxy_addr();
    let trusted = client(); // connects from 127.0.0.1, the trusted proxy
    let r = get(
        &trusted,
        addr,
        "/echo",
        &[("x-forwarded-for", "192.168.2.20")],
    )
    .await;
    assert_eq!(r.upstream(), "canary");
    let j = r.json();
    assert_eq!(j["headers"]["x-gray"][0], "gray-list");
    assert_eq!(
        j["headers"]["x-forwarded-for"][0],
        "192.168.2.20, 127.0.0.1"
    );
    let r = get(&trusted, addr, "/", &[("x-forwarded-for", "10.8.200.1")]).await;
    assert_eq!(r.upstream(), "canary");
    let r = get(&trusted, addr, "/", &[("x-forwarded-for", "192.168.2.21")]).await;
    assert_eq!(r.upstream(), "stable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_forwarded_headers_from_an_untrusted_peer_do_not_change_the_route() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let gw = gateway(&seed_config(&[stable.addr()], &[canary.addr()], "10s")).await;
    let addr = gw.proxy_addr();
    // 127.0.0.2 is a loopback address but not in trusted_proxies.
    let untrusted = client_from(Some("127.0.0.2".parse().unwrap()), false);
    let r = get(
        &untrusted,
        addr,
        "/echo",
        &[
            ("x-forwarded-for", "192.168.2.20"),
            ("x-real-ip", "192.168.2.20"),
            ("forwarded", "for=192.168.2.20"),
        ],
    )
    .await;
    assert_eq!(r.upstream(), "stable");
    // The spoofed hop stays visible to the upstream, followed by the real peer.
    assert_eq!(
        r.json()["headers"]["x-forwarded-for"][0],
        "192.168.2.20, 127.0.0.2"
    );
    let explain = admin(
        &gw,
        "POST",
        "/api/explain?format=text",
        r#"{"peer":"127.0.0.2","headers":{"x-forwarded-for":"192.168.2.20"}}"#,
    )
    .await;
    assert!(explain.body.contains("127.0.0.2"), "{}", explain.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nepxion_blue_green_by_header_a_as_an_expr_rule() {
    let (blue, green) = (upstream("blue").await, upstream("green").await);
    let gw = gateway(&format!(
        r##"version: 1
groups:
  blue: {{ nodes: [{{ address: "{}", metadata: {{ version: "1.0" }} }}] }}
  green: {{ nodes: [{{ address: "{}", metadata: {{ version: "1.1" }} }}] }}
rules:
  - id: blue-green
    when: {{ expr: "#H['a'] == '1'" }}
    route: green
    routes: {{ version: '{{"svc-a":"1.1"}}' }}
default: blue
"##,
        blue.addr(),
        green.addr()
    ))
    .await;
    let c = client();
    let r = get(&c, gw.proxy_addr(), "/echo", &[("a", "1")]).await;
    assert_eq!(r.upstream(), "green");
    assert_eq!(r.json()["headers"]["n-d-version"][0], r#"{"svc-a":"1.1"}"#);
    for a in ["2", "", "11"] {
        let r = get(&c, gw.proxy_addr(), "/", &[("a", a)]).await;
        assert_eq!(r.upstream(), "blue", "a={a:?}");
    }
    assert_eq!(get(&c, gw.proxy_addr(), "/", &[]).await.upstream(), "blue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nepxion_blue_green_by_header_a_with_the_release_model() {
    // One service, two versions; the release picks the instance by metadata.version and
    // propagates the choice as n-d-version.
    let (blue, green) = (upstream("blue").await, upstream("green").await);
    let gw = gateway(&format!(
        r##"version: 1
groups:
  svc-a:
    nodes:
      - {{ address: "{}", metadata: {{ version: "1.0" }} }}
      - {{ address: "{}", metadata: {{ version: "1.1" }} }}
release:
  routes:
    green: {{ type: version, value: '{{"svc-a":"1.1"}}' }}
    blue: {{ type: version, value: '{{"svc-a":"1.0"}}' }}
  blue_green:
    - {{ id: header-a, when: "#H['a'] == '1'", version: green }}
    - {{ id: everyone-else, version: blue }}
default: svc-a
"##,
        blue.addr(),
        green.addr()
    ))
    .await;
    let c = client();
    for _ in 0..4 {
        let r = get(&c, gw.proxy_addr(), "/echo", &[("a", "1")]).await;
        assert_eq!(r.upstream(), "green");
        assert_eq!(r.json()["headers"]["n-d-version"][0], r#"{"svc-a":"1.1"}"#);
        for a in ["2", ""] {
            let r = get(
                &c,
                gw.proxy_addr(),
                "/echo",
                &[("a", a), ("n-d-version", "1.1")],
            )
            .await;
            assert_eq!(r.upstream(), "blue", "a={a:?}");
            assert_eq!(r.json()["headers"]["n-d-version"][0], r#"{"svc-a":"1.0"}"#);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_routing_headers_are_stripped_or_overridden() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let gw = gateway(&seed_config(&[stable.addr()], &[canary.addr()], "10s")).await;
    let c = client();
    let spoof = [
        ("n-d-version", "9.9"),
        ("N-D-Region", "attacker"),
        ("n-d-address", "10.6.6.6:80"),
        ("x-gray", "forged"),
    ];
    // No rule matches: every inbound n-d-* header is stripped.
    let j = get(&c, gw.proxy_addr(), "/echo", &spoof).await.json();
    assert_eq!(j["upstream"], "stable");
    let headers = j["headers"].as_object().unwrap();
    assert!(
        !headers.keys().any(|k| k.starts_with("n-d-")),
        "{headers:?}"
    );
    // The header-a rule sets n-d-version: the decision's value replaces the client's.
    let mut with_a = spoof.to_vec();
    with_a.push(("a", "1"));
    let j = get(&c, gw.proxy_addr(), "/echo", &with_a).await.json();
    assert_eq!(j["upstream"], "canary");
    assert_eq!(j["headers"]["n-d-version"], serde_json::json!(["1.1"]));
    assert!(j["headers"].get("n-d-region").is_none());
    assert!(j["headers"].get("n-d-address").is_none());
    // A rule's set_headers replace a forged value too.
    let j = get(
        &c,
        gw.proxy_addr(),
        "/echo",
        &[("cookie", "canary=xaaa"), ("x-gray", "forged")],
    )
    .await
    .json();
    assert_eq!(j["headers"]["x-gray"], serde_json::json!(["canary-cookie"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_streams_bodies_and_drops_hop_by_hop_headers() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let gw = gateway(&seed_config(&[stable.addr()], &[canary.addr()], "10s")).await;
    let body = Bytes::from(vec![b'x'; 3 << 20]);
    let req = Request::post(format!("http://{}/echo", gw.proxy_addr()))
        .header("connection", "x-private")
        .header("x-private", "secret")
        .header("te", "trailers")
        .header("host", "shop.example")
        .body(Full::new(body.clone()))
        .unwrap();
    let r = send(&client(), req).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let j = r.json();
    assert_eq!(j["method"], "POST");
    assert_eq!(j["body_bytes"], body.len());
    let h = &j["headers"];
    assert!(h.get("x-private").is_none() && h.get("te").is_none(), "{h}");
    assert_eq!(h["host"][0], "shop.example");
    assert_eq!(h["x-forwarded-proto"][0], "http");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_pooled_and_reused() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let gw = gateway(&seed_config(&[stable.addr()], &[canary.addr()], "10s")).await;
    let c = client();
    for _ in 0..50 {
        assert_eq!(
            get(&c, gw.proxy_addr(), "/", &[]).await.status,
            StatusCode::OK
        );
    }
    // Sequential requests reuse keep-alive connections to the node (a fresh one is opened only
    // when the pooled one has not been handed back yet).
    let opened = stable.connections();
    assert!(
        (1..=5).contains(&opened),
        "{opened} upstream connections for 50 requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_available_node_answers_503_with_the_reason() {
    let stable = upstream("stable").await;
    let gw = gateway(&format!(
        "version: 1\ngroups: {{ stable: {{ nodes: [{{ address: \"{}\", drain: true }}] }} }}\ndefault: stable\n",
        stable.addr()
    ))
    .await;
    let r = get(&client(), gw.proxy_addr(), "/", &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        r.body
            .contains("no upstream available for group \"stable\""),
        "{}",
        r.body
    );
}
