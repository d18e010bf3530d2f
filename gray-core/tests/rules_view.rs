//! `Engine::rules`: the rule list an operator reads (condition in words, hits, share, last hit).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use gray_core::{Engine, Format, SimpleRequest, Spec};

const SPEC: &str = r#"version: 1
groups:
  stable: { nodes: [{ address: "10.0.0.1:80" }] }
  canary: { nodes: [{ address: "10.0.0.2:80" }] }
rules:
  - { id: testers, description: "QA team", when: { ip: ["10.1.0.0/16"] }, route: canary }
  - { id: cookie, when: { all: [{ cookie: { name: canary, regex: "aaa$" } }, { method: [GET, HEAD] }] }, route: canary }
  - { id: tagged, when: { header: { name: x-tag, in: [a, b] } } }
  - { id: some, when: { percent: { key: { cookie: uid }, value: 12.5 } }, route: canary }
default: stable
"#;

#[test]
fn rules_in_order_with_words_hits_share_and_last_hit() {
    let clock = Arc::new(AtomicU64::new(1_000_000));
    let c = clock.clone();
    let engine = Engine::builder()
        .unix_time(Arc::new(move || c.load(Ordering::Relaxed)))
        .build(Spec::from_str(SPEC, Format::Yaml).unwrap())
        .unwrap();
    let rules = engine.rules();
    let words: Vec<(&str, &str, &str)> = rules
        .iter()
        .map(|r| (r.id.as_str(), r.condition.as_str(), r.group.as_str()))
        .collect();
    assert_eq!(
        words,
        [
            ("testers", "client IP in 10.1.0.0/16", "canary"),
            (
                "cookie",
                "cookie canary matches /aaa$/ and method GET or HEAD",
                "canary"
            ),
            ("tagged", "header x-tag is one of \"a\", \"b\"", "stable"),
            ("some", "12.5% of cookie uid", "canary"),
        ]
    );
    assert_eq!(rules[0].description.as_deref(), Some("QA team"));
    assert!(rules
        .iter()
        .all(|r| r.requests == 0 && r.last_hit_unix_ms.is_none()));

    // Three requests from the testers' network, one with the cookie, four others.
    clock.store(2_000_000, Ordering::Relaxed);
    for _ in 0..3 {
        engine.decide(&SimpleRequest::new("10.1.2.3".parse().unwrap()));
    }
    engine.decide(&SimpleRequest::new("192.0.2.1".parse().unwrap()).with_cookie("canary", "xaaa"));
    for _ in 0..4 {
        engine.decide(&SimpleRequest::new("192.0.2.1".parse().unwrap()));
    }
    engine.tick();
    clock.store(3_000_000, Ordering::Relaxed);
    let rules = engine.rules();
    assert_eq!((rules[0].requests, rules[0].share), (3, 3.0 / 8.0));
    assert_eq!((rules[1].requests, rules[1].share), (1, 1.0 / 8.0));
    // The growth was noted at the tick, not at the later look.
    assert_eq!(rules[0].last_hit_unix_ms, Some(2_000_000));
    assert_eq!(rules[2].last_hit_unix_ms, None);
    // Hit counts and last hits survive a reload that keeps the rule.
    engine.reload_str(SPEC, Format::Yaml).unwrap();
    engine.decide(&SimpleRequest::new("10.1.2.3".parse().unwrap()));
    let rules = engine.rules();
    assert_eq!(
        (rules[0].requests, rules[0].last_hit_unix_ms),
        (4, Some(3_000_000))
    );
    assert_eq!(rules[1].last_hit_unix_ms, Some(2_000_000));
}
