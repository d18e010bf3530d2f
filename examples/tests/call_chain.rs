//! Three hops on real sockets: client → gateway → svc-a → svc-b. The gateway decides once (a
//! cookie puts a tester on svc-b 1.1); svc-a, calling through gray's call layer, picks the
//! instance of svc-b that decision asked for and passes the routing header on.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gray_core::{Engine, Format};
use gray_examples::call_chain::MiddleService;
use gray_gateway::{ConfigSource, DemoUpstream, Gateway, GatewayOptions};
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

struct Chain {
    gateway: Gateway,
    svc_a: MiddleService,
    svc_a_engine: Arc<Engine>,
    b10: DemoUpstream,
    b11: DemoUpstream,
}

async fn chain() -> Chain {
    let local: SocketAddr = ([127, 0, 0, 1], 0).into();
    let b10 = DemoUpstream::start("svc-b-1.0", local).await.unwrap();
    let b11 = DemoUpstream::start("svc-b-1.1", local).await.unwrap();
    // svc-a's own spec: its callee with the instances' versions; it believes the gateway
    // (which connects from 127.0.0.1) and prefers 1.0 when no version is asked for.
    let svc_a_engine = Arc::new(
        Engine::from_str(
            &format!(
                r#"
version: 1
default: svc-b
groups:
  svc-b:
    nodes:
      - {{ address: "{}", metadata: {{ version: "1.0" }} }}
      - {{ address: "{}", metadata: {{ version: "1.1" }} }}
headers: {{ trusted_peers: ["127.0.0.1/32"] }}
release: {{ failover: {{ version_prefer: "1.0" }} }}
"#,
                b10.addr(),
                b11.addr()
            ),
            Format::Yaml,
        )
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind(local).await.unwrap();
    let svc_a = MiddleService::start(listener, svc_a_engine.clone(), "svc-b").unwrap();
    // The gateway: testers (cookie canary=…aaa) get svc-b 1.1, decided here once.
    let yaml = format!(
        r#"
version: 1
groups: {{ svc-a: {{ nodes: [{{ address: "{}" }}] }} }}
rules:
  - id: testers
    when: {{ cookie: {{ name: canary, regex: "aaa$" }} }}
    route: svc-a
    routes: {{ version: '{{"svc-b":"1.1"}}' }}
default: svc-a
"#,
        svc_a.addr()
    );
    let mut o = GatewayOptions::new(ConfigSource::Embedded(yaml));
    o.listen = local;
    o.admin_listen = None;
    o.timeouts.connect = Duration::from_secs(2);
    let gateway = Gateway::start(o).await.unwrap();
    Chain {
        gateway,
        svc_a,
        svc_a_engine,
        b10,
        b11,
    }
}

struct Reply {
    status: u16,
    upstream: String,
    called: String,
    body: String,
}

async fn get(from: IpAddr, to: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut c = HttpConnector::new();
    c.set_local_address(Some(from));
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(c);
    let mut req = Request::get(format!("http://{to}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (status, upstream, called) = (
        resp.status().as_u16(),
        header("x-upstream"),
        header("x-called"),
    );
    let body = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    Reply {
        status,
        upstream,
        called,
        body,
    }
}

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_decision_picks_the_version_two_hops_down() {
    let c = chain().await;
    let gw = c.gateway.proxy_addr();
    for _ in 0..5 {
        let r = get(
            LOOPBACK,
            gw,
            "/echo",
            &[("cookie", "theme=dark; canary=xaaa")],
        )
        .await;
        assert_eq!(
            (r.status, r.upstream.as_str()),
            (200, "svc-b-1.1"),
            "{}",
            r.body
        );
        assert_eq!(r.called, c.b11.addr().to_string());
        // The routing header reached svc-b unchanged: the next hop would route the same way.
        let echo: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(echo["headers"]["n-d-version"][0], r#"{"svc-b":"1.1"}"#);

        let r = get(LOOPBACK, gw, "/echo", &[]).await;
        assert_eq!(r.upstream, "svc-b-1.0", "no route: svc-a prefers 1.0");
        let echo: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert!(echo["headers"].get("n-d-version").is_none(), "{echo}");
    }
    // svc-a recorded its outgoing calls per instance (live windows, histogram).
    let traffic = c.svc_a_engine.traffic();
    let b = traffic.groups.iter().find(|g| g.group == "svc-b").unwrap();
    let count = |addr: SocketAddr| {
        b.nodes
            .iter()
            .find(|n| n.address == addr.to_string())
            .map_or(0, |n| n.window.requests)
    };
    assert_eq!((count(c.b10.addr()), count(c.b11.addr())), (5, 5));
    assert!(c
        .svc_a_engine
        .metrics()
        .contains("gray_upstream_request_duration_seconds_bucket{group=\"svc-b\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_headers_from_untrusted_callers_go_nowhere() {
    let c = chain().await;
    let spoof = [("n-d-version", r#"{"svc-b":"1.1"}"#)];
    // A client sends the header to the gateway: the gateway strips it.
    let r = get(LOOPBACK, c.gateway.proxy_addr(), "/echo", &spoof).await;
    assert_eq!(r.upstream, "svc-b-1.0");
    // A client reaching svc-a directly from an address svc-a does not trust: svc-a neither
    // believes nor propagates it.
    let outsider: IpAddr = "127.0.0.2".parse().unwrap();
    let r = get(outsider, c.svc_a.addr(), "/echo", &spoof).await;
    assert_eq!(r.upstream, "svc-b-1.0");
    let echo: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(echo["headers"].get("n-d-version").is_none(), "{echo}");
    // From the trusted address the same header is believed and passed on.
    let r = get(LOOPBACK, c.svc_a.addr(), "/echo", &spoof).await;
    assert_eq!(r.upstream, "svc-b-1.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_call_is_recorded_for_the_instance() {
    let c = chain().await;
    c.b11.kill();
    let r = get(
        LOOPBACK,
        c.gateway.proxy_addr(),
        "/",
        &[("cookie", "canary=xaaa")],
    )
    .await;
    assert_eq!(r.status, 502, "{}", r.body);
    let traffic = c.svc_a_engine.traffic();
    let b = traffic.groups.iter().find(|g| g.group == "svc-b").unwrap();
    let b11 = b
        .nodes
        .iter()
        .find(|n| n.address == c.b11.addr().to_string())
        .unwrap();
    assert_eq!((b11.window.requests, b11.window.errors), (1, 1));
    assert!(
        c.svc_a_engine.metrics().contains(&format!(
            "gray_upstream_responses_total{{group=\"svc-b\",node=\"{}\",class=\"error\"}} 1",
            c.b11.addr()
        )),
        "{}",
        c.svc_a_engine.metrics()
    );
}
