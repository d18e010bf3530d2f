//! Every malformed spec field gives its typed error, with a path, and leaves the engine serving
//! the previous snapshot.

use gray_core::{Engine, ErrorKind, Format, SimpleRequest};

const GOOD: &str = r#"
version: 1
ip_sets: { office: { entries: ["10.1.0.0/16"] } }
groups:
  stable: { nodes: [{ address: "127.0.0.1:7001" }] }
  canary: { nodes: [{ address: "127.0.0.1:7002" }], fallback: stable }
rules:
  - { id: office, when: { ip: [office] }, route: canary }
default: stable
"#;

/// (what to replace in GOOD, replacement, expected kind, text that must appear in the path or message)
const CASES: &[(&str, &str, ErrorKind, &str)] = &[
    (
        "version: 1",
        "version: 7",
        ErrorKind::UnsupportedVersion,
        "version",
    ),
    ("version: 1", "version: one", ErrorKind::Syntax, "version"),
    (
        "default: stable",
        "default: nowhere",
        ErrorKind::UnknownReference,
        "nowhere",
    ),
    ("default: stable", "", ErrorKind::Syntax, "default"),
    (
        "route: canary }",
        "route: canry }",
        ErrorKind::UnknownReference,
        "rules[0]",
    ),
    (
        "fallback: stable",
        "fallback: canary",
        ErrorKind::InvalidValue,
        "itself",
    ),
    (
        "fallback: stable",
        "fallback: ghost",
        ErrorKind::UnknownReference,
        "groups.canary.fallback",
    ),
    (
        "\"10.1.0.0/16\"",
        "\"10.1.0.1/16\"",
        ErrorKind::InvalidIp,
        "did you mean 10.1.0.0/16",
    ),
    (
        "\"10.1.0.0/16\"",
        "\"10.1.0.0/33\"",
        ErrorKind::InvalidIp,
        "ip_sets.office.entries[0]",
    ),
    (
        "\"10.1.0.0/16\"",
        "\"banana\"",
        ErrorKind::InvalidIp,
        "banana",
    ),
    (
        "ip: [office]",
        "ip: [offfice]",
        ErrorKind::UnknownReference,
        "offfice",
    ),
    ("ip: [office]", "ip: []", ErrorKind::InvalidValue, "ip"),
    (
        "ip: [office]",
        "cookie: { name: c, regex: \"(\" }",
        ErrorKind::InvalidRegex,
        "rules[0] (id \"office\").when.cookie",
    ),
    (
        "ip: [office]",
        "cookie: { regex: \"a\" }",
        ErrorKind::InvalidValue,
        "name",
    ),
    (
        "ip: [office]",
        "cookie: { name: c, equals: a, prefix: b }",
        ErrorKind::InvalidValue,
        "exactly one operator",
    ),
    (
        "ip: [office]",
        "cookie: { name: c }",
        ErrorKind::InvalidValue,
        "no operator",
    ),
    (
        "ip: [office]",
        "header: { name: h, range: { min: 5, max: 1 } }",
        ErrorKind::InvalidValue,
        "greater",
    ),
    (
        "ip: [office]",
        "path: { name: p, prefix: / }",
        ErrorKind::InvalidValue,
        "has no `name`",
    ),
    (
        "ip: [office]",
        "percent: { key: { cookie: uid }, value: 101 }",
        ErrorKind::InvalidValue,
        "between 0 and 100",
    ),
    (
        "ip: [office]",
        "percent: { key: { cookie: \"\" }, value: 1 }",
        ErrorKind::InvalidValue,
        "empty",
    ),
    (
        "ip: [office]",
        "expr: \"#H['a'] === '1'\"",
        ErrorKind::InvalidExpression,
        "column",
    ),
    (
        "ip: [office]",
        "expr: \"T(java.lang.Runtime).getRuntime()\"",
        ErrorKind::InvalidExpression,
        "expr",
    ),
    (
        "ip: [office]",
        "method: []",
        ErrorKind::InvalidValue,
        "method",
    ),
    ("ip: [office]", "colour: red", ErrorKind::Syntax, "colour"),
    ("id: office,", "id: \"\",", ErrorKind::InvalidValue, "id"),
    (
        "address: \"127.0.0.1:7001\"",
        "address: \"127.0.0.1\"",
        ErrorKind::InvalidValue,
        "needs a port",
    ),
    (
        "address: \"127.0.0.1:7001\"",
        "address: \"127.0.0.1:99999\"",
        ErrorKind::InvalidValue,
        "port",
    ),
    (
        "address: \"127.0.0.1:7001\"",
        "address: \"::1:80\"",
        ErrorKind::InvalidValue,
        "brackets",
    ),
    (
        "address: \"127.0.0.1:7001\"",
        "address: \"bad host!:80\"",
        ErrorKind::InvalidValue,
        "host name",
    ),
    (
        "address: \"127.0.0.1:7001\" }",
        "address: \"127.0.0.1:7001\", weight: 10001 }",
        ErrorKind::InvalidValue,
        "out of range",
    ),
    (
        "address: \"127.0.0.1:7001\" }",
        "address: \"127.0.0.1:7001\", weight: -1 }",
        ErrorKind::Syntax,
        "weight",
    ),
    (
        "address: \"127.0.0.1:7001\" }",
        "address: \"127.0.0.1:7001\", fail_timeout: 3 weeks }",
        ErrorKind::Syntax,
        "unknown unit",
    ),
    (
        "address: \"127.0.0.1:7001\" }",
        "address: \"127.0.0.1:7001\" }, { address: \"127.0.0.1:7001\" }",
        ErrorKind::Duplicate,
        "nodes[1]",
    ),
    (
        "stable: { nodes",
        "stable: { select: hash, nodes",
        ErrorKind::InvalidValue,
        "hash_key",
    ),
    (
        "stable: { nodes",
        "stable: { select: fastest, nodes",
        ErrorKind::Syntax,
        "fastest",
    ),
    (
        "office: { entries: [\"10.1.0.0/16\"] }",
        "office: { file: /nonexistent/gray/ips.txt }",
        ErrorKind::Io,
        "cannot read",
    ),
    (
        "  - { id: office,",
        "  - { id: x, route: stable }\n  - { id: x,",
        ErrorKind::Duplicate,
        "also used",
    ),
];

#[test]
fn each_malformed_field_is_a_typed_error_and_the_engine_keeps_serving() {
    let engine = Engine::from_str(GOOD, Format::Yaml).unwrap();
    let office = SimpleRequest::new("10.1.2.3".parse().unwrap());
    let generation = engine.generation();
    for (from, to, kind, needle) in CASES {
        assert!(GOOD.contains(from), "bad test case: {from:?} not in GOOD");
        let bad = GOOD.replacen(from, to, 1);
        let err = engine.reload_str(&bad, Format::Yaml).expect_err(&bad);
        let shown = err.to_string();
        assert_eq!(err.kind(), *kind, "{from:?} → {to:?}: {shown}");
        assert!(
            shown.contains(needle),
            "{from:?} → {to:?}: {shown:?} lacks {needle:?}"
        );
        assert!(!shown.contains("\n\n"), "one tidy message: {shown}");
        // Nothing half-applied.
        assert_eq!(engine.generation(), generation);
        assert_eq!(engine.decide(&office).group(), "canary");
    }
}

#[test]
fn syntax_errors_carry_lines_in_every_format() {
    let e = Engine::from_str(
        "version: 1\ndefault: a\ngroups:\n  a: { nodes: [ }\n",
        Format::Yaml,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert_eq!(e.location().line, Some(4), "{e}");
    let e = Engine::from_str("{\"version\": 1,\n \"default\": \"a\",\n \"groups\": {\"a\": {\"nodes\": [{\"address\": 5}]}}}", Format::Json).unwrap_err();
    assert_eq!(e.location().line, Some(3), "{e}");
    assert_eq!(e.location().path, "groups.a.nodes[0].address", "{e}");
    let e = Engine::from_str("version = 1\ndefault = \"a\"\n\n[groups.a]\nnodes = [{ address = \"1.2.3.4:80\", weight = \"x\" }]\n", Format::Toml).unwrap_err();
    assert_eq!(e.location().line, Some(5), "{e}");
}

#[test]
fn ip_set_file_errors_name_the_line() {
    let dir = std::env::temp_dir().join(format!("gray-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("ips.txt"),
        "# testers\n192.168.2.20\n10.0.0.0/8 # office\n10.0.0.300\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("gray.yaml"),
        "version: 1\nip_sets: { t: { file: ips.txt } }\ngroups: { a: { nodes: [] } }\nrules: [{ id: r, when: { ip: [t] } }]\ndefault: a\n",
    )
    .unwrap();
    let e = Engine::from_file(dir.join("gray.yaml")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidIp);
    assert_eq!(e.location().line, Some(4), "{e}");
    assert!(e.to_string().contains("10.0.0.300"), "{e}");
    std::fs::write(
        dir.join("ips.txt"),
        "# testers\n192.168.2.20\n10.0.0.0/8 # office\n",
    )
    .unwrap();
    let engine = Engine::from_file(dir.join("gray.yaml")).unwrap();
    assert_eq!(
        engine
            .decide(&SimpleRequest::new("10.9.9.9".parse().unwrap()))
            .rule_id(),
        Some("r")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn hostile_request_values_never_panic() {
    let engine = Engine::from_str(
        r##"
version: 1
client_ip: { trusted_proxies: ["0.0.0.0/0", "::/0"], header: forwarded, recursive: true }
groups: { a: { nodes: [{ address: "127.0.0.1:1" }] } }
rules:
  - { id: c, when: { cookie: { name: "c", suffix: "é" } } }
  - { id: q, when: { query: { name: "q", range: { min: 1 } } } }
  - { id: e, when: { expr: "#H['x'] matches '.*a' || #H['y'].contains('z')" } }
  - { id: p, when: { percent: { key: client_ip, value: 50 } } }
default: a
"##,
        Format::Yaml,
    )
    .unwrap();
    let big = "é".repeat(500_000);
    let values = [
        "",
        "=",
        ";;;",
        "\"",
        "%",
        "%%%zz",
        "for=",
        "for=\"[::1",
        "for=_hidden",
        &big,
        "\u{0}",
        "ü=ß; c=日本é",
        "for=1.2.3.4, for=\"[2001:db8::1]:80\", for=unknown",
    ];
    for v in values {
        let r = SimpleRequest::new("1.2.3.4".parse().unwrap())
            .with_header("cookie", v)
            .with_header("forwarded", v)
            .with_header("x", v)
            .with_header("y", v)
            .with_query(v)
            .with_path(v);
        let d = engine.decide(&r);
        assert_eq!(d.group(), "a");
        let text = engine.explain(&r).to_string();
        assert!(
            text.len() < 20_000,
            "long values are shortened in explanations"
        );
    }
}

#[test]
fn an_empty_ip_set_is_valid_and_matches_nothing() {
    let engine = Engine::from_str(
        "version: 1\nip_sets: { testers: {} }\ngroups: { a: { nodes: [] }, b: { nodes: [] } }\n\
         rules: [{ id: t, when: { ip: [testers] }, route: b }]\ndefault: a\n",
        Format::Yaml,
    )
    .unwrap();
    for ip in ["10.1.2.3", "0.0.0.0", "::", "2001:db8::1"] {
        let req = SimpleRequest::new(ip.parse().unwrap());
        assert_eq!(engine.decide(&req).group(), "a", "{ip}");
    }
}

#[test]
fn expression_errors_carry_the_column_within_the_expression() {
    let e = Engine::from_str(
        "version: 1\ngroups: { a: { nodes: [] } }\ndefault: a\nrules: [{ id: e, when: { expr: \"#H['a'] == '1' &&\" }, route: a }]\n",
        Format::Yaml,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidExpression);
    assert_eq!(e.location().column, Some(18), "{e}");
    assert!(e.location().path.ends_with(".when.expr"), "{e}");
}
