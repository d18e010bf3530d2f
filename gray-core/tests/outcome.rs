//! Failure classification per group (`fail_on`, `Engine::record`) and the last-node rule: the
//! last available node of a group without a fallback is never ejected.

use std::sync::Arc;

use gray_core::health::ManualClock;
use gray_core::spec::FailOn;
use gray_core::{Engine, ErrorKind, Format, Outcome, SimpleRequest, Spec};

fn engine(spec: &str) -> (Engine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_000));
    let e = Engine::builder()
        .clock(clock.clone())
        .build(Spec::from_str(spec, Format::Yaml).unwrap())
        .unwrap();
    (e, clock)
}

fn req() -> SimpleRequest {
    SimpleRequest::new("10.0.0.1".parse().unwrap())
}

fn canary_req() -> SimpleRequest {
    req().with_header("x-canary", "1")
}

/// A canary with a fallback (so ejection is not held back by the last-node rule) and the
/// given extra group settings.
fn canary_spec(extra: &str) -> String {
    format!(
        r#"
version: 1
groups:
  stable: {{ nodes: [{{ address: "127.0.0.1:7001" }}] }}
  canary:
    fallback: stable
    max_fails: 1
    fail_timeout: 30s
    nodes: [{{ address: "127.0.0.1:7101" }}]
    {extra}
rules:
  - {{ id: canary, when: {{ header: {{ name: x-canary, present: true }} }}, route: canary }}
default: stable
"#
    )
}

fn canary_health(e: &Engine) -> &'static str {
    e.nodes("canary").unwrap().nodes[0].health
}

#[test]
fn by_default_a_5xx_does_not_eject_but_errors_and_timeouts_do() {
    for failing in [Outcome::ConnectError, Outcome::Reset, Outcome::Timeout] {
        let (e, _) = engine(&canary_spec(""));
        let d = e.decide(&canary_req());
        assert_eq!(d.group(), "canary");
        for status in [500, 502, 503, 504, 429, 404, 403, 200] {
            e.record(&d, Outcome::Status(status));
        }
        assert_eq!(canary_health(&e), "up", "no status counts by default");
        assert_eq!(e.nodes("canary").unwrap().failures, 0);
        e.record(&d, failing);
        assert_eq!(canary_health(&e), "down", "{failing:?}");
        let d = e.decide(&canary_req());
        assert!(d.is_fallback(), "{failing:?}: {d}");
        assert_eq!(e.rule_counters(), [("canary".to_string(), 2, 1)]);
    }
}

#[test]
fn fail_on_http_500_ejects_on_500_only() {
    let (e, _) = engine(&canary_spec("fail_on: [http_500]"));
    let d = e.decide(&canary_req());
    e.record(&d, Outcome::Status(502));
    e.record(&d, Outcome::ConnectError); // `error` is not listed
    e.record(&d, Outcome::Timeout); // nor `timeout`
    assert_eq!(canary_health(&e), "up");
    e.record(&d, Outcome::Status(500));
    assert_eq!(canary_health(&e), "down");
    assert!(e.decide(&canary_req()).is_fallback());
}

#[test]
fn fail_on_http_5xx_counts_every_5xx() {
    for status in [500, 501, 503, 599] {
        let (e, _) = engine(&canary_spec("fail_on: [error, http_5xx]"));
        let d = e.decide(&canary_req());
        for ok in [200, 404, 429, 499, 600] {
            e.record(&d, Outcome::Status(ok));
        }
        assert_eq!(canary_health(&e), "up");
        e.record(&d, Outcome::Status(status));
        assert_eq!(canary_health(&e), "down", "{status}");
    }
    let (e, _) = engine(&canary_spec("fail_on: [http_429, http_404, http_403]"));
    let d = e.decide(&canary_req());
    e.record(&d, Outcome::Status(503));
    assert_eq!(canary_health(&e), "up");
    e.record(&d, Outcome::Status(429));
    assert_eq!(canary_health(&e), "down");
}

#[test]
fn record_node_classifies_with_the_named_group() {
    let (e, _) = engine(&canary_spec("fail_on: [http_503]"));
    // stable has the default list: a 503 is a success there.
    e.record_node("stable", "127.0.0.1:7001", Outcome::Status(503))
        .unwrap();
    assert_eq!(e.nodes("stable").unwrap().failures, 0);
    e.record_node("canary", "127.0.0.1:7101", Outcome::Status(503))
        .unwrap();
    assert_eq!(canary_health(&e), "down");
    let err = e
        .record_node("nope", "127.0.0.1:7101", Outcome::Timeout)
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.location().path.as_str()),
        (ErrorKind::UnknownGroup, "group")
    );
    let err = e
        .record_node("canary", "127.0.0.1:1", Outcome::Timeout)
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.location().path.as_str()),
        (ErrorKind::UnknownNode, "address")
    );
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[test]
fn report_keeps_the_callers_classification() {
    // `report(ok = false)` is a failure whatever fail_on says.
    let (e, _) = engine(&canary_spec(""));
    let d = e.decide(&canary_req());
    e.report(&d, false);
    assert_eq!(canary_health(&e), "down");
}

const LONE: &str = r#"
version: 1
groups:
  solo: { max_fails: 1, fail_timeout: 10s, nodes: [{ address: "127.0.0.1:7201" }] }
rules: [{ id: all, route: solo }]
default: solo
"#;

#[test]
fn the_lone_node_of_a_group_without_fallback_is_never_ejected() {
    let (e, clock) = engine(LONE);
    for _ in 0..10 {
        let d = e.decide(&req());
        assert_eq!(d.node_address(), Some("127.0.0.1:7201"));
        e.record(&d, Outcome::ConnectError);
        clock.advance(1);
    }
    let st = e.nodes("solo").unwrap();
    assert_eq!(st.nodes[0].health, "up");
    assert!(st.available);
    // Every failure is still counted: group, node and rule.
    assert_eq!((st.failures, st.nodes[0].failures), (10, 10));
    assert_eq!(st.nodes[0].fails, 0, "nothing entered the failure window");
    assert_eq!(e.rule_counters(), [("all".to_string(), 10, 10)]);
    // `report(false)` follows the same rule.
    let d = e.decide(&req());
    e.report(&d, false);
    assert_eq!(e.nodes("solo").unwrap().nodes[0].health, "up");
    assert_eq!(e.decide(&req()).node_address(), Some("127.0.0.1:7201"));
}

#[test]
fn of_two_nodes_the_first_is_ejected_and_the_last_is_not() {
    let (e, _) = engine(
        r#"
version: 1
groups:
  web:
    max_fails: 1
    fail_timeout: 10s
    nodes: [{ address: "127.0.0.1:7301" }, { address: "127.0.0.1:7302" }]
default: web
"#,
    );
    e.record_node("web", "127.0.0.1:7301", Outcome::ConnectError)
        .unwrap();
    for _ in 0..5 {
        e.record_node("web", "127.0.0.1:7302", Outcome::Timeout)
            .unwrap();
    }
    let st = e.nodes("web").unwrap();
    assert_eq!((st.nodes[0].health, st.nodes[1].health), ("down", "up"));
    assert_eq!((st.nodes[0].failures, st.nodes[1].failures), (1, 5));
    for _ in 0..4 {
        assert_eq!(e.decide(&req()).node_address(), Some("127.0.0.1:7302"));
    }
}

#[test]
fn after_fail_timeout_the_returning_node_makes_the_other_ejectable_again() {
    let (e, clock) = engine(
        r#"
version: 1
groups:
  web:
    max_fails: 1
    fail_timeout: 10s
    nodes: [{ address: "127.0.0.1:7301" }, { address: "127.0.0.1:7302" }]
default: web
"#,
    );
    e.record_node("web", "127.0.0.1:7301", Outcome::ConnectError)
        .unwrap();
    e.record_node("web", "127.0.0.1:7302", Outcome::ConnectError)
        .unwrap();
    assert_eq!(e.nodes("web").unwrap().nodes[1].health, "up");
    clock.advance(10_000); // 7301 is available again (half-open)
    e.record_node("web", "127.0.0.1:7302", Outcome::ConnectError)
        .unwrap();
    let st = e.nodes("web").unwrap();
    assert_eq!(
        (st.nodes[0].health, st.nodes[1].health),
        ("probing", "down")
    );
}

#[test]
fn draining_and_weight_zero_nodes_do_not_count_as_available() {
    for other in [
        r#"{ address: "127.0.0.1:7402", drain: true }"#,
        r#"{ address: "127.0.0.1:7402", weight: 0 }"#,
    ] {
        let (e, _) = engine(&format!(
            "version: 1\ngroups:\n  web: {{ nodes: [{{ address: \"127.0.0.1:7401\" }}, {other}] }}\ndefault: web\n"
        ));
        for _ in 0..3 {
            e.record_node("web", "127.0.0.1:7401", Outcome::ConnectError)
                .unwrap();
        }
        let st = e.nodes("web").unwrap();
        assert_eq!(st.nodes[0].health, "up", "{other}");
        assert_eq!(st.nodes[0].failures, 3);
        assert_eq!(e.decide(&req()).node_address(), Some("127.0.0.1:7401"));
    }
    // A rollout step that weights the other node 0 makes this one the last.
    let (e, _) = engine(
        r#"
version: 1
groups:
  web:
    nodes: [{ address: "127.0.0.1:7401" }, { address: "127.0.0.1:7402" }]
    rollout: { start: 0, steps: [{ weights: { "127.0.0.1:7402": 0 } }] }
default: web
"#,
    );
    e.record_node("web", "127.0.0.1:7401", Outcome::ConnectError)
        .unwrap();
    assert_eq!(e.nodes("web").unwrap().nodes[0].health, "up");
}

#[test]
fn with_a_fallback_the_lone_node_is_ejected_and_traffic_moves() {
    let (e, clock) = engine(&canary_spec(""));
    for _ in 0..3 {
        let d = e.decide(&canary_req());
        e.record(&d, Outcome::ConnectError);
    }
    assert_eq!(canary_health(&e), "down");
    let d = e.decide(&canary_req());
    assert_eq!(
        (d.requested_group(), d.group(), d.node_address()),
        ("canary", "stable", Some("127.0.0.1:7001"))
    );
    // The fallback's own lone node has no fallback: it stays in.
    e.record(&d, Outcome::ConnectError);
    assert_eq!(e.nodes("stable").unwrap().nodes[0].health, "up");
    clock.advance(30_000);
    assert!(!e.decide(&canary_req()).is_fallback());
}

#[test]
fn an_unknown_fail_on_value_names_the_field_and_the_accepted_values() {
    let text = "version: 1\ngroups:\n  web:\n    nodes: []\n    fail_on: [error, http_501]\ndefault: web\n";
    let err = Spec::from_str(text, Format::Yaml).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Syntax);
    assert_eq!(err.location().path, "groups.web.fail_on[1]");
    assert_eq!(err.location().line, Some(5), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("unknown fail_on value \"http_501\"; accepted values: error, timeout, "),
        "{msg}"
    );
    for accepted in [
        "error", "timeout", "http_500", "http_502", "http_503", "http_504", "http_403", "http_404",
        "http_429", "http_5xx",
    ] {
        assert!(msg.contains(accepted), "{accepted} missing: {msg}");
    }
    let err = Spec::from_str(
        r#"{"version":1,"groups":{"web":{"fail_on":["timeout","HTTP_500"]}},"default":"web"}"#,
        Format::Json,
    )
    .unwrap_err();
    assert_eq!(err.location().path, "groups.web.fail_on[1]", "{err}");
    let err = Spec::from_str(
        "version: 1\ngroups: { web: { fail_on: error } }\ndefault: web\n",
        Format::Yaml,
    )
    .unwrap_err();
    assert_eq!(err.location().path, "groups.web.fail_on", "{err}");
    let err = Spec::from_str(
        "version: 1\ngroups: { web: { fail_on: [500] } }\ndefault: web\n",
        Format::Yaml,
    )
    .unwrap_err();
    assert_eq!(err.location().path, "groups.web.fail_on[0]", "{err}");
    assert!(err.to_string().contains("http_503"), "{err}");
}

#[test]
fn fail_on_is_written_only_when_it_is_not_the_default() {
    let spec = Spec::from_str(&canary_spec("fail_on: [error, timeout]"), Format::Yaml).unwrap();
    assert_eq!(
        spec.groups["canary"].fail_on,
        [FailOn::Error, FailOn::Timeout]
    );
    assert!(!spec.to_yaml().contains("fail_on"), "{}", spec.to_yaml());
    assert!(!spec.to_json().contains("fail_on"));
    let spec = Spec::from_str(&canary_spec("fail_on: [timeout, http_5xx]"), Format::Yaml).unwrap();
    let yaml = spec.to_yaml();
    assert!(
        yaml.contains("fail_on:\n    - timeout\n    - http_5xx\n"),
        "{yaml}"
    );
    assert_eq!(Spec::from_str(&yaml, Format::Yaml).unwrap(), spec);
    assert_eq!(Spec::from_str(&spec.to_json(), Format::Json).unwrap(), spec);
    let toml = "version = 1\ndefault = \"a\"\n[groups.a]\nfail_on = [\"http_503\"]\n";
    let spec = Spec::from_str(toml, Format::Toml).unwrap();
    assert_eq!(spec.groups["a"].fail_on, [FailOn::Http503]);
    // An empty list counts nothing from `record` (passive health only through `report`).
    let (e, _) = engine(&canary_spec("fail_on: []"));
    let d = e.decide(&canary_req());
    e.record(&d, Outcome::ConnectError);
    assert_eq!(canary_health(&e), "up");
}
