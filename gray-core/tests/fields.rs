//! A decision reads each request field (query string, cookies, headers) once, into slots
//! assigned when the snapshot compiles (`gray_core`'s `fields` module). These tests pin that
//! this gives exactly what looking every name up directly gives: for expression variables
//! (query parameter > cookie > header > built-in header, blanks skipped), for cookie, header
//! and query conditions, with repeated, mixed-case, blank and escaped fields, and beyond the
//! slot capacity (where names are looked up directly).

use std::borrow::Cow;

use gray_core::expr::Expr;
use gray_core::{Engine, Format, RequestView, SimpleRequest};
use proptest::prelude::*;

/// Names used as expression variables; some also appear as cookie, header and query names.
const VARS: [&str; 6] = ["ua", "X-Tenant", "x-score", "beta", "region", "q"];
/// Extra names, enough to push every kind past its 16 slots.
fn filler(i: usize) -> String {
    format!("f{i}")
}

fn spec() -> String {
    let mut rules = String::new();
    let exprs = [
        "#H['X-Tenant'] == 'acme' && #H['x-score'] >= 50",
        "#H['beta'] == 'on' || #H['region'] matches 'eu-.*'",
        "#H['q'] == 'a b' && #H['ua'] != 'bot'",
        "#H['ua'] == 'x' || #H['f3'] == '1' || #H['f20'] == '1'",
    ];
    for (i, e) in exprs.iter().enumerate() {
        rules.push_str(&format!(
            "  - {{ id: e{i}, when: {{ expr: \"{e}\" }}, route: g{i} }}\n"
        ));
    }
    // Conditions on 20 cookie, header and query names: more than the 16 slots per kind.
    for i in 0..20 {
        let n = filler(i);
        rules.push_str(&format!(
            "  - {{ id: c{i}, when: {{ any: [ {{ cookie: {{ name: {n}, equals: \"7\" }} }}, \
             {{ header: {{ name: {n}, equals: \"7\" }} }}, {{ query: {{ name: {n}, equals: \"7\" }} }} ] }}, route: g0 }}\n"
        ));
    }
    format!(
        r#"
version: 1
groups:
  g0: {{ nodes: [{{ address: "127.0.0.1:1" }}] }}
  g1: {{ nodes: [{{ address: "127.0.0.1:2" }}] }}
  g2: {{ nodes: [{{ address: "127.0.0.1:3" }}] }}
  g3: {{ nodes: [{{ address: "127.0.0.1:4" }}] }}
  d: {{ nodes: [{{ address: "127.0.0.1:5" }}] }}
headers: {{ builtin: {{ region: eu-west-1 }} }}
rules:
{rules}default: d
"#
    )
}

/// What the rules say, evaluated by direct lookups on the request.
fn naive(req: &SimpleRequest) -> Option<String> {
    let nonblank = |v: &str| !v.trim().is_empty();
    let variable = |name: &str| -> Option<Cow<'_, str>> {
        if let Some(v) = req.query_param(name).filter(|v| nonblank(v)) {
            return Some(v);
        }
        if let Some(v) = req.cookie(name).filter(|v| nonblank(v)) {
            return Some(Cow::Borrowed(v));
        }
        if let Some(v) = req
            .header(&name.to_ascii_lowercase())
            .filter(|v| nonblank(v))
        {
            return Some(Cow::Borrowed(v));
        }
        (name == "region").then_some(Cow::Borrowed("eu-west-1"))
    };
    let exprs = [
        "#H['X-Tenant'] == 'acme' && #H['x-score'] >= 50",
        "#H['beta'] == 'on' || #H['region'] matches 'eu-.*'",
        "#H['q'] == 'a b' && #H['ua'] != 'bot'",
        "#H['ua'] == 'x' || #H['f3'] == '1' || #H['f20'] == '1'",
    ];
    for (i, src) in exprs.iter().enumerate() {
        let e = Expr::parse(src).unwrap();
        let values: Vec<Option<Cow<'_, str>>> = e.variables().iter().map(|v| variable(v)).collect();
        if e.eval(&mut |i| values[i].as_deref()) {
            return Some(format!("e{i}"));
        }
    }
    for i in 0..20 {
        let n = filler(i);
        if req.cookie(&n) == Some("7")
            || req.header(&n) == Some("7")
            || req.query_param(&n).as_deref() == Some("7")
        {
            return Some(format!("c{i}"));
        }
    }
    None
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(VARS.to_vec()).prop_map(str::to_string),
        (0usize..22).prop_map(filler),
        Just("other".to_string()),
    ]
}

fn field_value() -> impl Strategy<Value = String> {
    proptest::sample::select(vec![
        "acme",
        "7",
        "1",
        "on",
        "eu-north-2",
        "x",
        "bot",
        "a b",
        "a+b",
        "a%20b",
        "",
        "  ",
        "60",
        "49",
        "\"7\"",
    ])
    .prop_map(str::to_string)
}

prop_compose! {
    fn request()(
        headers in proptest::collection::vec((field_name(), field_value(), any::<bool>()), 0..8),
        cookies in proptest::collection::vec((field_name(), field_value()), 0..8),
        split_cookies in any::<bool>(),
        query in proptest::collection::vec((field_name(), field_value()), 0..6),
    ) -> SimpleRequest {
        let mut r = SimpleRequest::new("203.0.113.9".parse().unwrap());
        for (n, v, upper) in headers {
            let n = if upper { n.to_ascii_uppercase() } else { n };
            r.headers.push((n, v));
        }
        let pairs: Vec<String> = cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
        if split_cookies && pairs.len() > 1 {
            let (a, b) = pairs.split_at(pairs.len() / 2);
            r = r.with_header("cookie", &a.join("; ")).with_header("cookie", &b.join("; "));
        } else if !pairs.is_empty() {
            r = r.with_header("cookie", &pairs.join("; "));
        }
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(n, v)| format!("{n}={}", v.replace(' ', "+")))
                .collect();
            r = r.with_query(&q.join("&"));
        }
        r
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn slots_give_what_direct_lookups_give(req in request()) {
        static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
        let engine = ENGINE.get_or_init(|| Engine::from_str(&spec(), Format::Yaml).unwrap());
        let got = engine.decide(&req).rule_id().map(str::to_string);
        prop_assert_eq!(got, naive(&req), "{:?}", req);
    }
}

#[test]
fn explanations_agree_with_decisions_on_slotted_fields() {
    let engine = Engine::from_str(&spec(), Format::Yaml).unwrap();
    let req = SimpleRequest::new("203.0.113.9".parse().unwrap())
        .with_header("X-TENANT", "acme")
        .with_header("cookie", "x-score=  ; f20=1")
        .with_query("x-score=60");
    assert_eq!(engine.decide(&req).rule_id(), Some("e0"));
    let ex = engine.explain(&req);
    assert_eq!(ex.rule.as_deref(), Some("e0"), "{ex:?}");
}
