//! Fuzz target bodies. Each function takes the raw fuzzer input, never panics on any input
//! unless gray-core has a bug, and asserts the properties its target checks. The cargo-fuzz
//! targets in `fuzz/` and the crash-replay test (`gray-core/tests/fuzz_replay.rs`) both call
//! these, so a replayed crash runs exactly the code the fuzzer ran.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::client_ip::{ClientIpResolver, ForwardedHeader};
use crate::expr::Expr;
use crate::testing::model;
use crate::{cookie, Engine, Format, SimpleRequest, Spec};

/// The body of a fuzz target.
pub type Target = fn(&[u8]);

/// Every fuzz target by name, with its body. The replay test walks this list.
pub const TARGETS: &[(&str, Target)] = &[
    ("spec_parse", spec_parse),
    ("expr", expr),
    ("client_ip", client_ip),
    ("cookie", cookie_header),
    ("differential", differential),
    ("nepxion_xml", nepxion_xml),
    ("nepxion_json", nepxion_json),
    ("weights", weights),
];

/// Native spec parse + compile: byte 0 picks YAML, JSON or TOML, the rest is the text. A spec
/// that compiles must decide and explain a few requests without panicking, and decide and
/// explain must agree. A spec that does not compile must have its error located in the text
/// without panicking, on a line that the text has.
pub fn spec_parse(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = [Format::Yaml, Format::Json, Format::Toml][usize::from(sel % 3)];
    let Ok(spec) = Spec::from_str(text, format) else {
        return;
    };
    let engine = match Engine::new(spec) {
        Ok(engine) => engine,
        Err(e) => {
            let e = e.located_in(text, format);
            // (An error in an IP list file that the spec names has that file's line.)
            if let (Some(line), None) = (e.location().line, &e.location().file) {
                // YAML also breaks lines at a lone `\r`.
                let lines = 1 + text.replace("\r\n", "\n").matches(['\n', '\r']).count();
                assert!(
                    line >= 1 && line <= lines,
                    "line {line} is not in the text: {e}"
                );
                assert!(e.location().column.is_some_and(|c| c >= 1), "{e}");
            }
            let _ = e.to_string();
            return;
        }
    };
    let requests = [
        SimpleRequest::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
            .with_header("x-forwarded-for", "192.168.2.20, 10.0.0.2")
            .with_header("cookie", "canary=userAAA; uid=u1")
            .with_query("a=1&tier=5"),
        SimpleRequest::new(IpAddr::V6(Ipv6Addr::LOCALHOST))
            .with_method("POST")
            .with_path("/api/v2/x")
            .with_header("a", "1"),
    ];
    for r in &requests {
        let d = engine.decide(r);
        let e = engine.explain(r);
        assert_eq!(
            d.rule_id(),
            e.rule.as_deref(),
            "decide and explain disagree"
        );
        assert_eq!(d.requested_group(), e.requested_group);
        let _ = e.to_string();
        // Outcomes feed passive health (classification, the last-node rule): never a panic.
        for o in [
            crate::Outcome::Status(503),
            crate::Outcome::ConnectError,
            crate::Outcome::Timeout,
        ] {
            engine.record(&d, o);
        }
    }
}

/// Expression parse + eval: the input is `source \0 value \0 value ...`; values are bound to
/// the variables in order (an empty value is absent). `eval` and `eval_explained` must agree,
/// and a parsed expression's source must parse again.
pub fn expr(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\0');
    let src = parts.next().unwrap_or("");
    let values: Vec<&str> = parts.collect();
    let Ok(e) = Expr::parse(src) else {
        return;
    };
    let lookup = |i: usize| values.get(i).copied().filter(|v| !v.is_empty());
    let plain = e.eval(&mut |i| lookup(i));
    let (explained, _steps) = e.eval_explained(&mut |i| lookup(i));
    assert_eq!(
        plain, explained,
        "eval and eval_explained disagree on {src:?}"
    );
    assert!(Expr::parse(e.source()).is_ok());
}

/// Client-IP header walk: byte 0 picks the header kind and recursion, byte 1 the peer; the rest
/// is header lines separated by `\n`. The allocation-free `resolve` and the explaining
/// `resolve_explained` must agree, and the result is canonical and is the peer unless the peer
/// is trusted.
pub fn client_ip(data: &[u8]) {
    let [sel, peer_sel, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let header = match sel % 4 {
        0 => ForwardedHeader::XForwardedFor,
        1 => ForwardedHeader::XRealIp,
        2 => ForwardedHeader::Forwarded,
        _ => ForwardedHeader::Other("x-client".into()),
    };
    let trusted = [
        "10.0.0.0/8",
        "2001:db8::/32",
        "192.0.2.1",
        "::ffff:172.16.0.0/108",
    ]
    .map(|t| crate::ip::parse_entry(t).expect("valid trusted proxy"));
    let r = ClientIpResolver::new(trusted, header, sel & 4 != 0);
    let peers: [IpAddr; 6] = [
        "10.0.0.1".parse().expect("ip"),
        "203.0.113.5".parse().expect("ip"),
        "2001:db8::1".parse().expect("ip"),
        "::ffff:10.1.1.1".parse().expect("ip"),
        "192.0.2.1".parse().expect("ip"),
        "172.16.0.9".parse().expect("ip"),
    ];
    let peer = peers[usize::from(*peer_sel) % peers.len()];
    let lines: Vec<&str> = text.split('\n').collect();
    let a = r.resolve(peer, lines.iter().copied());
    let (b, why) = r.resolve_explained(peer, lines.iter().copied());
    assert_eq!(a, b, "resolve and resolve_explained disagree ({why:?})");
    assert_eq!(a, a.to_canonical());
    if !r.is_trusted(peer) {
        assert_eq!(a, peer.to_canonical());
    }
    let _ = why.to_string();
}

/// Cookie header parse: every pair the iterator yields is found by `find` with the value of
/// its first occurrence, names are non-empty and trimmed, and a request with the header (as one
/// or as several lines) agrees.
pub fn cookie_header(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let pairs: Vec<(&str, &str)> = cookie::iter(header).collect();
    // The one-pass parser a decision uses gives the same pairs.
    let mut one_pass = Vec::new();
    cookie::for_each_pair(header, |n, v| one_pass.push((n, v)));
    assert_eq!(one_pass, pairs);
    for (i, (name, _)) in pairs.iter().enumerate() {
        assert!(!name.is_empty());
        assert_eq!(name.trim_matches([' ', '\t']), *name);
        let first = pairs.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        assert_eq!(cookie::find(header, name), first, "pair {i}");
        assert_eq!(model::cookie(&[header], name), first, "model, pair {i}");
    }
    let req = SimpleRequest::new(IpAddr::V4(Ipv4Addr::LOCALHOST)).with_header("cookie", header);
    for name in ["a", "uid", "canary", " a", ""] {
        use crate::RequestView;
        assert_eq!(req.cookie(name), model::cookie(&[header], name), "{name:?}");
    }
}

/// Differential: a spec and requests generated from the bytes (see
/// [`model::generate`]); `Engine::decide` must agree with the naive [`model::decide`] on the
/// matched rule and the requested group.
pub fn differential(data: &[u8]) {
    let (spec, requests) = model::generate(data);
    let engine = match Engine::new(spec.clone()) {
        Ok(e) => e,
        Err(e) => panic!("a generated spec must compile: {e}\n{spec:#?}"),
    };
    for req in &requests {
        let d = engine.decide(req);
        let want = model::decide(&spec, req).expect("generated specs are in the model's subset");
        assert_eq!(
            (d.rule_id(), d.requested_group()),
            (want.rule_id.as_deref(), want.group.as_str()),
            "engine and model disagree\nrequest: {req:#?}\nspec: {spec:#?}"
        );
    }
}

fn nepxion_import(text: &str, import: fn(&str) -> crate::Result<crate::nepxion::Import>) {
    let Ok(imported) = import(text) else {
        return;
    };
    for w in &imported.warnings {
        let _ = w.to_string();
    }
    let spec = imported.into_spec();
    let engine = match Engine::new(spec.clone()) {
        Ok(e) => e,
        Err(e) => panic!("an imported rule must compile: {e}\n{spec:#?}"),
    };
    let req = SimpleRequest::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
        .with_header("a", "1")
        .with_header("n-d-version", "1.0")
        .with_query("b=2");
    let d = engine.decide(&req);
    let e = engine.explain(&req);
    assert_eq!(
        d.rule_id(),
        e.rule.as_deref(),
        "decide and explain disagree"
    );
    let _ = e.to_string();
}

/// Nepxion XML import: a rule that imports must compile, decide and explain.
pub fn nepxion_xml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        nepxion_import(text, crate::nepxion::import_xml);
    }
}

/// Nepxion JSON import: a rule that imports must compile, decide and explain.
pub fn nepxion_json(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        nepxion_import(text, crate::nepxion::import_json);
    }
}

/// Weight strings (`1.0=90;1.1=10`): bytes 0..8 are a random value, the rest the string. A
/// strictly parsed list agrees with the lenient per-key reader, and a weighted pick only lands
/// on a positive weight (and on none exactly when all are zero).
pub fn weights(data: &[u8]) {
    use crate::route_value::{parse_weights, weight_of, weighted_index, Value};
    let (random, text) = match data.split_first_chunk::<8>() {
        Some((r, t)) => (u64::from_le_bytes(*r), t),
        None => (0, data),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let _ = Value::parse(text, "fuzz", true);
    let _ = Value::parse(text, "fuzz", false);
    let Ok(list) = parse_weights(text) else {
        return;
    };
    assert!(!list.is_empty());
    for (k, w) in &list {
        assert_eq!(weight_of(text, k), Some(*w), "{k:?} in {text:?}");
    }
    let ws = list.iter().map(|(_, w)| *w);
    match weighted_index(ws.clone(), random) {
        Some(i) => assert!(list[i].1 > 0, "picked a zero weight in {text:?}"),
        None => assert!(ws.clone().all(|w| w == 0)),
    }
}
