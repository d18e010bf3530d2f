//! Which requests a mirror copies, and where to (`Engine::mirror`).

use gray_core::mirror::{Mirroring, SkipReason};
use gray_core::{Engine, ErrorKind, Format, SimpleRequest};

const SPEC: &str = r#"version: 1
groups:
  stable: { nodes: [{ address: "10.0.0.1:80" }], mirror: { to: shadow, percent: 25 } }
  canary: { nodes: [{ address: "10.0.0.2:80" }], fallback: stable }
  shadow: { nodes: [{ address: "10.0.0.3:80" }] }
rules:
  - id: beta
    when: { header: { name: x-beta, present: true } }
    mirror: { to: canary, percent: 10, key: { cookie: uid }, methods: [GET, POST], max_body: 1024, header: x-copy, host: canary.internal }
default: stable
"#;

fn plan(engine: &Engine, req: &SimpleRequest) -> Option<Mirroring> {
    engine.mirror(&engine.decide(req), req)
}

#[test]
fn a_rules_mirror_samples_sticky_by_its_key_and_takes_precedence() {
    let engine = Engine::from_str(SPEC, Format::Yaml).unwrap();
    let beta = |uid: &str| {
        SimpleRequest::new("192.0.2.1".parse().unwrap())
            .with_header("x-beta", "1")
            .with_cookie("uid", uid)
    };
    let mut copied = 0;
    for i in 0..2000 {
        let uid = format!("user-{i}");
        let first = plan(&engine, &beta(&uid));
        // Sticky: the same user gets the same answer every time.
        assert_eq!(first, plan(&engine, &beta(&uid)), "{uid}");
        if let Some(Mirroring::Send(p)) = first {
            assert_eq!(
                (p.mirror.as_str(), p.group.as_str(), p.node.as_str()),
                ("rule beta", "canary", "10.0.0.2:80")
            );
            assert_eq!(
                (p.header.as_str(), p.host.as_deref(), p.max_body),
                ("x-copy", Some("canary.internal"), 1024)
            );
            copied += 1;
        }
    }
    // 10 % of 2000 users, within a few standard deviations (σ ≈ 13).
    assert!((140..=260).contains(&copied), "{copied} of 2000");
    // Without the key the rule's mirror copies nothing (sticky sampling needs the key).
    let no_uid = SimpleRequest::new("192.0.2.1".parse().unwrap()).with_header("x-beta", "1");
    assert_eq!(plan(&engine, &no_uid), None);
    // POST is listed for this mirror; PUT is not.
    let put = (0..200)
        .map(|i| beta(&format!("user-{i}")).with_method("PUT"))
        .find_map(|r| plan(&engine, &r))
        .unwrap();
    assert_eq!(
        put,
        Mirroring::Skipped {
            mirror: "rule beta".into(),
            reason: SkipReason::Method
        }
    );
}

#[test]
fn a_groups_mirror_samples_at_random_and_never_falls_back() {
    let engine = Engine::from_str(SPEC, Format::Yaml).unwrap();
    let req = SimpleRequest::new("192.0.2.1".parse().unwrap());
    let copied = (0..4000)
        .filter(|_| matches!(plan(&engine, &req), Some(Mirroring::Send(p)) if p.group == "shadow"))
        .count();
    assert!((850..=1150).contains(&copied), "{copied} of 4000 at 25 %");
    // The mirror's group without a node: skipped, never sent to the fallback.
    let down = SPEC.replace(
        "canary: { nodes: [{ address: \"10.0.0.2:80\" }], fallback: stable }",
        "canary: { nodes: [{ address: \"10.0.0.2:80\", weight: 0 }], fallback: stable }",
    );
    let engine = Engine::from_str(&down, Format::Yaml).unwrap();
    let skipped = (0..200)
        .map(|i| {
            SimpleRequest::new("192.0.2.1".parse().unwrap())
                .with_header("x-beta", "1")
                .with_cookie("uid", &format!("user-{i}"))
        })
        .find_map(|r| plan(&engine, &r))
        .unwrap();
    assert_eq!(
        skipped,
        Mirroring::Skipped {
            mirror: "rule beta".into(),
            reason: SkipReason::NoNode
        }
    );
}

#[test]
fn bad_mirror_sections_are_located_errors() {
    for (from, to, path) in [
        ("to: shadow", "to: nowhere", "groups.stable.mirror.to"),
        (
            "percent: 25",
            "percent: 100.5",
            "groups.stable.mirror.percent",
        ),
        (
            "percent: 25",
            "percent: 2.005",
            "groups.stable.mirror.percent",
        ),
        (
            "percent: 25",
            "percent: 25, max_in_flight: 0",
            "groups.stable.mirror.max_in_flight",
        ),
        (
            "header: x-copy",
            "header: \"x copy\"",
            "rules[0] (id \"beta\").mirror.header",
        ),
        (
            "methods: [GET, POST]",
            "methods: [\"GET POST\"]",
            "rules[0] (id \"beta\").mirror.methods[0]",
        ),
        (
            "percent: 25",
            "percent: 25, timeout: 0s",
            "groups.stable.mirror.timeout",
        ),
    ] {
        let bad = SPEC.replacen(from, to, 1);
        let e = Engine::from_str(&bad, Format::Yaml).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::InvalidValue | ErrorKind::UnknownReference
            ),
            "{to}: {e}"
        );
        assert_eq!(e.location().path, path, "{to}: {e}");
        assert!(e.location().line.is_some(), "{to}: {e}");
    }
}
