//! A decision parses the `Cookie` header once and answers every cookie condition from that
//! parse; these tests pin that it gives exactly what `RequestView::cookie` gives, for long
//! cookie headers, across several header lines, and for requests whose cookies do not come
//! from headers.

use gray_core::{Engine, Format, RequestView, SimpleRequest};

fn engine() -> Engine {
    Engine::from_str(
        r##"
version: 1
groups:
  a: { nodes: [{ address: "127.0.0.1:1" }] }
  b: { nodes: [{ address: "127.0.0.1:2" }] }
  c: { nodes: [{ address: "127.0.0.1:3" }] }
  d: { nodes: [{ address: "127.0.0.1:4" }] }
rules:
  - { id: early, when: { all: [ { cookie: { name: k3, equals: "3" } }, { cookie: { name: k1, equals: "1" } } ] }, route: a }
  - { id: late, when: { all: [ { cookie: { name: k0, present: true } }, { cookie: { name: k25, equals: "25" } } ] }, route: b }
  - { id: expr, when: { expr: "#H['k2'] == '2' && #H['k30'] == '30'" }, route: c }
default: d
"##,
        Format::Yaml,
    )
    .expect("compiles")
}

fn cookies(range: std::ops::Range<u32>, skip: u32) -> String {
    range
        .filter(|&i| i != skip)
        .map(|i| format!("k{i}={i}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn cookies_deep_in_long_headers_are_found() {
    let e = engine();
    // 40 cookies over two lines: k25 and k30 lie deep in the second line.
    let r = SimpleRequest::new("203.0.113.1".parse().unwrap())
        .with_header("cookie", &cookies(0..20, 3))
        .with_header("cookie", &cookies(20..40, 99));
    assert!(r.cookies_in_headers());
    assert_eq!(r.cookie("k25"), Some("25"));
    assert_eq!(e.decide(&r).rule_id(), Some("late"));
    // The first occurrence wins, in any line.
    let r = SimpleRequest::new("203.0.113.1".parse().unwrap())
        .with_header("cookie", "k3=3; k1=1; k3=x")
        .with_header("cookie", "k1=other");
    assert_eq!(e.decide(&r).rule_id(), Some("early"));
    let r = SimpleRequest::new("203.0.113.1".parse().unwrap())
        .with_header("cookie", "k3=x; k1=1")
        .with_header("cookie", "k3=3");
    assert_eq!(e.decide(&r).rule_id(), None);
}

#[test]
fn expression_variables_read_cookies_through_the_same_parse() {
    let e = engine();
    let r = SimpleRequest::new("203.0.113.1".parse().unwrap())
        .with_header("cookie", &cookies(1..40, 3));
    assert_eq!(e.decide(&r).rule_id(), Some("expr"));
}

#[test]
fn explicit_cookies_are_not_bypassed() {
    let e = engine();
    // `SimpleRequest::cookies` come first in `cookie`, so the header parse is not used.
    let r = SimpleRequest::new("203.0.113.1".parse().unwrap())
        .with_cookie("k3", "3")
        .with_header("cookie", "k3=x; k1=1");
    assert!(!r.cookies_in_headers());
    assert_eq!(e.decide(&r).rule_id(), Some("early"));
}
