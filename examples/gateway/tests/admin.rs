//! The admin API through real sockets: node changes while traffic flows, validation, the
//! seed-style aliases, explain, config, metrics and the token.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use gray_gateway::{ConfigSource, Gateway, GatewayError};
use http::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_are_added_and_removed_while_traffic_flows() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let gw = gateway_with(
        &format!(
            "version: 1\ngroups: {{ web: {{ nodes: [{{ address: \"{}\" }}] }} }}\ndefault: web\n",
            a.addr()
        ),
        |o| o.admin_legacy_get = true,
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen_b = Arc::new(AtomicUsize::new(0));
    let addr = gw.proxy_addr();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed, seen_b) =
                (stop.clone(), ok.clone(), failed.clone(), seen_b.clone());
            tokio::spawn(async move {
                let c = client();
                let mut last = String::new();
                while !stop.load(Ordering::Relaxed) {
                    let mut b = http::Request::get(format!("http://{addr}/"));
                    b = b.header("x-n", "1");
                    match send(&c, b.body(Default::default()).unwrap()).await {
                        Ok(r) if r.status == StatusCode::OK => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            if r.upstream() == "b" {
                                seen_b.fetch_add(1, Ordering::Relaxed);
                            }
                            last = r.upstream().to_owned();
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                last
            })
        })
        .collect();
    eventually("traffic flows", 1000, || async {
        ok.load(Ordering::Relaxed) > 50
    })
    .await;

    let r = admin(
        &gw,
        "GET",
        &format!("/upstream_add?upstream=web&server={}", b.addr()),
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    eventually("the new node gets traffic", 1000, || async {
        seen_b.load(Ordering::Relaxed) > 20
    })
    .await;
    let r = admin(
        &gw,
        "GET",
        &format!("/upstream_remove?server={}", a.addr()),
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let list = admin(&gw, "GET", "/upstream_list?upstream=web", "")
        .await
        .json();
    let nodes: Vec<_> = list["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["address"].clone())
        .collect();
    assert_eq!(nodes, [serde_json::json!(b.addr().to_string())]);
    let mark = ok.load(Ordering::Relaxed);
    eventually("traffic continues", 1000, || async {
        ok.load(Ordering::Relaxed) > mark + 100
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        assert_eq!(w.await.unwrap(), "b", "after the removal only b serves");
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_validated_and_bad_input_is_a_400_with_the_reason() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let gw = gateway_with(
        &seed_config(&[stable.addr()], &[canary.addr()], "10s"),
        |o| o.admin_legacy_get = true,
    )
    .await;
    let node = format!("/api/groups/stable/nodes/{}", stable.addr());
    let duplicate = format!(r#"{{"address": "{}"}}"#, stable.addr());
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "PUT",
            format!("{node}/weight"),
            r#"{"weight": 10001}"#,
            "out of range",
        ),
        (
            "PUT",
            format!("{node}/weight"),
            r#"{"weight": "x"}"#,
            "invalid weight JSON",
        ),
        (
            "PUT",
            format!("{node}/weight"),
            r#"{"wieght": 1}"#,
            "unknown field",
        ),
        (
            "PUT",
            format!("{node}/drain"),
            r#"yes"#,
            "invalid drain JSON",
        ),
        (
            "PUT",
            "/api/groups/nope/nodes/1.2.3.4:5/weight".into(),
            r#"{"weight": 1}"#,
            "no group named \"nope\"",
        ),
        (
            "DELETE",
            "/api/groups/stable/nodes/1.2.3.4:5".into(),
            "",
            "has no node",
        ),
        (
            "POST",
            "/api/groups/stable/nodes".into(),
            r#"{"address": "not an address"}"#,
            "address",
        ),
        (
            "POST",
            "/api/groups/stable/nodes".into(),
            &duplicate,
            "already has node",
        ),
        (
            "GET",
            "/upstream_add?upstream=stable".into(),
            "",
            "missing query parameter \"server\"",
        ),
        (
            "GET",
            "/upstream_add?upstream=stable&server=127.0.0.1:9&weight=-1".into(),
            "",
            "invalid weight",
        ),
        (
            "GET",
            "/upstream_remove?server=127.0.0.1:9".into(),
            "",
            "no group has node",
        ),
        (
            "POST",
            "/api/reload".into(),
            "version: 1\ndefault: nowhere\n",
            "nowhere",
        ),
        (
            "POST",
            "/api/explain".into(),
            r#"{"peer": "not-an-ip"}"#,
            "invalid request JSON",
        ),
        (
            "POST",
            "/api/explain?format=xml".into(),
            "",
            "unknown format",
        ),
    ];
    for (method, path, body, want) in cases {
        let r = admin(&gw, method, &path, body).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{method} {path}: {}",
            r.body
        );
        assert!(
            r.body.contains(want),
            "{method} {path}: {:?} lacks {want:?}",
            r.body
        );
    }
    assert_eq!(
        gw.engine().generation(),
        1,
        "no rejected change was applied"
    );

    // Valid changes apply and bump the generation.
    let r = admin(&gw, "PUT", &format!("{node}/weight"), r#"{"weight": 7}"#).await;
    assert_eq!(r.json()["generation"], 2);
    let r = admin(&gw, "PUT", &format!("{node}/drain"), r#"{"drain": true}"#).await;
    assert_eq!(r.json()["generation"], 3);
    let g = admin(&gw, "GET", "/api/groups/stable", "").await.json();
    assert_eq!(g["nodes"][0]["configured_weight"], 7);
    assert_eq!(g["nodes"][0]["health"], "draining");
    let add = r#"{"address": "127.0.0.1:9", "weight": 3, "metadata": {"version": "2.0"}}"#;
    let r = admin(&gw, "POST", "/api/groups/stable/nodes", add).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = admin(&gw, "DELETE", "/api/groups/stable/nodes/127.0.0.1:9", "").await;
    assert_eq!(r.json()["generation"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_config_and_metrics() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let gw = gateway(&seed_config(&[stable.addr()], &[canary.addr()], "10s")).await;
    get(
        &client(),
        gw.proxy_addr(),
        "/",
        &[("cookie", "canary=xaaa")],
    )
    .await;

    let e = admin(
        &gw,
        "POST",
        "/api/explain",
        r#"{"cookies": {"canary": "xAAA"}}"#,
    )
    .await;
    assert_eq!(e.status, StatusCode::OK);
    let text = e.body.to_lowercase();
    assert!(text.contains("canary-cookie"), "{}", e.body);
    let e = admin(
        &gw,
        "POST",
        "/api/explain?format=text",
        r#"{"peer": "10.1.1.1"}"#,
    )
    .await;
    assert!(e.body.contains("group stable"), "{}", e.body);

    let cfg = admin(&gw, "GET", "/api/config", "").await;
    assert!(cfg.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/yaml"));
    // The running config round-trips: posting it back is a valid reload.
    let r = admin(&gw, "POST", "/api/reload", &cfg.body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let m = admin(&gw, "GET", "/metrics", "").await;
    assert!(m.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(
        m.body
            .contains("gray_rule_requests_total{rule=\"canary-cookie\"} 1"),
        "{}",
        m.body
    );
    assert!(
        m.body
            .contains("gray_gateway_config_reloads_total{result=\"ok\"} 1"),
        "{}",
        m.body
    );
    let page = admin(&gw, "GET", "/", "").await;
    assert!(page.body.contains("<title>gray console</title>"));
    // The console is one page that reads everything through the admin API.
    for api in [
        "/api/rules",
        "/api/traffic",
        "/api/rollouts",
        "/api/what-if",
        "/api/explain",
    ] {
        assert!(page.body.contains(api), "the console does not call {api}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_guards_the_api_and_non_loopback_admin_requires_one() {
    let stable = upstream("stable").await;
    let yaml = format!(
        "version: 1\ngroups: {{ stable: {{ nodes: [{{ address: \"{}\" }}] }} }}\ndefault: stable\n",
        stable.addr()
    );
    let mut o = options(ConfigSource::Embedded(yaml.clone()));
    o.admin_listen = Some("0.0.0.0:0".parse().unwrap());
    match Gateway::start(o).await {
        Err(e @ GatewayError::InsecureAdmin(_)) => {
            assert!(e.to_string().contains("--admin-token"), "{e}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut o = options(ConfigSource::Embedded(yaml.clone()));
    o.admin_token = Some(String::new());
    assert!(matches!(
        Gateway::start(o).await,
        Err(GatewayError::EmptyToken)
    ));

    let mut o = options(ConfigSource::Embedded(yaml));
    o.admin_token = Some("s3cret".into());
    let gw = Gateway::start(o).await.unwrap();
    for path in ["/api/groups", "/metrics", "/api/groups/stable"] {
        let r = admin(&gw, "GET", path, "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        let r = admin_with(&gw, "GET", path, "", &[("authorization", "Bearer wrong")]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        let r = admin_with(&gw, "GET", path, "", &[("authorization", "Bearer s3cret")]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        // RFC 9110 §11.1: the scheme is case-insensitive.
        let r = admin_with(&gw, "GET", path, "", &[("authorization", "bearer s3cret")]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
    // The page itself holds no data and loads without the token.
    assert_eq!(admin(&gw, "GET", "/", "").await.status, StatusCode::OK);
}

/// Groups `web` and `office` on two upstreams, then `rules` (YAML lines), default `web`.
fn web_and_office(
    web: impl std::fmt::Display,
    office: impl std::fmt::Display,
    rules: &str,
) -> String {
    format!(
        "version: 1\ngroups: {{ web: {{ nodes: [{{ address: \"{web}\" }}] }}, office: {{ nodes: [{{ address: \"{office}\" }}] }} }}\n{rules}default: web\n"
    )
}

async fn what_if(gw: &Gateway, body: &serde_json::Value) -> Reply {
    admin_with(
        gw,
        "POST",
        "/api/what-if",
        &body.to_string(),
        &[("content-type", "application/json")],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_if_shows_which_requests_a_candidate_moves_without_applying_it() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let live = web_and_office(a.addr(), b.addr(), "");
    let gw = gateway(&live).await;
    let candidate = live.replace(
        "default: web",
        "rules: [{ id: office, when: { ip: [\"10.1.0.0/16\"] }, route: office }]\ndefault: web",
    );
    let body = serde_json::json!({
        "config": candidate,
        "requests": [{ "peer": "10.1.2.3" }, { "peer": "10.1.9.9" }, { "peer": "192.0.2.1" }],
    });
    let r = what_if(&gw, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let report = r.json();
    assert_eq!(report["moved"], 2);
    assert_eq!(report["cells"][0]["from"], "web");
    assert_eq!(report["cells"][0]["to"], "office");
    assert_eq!(report["cells"][0]["examples"], serde_json::json!([0, 1]));
    // Nothing was applied.
    let status = admin(&gw, "GET", "/api/status", "").await.json();
    assert_eq!(status["generation"], 1);
    // A candidate that does not compile answers 400 with the located error.
    let body = serde_json::json!({
        "config": candidate.replace("route: office", "route: nowhere"),
        "requests": [],
    });
    let r = what_if(&gw, &body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("no group named \"nowhere\""), "{}", r.body);
    assert!(r.body.contains("line"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lints_of_the_running_config_and_of_a_what_if_candidate() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let live = web_and_office(
        a.addr(),
        b.addr(),
        "rules:\n  - { id: office, when: { ip: [\"10.0.0.0/8\"] }, route: office }\n",
    );
    let gw = gateway(&live).await;
    assert_eq!(
        admin(&gw, "GET", "/api/lints", "").await.json(),
        serde_json::json!([])
    );
    assert_eq!(
        admin(&gw, "GET", "/api/status", "").await.json()["lints"],
        0
    );
    let shadowed = live.replace(
        "default: web",
        "  - { id: lab, when: { ip: [\"10.1.0.0/16\"] }, route: web }\ndefault: web",
    );
    let body = serde_json::json!({ "config": shadowed, "requests": [{ "peer": "10.1.2.3" }] });
    let r = what_if(&gw, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let lints = &r.json()["lints"];
    assert_eq!(lints[0]["kind"], "shadowed_rule", "{lints}");
    assert_eq!(lints[0]["rule"], "lab");
    assert_eq!(lints[0]["line"], 5);
    // Applied, the same config lists the same warning, and the proxy still serves it.
    let r = admin(&gw, "POST", "/api/reload", &shadowed).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let lints = admin(&gw, "GET", "/api/lints", "").await.json();
    assert_eq!(lints.as_array().unwrap().len(), 1, "{lints}");
    assert_eq!(lints[0]["rule"], "lab");
    assert_eq!(lints[0]["line"], 5);
    assert_eq!(
        admin(&gw, "GET", "/api/status", "").await.json()["lints"],
        1
    );
}
