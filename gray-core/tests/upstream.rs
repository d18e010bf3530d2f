//! Groups end to end: passive health through `report`, fallback, health surviving reloads,
//! staged rollouts, admin validation and counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use gray_core::health::ManualClock;
use gray_core::spec::NodeSpec;
use gray_core::{Engine, ErrorKind, Format, SimpleRequest, Spec};

const SPEC: &str = r#"
version: 1
groups:
  stable:
    max_fails: 2
    fail_timeout: 10s
    nodes: [{ address: "127.0.0.1:7001" }, { address: "127.0.0.1:7002" }]
  canary:
    fallback: stable
    max_fails: 1
    fail_timeout: 30s
    nodes: [{ address: "127.0.0.1:7101" }]
rules:
  - { id: canary, when: { cookie: { name: canary, present: true } }, route: canary }
default: stable
"#;

fn engine(clock: Arc<ManualClock>) -> Engine {
    Engine::builder()
        .clock(clock)
        .build(Spec::from_str(SPEC, Format::Yaml).unwrap())
        .unwrap()
}

fn canary_req() -> SimpleRequest {
    SimpleRequest::new("10.0.0.1".parse().unwrap()).with_header("cookie", "canary=1")
}

fn plain_req() -> SimpleRequest {
    SimpleRequest::new("10.0.0.1".parse().unwrap())
}

#[test]
fn failing_canary_falls_back_to_stable_and_returns_after_fail_timeout() {
    let clock = Arc::new(ManualClock::new(1_000));
    let e = engine(clock.clone());
    let d = e.decide(&canary_req());
    assert_eq!(
        (d.group(), d.node_address(), d.is_fallback()),
        ("canary", Some("127.0.0.1:7101"), false)
    );
    e.report(&d, false); // max_fails 1: ejected for 30 s
    let d = e.decide(&canary_req());
    assert!(d.is_fallback(), "{d}");
    assert_eq!((d.requested_group(), d.group()), ("canary", "stable"));
    let ex = e.explain(&canary_req());
    assert_eq!(ex.picks.len(), 2);
    assert!(
        ex.picks[0].reason.as_deref().unwrap().contains("1 down"),
        "{ex}"
    );
    assert!(ex.to_string().contains("fallback from canary"), "{ex}");
    assert_eq!(e.nodes("canary").unwrap().nodes[0].health, "down");

    clock.advance(29_999);
    assert!(e.decide(&canary_req()).is_fallback());
    clock.advance(1);
    let d = e.decide(&canary_req());
    assert!(!d.is_fallback(), "back after fail_timeout: {d}");
    e.report(&d, true);
    assert_eq!(e.nodes("canary").unwrap().nodes[0].health, "up");
}

#[test]
fn failures_spread_beyond_the_window_do_not_eject() {
    let clock = Arc::new(ManualClock::new(0));
    let e = engine(clock.clone());
    e.report_node("stable", "127.0.0.1:7001", false).unwrap();
    clock.advance(10_001);
    e.report_node("stable", "127.0.0.1:7001", false).unwrap();
    assert_eq!(e.nodes("stable").unwrap().nodes[0].health, "up");
    e.report_node("stable", "127.0.0.1:7001", false).unwrap(); // 2 within 10 s
    assert_eq!(e.nodes("stable").unwrap().nodes[0].health, "down");
    for _ in 0..4 {
        assert_eq!(
            e.decide(&plain_req()).node_address(),
            Some("127.0.0.1:7002")
        );
    }
}

#[test]
fn stable_never_falls_back_to_a_group_that_is_down_and_says_no_upstream() {
    let clock = Arc::new(ManualClock::new(0));
    let e = engine(clock.clone());
    for n in ["127.0.0.1:7001", "127.0.0.1:7002"] {
        e.report_node("stable", n, false).unwrap();
        e.report_node("stable", n, false).unwrap();
    }
    // 7001 is ejected; 7002 is then the last available node of a group without a fallback,
    // so its failures are counted but never eject it.
    let st = e.nodes("stable").unwrap();
    assert_eq!((st.nodes[0].health, st.nodes[1].health), ("down", "up"));
    assert_eq!((st.failures, st.nodes[1].failures), (4, 2));
    // Draining it leaves stable with no available node.
    e.drain("stable", "127.0.0.1:7002", true).unwrap();
    let d = e.decide(&plain_req());
    assert!(d.no_upstream(), "{d}");
    assert_eq!(d.group(), "stable");
    assert!(!d.is_fallback());
    let ex = e.explain(&plain_req());
    assert_eq!(ex.picks.len(), 1, "stable has no fallback: {ex}");
    assert!(ex.to_string().contains("no upstream"), "{ex}");
    assert!(
        ex.to_string()
            .contains("1 down (passive health), 1 draining"),
        "{ex}"
    );
    // The canary falls back to stable, which is down too: no upstream, never a panic.
    e.report(&e.decide(&canary_req()), false);
    let d = e.decide(&canary_req());
    assert!(d.no_upstream());
    assert_eq!(e.explain(&canary_req()).picks.len(), 2);
}

#[test]
fn health_survives_reload_for_nodes_that_still_exist() {
    let clock = Arc::new(ManualClock::new(0));
    let e = engine(clock.clone());
    e.report_node("canary", "127.0.0.1:7101", false).unwrap();
    let reloaded = SPEC.replace("rules:", "# reloaded\nrules:");
    e.reload_str(&reloaded, Format::Yaml).unwrap();
    assert!(
        e.decide(&canary_req()).is_fallback(),
        "still ejected after reload"
    );
    // A node that is removed and added again starts fresh.
    e.remove_node("canary", "127.0.0.1:7101").unwrap();
    e.add_node("canary", NodeSpec::new("127.0.0.1:7101"))
        .unwrap();
    assert!(!e.decide(&canary_req()).is_fallback());
}

#[test]
fn drain_and_weight_zero_take_a_node_out() {
    let e = engine(Arc::new(ManualClock::new(0)));
    e.drain("stable", "127.0.0.1:7001", true).unwrap();
    for _ in 0..4 {
        assert_eq!(
            e.decide(&plain_req()).node_address(),
            Some("127.0.0.1:7002")
        );
    }
    assert_eq!(e.nodes("stable").unwrap().nodes[0].health, "draining");
    e.drain("stable", "127.0.0.1:7001", false).unwrap();
    e.set_weight("stable", "127.0.0.1:7002", 0).unwrap();
    for _ in 0..4 {
        assert_eq!(
            e.decide(&plain_req()).node_address(),
            Some("127.0.0.1:7001")
        );
    }
    e.set_weight("stable", "127.0.0.1:7001", 0).unwrap();
    assert!(e.decide(&plain_req()).no_upstream());
    assert!(e
        .explain(&plain_req())
        .to_string()
        .contains("2 with weight 0"));
}

#[test]
fn admin_errors_are_typed_and_change_nothing() {
    let e = engine(Arc::new(ManualClock::new(0)));
    let g = e.generation();
    let cases = [
        (
            e.add_node("nope", NodeSpec::new("127.0.0.1:1"))
                .unwrap_err(),
            ErrorKind::UnknownGroup,
        ),
        (
            e.add_node("stable", NodeSpec::new("127.0.0.1:7001"))
                .unwrap_err(),
            ErrorKind::Duplicate,
        ),
        (
            e.add_node("stable", NodeSpec::new("127.0.0.1"))
                .unwrap_err(),
            ErrorKind::InvalidValue,
        ),
        (
            e.add_node("stable", NodeSpec::new("not a host:80"))
                .unwrap_err(),
            ErrorKind::InvalidValue,
        ),
        (
            e.add_node("stable", NodeSpec::new("127.0.0.1:9").with_weight(10_001))
                .unwrap_err(),
            ErrorKind::InvalidValue,
        ),
        (
            e.set_weight("stable", "127.0.0.1:7001", 20_000)
                .unwrap_err(),
            ErrorKind::InvalidValue,
        ),
        (
            e.set_weight("stable", "127.0.0.9:1", 2).unwrap_err(),
            ErrorKind::UnknownNode,
        ),
        (
            e.remove_node("stable", "127.0.0.9:1").unwrap_err(),
            ErrorKind::UnknownNode,
        ),
        (
            e.drain("ghost", "127.0.0.1:7001", true).unwrap_err(),
            ErrorKind::UnknownGroup,
        ),
        (e.nodes("ghost").unwrap_err(), ErrorKind::UnknownGroup),
        (
            e.report_node("stable", "1.1.1.1:1", true).unwrap_err(),
            ErrorKind::UnknownNode,
        ),
    ];
    for (err, kind) in cases {
        assert_eq!(err.kind(), kind, "{err}");
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(e.generation(), g);
    assert_eq!(e.nodes("stable").unwrap().nodes.len(), 2);
}

#[test]
fn staged_rollout_ramps_weights_over_time() {
    let now = Arc::new(AtomicU64::new(0));
    let t = now.clone();
    let spec = r#"
version: 1
groups:
  web:
    nodes: [{ address: "10.0.0.1:80", weight: 100 }, { address: "10.0.0.2:80", weight: 0 }]
    rollout:
      start: 1000000
      steps:
        - { weights: { "10.0.0.2:80": 1, "10.0.0.1:80": 99 }, hold: 10m }
        - { weights: { "10.0.0.2:80": 25, "10.0.0.1:80": 75 }, hold: 1h }
        - { weights: { "10.0.0.2:80": 100, "10.0.0.1:80": 0 } }
default: web
"#;
    let e = Engine::builder()
        .unix_time(Arc::new(move || t.load(Ordering::Relaxed)))
        .build(Spec::from_str(spec, Format::Yaml).unwrap())
        .unwrap();
    let share = |e: &Engine| {
        let n = 1000;
        (0..n)
            .filter(|_| e.decide(&plain_req()).node_address() == Some("10.0.0.2:80"))
            .count() as f64
            / n as f64
    };
    now.store(999_999_000, Ordering::Relaxed); // before start: step 0 applies
    assert_eq!(e.nodes("web").unwrap().nodes[1].weight, 1);
    now.store(1_000_000_000, Ordering::Relaxed);
    assert!((share(&e) - 0.01).abs() < 0.005);
    assert_eq!(e.groups()[0].rollout_step, Some(0));
    now.store(1_000_000_000 + 600_000, Ordering::Relaxed);
    assert!((share(&e) - 0.25).abs() < 0.01);
    assert!(e
        .explain(&plain_req())
        .to_string()
        .contains("rollout step 1"));
    now.store(1_000_000_000 + 600_000 + 3_600_000, Ordering::Relaxed);
    assert_eq!(share(&e), 1.0);
    let st = e.nodes("web").unwrap();
    assert_eq!((st.rollout_step, st.rollout_steps), (Some(2), Some(3)));
    assert_eq!(
        (st.nodes[1].weight, st.nodes[1].configured_weight),
        (100, 0)
    );

    let bad = spec.replace("\"10.0.0.2:80\": 25", "\"10.0.0.3:80\": 25");
    assert_eq!(
        e.reload_str(&bad, Format::Yaml).unwrap_err().kind(),
        ErrorKind::UnknownReference
    );
    let bad = spec.replace(", hold: 10m", "");
    assert!(e
        .reload_str(&bad, Format::Yaml)
        .unwrap_err()
        .to_string()
        .contains("hold"));
}

#[test]
fn counters_and_prometheus_text() {
    let e = engine(Arc::new(ManualClock::new(0)));
    for _ in 0..3 {
        e.decide(&canary_req());
    }
    let d = e.decide(&plain_req());
    e.report(&d, false);
    let canary = e.decide(&canary_req());
    e.report(&canary, false);
    assert_eq!(e.rule_counters(), [("canary".to_string(), 4, 1)]);
    let m = e.metrics();
    assert!(
        m.contains("gray_rule_requests_total{rule=\"canary\"} 4"),
        "{m}"
    );
    assert!(
        m.contains("gray_rule_failures_total{rule=\"canary\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("gray_group_requests_total{group=\"canary\"} 4"),
        "{m}"
    );
    assert!(
        m.contains("gray_group_failures_total{group=\"stable\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("gray_node_requests_total{group=\"canary\",node=\"127.0.0.1:7101\"} 4"),
        "{m}"
    );
    assert!(
        m.contains("gray_node_up{group=\"canary\",node=\"127.0.0.1:7101\"} 0"),
        "{m}"
    );
    assert!(m.contains("# TYPE gray_node_requests_total counter"));
    // Counters survive a reload.
    e.reload_str(&SPEC.replace("rules:", "# v2\nrules:"), Format::Yaml)
        .unwrap();
    assert_eq!(e.rule_counters()[0].1, 4);
}

#[test]
fn sticky_hash_group_keeps_users_and_tolerates_missing_keys() {
    let e = Engine::from_str(
        r#"
version: 1
groups:
  g:
    select: hash
    hash_key: { cookie: uid }
    nodes: [{ address: "10.0.0.1:80" }, { address: "10.0.0.2:80" }, { address: "10.0.0.3:80" }]
default: g
"#,
        Format::Yaml,
    )
    .unwrap();
    let mut spread = std::collections::BTreeMap::new();
    for i in 0..300 {
        let r = plain_req().with_header("cookie", &format!("uid=user-{i}"));
        let first = e.decide(&r).node_address().unwrap().to_string();
        for _ in 0..3 {
            assert_eq!(e.decide(&r).node_address().unwrap(), first, "sticky");
        }
        *spread.entry(first).or_insert(0) += 1;
    }
    assert_eq!(spread.len(), 3, "{spread:?}");
    assert!(spread.values().all(|&n| n > 50), "{spread:?}");
    assert!(
        e.decide(&plain_req()).node_address().is_some(),
        "missing key still routes"
    );
}
