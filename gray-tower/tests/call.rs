//! The call layer's refusals and its outcome records, against a real local server.

use std::sync::Arc;

use bytes::Bytes;
use gray_core::{Engine, Format};
use gray_tower::call::{CallContext, CallError, CallLayer};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::{Layer, ServiceExt};

/// A server answering with its name and the `n-d-version` header it received.
async fn server(name: &'static str) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: Request<hyper::body::Incoming>| async move {
                        let v = req
                            .headers()
                            .get("n-d-version")
                            .map(|v| v.to_str().unwrap().to_owned())
                            .unwrap_or_default();
                        let host = req
                            .headers()
                            .get("host")
                            .map(|v| v.to_str().unwrap().to_owned());
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                            format!("{name} {v} {}", host.unwrap_or_default()),
                        ))))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn engine(nodes: &str) -> Arc<Engine> {
    Arc::new(
        Engine::from_str(
            &format!(
                r#"
version: 1
default: svc-b
groups:
  svc-b: {{ nodes: [{nodes}] }}
  empty: {{ nodes: [] }}
headers: {{ trusted_peers: ["127.0.0.1"] }}
"#
            ),
            Format::Yaml,
        )
        .unwrap(),
    )
}

fn call(uri: &str, ctx: CallContext) -> Request<Empty<Bytes>> {
    Request::get(uri).extension(ctx).body(Empty::new()).unwrap()
}

#[tokio::test]
async fn routes_to_the_selected_instance_and_refuses_what_it_cannot_route() {
    let (v10, v11) = (server("v1.0").await, server("v1.1").await);
    let engine = engine(&format!(
        r#"{{ address: "{v10}", metadata: {{ version: "1.0" }} }}, {{ address: "{v11}", metadata: {{ version: "1.1" }} }}"#
    ));
    let client = CallLayer::new(engine.clone())
        .layer(Client::builder(TokioExecutor::new()).build(HttpConnector::new()));
    let inbound = Request::builder()
        .header("n-d-version", "1.1")
        .header("host", "svc-a.internal")
        .extension(gray_tower::PeerAddr("127.0.0.1:1".parse().unwrap()))
        .body(())
        .unwrap();
    let ctx = CallContext::of(&inbound);
    // A routing header the caller set itself is replaced by the propagated one.
    let mut req = call("http://svc-b/x?y=1", ctx.clone());
    req.headers_mut()
        .insert("n-d-version", "9.9".parse().unwrap());
    let resp = client.clone().oneshot(req).await.unwrap();
    let sel = resp
        .extensions()
        .get::<gray_core::Selection>()
        .cloned()
        .unwrap();
    assert_eq!(sel.node_address(), Some(v11.to_string().as_str()));
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        body,
        format!("v1.1 1.1 {v11}"),
        "version header and Host of the instance"
    );

    // No context at all: no routing header, the group's own pick.
    let resp = client
        .clone()
        .oneshot(Request::get("http://svc-b/").body(Empty::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    for (uri, want) in [
        (
            "/relative",
            CallError::NoService {
                uri: "/relative".into(),
            },
        ),
        (
            "http://nope/",
            CallError::UnknownService {
                service: "nope".into(),
            },
        ),
        (
            "http://empty/",
            CallError::NoInstance {
                service: "empty".into(),
            },
        ),
    ] {
        let e = client
            .clone()
            .oneshot(call(uri, ctx.clone()))
            .await
            .unwrap_err();
        let e = e
            .downcast_ref::<CallError>()
            .unwrap_or_else(|| panic!("{uri}: {e}"));
        assert_eq!(e, &want);
        assert!(!e.to_string().is_empty());
    }
    let windows = engine.traffic();
    let b = windows.groups.iter().find(|g| g.group == "svc-b").unwrap();
    let total: u64 = b.nodes.iter().map(|n| n.window.requests).sum();
    assert_eq!(total, 2, "the two calls that went out, and only those");
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error_for_passive_health() {
    // A port nobody listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let engine = engine(&format!(r#"{{ address: "{dead}" }}"#));
    let client = CallLayer::new(engine.clone())
        .layer(Client::builder(TokioExecutor::new()).build(HttpConnector::new()));
    let e = client
        .oneshot(
            Request::get("http://svc-b/")
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        gray_tower::call::classify_error(&*e),
        gray_core::Outcome::ConnectError,
        "{e:?}"
    );
    let metrics = engine.metrics();
    assert!(
        metrics.contains(&format!(
            "gray_upstream_responses_total{{group=\"svc-b\",node=\"{dead}\",class=\"error\"}} 1"
        )),
        "{metrics}"
    );
}

/// A service that decides itself (GrayLayer) passes its decision down: the context of a
/// request that carries a Decision is the decision's routing headers, believed whatever the
/// client; what the client sent is not.
#[tokio::test]
async fn a_decision_made_here_is_the_context_of_the_calls() {
    use tower::Service;
    let (v10, v11) = (server("v1.0").await, server("v1.1").await);
    let engine = Arc::new(
        Engine::from_str(
            &format!(
                r#"
version: 1
default: svc-b
groups:
  svc-b:
    nodes:
      - {{ address: "{v10}", metadata: {{ version: "1.0", region: east }} }}
      - {{ address: "{v11}", metadata: {{ version: "1.1", region: east }} }}
rules:
  - {{ id: testers, when: {{ header: {{ name: x-tester, equals: "1" }} }}, route: svc-b, routes: {{ version: '{{"svc-b":"1.1"}}' }} }}
"#
            ),
            Format::Yaml,
        )
        .unwrap(),
    );
    // The inbound side: GrayLayer decides for an untrusted client.
    let mut inbound_svc = gray_tower::GrayLayer::new(engine.clone()).layer(tower::service_fn(
        |req: Request<()>| async move { Ok::<_, std::convert::Infallible>(CallContext::of(&req)) },
    ));
    let client = CallLayer::new(engine.clone())
        .layer(Client::builder(TokioExecutor::new()).build(HttpConnector::new()));
    for (tester, want) in [("1", "v1.1"), ("0", "v1.0")] {
        let inbound = Request::builder()
            .header("x-tester", tester)
            .header("n-d-region", "west") // spoofed: must not travel
            .extension(gray_tower::PeerAddr("203.0.113.9:5000".parse().unwrap()))
            .body(())
            .unwrap();
        let ctx = inbound_svc.call(inbound).await.unwrap();
        let call = Request::get("http://svc-b/")
            .extension(ctx)
            .body(Empty::<Bytes>::new())
            .unwrap();
        let resp = client.clone().oneshot(call).await.unwrap();
        let sel = resp
            .extensions()
            .get::<gray_core::Selection>()
            .cloned()
            .unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(
            body.starts_with(want.as_bytes()),
            "tester {tester}: {body:?}"
        );
        assert!(sel.trusts_inbound());
        let names: Vec<String> = sel
            .outgoing_headers(&CallContext::default().view())
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert!(!names.iter().any(|n| n == "n-d-region"), "{names:?}");
    }
}
