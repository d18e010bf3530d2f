//! What-if on a recorded file of requests (JSON Lines, the form `explain` accepts): a
//! candidate that routes an office CIDR elsewhere moves exactly those requests; a candidate
//! that does not compile is a located error and changes nothing.

use gray_core::{Engine, ErrorKind, Format, SimpleRequest, Spec};

const LIVE: &str = r#"
version: 1
groups: { stable: {}, canary: {}, office: {} }
rules:
  - { id: canary-cookie, when: { cookie: { name: canary, regex: "aaa$" } }, route: canary }
default: stable
"#;

fn recorded() -> Vec<SimpleRequest> {
    include_str!("../../testdata/what-if/requests.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a request description"))
        .collect()
}

fn in_office(r: &SimpleRequest) -> bool {
    use gray_core::RequestView;
    r.peer_ip()
        .is_some_and(|ip| ip.to_string().starts_with("10.1."))
}

fn has_canary_cookie(r: &SimpleRequest) -> bool {
    use gray_core::RequestView;
    r.cookie("canary").is_some()
}

#[test]
fn moving_a_cidr_moves_exactly_those_requests() {
    let engine = Engine::from_str(LIVE, Format::Yaml).unwrap();
    let requests = recorded();
    let candidate = Spec::from_str(
        &LIVE.replace(
            "rules:\n",
            "rules:\n  - { id: office, when: { ip: [\"10.1.0.0/16\"] }, route: office }\n",
        ),
        Format::Yaml,
    )
    .unwrap();
    let generation = engine.generation();
    let report = engine.what_if(candidate, &requests).unwrap();
    // The office rule comes first: office requests move, from stable or from canary.
    let expected_moved = requests.iter().filter(|r| in_office(r)).count() as u64;
    assert_eq!(report.requests, requests.len() as u64);
    assert_eq!(report.moved, expected_moved);
    let cell = |from: &str, to: &str| {
        report
            .cells
            .iter()
            .find(|c| c.from == from && c.to == to)
            .map_or(0, |c| c.requests)
    };
    let office_cookie = requests
        .iter()
        .filter(|r| in_office(r) && has_canary_cookie(r))
        .count() as u64;
    assert_eq!(cell("stable", "office"), expected_moved - office_cookie);
    assert_eq!(cell("canary", "office"), office_cookie);
    assert_eq!(
        cell("stable", "stable") + cell("canary", "canary"),
        report.requests - expected_moved
    );
    // Changed cells come first, with examples that are office requests.
    assert_ne!(report.cells[0].from, report.cells[0].to);
    for c in report.cells.iter().filter(|c| c.from != c.to) {
        assert!(!c.examples.is_empty() && c.examples.len() <= 3);
        assert!(c.examples.iter().all(|&i| in_office(&requests[i])));
    }
    let rule = |id: &str| report.rules.iter().find(|r| r.rule == id).unwrap().clone();
    assert_eq!(rule("office").takes, expected_moved);
    assert_eq!(rule("office").live, 0);
    assert_eq!(rule("canary-cookie").loses, office_cookie);
    // Nothing was applied or counted.
    assert_eq!(engine.generation(), generation);
    assert!(engine.rule_counters().iter().all(|(_, n, _)| *n == 0));
}

#[test]
fn a_candidate_that_does_not_compile_is_a_located_error() {
    let engine = Engine::from_str(LIVE, Format::Yaml).unwrap();
    let bad = Spec::from_str(
        &LIVE.replace("route: canary", "route: nowhere"),
        Format::Yaml,
    )
    .unwrap();
    let err = engine.what_if(bad, &recorded()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownReference);
    assert!(err.location().path.ends_with(".route"), "{err}");
    assert_eq!(engine.generation(), 1);
}

#[test]
fn the_same_config_moves_nothing() {
    let engine = Engine::from_str(LIVE, Format::Yaml).unwrap();
    let report = engine
        .what_if(Spec::from_str(LIVE, Format::Yaml).unwrap(), &recorded())
        .unwrap();
    assert_eq!(report.moved, 0);
    assert!(report
        .cells
        .iter()
        .all(|c| c.from == c.to && c.examples.is_empty()));
    let empty: [SimpleRequest; 0] = [];
    let none = engine
        .what_if(Spec::from_str(LIVE, Format::Yaml).unwrap(), &empty)
        .unwrap();
    assert_eq!((none.requests, none.moved_share), (0, 0.0));
}

#[test]
fn examples_carry_both_explanations() {
    let engine = Engine::from_str(LIVE, Format::Yaml).unwrap();
    let candidate = Spec::from_str(
        &LIVE.replace("regex: \"aaa$\"", "regex: \"bbb$\""),
        Format::Yaml,
    )
    .unwrap();
    let report = engine.what_if(candidate, &recorded()).unwrap();
    let moved = &report.cells[0];
    assert_eq!(
        (moved.from.as_str(), moved.to.as_str()),
        ("canary", "stable")
    );
    assert_eq!(moved.traces.len(), moved.examples.len());
    let t = &moved.traces[0];
    assert_eq!(t.request, moved.examples[0]);
    assert_eq!(t.live.rule.as_deref(), Some("canary-cookie"));
    assert_eq!(t.candidate.rule, None);
    assert!(
        t.candidate.to_string().contains("/bbb$/"),
        "{}",
        t.candidate
    );
}
