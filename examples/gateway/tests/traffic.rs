//! What the gateway records of the traffic it routes, through real sockets: the node latency
//! histograms and status classes in `/metrics`, and the live windows of `/api/traffic`.

mod common;

use common::*;
use http::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_and_latency_reach_metrics_and_the_live_windows() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let gw = gateway(&format!(
        "version: 1\ngroups:\n  stable: {{ nodes: [{{ address: \"{}\" }}] }}\n  \
         canary: {{ nodes: [{{ address: \"{}\" }}], fallback: stable }}\n\
         rules: [{{ id: canary-cookie, when: {{ cookie: {{ name: canary, equals: \"1\" }} }}, route: canary }}]\n\
         default: stable\n",
        stable.addr(),
        canary.addr()
    ))
    .await;
    let c = client();
    let addr = gw.proxy_addr();
    for i in 0..40 {
        // One canary request in ten answers 500.
        let path = if i % 10 == 0 { "/status/500" } else { "/" };
        let r = get(&c, addr, path, &[("cookie", "canary=1")]).await;
        assert_eq!(r.upstream(), "canary");
        let r = get(&c, addr, "/", &[]).await;
        assert_eq!(r.upstream(), "stable");
    }
    let t = admin(&gw, "GET", "/api/traffic", "").await;
    assert_eq!(t.status, StatusCode::OK);
    let t = t.json();
    let group = |name: &str| {
        t["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["group"] == name)
            .unwrap()
            .clone()
    };
    let canary_w = &group("canary")["window"];
    assert_eq!(canary_w["requests"], 40);
    assert_eq!(canary_w["errors"], 4);
    assert_eq!(canary_w["error_rate"], 0.1);
    assert!(canary_w["p50_ms"].as_f64().unwrap() > 0.0, "{canary_w}");
    assert_eq!(group("stable")["window"]["errors"], 0);
    assert_eq!(t["rules"][0]["rule"], "canary-cookie");
    assert_eq!(t["rules"][0]["window"]["requests"], 40);

    let m = admin(&gw, "GET", "/metrics", "").await.body;
    let node = canary.addr().to_string();
    assert!(
        m.contains(&format!(
            "gray_upstream_request_duration_seconds_count{{group=\"canary\",node=\"{node}\"}} 40"
        )),
        "{m}"
    );
    assert!(m.contains(&format!(
        "gray_upstream_responses_total{{group=\"canary\",node=\"{node}\",class=\"5xx\"}} 4"
    )));
    assert!(m.contains(&format!(
        "gray_upstream_responses_total{{group=\"canary\",node=\"{node}\",class=\"2xx\"}} 36"
    )));
    // Every request finished within 10 s, so the last finite bucket holds them all.
    assert!(m.contains(&format!(
        "gray_upstream_request_duration_seconds_bucket{{group=\"canary\",node=\"{node}\",le=\"10\"}} 40"
    )));
}
