//! `gray_engine_decide_raw` from Rust: decisions from a request head as text (request line or
//! not, CRLF or LF), the forwarding plan (headers to set, inbound headers to strip) against the
//! per-header calls it replaces, and malformed or hostile heads as errors, never a crash.

mod common;

use std::ffi::c_char;
use std::ptr;

use common::*;
use gray::*;

const SPEC: &str = r#"version: 1
client_ip: { trusted_proxies: ["10.0.0.0/8"], header: x-forwarded-for, recursive: true }
ip_sets: { testers: { entries: ["192.168.2.20"] } }
groups:
  stable: { nodes: [{ address: "10.0.1.10:8080" }] }
  canary: { nodes: [{ address: "10.0.2.10:8080" }], fallback: stable }
rules:
  - { id: cookie, when: { cookie: { name: canary, regex: "aaa$" } }, route: canary, set_headers: { x-gray: cookie } }
  - { id: api, when: { path: { prefix: /api } }, route: canary, set_headers: { x-gray: api } }
  - { id: beta, when: { query: { name: beta, equals: "1" } }, route: canary }
  - { id: time, when: { header: { name: x-time, equals: "12:30:00" } }, route: canary }
  - { id: shop, when: { host: { equals: shop.example } }, route: canary }
  - { id: put, when: { method: [PUT] }, route: canary }
  - { id: testers, when: { ip: [testers] }, route: canary }
default: stable
release: { defaults: { version: '{"svc-a":"1.0"}' } }
headers: { trusted_peers: ["10.0.0.0/8"] }
"#;

const UNTRUSTED: &str = "203.0.113.9";
const TRUSTED: &str = "10.0.0.7:5000";

/// What one `gray_engine_decide_raw` gave: the decision and the plan as owned text.
struct Raw {
    d: Decision,
    set: Vec<(String, String)>,
    strip: Vec<String>,
    node: Option<String>,
    group: String,
    rule: Option<String>,
}

fn string(s: GrayStr) -> Option<String> {
    (!s.ptr.is_null()).then(|| {
        // SAFETY: a borrowed string of a live decision, `len` bytes.
        let b = unsafe { std::slice::from_raw_parts(s.ptr.cast::<u8>(), s.len) };
        String::from_utf8(b.to_vec()).expect("UTF-8")
    })
}

fn entries<T>(p: *const T, n: usize) -> &'static [T] {
    if n == 0 {
        assert!(p.is_null(), "an empty list is NULL");
        return &[];
    }
    // SAFETY: `n` entries of a live decision (read before it is freed).
    unsafe { std::slice::from_raw_parts(p, n) }
}

/// Decides `head` with `req` (None: no GrayRequest); the status on failure.
fn raw_with(e: &Engine, req: Option<&GrayRequest>, head: &[u8]) -> Result<Raw, GrayStatus> {
    let mut f = GrayForward {
        node: GrayStr::new("stale"),
        ..GrayForward::default()
    };
    let mut out = ptr::null_mut();
    let req = req.map_or(ptr::null(), |r| r as *const GrayRequest);
    // SAFETY: live engine; `req` NULL or valid; `head` readable; `f` and `out` writable.
    let s = unsafe {
        gray_engine_decide_raw(e.0, req, head.as_ptr().cast(), head.len(), &mut f, &mut out)
    };
    if s != GrayStatus::GRAY_OK {
        assert!(out.is_null(), "no decision on failure");
        assert!(f.node.ptr.is_null() && f.set.is_null() && f.set_len == 0 && f.strip_len == 0);
        return Err(s);
    }
    let set = entries(f.set, f.set_len)
        .iter()
        .map(|h| {
            (
                string(h.name).expect("name"),
                string(h.value).expect("value"),
            )
        })
        .collect();
    let strip = entries(f.strip, f.strip_len)
        .iter()
        .map(|s| string(*s).expect("name"))
        .collect();
    Ok(Raw {
        d: Decision(out),
        set,
        strip,
        node: string(f.node),
        group: string(f.group).expect("a group"),
        rule: string(f.rule),
    })
}

fn raw(e: &Engine, peer: &str, head: &str) -> Raw {
    let req = GrayRequest {
        peer: GrayStr::new(peer),
        ..GrayRequest::default()
    };
    raw_with(e, Some(&req), head.as_bytes()).unwrap_or_else(|s| panic!("{s:?}: {}", last_error().1))
}

fn rule(e: &Engine, head: &str) -> Option<String> {
    raw(e, UNTRUSTED, head).rule
}

#[test]
fn reads_the_request_line_and_every_header() {
    let e = from_yaml(SPEC);
    let r = raw(
        &e,
        UNTRUSTED,
        "GET /api/items?x=1 HTTP/1.1\r\nHost: a.example\r\n\r\n",
    );
    assert_eq!(
        (r.group.as_str(), r.rule.as_deref(), r.node.as_deref()),
        ("canary", Some("api"), Some("10.0.2.10:8080"))
    );
    assert_eq!(
        (r.d.group(), r.d.rule()),
        ("canary", Some("api")),
        "the same decision"
    );
    assert_eq!(
        r.set,
        [
            ("x-gray".to_string(), "api".to_string()),
            ("n-d-version".to_string(), r#"{"svc-a":"1.0"}"#.to_string())
        ]
    );
    assert!(r.strip.is_empty());
    assert_eq!(
        rule(&e, "GET /shop?beta=1 HTTP/1.1\n\n").as_deref(),
        Some("beta")
    );
    assert_eq!(rule(&e, "PUT / HTTP/1.1\r\n").as_deref(), Some("put"));
    // Without a request line: headers only (nginx's raw_header(true)).
    assert_eq!(
        rule(&e, "Host: x\r\nX-Time: 12:30:00\r\n\r\n").as_deref(),
        Some("time")
    );
    assert_eq!(
        rule(&e, "Host: SHOP.example:8080\r\n\r\n").as_deref(),
        Some("shop")
    );
    // An absolute-form target's host replaces the Host header.
    let absolute = "GET http://shop.example/x HTTP/1.1\r\nHost: other.example\r\n\r\n";
    assert_eq!(rule(&e, absolute).as_deref(), Some("shop"));
    assert_eq!(rule(&e, "GET / HTTP/1.1\r\nHost: other\r\n\r\n"), None);
}

#[test]
fn cookies_are_read_across_several_cookie_lines() {
    let e = from_yaml(SPEC);
    let head = "Cookie: uid=1; theme=dark\r\nX-A: 1\r\ncookie: canary=useraaa\r\n\r\n";
    assert_eq!(rule(&e, head).as_deref(), Some("cookie"));
    // The first line's value wins when both have the cookie, as in gray_engine_decide.
    let both = "Cookie: canary=first\r\nCookie: canary=xaaa\r\n\r\n";
    assert_eq!(rule(&e, both), None);
    // A given cookie field is read before the head's lines.
    let req = GrayRequest {
        cookie: GrayStr::new("canary=xaaa"),
        ..GrayRequest::default()
    };
    let r = raw_with(&e, Some(&req), b"Cookie: canary=no\r\n").expect("ok");
    assert_eq!(r.rule.as_deref(), Some("cookie"));
}

#[test]
fn given_fields_take_precedence_over_the_head() {
    let e = from_yaml(SPEC);
    let head = b"GET /api HTTP/1.1\r\nHost: shop.example\r\n\r\n";
    // nginx's normalised $uri, $args and $host replace the request line's.
    let req = GrayRequest {
        peer: GrayStr::new(UNTRUSTED),
        method: GrayStr::new("PUT"),
        path: GrayStr::new("/other"),
        host: GrayStr::new("plain.example"),
        ..GrayRequest::default()
    };
    let r = raw_with(&e, Some(&req), head).expect("ok");
    assert_eq!(
        r.rule.as_deref(),
        Some("put"),
        "path /other, host plain: the method rule"
    );
    let req = GrayRequest {
        query: GrayStr::new("beta=1"),
        ..GrayRequest::default()
    };
    let r = raw_with(&e, Some(&req), b"GET /x?beta=0 HTTP/1.1\r\n").expect("ok");
    assert_eq!(
        r.rule.as_deref(),
        Some("beta"),
        "a given query replaces the line's"
    );
    // No GrayRequest at all: an unknown peer.
    let r = raw_with(&e, None, b"Cookie: canary=xaaa\r\n").expect("ok");
    assert_eq!(r.rule.as_deref(), Some("cookie"));
    // X-Forwarded-For from a trusted proxy names the client.
    let xff = "X-Forwarded-For: 192.168.2.20\r\n\r\n";
    assert_eq!(raw(&e, "10.0.0.1", xff).rule.as_deref(), Some("testers"));
    assert_eq!(raw(&e, UNTRUSTED, xff).rule, None);
}

#[test]
fn spoofed_routing_headers_from_an_untrusted_peer_are_stripped() {
    let e = from_yaml(SPEC);
    let head = "GET / HTTP/1.1\r\nN-D-Version: {\"svc-a\":\"9.9\"}\r\nn-d-region: far\r\n\
                X-Keep: a:b:c\r\nN-D-REGION: again\r\nn_d_env: x\r\n\r\n";
    let r = raw(&e, UNTRUSTED, head);
    assert_eq!(
        r.strip,
        ["N-D-Version", "n-d-region", "n_d_env"],
        "each name once"
    );
    assert_eq!(
        r.set,
        [("n-d-version".to_string(), r#"{"svc-a":"1.0"}"#.to_string())]
    );
    // The plan is what the per-header calls say.
    for name in ["N-D-Version", "n-d-region", "n_d_env", "X-Keep"] {
        // SAFETY: the decision is live; `name` borrowed for the call.
        let passes = unsafe {
            gray_decision_forwards_inbound(r.d.0, name.as_ptr().cast::<c_char>(), name.len())
        };
        assert_eq!(passes, !r.strip.iter().any(|s| s == name), "{name}");
    }
    // From a trusted peer (inbound: override) only the decision's own names go.
    let r = raw(&e, TRUSTED, head);
    assert_eq!(r.strip, ["N-D-Version"]);
    assert_eq!(r.set.len(), 1);
    // A request without routing headers strips nothing.
    assert!(raw(&e, UNTRUSTED, "X-A: 1\r\n").strip.is_empty());
}

#[test]
fn with_inbound_keep_a_trusted_header_wins_over_the_decision() {
    let e = from_yaml(&SPEC.replace(
        r#"headers: { trusted_peers: ["10.0.0.0/8"] }"#,
        r#"headers: { trusted_peers: ["10.0.0.0/8"], inbound: keep }"#,
    ));
    let head = "n-d-version: {\"svc-a\":\"2.0\"}\r\nCookie: canary=xaaa\r\n\r\n";
    let r = raw(&e, TRUSTED, head);
    assert!(r.strip.is_empty());
    assert_eq!(
        r.set,
        [("x-gray".to_string(), "cookie".to_string())],
        "theirs is kept"
    );
    let r = raw(&e, UNTRUSTED, head);
    assert_eq!(r.strip, ["n-d-version"]);
    assert_eq!(r.set.len(), 2, "x-gray and gray's n-d-version");
}

#[test]
fn many_headers_and_many_headers_to_set() {
    let spec = SPEC.replace(
        "set_headers: { x-gray: cookie }",
        "set_headers: { h1: a, h2: b, h3: c, h4: d, h5: e, h6: f }",
    );
    let e = from_yaml(&spec);
    let mut head = String::new();
    for i in 0..60 {
        head.push_str(&format!("X-{i}: {i}\r\nn-d-h{}: spoofed\r\n", i % 7));
    }
    head.push_str("Cookie: canary=xaaa\r\n\r\n");
    let r = raw(&e, UNTRUSTED, &head);
    assert_eq!(
        r.rule.as_deref(),
        Some("cookie"),
        "the 121st header is read"
    );
    let names: Vec<&str> = r.set.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["h1", "h2", "h3", "h4", "h5", "h6", "n-d-version"]);
    assert_eq!(r.strip.len(), 7);
}

#[test]
fn malformed_heads_are_errors_that_say_where() {
    let e = from_yaml(SPEC);
    let cases: [(&[u8], GrayStatus, usize, usize, &str); 6] = [
        (
            b"Host: a\r\nno colon here\r\n",
            GrayStatus::GRAY_ERR_ARG,
            2,
            3,
            "has no ':'",
        ),
        (
            b"Host : a\r\n",
            GrayStatus::GRAY_ERR_ARG,
            1,
            5,
            "cannot contain ' '",
        ),
        (
            b"A: 1\r\n folded\r\n",
            GrayStatus::GRAY_ERR_ARG,
            2,
            1,
            "folding",
        ),
        (
            b"GET / HTTP/9\r\n",
            GrayStatus::GRAY_ERR_ARG,
            1,
            7,
            "not HTTP/x.y",
        ),
        (
            b"A: x\x00y\r\n",
            GrayStatus::GRAY_ERR_ARG,
            1,
            5,
            "control character 0x00",
        ),
        (
            b"X-Name: \xff\r\n",
            GrayStatus::GRAY_ERR_UTF8,
            1,
            9,
            "not valid UTF-8",
        ),
    ];
    for (head, status, line, column, why) in cases {
        assert_eq!(raw_with(&e, None, head).err(), Some(status), "{head:?}");
        let (code, message, path, file, l, c) = last_error();
        assert_eq!(code, status);
        assert_eq!(
            (path.as_deref(), file, l, c),
            (Some("head"), None, line, column),
            "{message}"
        );
        assert!(message.starts_with(&format!("request head, line {line}, column {column}: ")));
        assert!(message.contains(why), "{message}");
    }
    // NULLs.
    let mut f = GrayForward::default();
    let mut out = ptr::null_mut();
    // SAFETY: every pointer is NULL or valid; the NULLs are what is tested.
    unsafe {
        let s = gray_engine_decide_raw(e.0, ptr::null(), ptr::null(), 0, &mut f, &mut out);
        assert_eq!(s, GrayStatus::GRAY_ERR_NULL);
        assert_eq!(last_error().1, "head is NULL");
        let s = gray_engine_decide_raw(ptr::null(), ptr::null(), c"".as_ptr(), 0, &mut f, &mut out);
        assert_eq!(s, GrayStatus::GRAY_ERR_NULL);
        let s = gray_engine_decide_raw(e.0, ptr::null(), c"".as_ptr(), 0, &mut f, ptr::null_mut());
        assert_eq!(s, GrayStatus::GRAY_ERR_NULL);
        // No plan wanted: NULL `forward` is fine.
        let s =
            gray_engine_decide_raw(e.0, ptr::null(), c"".as_ptr(), 0, ptr::null_mut(), &mut out);
        assert_eq!(s, GrayStatus::GRAY_OK);
        gray_decision_free(out);
    }
    // A bad given field is named as in gray_engine_decide.
    let req = GrayRequest {
        peer: GrayStr::new("not-an-ip"),
        ..GrayRequest::default()
    };
    assert_eq!(
        raw_with(&e, Some(&req), b"").err(),
        Some(GrayStatus::GRAY_ERR_ARG)
    );
}

#[test]
fn hostile_heads_never_crash() {
    let e = from_yaml(SPEC);
    let alphabet: &[u8] = b"aZ:- \t\r\n;=/?.\x00\x7f\xc3\xa9\xffHTTP/1.1GETCookie";
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut ok = 0;
    for _ in 0..20_000 {
        let len = (next() % 120) as usize;
        let head: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        match raw_with(&e, None, &head) {
            Ok(_) => ok += 1,
            Err(s) => assert!(
                matches!(s, GrayStatus::GRAY_ERR_ARG | GrayStatus::GRAY_ERR_UTF8),
                "{head:?}: {s:?}"
            ),
        }
    }
    assert!(ok > 100, "some random heads are valid: {ok}");
}

#[test]
fn explain_raw_is_json() {
    let e = from_yaml(SPEC);
    let head = b"GET /api HTTP/1.1\r\n\r\n";
    let mut out = ptr::null_mut();
    // SAFETY: live engine, no request, `head` readable, `out` writable.
    let s = unsafe {
        gray_engine_explain_raw(e.0, ptr::null(), head.as_ptr().cast(), head.len(), &mut out)
    };
    assert_eq!(s, GrayStatus::GRAY_OK);
    let ex: serde_json::Value = serde_json::from_str(&owned(out)).expect("JSON");
    assert_eq!(ex["rule"], "api");
    // SAFETY: as above; the head is malformed.
    let s = unsafe { gray_engine_explain_raw(e.0, ptr::null(), c"x".as_ptr(), 1, &mut out) };
    assert_eq!((s, out.is_null()), (GrayStatus::GRAY_ERR_ARG, true));
}
