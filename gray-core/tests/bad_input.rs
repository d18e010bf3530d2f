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
    // The line is the IP list's, and the location names that file, not the spec file.
    assert_eq!(e.location().line, Some(4), "{e}");
    assert_eq!(e.location().path, "ip_sets.t.file", "{e}");
    let ips = dir.join("ips.txt").display().to_string();
    assert_eq!(e.location().file.as_deref(), Some(&*ips), "{e}");
    assert!(e.to_string().contains("10.0.0.300"), "{e}");
    assert!(
        e.to_string().starts_with(&format!(
            "invalid IP address at ip_sets.t.file ({ips}, line 4): "
        )),
        "{e}"
    );
    // A list file that cannot be read: the `file:` field of the spec file.
    std::fs::remove_file(dir.join("ips.txt")).unwrap();
    let e = Engine::from_file(dir.join("gray.yaml")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let spec = dir.join("gray.yaml").display().to_string();
    assert!(
        e.to_string().starts_with(&format!(
            "I/O error at ip_sets.t.file ({spec}, line 2, column 23): "
        )),
        "{e}"
    );
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
    let text = "version: 1\ngroups: { a: { nodes: [] } }\ndefault: a\nrules: [{ id: e, when: { expr: \"#H['a'] == '1' &&\" }, route: a }]\n";
    // A spec compiled without its text: the column counts within the expression.
    let spec = gray_core::Spec::from_str(text, Format::Yaml).unwrap();
    let e = Engine::new(spec).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidExpression);
    assert_eq!(e.location().line, None, "{e}");
    assert_eq!(e.location().column, Some(18), "{e}");
    assert!(e.location().path.ends_with(".when.expr"), "{e}");
    // From text: the line and column of that character in the text (the expression starts
    // after the quote in column 32).
    let e = Engine::from_str(text, Format::Yaml).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidExpression);
    assert_eq!(e.location().line, Some(4), "{e}");
    assert_eq!(e.location().column, Some(32 + 18), "{e}");
    assert!(e.location().path.ends_with(".when.expr"), "{e}");
}

const YAML: &str = r#"version: 1
ip_sets:
  office: { entries: ["10.1.0.0/16"] }
groups:
  stable:
    nodes:
      - address: "127.0.0.1:7001"
        weight: 5
  canary: { nodes: [{ address: "127.0.0.1:7002" }], fallback: stable }
rules:
  - id: cookie
    when:
      cookie: { name: canary, regex: "aaa$" }
    route: canary
  - id: office
    when: { ip: [office] }
    route: canary
default: stable
"#;

const JSON: &str = r#"{
  "version": 1,
  "ip_sets": { "office": { "entries": ["10.1.0.0/16"] } },
  "groups": {
    "stable": {
      "nodes": [
        { "address": "127.0.0.1:7001", "weight": 5 }
      ]
    },
    "canary": { "nodes": [{ "address": "127.0.0.1:7002" }], "fallback": "stable" }
  },
  "rules": [
    {
      "id": "cookie",
      "when": { "cookie": { "name": "canary", "regex": "aaa$" } },
      "route": "canary"
    },
    { "id": "office", "when": { "ip": ["office"] }, "route": "canary" }
  ],
  "default": "stable"
}
"#;

const TOML: &str = r#"version = 1
default = "stable"

[ip_sets.office]
entries = ["10.1.0.0/16"]

[groups.stable]
nodes = [{ address = "127.0.0.1:7001", weight = 5 }]

[groups.canary]
nodes = [{ address = "127.0.0.1:7002" }]
fallback = "stable"

[[rules]]
id = "cookie"
route = "canary"
when = { cookie = { name = "canary", regex = "aaa$" } }

[[rules]]
id = "office"
route = "canary"
when = { ip = ["office"] }
"#;

/// One broken field: what to replace, with what, the error's kind and path, and the line and
/// column where the bad value starts.
struct Broken {
    from: &'static str,
    to: &'static str,
    kind: ErrorKind,
    path: &'static str,
    line: usize,
    column: usize,
}

const fn broken(
    from: &'static str,
    to: &'static str,
    kind: ErrorKind,
    path: &'static str,
    (line, column): (usize, usize),
) -> Broken {
    Broken {
        from,
        to,
        kind,
        path,
        line,
        column,
    }
}

const ROUTE: &str = "rules[0] (id \"cookie\").route";
const WEIGHT: &str = "groups.stable.nodes[0].weight";
const REGEX: &str = "rules[0] (id \"cookie\").when.cookie.regex";
const IP_SET: &str = "rules[1] (id \"office\").when.ip[0]";
const DEFAULT: &str = "default";

fn cases(format: Format) -> (&'static str, Vec<Broken>) {
    use ErrorKind::*;
    match format {
        Format::Yaml => (
            YAML,
            vec![
                broken(
                    "route: canary",
                    "route: nosuchgroup",
                    UnknownReference,
                    ROUTE,
                    (14, 12),
                ),
                broken("weight: 5", "weight: 10001", InvalidValue, WEIGHT, (8, 17)),
                broken("\"aaa$\"", "\"(aaa\"", InvalidRegex, REGEX, (13, 38)),
                broken("[office]", "[offfice]", UnknownReference, IP_SET, (16, 18)),
                broken(
                    "default: stable",
                    "default: nowhere",
                    UnknownReference,
                    DEFAULT,
                    (18, 10),
                ),
            ],
        ),
        Format::Json => (
            JSON,
            vec![
                broken(
                    "\"route\": \"canary\"",
                    "\"route\": \"nosuchgroup\"",
                    UnknownReference,
                    ROUTE,
                    (16, 16),
                ),
                broken(
                    "\"weight\": 5",
                    "\"weight\": 10001",
                    InvalidValue,
                    WEIGHT,
                    (7, 50),
                ),
                broken("\"aaa$\"", "\"(aaa\"", InvalidRegex, REGEX, (15, 56)),
                broken(
                    "[\"office\"]",
                    "[\"offfice\"]",
                    UnknownReference,
                    IP_SET,
                    (18, 40),
                ),
                broken(
                    "\"default\": \"stable\"",
                    "\"default\": \"nowhere\"",
                    UnknownReference,
                    DEFAULT,
                    (20, 14),
                ),
            ],
        ),
        Format::Toml => (
            TOML,
            vec![
                broken(
                    "route = \"canary\"",
                    "route = \"nosuchgroup\"",
                    UnknownReference,
                    ROUTE,
                    (16, 9),
                ),
                broken(
                    "weight = 5",
                    "weight = 10001",
                    InvalidValue,
                    WEIGHT,
                    (8, 49),
                ),
                broken("\"aaa$\"", "\"(aaa\"", InvalidRegex, REGEX, (17, 46)),
                broken(
                    "[\"office\"]",
                    "[\"offfice\"]",
                    UnknownReference,
                    IP_SET,
                    (22, 16),
                ),
                broken(
                    "default = \"stable\"",
                    "default = \"nowhere\"",
                    UnknownReference,
                    DEFAULT,
                    (2, 11),
                ),
            ],
        ),
    }
}

const FORMATS: [(Format, &str); 3] = [
    (Format::Yaml, "yaml"),
    (Format::Json, "json"),
    (Format::Toml, "toml"),
];

#[test]
fn compile_errors_from_text_carry_the_line_and_column_of_the_field() {
    for (format, name) in FORMATS {
        let (good, cases) = cases(format);
        let engine = Engine::from_str(good, format).unwrap();
        for c in cases {
            assert!(
                good.contains(c.from),
                "bad test case: {:?} not in {name}",
                c.from
            );
            let bad = good.replacen(c.from, c.to, 1);
            let what = format!("{name}: {:?} → {:?}", c.from, c.to);
            for e in [
                Engine::from_str(&bad, format).unwrap_err(),
                engine.reload_str(&bad, format).unwrap_err(),
            ] {
                assert_eq!(e.kind(), c.kind, "{what}: {e}");
                let loc = e.location();
                assert_eq!(loc.path, c.path, "{what}: {e}");
                assert_eq!(
                    (loc.line, loc.column),
                    (Some(c.line), Some(c.column)),
                    "{what}: {e}"
                );
                assert_eq!(loc.file, None, "{what}: {e}");
                let at = format!("{} (line {}, column {}): ", c.path, c.line, c.column);
                assert!(e.to_string().contains(&at), "{what}: {e} lacks {at:?}");
            }
        }
        assert_eq!(engine.generation(), 1);
    }
}

#[test]
fn compile_errors_from_a_file_name_the_file_line_and_column() {
    let dir = std::env::temp_dir().join(format!("gray-located-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (format, name) in FORMATS {
        let (good, cases) = cases(format);
        let file = dir.join(format!("config.{name}"));
        std::fs::write(&file, good).unwrap();
        let engine = Engine::from_file(&file).unwrap();
        for c in cases {
            std::fs::write(&file, good.replacen(c.from, c.to, 1)).unwrap();
            let what = format!("{name}: {:?} → {:?}", c.from, c.to);
            for e in [
                Engine::from_file(&file).unwrap_err(),
                engine.reload_file(&file).unwrap_err(),
            ] {
                assert_eq!(e.kind(), c.kind, "{what}: {e}");
                let loc = e.location();
                assert_eq!(loc.path, c.path, "{what}: {e}");
                assert_eq!(loc.file.as_deref(), Some(&*file.display().to_string()));
                assert_eq!((loc.line, loc.column), (Some(c.line), Some(c.column)));
                let at = format!(
                    "{} ({}, line {}, column {}): ",
                    c.path,
                    file.display(),
                    c.line,
                    c.column
                );
                assert!(e.to_string().contains(&at), "{what}: {e} lacks {at:?}");
            }
        }
        assert_eq!(engine.generation(), 1);
    }
    // The whole message, as a person reads it.
    let file = dir.join("config.yaml");
    std::fs::write(
        &file,
        YAML.replacen("route: canary", "route: nosuchgroup", 1),
    )
    .unwrap();
    let e = Engine::from_file(&file).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "unknown reference at rules[0] (id \"cookie\").route ({}, line 14, column 12): \
             no group named \"nosuchgroup\" (groups: canary, stable)",
            file.display()
        )
    );
    // A syntax error in a file names it too.
    std::fs::write(&file, "version: 1\ndefault: a\ngroups: { a: { nodes: [ }\n").unwrap();
    let e = Engine::from_file(&file).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert_eq!(e.location().line, Some(3), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("{}, line 3", file.display())),
        "{e}"
    );
    // So does an unsupported version, with its line.
    std::fs::write(&file, "default: a\nversion: 2\n").unwrap();
    let e = Engine::from_file(&file).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnsupportedVersion);
    assert!(
        e.to_string()
            .contains(&format!("version ({}, line 2, column 10)", file.display())),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_field_that_is_not_in_the_text_gets_no_line() {
    // `hash_key` is missing, so there is no line to point at: the path and file, no line.
    let text = "version: 1\ngroups:\n  a: { select: hash, nodes: [] }\ndefault: a\n";
    let e = Engine::from_str(text, Format::Yaml).unwrap_err();
    assert_eq!(e.location().path, "groups.a.hash_key", "{e}");
    assert_eq!(
        (e.location().line, e.location().column),
        (None, None),
        "{e}"
    );
    // Names with dots are matched against the keys that are in the text.
    let text = "version: 1\ngroups:\n  v1: { nodes: [] }\n  v1.2:\n    nodes: [{ address: \"127.0.0.1:1\", weight: 99999 }]\ndefault: v1\n";
    let e = Engine::from_str(text, Format::Yaml).unwrap_err();
    assert_eq!(e.location().path, "groups.v1.2.nodes[0].weight", "{e}");
    assert_eq!(
        (e.location().line, e.location().column),
        (Some(5), Some(47))
    );
}

/// A release whose entries write their dimensions beside `id` and `when`.
const RELEASE_YAML: &str = r##"version: 1
default: svc-a
groups:
  svc-a:
    nodes:
      - { address: "10.0.0.1:80", metadata: { version: "1.0" } }
      - { address: "10.0.0.2:80", metadata: { version: "1.1" } }
release:
  routes:
    new: { type: version, value: "1.1" }
  blue_green:
    - id: testers
      when: "#H['user'] == 'tester'"
      version: new
  gray:
    - id: some
      version: new=100
"##;

#[test]
fn release_entry_dimensions_are_checked_per_entry_kind_with_their_line() {
    let engine = Engine::from_str(RELEASE_YAML, Format::Yaml).unwrap();
    let tester =
        gray_core::SimpleRequest::new("192.0.2.1".parse().unwrap()).with_header("user", "tester");
    assert_eq!(engine.decide(&tester).node_address(), Some("10.0.0.2:80"));
    let cases = [
        // env is a dimension of routes and defaults, not of a blue-green entry; like every
        // unknown key, it is reported at the entry that holds it.
        ("      version: new\n  gray", "      env: new\n  gray", "release.blue_green[0]", (12, 7), "unknown field `env`, expected one of `id`, `when`, `version`, `region`, `address`, `version_weight`, `region_weight`"),
        // gray entries have no weight dimensions.
        ("      version: new=100", "      version_weight: new=100", "release.gray[0]", (16, 7), "unknown field `version_weight`, expected one of `id`, `when`, `version`, `region`, `address`"),
        // A wrong type inside a dimension keeps its path.
        ("      version: new\n  gray", "      version: [new]\n  gray", "release.blue_green[0].version", (14, 16), "string"),
        ("      version: new\n  gray", "      version: new\n      version: old\n  gray", "release.blue_green[0]", (12, 7), "duplicate field `version`"),
        ("    - id: testers\n      when", "    - when", "release.blue_green[0]", (12, 7), "missing field `id`"),
        // A route id that does not exist.
        ("      version: new\n  gray", "      version: old\n  gray", "release.blue_green[0] (id \"testers\").version", (14, 16), "old"),
    ];
    for (from, to, path, (line, column), says) in cases {
        assert!(RELEASE_YAML.contains(from), "bad case {from:?}");
        let bad = RELEASE_YAML.replacen(from, to, 1);
        let e = Engine::from_str(&bad, Format::Yaml).unwrap_err();
        let loc = e.location();
        assert_eq!(
            (loc.path.as_str(), loc.line, loc.column),
            (path, Some(line), Some(column)),
            "{to:?}: {e}"
        );
        assert!(e.to_string().contains(says), "{to:?}: {e}");
    }
}
