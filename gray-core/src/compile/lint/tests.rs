//! Each lint with a config that triggers it and a near one that does not.

use crate::lint::{Lint, LintKind};
use crate::{Engine, Format};

const GROUPS: &str = r#"version: 1
groups:
  stable: { nodes: [{ address: "10.0.0.1:80" }] }
  canary: { nodes: [{ address: "10.0.0.2:80" }] }
default: stable
"#;

fn lints(rules: &str) -> Vec<Lint> {
    let text = format!("{GROUPS}{rules}");
    Engine::from_str(&text, Format::Yaml)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .lints()
}

fn kinds(rules: &str) -> Vec<(LintKind, String)> {
    lints(rules)
        .into_iter()
        .map(|l| (l.kind, l.rule.unwrap_or_default()))
        .collect()
}

#[test]
fn a_rule_after_one_that_covers_it_is_shadowed() {
    use LintKind::ShadowedRule;
    let l = lints(
        r#"rules:
  - { id: office, when: { ip: ["10.0.0.0/8"] }, route: canary }
  - id: lab
    when: { ip: ["10.1.2.0/24"] }
    route: stable
"#,
    );
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(
        (l[0].kind, l[0].rule.as_deref()),
        (ShadowedRule, Some("lab"))
    );
    assert_eq!(l[0].location.path, "rules[1] (id \"lab\").when");
    // The `when` of rules[1] is on line 9, its value in column 11.
    assert_eq!(
        (l[0].location.line, l[0].location.column),
        (Some(9), Some(11))
    );
    assert!(
        l[0].message
            .contains("rule \"office\" (rules[0]) comes first"),
        "{}",
        l[0]
    );
    assert!(
        l[0].to_string().starts_with(
            "warning[shadowed_rule]: rules[1] (id \"lab\").when (line 9, column 11): "
        ),
        "{}",
        l[0]
    );

    // A rule without a condition shadows every later one.
    let all = kinds(
        r#"rules:
  - { id: everyone, route: canary }
  - { id: beta, when: { cookie: { name: beta, present: true } }, route: stable }
"#,
    );
    assert_eq!(all, [(ShadowedRule, "beta".into())]);
    // A cookie value that the earlier regex accepts.
    let cookie = kinds(
        r#"rules:
  - { id: canary, when: { cookie: { name: canary, regex: "aaa$" } }, route: canary }
  - { id: me, when: { cookie: { name: canary, equals: "xyzaaa" } }, route: stable }
"#,
    );
    assert_eq!(cookie, [(ShadowedRule, "me".into())]);
    // A disabled earlier rule shadows nothing.
    assert!(lints(
        r#"rules:
  - { id: everyone, enabled: false, route: canary }
  - { id: beta, when: { cookie: { name: beta, present: true } }, route: stable }
"#
    )
    .is_empty());

    // The other order, and a narrower earlier rule: no warning.
    for rules in [
        r#"rules:
  - { id: lab, when: { ip: ["10.1.2.0/24"] }, route: stable }
  - { id: office, when: { all: [{ ip: ["10.0.0.0/8"] }, { method: [GET] }] }, route: canary }
"#,
        r#"rules:
  - { id: canary, when: { cookie: { name: canary, regex: "aaa$" } }, route: canary }
  - { id: me, when: { cookie: { name: canary, equals: "xyzaab" } }, route: stable }
"#,
        r#"rules:
  - { id: some, when: { all: [{ method: [GET] }, { path: { prefix: /api } }] }, route: canary }
  - { id: api, when: { path: { prefix: /api } }, route: stable }
"#,
    ] {
        assert!(
            kinds(rules).iter().all(|(k, _)| *k != ShadowedRule),
            "{rules}"
        );
    }
}

#[test]
fn overlapping_ip_sets_to_different_groups() {
    use LintKind::OverlappingIpSets;
    let rules = r#"ip_sets:
  testers: { entries: ["192.0.2.0/28", "198.51.100.7"] }
  office: { entries: ["198.51.100.0/24"] }
rules:
  - { id: testers, when: { ip: [testers] }, route: canary }
  - id: office
    when: { all: [{ ip: [office] }, { method: [GET] }] }
    route: stable
"#;
    let l = lints(rules);
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(
        (l[0].kind, l[0].rule.as_deref()),
        (OverlappingIpSets, Some("office"))
    );
    assert!(l[0].message.contains("198.51.100.7/32"), "{}", l[0]);
    assert!(l[0].message.contains("\"canary\"") && l[0].message.contains("\"stable\""));
    // Same group: no warning; disjoint sets: no warning.
    assert!(lints(&rules.replace("route: stable", "route: canary")).is_empty());
    assert!(lints(&rules.replace("\"198.51.100.7\"", "\"203.0.113.9\"")).is_empty());
}

#[test]
fn percent_rules_sharing_a_salt() {
    use LintKind::SharedPercentSalt;
    let rules = r#"rules:
  - { id: first, when: { all: [{ path: { prefix: /a } }, { percent: { key: { cookie: uid }, value: 10, salt: wave } }] }, route: canary }
  - { id: second, when: { percent: { key: { cookie: uid }, value: 20, salt: wave } }, route: canary }
"#;
    let l = lints(rules);
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(
        (l[0].kind, l[0].rule.as_deref()),
        (SharedPercentSalt, Some("second"))
    );
    assert!(
        l[0].message.contains("the 10% of one are inside the 20%"),
        "{}",
        l[0]
    );
    // The default salt is the rule id: independent.
    assert!(lints(&rules.replace(", salt: wave", "")).is_empty());
    // Another key: independent.
    assert!(lints(&rules.replacen("cookie: uid", "header: x-user", 1)).is_empty());
}

#[test]
fn groups_that_can_serve_nobody() {
    let text = r#"version: 1
groups:
  stable: { nodes: [{ address: "10.0.0.1:80" }] }
  canary: { fallback: stable }
  dark: { nodes: [{ address: "10.0.0.3:80", weight: 0 }] }
default: stable
"#;
    let l = Engine::from_str(text, Format::Yaml).unwrap().lints();
    let got: Vec<(LintKind, &str, &str)> = l
        .iter()
        .map(|l| (l.kind, l.location.path.as_str(), l.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                LintKind::EmptyGroup,
                "groups.canary.nodes",
                "group \"canary\" has no nodes: every request routed to it goes to its fallback \"stable\""
            ),
            (
                LintKind::EmptyGroup,
                "groups.dark.nodes",
                "group \"dark\" has only nodes of weight 0: requests routed to it get no upstream"
            ),
        ]
    );
    // `groups.canary` has no `nodes` key: the group's own line is given.
    assert_eq!(l[0].location.line, Some(4));
    assert!(Engine::from_str(GROUPS, Format::Yaml)
        .unwrap()
        .lints()
        .is_empty());
}

#[test]
fn a_name_only_one_rule_uses_that_looks_like_a_typo() {
    use LintKind::LikelyTypo;
    let rules = r##"rules:
  - { id: canary, when: { cookie: { name: canary, regex: "aaa$" } }, route: canary }
  - { id: sticky, when: { percent: { key: { cookie: canary }, value: 5 } }, route: canary }
  - { id: typo, when: { cookie: { name: canray, equals: "1" } }, route: canary }
  - { id: header, when: { header: { name: X-User_Idd, equals: "7" } }, route: canary }
  - { id: header2, when: { expr: "#H['x-user-id'] == '8'" }, route: canary }
"##;
    let l = lints(rules);
    let got: Vec<_> = l
        .iter()
        .map(|l| (l.kind, l.rule.as_deref().unwrap(), l.message.as_str()))
        .collect();
    assert_eq!(got.len(), 2, "{l:?}");
    assert_eq!((got[0].0, got[0].1), (LikelyTypo, "typo"));
    assert!(
        got[0].2.starts_with(
            "cookie \"canray\" is used by this rule only and looks like a typo of \"canary\""
        ),
        "{}",
        got[0].2
    );
    assert_eq!((got[1].0, got[1].1), (LikelyTypo, "header"));
    assert!(
        got[1].2.contains("header \"x-user-idd\"") && got[1].2.contains("\"x-user-id\""),
        "{}",
        got[1].2
    );

    // Names far apart, short names, and names that two rules each use are left alone.
    for rules in [
        r#"rules:
  - { id: a, when: { cookie: { name: canary, equals: "1" } }, route: canary }
  - { id: b, when: { cookie: { name: beta, equals: "1" } }, route: canary }
"#,
        r#"rules:
  - { id: a, when: { header: { name: uid, equals: "1" } }, route: canary }
  - { id: b, when: { header: { name: id, equals: "1" } }, route: canary }
"#,
        r#"rules:
  - { id: a, when: { cookie: { name: canary, equals: "1" } }, route: canary }
  - { id: b, when: { cookie: { name: canary, equals: "2" } }, route: canary }
  - { id: c, when: { cookie: { name: canray, equals: "3" } }, route: canary }
  - { id: d, when: { cookie: { name: canray, equals: "4" } }, route: canary }
"#,
    ] {
        assert!(
            kinds(rules).iter().all(|(k, _)| *k != LikelyTypo),
            "{rules}"
        );
    }
}

#[test]
fn lints_follow_reloads_and_keep_the_file() {
    let dir = std::env::temp_dir().join(format!("gray-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gray.yaml");
    let shadowed = format!(
        "{GROUPS}rules:\n  - {{ id: all, route: canary }}\n  - {{ id: never, when: {{ method: [GET] }} }}\n"
    );
    std::fs::write(&file, &shadowed).unwrap();
    let engine = Engine::from_file(&file).unwrap();
    let l = engine.lints();
    assert_eq!(l.len(), 1);
    assert_eq!(
        l[0].location.file.as_deref(),
        Some(file.display().to_string().as_str())
    );
    assert_eq!(l[0].location.line, Some(8));
    engine.reload_str(GROUPS, Format::Yaml).unwrap();
    assert!(engine.lints().is_empty());
    engine.reload_file(&file).unwrap();
    assert_eq!(engine.lints().len(), 1);
    // Lints never stop a spec from applying, and the JSON form carries every field.
    let json = serde_json::to_value(&engine.lints()[0]).unwrap();
    assert_eq!(json["kind"], "shadowed_rule");
    assert_eq!(json["rule"], "never");
    assert_eq!(json["line"], 8);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn specs_past_the_pairwise_limit_skip_the_pairwise_checks_only() {
    let n = super::MAX_PAIRWISE + 1;
    let mut text = format!("{GROUPS}rules:\n  - {{ id: all, route: canary }}\n");
    for i in 1..n {
        text.push_str(&format!(
            "  - {{ id: r{i}, when: {{ path: {{ equals: /p{i} }} }} }}\n"
        ));
    }
    let engine = Engine::from_str(&text, Format::Yaml).unwrap();
    assert!(engine.lints().is_empty());
    let small = text.lines().take(10).collect::<Vec<_>>().join("\n");
    let shadowed = Engine::from_str(&small, Format::Yaml).unwrap().lints();
    assert_eq!(shadowed.len(), 3, "{shadowed:?}");
    // Per-group checks still run.
    let empty = text.replace(
        "canary: { nodes: [{ address: \"10.0.0.2:80\" }] }",
        "canary: {}",
    );
    let l = Engine::from_str(&empty, Format::Yaml).unwrap().lints();
    assert_eq!(
        l.iter().map(|l| l.kind).collect::<Vec<_>>(),
        [LintKind::EmptyGroup]
    );
}
