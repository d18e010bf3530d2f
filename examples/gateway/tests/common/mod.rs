//! Helpers shared by the gateway tests: upstreams, gateways and an HTTP client on 127.0.0.1.
#![allow(dead_code)]

pub mod tls;
pub mod ws;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use gray_gateway::{ConfigSource, DemoUpstream, Gateway, GatewayOptions};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub async fn upstream(name: &str) -> DemoUpstream {
    DemoUpstream::start(name, ([127, 0, 0, 1], 0).into())
        .await
        .expect("bind upstream")
}

/// Gateway options for tests: ephemeral ports, short timeouts, fast file polling.
pub fn options(config: ConfigSource) -> GatewayOptions {
    let mut o = GatewayOptions::new(config);
    o.listen = ([127, 0, 0, 1], 0).into();
    o.admin_listen = Some(([127, 0, 0, 1], 0).into());
    o.timeouts.connect = Duration::from_secs(2);
    o.timeouts.response_header = Duration::from_secs(5);
    o.watch_interval = Duration::from_millis(50);
    o
}

pub async fn gateway(yaml: &str) -> Gateway {
    Gateway::start(options(ConfigSource::Embedded(yaml.to_owned())))
        .await
        .expect("start gateway")
}

/// A client connecting from `local` (any 127.0.0.0/8 address works on Linux).
pub fn client_from(local: Option<IpAddr>, http2: bool) -> HttpClient {
    let mut c = HttpConnector::new();
    c.set_local_address(local);
    Client::builder(TokioExecutor::new())
        .http2_only(http2)
        .pool_max_idle_per_host(64)
        .build(c)
}

pub fn client() -> HttpClient {
    client_from(None, false)
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    /// The `x-upstream` header set by demo upstreams.
    pub fn upstream(&self) -> &str {
        self.headers
            .get("x-upstream")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

pub async fn send(client: &HttpClient, req: Request<Full<Bytes>>) -> Result<Reply, String> {
    let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("{e:?}"))?
        .to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// GET `path` on `addr` with extra headers.
pub async fn get(
    client: &HttpClient,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut b = Request::get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    send(client, b.body(Full::default()).unwrap())
        .await
        .expect("request")
}

/// An admin API call as a script makes it: `body` is sent as is, with `X-Gray-Admin: 1` (what
/// the admin page sends; a POST that changes state needs it or a JSON/YAML content type).
pub async fn admin(gw: &Gateway, method: &str, path: &str, body: &str) -> Reply {
    admin_with(gw, method, path, body, &[("x-gray-admin", "1")]).await
}

/// A gateway on `yaml` with `change` applied to the test options.
pub async fn gateway_with(yaml: &str, change: impl FnOnce(&mut GatewayOptions)) -> Gateway {
    let mut o = options(ConfigSource::Embedded(yaml.to_owned()));
    change(&mut o);
    Gateway::start(o).await.expect("start gateway")
}

pub async fn admin_with(
    gw: &Gateway,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let addr = gw.admin_addr().expect("admin listener");
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    send(
        &client(),
        b.body(Full::new(Bytes::from(body.to_owned()))).unwrap(),
    )
    .await
    .expect("admin request")
}

/// Reads from `s` until a request head has ended (`\r\n\r\n`); `None` when the peer closed
/// or broke the connection first.
pub async fn read_head(s: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(head)
}

/// Polls `cond` every 20 ms, at most `tries` times; panics with `what` if it never holds.
pub async fn eventually<F, Fut>(what: &str, tries: usize, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..tries {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

/// The seeds' routing with the given stable and canary nodes: seed 000's cookie map, seeds
/// 003/004's IP gray list behind a trusted local proxy (127.0.0.1 only), a Nepxion-style
/// header expression, and the routing-header policy.
pub fn seed_config(stable: &[SocketAddr], canary: &[SocketAddr], fail_timeout: &str) -> String {
    let nodes = |v: &[SocketAddr], version: &str| {
        v.iter()
            .map(|a| {
                format!(
                    "      - {{ address: \"{a}\", max_fails: 1, fail_timeout: {fail_timeout}, metadata: {{ version: \"{version}\" }} }}\n"
                )
            })
            .collect::<String>()
    };
    format!(
        r##"version: 1
client_ip:
  trusted_proxies: ["127.0.0.1"]
  header: x-forwarded-for
  recursive: true
ip_sets:
  gray_list: {{ entries: ["192.168.2.20", "10.8.0.0/16"] }}
groups:
  stable:
    nodes:
{}  canary:
    fallback: stable
    nodes:
{}rules:
  - id: canary-cookie
    when: {{ cookie: {{ name: canary, regex: "aaa$", ignore_case: true }} }}
    route: canary
    set_headers: {{ x-gray: canary-cookie }}
  - id: gray-list
    when: {{ ip: [gray_list] }}
    route: canary
    set_headers: {{ x-gray: gray-list }}
  - id: header-a
    when: {{ expr: "#H['a'] == '1'" }}
    route: canary
    routes: {{ version: "1.1" }}
default: stable
"##,
        nodes(stable, "1.0"),
        nodes(canary, "1.1")
    )
}

/// Group `web` with a judged two-step rollout of node `canary` against `stable` (10-second
/// intervals); `analysis` adds to the analysis map (`, webhook: "..."`).
pub fn judged_rollout(stable: SocketAddr, canary: SocketAddr, analysis: &str) -> String {
    format!(
        r#"version: 1
groups:
  web:
    nodes: [{{ address: "{stable}", weight: 1 }}, {{ address: "{canary}", weight: 0 }}]
    rollout:
      start: 0
      steps:
        - {{ weights: {{ "{canary}": 1 }}, hold: 10m }}
        - {{ weights: {{ "{canary}": 1, "{stable}": 0 }} }}
      analysis: {{ canary: ["{canary}"], interval: 10s{analysis} }}
default: web
"#
    )
}
