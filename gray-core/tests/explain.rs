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
