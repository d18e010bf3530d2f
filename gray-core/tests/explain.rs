//! Explanations show every evaluated rule, each condition's outcome and the value it saw.

use gray_core::{Engine, Format, SimpleRequest};

const SPEC: &str = r##"
version: 1
client_ip: { trusted_proxies: ["10.0.0.0/8"], recursive: true }
ip_sets: { office: { entries: ["198.51.100.0/24"] } }
groups: { a: { nodes: [{ address: "127.0.0.1:1" }] }, b: { nodes: [{ address: "127.0.0.1:2" }] } }
rules:
  - id: nested
    when: { all: [ { ip: [office] }, { not: { header: { name: x-skip, present: true } } } ] }
    route: b
  - id: ex
    when: { expr: "#H['a'] == '1' && #H['b'] != '2'" }
    route: b
  - id: later
    route: b
default: a
"##;

#[test]
fn text_and_json_show_rules_conditions_values_and_choice() {
    let e = Engine::from_str(SPEC, Format::Yaml).unwrap();
    let long = "v".repeat(5000);
    let req = SimpleRequest::new("10.1.1.1".parse().unwrap())
        .with_header("x-forwarded-for", "198.51.100.9, 10.2.2.2")
        .with_header("x-skip", &long)
        .with_header("a", "1")
        .with_header("b", "3");
    let ex = e.explain(&req);
    let text = ex.to_string();
    assert_eq!(ex.rule.as_deref(), Some("ex"));
    assert_eq!(ex.client_ip.as_deref(), Some("198.51.100.9"));
    assert!(ex.client_ip_source.contains("1 trusted skipped"), "{text}");
    // Rule 1: all-of with a true IP test and a false not(present).
    assert!(text.contains("rule nested: no match"), "{text}");
    assert!(
        text.contains("✓ client IP in [office] — seen \"198.51.100.9\""),
        "{text}"
    );
    assert!(
        text.contains("(+4920 bytes)"),
        "long values are shortened: {text}"
    );
    // Rule 2: each comparison with both operands.
    assert!(
        text.contains("#H['a'] == '1' — seen \"\\\"1\\\" vs \\\"1\\\"\""),
        "{text}"
    );
    assert!(text.contains("#H['b'] != '2'"), "{text}");
    assert!(text.contains("rule later: not evaluated"), "{text}");
    assert!(
        text.contains("decision: group b node 127.0.0.1:2"),
        "{text}"
    );
    assert!(text.len() < 4000, "{}", text.len());

    let json = serde_json::to_value(&ex).unwrap();
    assert_eq!(json["rules"][0]["matched"], false);
    assert_eq!(
        json["rules"][0]["condition"]["children"][1]["children"][0]["outcome"],
        true
    );
    assert_eq!(json["rules"][1]["condition"]["outcome"], true);
    assert_eq!(json["rules"][2]["evaluated"], false);
    assert_eq!(json["node"], "127.0.0.1:2");
    // Same result as decide.
    let d = e.decide(&req);
    assert_eq!((d.rule_id(), d.group()), (Some("ex"), "b"));
}

const RELEASE_SPEC: &str = r##"
version: 1
groups:
  svc-a:
    nodes:
      - { address: "127.0.0.1:1", metadata: { version: "1.0", region: qa } }
      - { address: "127.0.0.1:2", metadata: { version: "1.1", region: dev } }
release:
  routes:
    green: { type: version, value: "1.1" }
    blue: { type: version, value: "1.0" }
    qa: { type: region, value: qa }
    dev: { type: region, value: dev }
  blue_green:
    - { id: testers, when: "#H['user'] == 'tester'", version: green }
    - { id: qa-team, when: "#H['team'] == 'qa'", region: qa }
  gray:
    - { id: beta, when: "#H['beta'] == 'on'", version: "blue=50;green=50" }
    - { id: everyone, region: "dev=100" }
default: svc-a
"##;

#[test]
fn release_trace_marks_only_what_decided_each_dimension() {
    let e = Engine::from_str(RELEASE_SPEC, Format::Yaml).unwrap();
    // Blue-green decides the version. The gray entry `beta` is true, so it is this request's
    // gray entry, but it routes only the version, which blue-green already decided: it
    // decides nothing, and `everyone` (which would route the region) is not used either.
    let req = SimpleRequest::new("10.1.1.1".parse().unwrap())
        .with_header("user", "tester")
        .with_header("beta", "on");
    let ex = e.explain(&req);
    let text = ex.to_string();
    assert!(
        text.contains(
            "release blue-green testers: #H['user'] == 'tester' → true (\"tester\" vs \"tester\"); decided n-d-version\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("release blue-green qa-team: #H['team'] == 'qa' → false (null vs \"qa\")\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "release gray beta: #H['beta'] == 'on' → true (\"on\" vs \"on\"); shadowed, decided nothing\n"
        ),
        "{text}"
    );
    assert!(!text.contains("everyone"), "{text}");
    assert!(
        text.contains("n-d-version: 1.1 (from blue-green testers, route green)"),
        "{text}"
    );
    assert!(text.contains("n-d-region: not set"), "{text}");
    let json = serde_json::to_value(&ex).unwrap();
    let conds = &json["release"]["conditions"];
    assert_eq!(conds.as_array().unwrap().len(), 3, "{conds}");
    assert_eq!(conds[0]["decided"], serde_json::json!(["n-d-version"]));
    assert_eq!(conds[1]["decided"], serde_json::json!([]));
    assert_eq!(
        (&conds[2]["id"], &conds[2]["outcome"], &conds[2]["decided"]),
        (&"beta".into(), &true.into(), &serde_json::json!([]))
    );
    let rel = ex.release.as_ref().unwrap();
    assert!(rel.conditions[2].is_shadowed() && !rel.conditions[0].is_shadowed());

    // Nothing is true: the gray entry without an expression is this request's gray entry
    // and decides the region; it is listed because it decided something.
    let ex = e.explain(&SimpleRequest::new("10.1.1.1".parse().unwrap()));
    let text = ex.to_string();
    assert!(
        text.contains("release gray everyone: no expression; decided n-d-region\n"),
        "{text}"
    );
    assert!(
        text.contains("release gray beta: #H['beta'] == 'on' → false (null vs \"on\")\n"),
        "{text}"
    );
    let ids: Vec<_> = ex
        .release
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .map(|c| (c.id.as_str(), c.outcome, c.decided.clone()))
        .collect();
    assert_eq!(
        ids,
        [
            ("testers", false, vec![]),
            ("beta", false, vec![]),
            ("qa-team", false, vec![]),
            ("everyone", true, vec!["n-d-region"]),
        ]
    );
    assert_eq!(
        ex.node,
        e.decide(&SimpleRequest::new("10.1.1.1".parse().unwrap()))
            .node_address()
            .map(str::to_string)
    );
}
