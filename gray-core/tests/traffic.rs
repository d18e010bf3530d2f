//! Outcome and latency recording: live windows per group, node and rule (with a manual clock),
//! kept across reloads; Prometheus histograms and status-class totals.

use std::sync::Arc;
use std::time::Duration;

use gray_core::health::ManualClock;
use gray_core::{Engine, Format, Outcome, SimpleRequest, Spec};

const SPEC: &str = r#"
version: 1
groups:
  stable: { nodes: [{ address: "10.0.1.1:80" }, { address: "10.0.1.2:80" }] }
  canary: { nodes: [{ address: "10.0.2.1:80" }], fallback: stable }
rules:
  - { id: canary-cookie, when: { cookie: { name: canary, equals: "1" } }, route: canary }
default: stable
"#;

fn engine(clock: Arc<ManualClock>) -> Engine {
    Engine::builder()
        .clock(clock)
        .build(Spec::from_str(SPEC, Format::Yaml).unwrap())
        .unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn windows_per_group_node_and_rule() {
    let clock = Arc::new(ManualClock::new(1_000));
    let engine = engine(clock.clone());
    let canary = SimpleRequest::new("192.0.2.1".parse().unwrap()).with_cookie("canary", "1");
    let plain = SimpleRequest::new("192.0.2.2".parse().unwrap());
    for i in 0..100u64 {
        let d = engine.decide(&canary);
        let outcome = if i % 20 == 0 {
            Outcome::Status(503)
        } else {
            Outcome::Status(200)
        };
        engine.record_timed(&d, outcome, ms(50 + i % 10));
        let d = engine.decide(&plain);
        engine.record_timed(&d, Outcome::Status(200), ms(10));
    }
    let d = engine.decide(&plain);
    engine.record_timed(&d, Outcome::Timeout, ms(3000));
    let t = engine.traffic();
    assert_eq!(t.window_seconds, 120);
    let canary_g = t.groups.iter().find(|g| g.group == "canary").unwrap();
    assert_eq!((canary_g.window.requests, canary_g.window.errors), (100, 5));
    assert_eq!(canary_g.window.error_rate, Some(0.05));
    let p50 = canary_g.window.p50_ms.unwrap();
    assert!((45.0..=62.0).contains(&p50), "canary p50 {p50}");
    let stable = t.groups.iter().find(|g| g.group == "stable").unwrap();
    assert_eq!((stable.window.requests, stable.window.errors), (101, 1));
    // Round robin spreads stable over both nodes; the group is their sum.
    assert_eq!(
        stable.nodes.iter().map(|n| n.window.requests).sum::<u64>(),
        101
    );
    assert!(stable.nodes.iter().all(|n| n.window.requests >= 50));
    // 101 requests: the 99th percentile is the 100th value (10 ms), not the one timeout.
    let p99 = stable.window.p99_ms.unwrap();
    assert!((8.75..=11.25).contains(&p99), "stable p99 {p99}");
    let rule = t.rules.iter().find(|r| r.rule == "canary-cookie").unwrap();
    assert_eq!((rule.window.requests, rule.window.errors), (100, 5));

    // Two minutes later the window is empty again; the cumulative histogram is not.
    clock.advance(121_000);
    let t = engine.traffic();
    assert!(t
        .groups
        .iter()
        .all(|g| g.window.requests == 0 && g.window.p50_ms.is_none()));
    let m = engine.metrics();
    assert!(
        m.contains(
            r#"gray_upstream_request_duration_seconds_count{group="canary",node="10.0.2.1:80"} 100"#
        ),
        "{m}"
    );
    assert!(m.contains(
        r#"gray_upstream_request_duration_seconds_bucket{group="canary",node="10.0.2.1:80",le="0.05"} 10"#
    ));
    assert!(m.contains(
        r#"gray_upstream_request_duration_seconds_bucket{group="canary",node="10.0.2.1:80",le="0.1"} 100"#
    ));
    assert!(m.contains(
        r#"gray_upstream_responses_total{group="canary",node="10.0.2.1:80",class="5xx"} 5"#
    ));
    assert!(m.contains(r#"class="timeout"} 1"#));
}

#[test]
fn windows_survive_reloads_and_record_without_latency_counts_requests() {
    let clock = Arc::new(ManualClock::new(0));
    let engine = engine(clock.clone());
    let canary = SimpleRequest::new("192.0.2.1".parse().unwrap()).with_cookie("canary", "1");
    for _ in 0..10 {
        let d = engine.decide(&canary);
        engine.record(&d, Outcome::Status(502));
    }
    // A reload that keeps the canary node keeps its window.
    let mut spec = Spec::from_str(SPEC, Format::Yaml).unwrap();
    spec.groups.get_mut("canary").unwrap().nodes[0].weight = 5;
    engine.reload(spec).unwrap();
    let t = engine.traffic();
    let c = t.groups.iter().find(|g| g.group == "canary").unwrap();
    assert_eq!(
        (c.window.requests, c.window.errors, c.window.p50_ms),
        (10, 10, None)
    );
    // record_node_timed names the node; no rule is counted.
    engine
        .record_node_timed("stable", "10.0.1.1:80", Outcome::Status(200), ms(2))
        .unwrap();
    let t = engine.traffic();
    let s = t.groups.iter().find(|g| g.group == "stable").unwrap();
    assert_eq!(s.nodes[0].window.requests, 1);
    assert_eq!(t.rules[0].window.requests, 10);
    assert!(engine
        .record_node_timed("stable", "10.9.9.9:80", Outcome::Status(200), ms(2))
        .is_err());
}
