//! The C ABI called from Rust: decisions through borrowed C data, errors with their location,
//! reloads, outcomes, node administration, threads.

mod common;

use std::ffi::CString;
use std::path::PathBuf;
use std::ptr;

use common::*;
use gray::*;

/// A request from `peer` with `headers` and a cookie.
fn request(peer: &str, headers: &[GrayHeader], cookie: Option<&str>) -> GrayRequest {
    GrayRequest {
        peer: GrayStr::new(peer),
        headers: headers.as_ptr(),
        headers_len: headers.len(),
        cookie: GrayStr::from_option(cookie),
        ..GrayRequest::default()
    }
}

fn header(name: &'static str, value: &'static str) -> GrayHeader {
    GrayHeader {
        name: GrayStr::new(name),
        value: GrayStr::new(value),
    }
}

fn decide(e: &Engine, req: &GrayRequest) -> Result<Decision, GrayStatus> {
    let mut out = ptr::null_mut();
    // SAFETY: the engine is live, `req` borrows data alive for the call, `out` writable.
    match unsafe { gray_engine_decide(e.0, req, &mut out) } {
        GrayStatus::GRAY_OK => Ok(Decision(out)),
        s => {
            assert!(out.is_null());
            Err(s)
        }
    }
}

#[test]
fn cookie_rule_routes_to_the_canary_with_its_headers() {
    let e = engine();
    let d = decide(
        &e,
        &request("203.0.113.9", &[], Some("uid=1; canary=userAAA")),
    )
    .expect("ok");
    assert_eq!(
        (d.group(), d.rule(), d.node()),
        ("canary", Some("canary-cookie"), Some("10.0.2.10:8080"))
    );
    assert_eq!(
        d.headers(),
        [
            ("x-gray".to_string(), "canary".to_string()),
            ("n-d-version".to_string(), r#"{"svc-a":"1.0"}"#.to_string())
        ]
    );
    // The cookie may also come as a header entry, with any case of the name.
    let hs = [header("Cookie", "canary=xaaa")];
    assert_eq!(
        decide(&e, &request("203.0.113.9", &hs, None))
            .expect("ok")
            .group(),
        "canary"
    );
    let d = decide(&e, &request("203.0.113.9", &[], Some("canary=nope"))).expect("ok");
    assert_eq!((d.group(), d.rule()), ("stable", None));
}

#[test]
fn forwarded_for_counts_only_from_trusted_proxies() {
    let e = engine();
    let xff = [header("X-Forwarded-For", "192.168.2.20")];
    let via_proxy = decide(&e, &request("10.0.0.1:40000", &xff, None)).expect("ok");
    assert_eq!(
        (via_proxy.group(), via_proxy.rule()),
        ("canary", Some("testers"))
    );
    let spoofed = decide(&e, &request("203.0.113.9", &xff, None)).expect("ok");
    assert_eq!((spoofed.group(), spoofed.rule()), ("stable", None));
}

#[test]
fn release_routes_are_read_with_their_ids() {
    let e = engine();
    let hs = [header("x-user", "tester")];
    let d = decide(&e, &request("203.0.113.9", &hs, None)).expect("ok");
    let (mut v, mut id) = (ptr::null(), ptr::null());
    // SAFETY: the decision is live, `v` and `id` writable.
    let s = unsafe { gray_decision_route(d.0, GRAY_ROUTE_VERSION, &mut v, &mut id) };
    assert_eq!(s, GrayStatus::GRAY_OK);
    assert_eq!(
        (text(v), text(id)),
        (Some(r#"{"svc-a":"1.1"}"#), Some("green"))
    );
    // SAFETY: as above.
    let s = unsafe { gray_decision_route(d.0, GRAY_ROUTE_REGION, &mut v, &mut id) };
    assert_eq!((s, text(v), text(id)), (GrayStatus::GRAY_OK, None, None));
    // SAFETY: as above; the kind is out of range.
    let s = unsafe { gray_decision_route(d.0, 99, &mut v, &mut id) };
    assert_eq!(s, GrayStatus::GRAY_ERR_ARG);
}

#[test]
fn bad_utf8_in_any_field_is_an_error_naming_it() {
    let e = engine();
    let bad = GrayStr {
        ptr: b"x\xff".as_ptr().cast(),
        len: 2,
    };
    type Setter = fn(&mut GrayRequest, GrayStr);
    let fields: [(&str, Setter); 6] = [
        ("request.peer", |r, s| r.peer = s),
        ("request.method", |r, s| r.method = s),
        ("request.path", |r, s| r.path = s),
        ("request.query", |r, s| r.query = s),
        ("request.host", |r, s| r.host = s),
        ("request.cookie", |r, s| r.cookie = s),
    ];
    for (name, set) in fields {
        let mut req = GrayRequest::default();
        set(&mut req, bad);
        assert_eq!(
            decide(&e, &req).err(),
            Some(GrayStatus::GRAY_ERR_UTF8),
            "{name}"
        );
        let (code, message, ..) = last_error();
        assert_eq!(code, GrayStatus::GRAY_ERR_UTF8);
        assert_eq!(message, format!("{name} is not valid UTF-8"));
    }
    let hs = [
        header("x-a", "1"),
        GrayHeader {
            name: GrayStr::new("x-b"),
            value: bad,
        },
    ];
    assert_eq!(
        decide(&e, &request("10.0.0.1", &hs, None)).err(),
        Some(GrayStatus::GRAY_ERR_UTF8)
    );
    assert_eq!(
        last_error().1,
        "request.headers[1].value is not valid UTF-8"
    );
    assert_eq!(
        decide(&e, &request("nowhere", &[], None)).err(),
        Some(GrayStatus::GRAY_ERR_ARG)
    );
}

#[test]
fn null_arguments_are_errors() {
    let e = engine();
    let req = GrayRequest::default();
    let mut d = ptr::null_mut();
    // SAFETY: every pointer is NULL or valid; NULLs are what is tested.
    unsafe {
        assert_eq!(
            gray_engine_decide(ptr::null(), &req, &mut d),
            GrayStatus::GRAY_ERR_NULL
        );
        assert_eq!(last_error().1, "engine is NULL");
        assert_eq!(
            gray_engine_decide(e.0, ptr::null(), &mut d),
            GrayStatus::GRAY_ERR_NULL
        );
        assert_eq!(
            gray_engine_decide(e.0, &req, ptr::null_mut()),
            GrayStatus::GRAY_ERR_NULL
        );
        let mut out = ptr::null_mut();
        let s = gray_engine_from_str(ptr::null(), GRAY_FORMAT_YAML, &mut out, ptr::null_mut());
        assert_eq!(s, GrayStatus::GRAY_ERR_NULL);
        assert!(gray_decision_group(ptr::null()).is_null());
        assert_eq!(last_error().1, "decision is NULL");
        assert_eq!(gray_decision_header_count(ptr::null()), 0);
        assert_eq!(gray_engine_generation(ptr::null()), 0);
        gray_engine_free(ptr::null_mut());
        gray_decision_free(ptr::null_mut());
        gray_string_free(ptr::null_mut());
        assert_eq!(gray_last_error(ptr::null_mut()), GrayStatus::GRAY_ERR_NULL);
    }
}

#[test]
fn a_bad_file_names_file_line_and_column() {
    assert_eq!(
        from_file("bad.yaml").err(),
        Some(GrayStatus::GRAY_ERR_CONFIG)
    );
    let (code, message, path, file, line, column) = last_error();
    assert_eq!(code, GrayStatus::GRAY_ERR_CONFIG);
    assert_eq!(path.as_deref(), Some("default"));
    assert!(
        file.as_deref().is_some_and(|f| f.ends_with("bad.yaml")),
        "{file:?}"
    );
    assert_eq!((line, column), (4, 10));
    assert!(
        message.contains(r#"no group named "nosuchgroup""#),
        "{message}"
    );
    assert_eq!(
        from_file("missing.yaml").err(),
        Some(GrayStatus::GRAY_ERR_IO)
    );
}

#[test]
fn a_bad_reload_keeps_the_old_rules_and_a_good_one_replaces_them() {
    let e = engine();
    let cookie = request("203.0.113.9", &[], Some("canary=xaaa"));
    let bad = c("version: 1\ngroups: { a: { nodes: [] } }\ndefault: nowhere\n");
    let mut generation = 0;
    // SAFETY: the engine is live, the text NUL-terminated, `generation` writable.
    let s = unsafe {
        gray_engine_reload_str(
            e.0,
            bad.as_ptr(),
            GRAY_FORMAT_YAML,
            &mut generation,
            ptr::null_mut(),
        )
    };
    assert_eq!((s, generation), (GrayStatus::GRAY_ERR_CONFIG, 0));
    assert_eq!(last_error().4, 3, "the line of `default`");
    let before = decide(&e, &cookie).expect("ok");
    assert_eq!(before.group(), "canary");
    let good = c(
        r#"{"version": 1, "groups": {"only": {"nodes": [{"address": "127.0.0.1:1"}]}}, "default": "only"}"#,
    );
    // SAFETY: as above.
    let s = unsafe {
        gray_engine_reload_str(
            e.0,
            good.as_ptr(),
            GRAY_FORMAT_JSON,
            &mut generation,
            ptr::null_mut(),
        )
    };
    assert_eq!((s, generation), (GrayStatus::GRAY_OK, 2));
    assert_eq!(decide(&e, &cookie).expect("ok").group(), "only");
    // A decision made before keeps answering from its own rules.
    // SAFETY: the decision is live.
    assert_eq!(unsafe { gray_decision_generation(before.0) }, 1);
    assert_eq!(before.group(), "canary");
    // Reload from a file; an unknown format number is an argument error.
    let path = c(data("gray.yaml").to_str().expect("UTF-8"));
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            gray_engine_reload_file(e.0, path.as_ptr(), &mut generation),
            GrayStatus::GRAY_OK
        );
        assert_eq!(generation, 3);
        let s = gray_engine_reload_str(e.0, good.as_ptr(), 42, ptr::null_mut(), ptr::null_mut());
        assert_eq!(s, GrayStatus::GRAY_ERR_ARG);
    }
}

#[test]
fn nepxion_rules_import_with_warnings() {
    let text = c(&std::fs::read_to_string(data("rule.xml")).expect("rule.xml"));
    let (mut out, mut warnings) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: the text is NUL-terminated; `out` and `warnings` writable.
    let s = unsafe {
        gray_engine_from_str(text.as_ptr(), GRAY_FORMAT_NEPXION, &mut out, &mut warnings)
    };
    assert_eq!(s, GrayStatus::GRAY_OK);
    let e = Engine(out);
    assert!(
        owned(warnings).contains("register"),
        "the unapplied <register> is reported"
    );
    let hs = [header("a", "1")];
    let d = decide(&e, &request("10.0.0.1", &hs, None)).expect("ok");
    assert!(d
        .headers()
        .contains(&("n-d-version".into(), r#"{"svc-a":"1.1"}"#.into())));
    let from_xml_file = from_file("rule.xml").expect("a .xml file is a Nepxion rule");
    let d = decide(&from_xml_file, &request("10.0.0.1", &[], None)).expect("ok");
    assert!(d
        .headers()
        .contains(&("n-d-version".into(), r#"{"svc-a":"1.0"}"#.into())));
}

#[test]
fn outcomes_eject_nodes_and_show_in_metrics() {
    let e = engine();
    let d = decide(&e, &request("203.0.113.9", &[], Some("canary=xaaa"))).expect("ok");
    // SAFETY: engine and decision are live.
    unsafe {
        assert_eq!(
            gray_engine_record_timed(e.0, d.0, 200, 1500),
            GrayStatus::GRAY_OK
        );
        assert_eq!(
            gray_engine_record(e.0, d.0, 70_000),
            GrayStatus::GRAY_ERR_ARG
        );
        assert_eq!(gray_engine_record(e.0, d.0, -4), GrayStatus::GRAY_ERR_ARG);
        // The canary's fail_on lists http_503: one (max_fails 1) ejects its node.
        assert_eq!(gray_engine_record(e.0, d.0, 503), GrayStatus::GRAY_OK);
    }
    let after = decide(&e, &request("203.0.113.9", &[], Some("canary=xaaa"))).expect("ok");
    // SAFETY: the decision is live.
    assert!(unsafe { gray_decision_is_fallback(after.0) });
    assert_eq!(
        (after.group(), after.node()),
        ("stable", Some("10.0.1.10:8080"))
    );
    let mut out = ptr::null_mut();
    // SAFETY: the engine is live, `out` writable.
    assert_eq!(
        unsafe { gray_engine_metrics(e.0, &mut out) },
        GrayStatus::GRAY_OK
    );
    let metrics = owned(out);
    assert!(
        metrics.contains(r#"gray_rule_failures_total{rule="canary-cookie"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("gray_upstream_request_duration_seconds"),
        "{metrics}"
    );
}

#[test]
fn node_administration() {
    let e = engine();
    let (group, node) = (c("stable"), c("10.0.1.11:8080"));
    let mut generation = 0;
    // SAFETY: the engine is live; strings NUL-terminated; `generation` writable.
    unsafe {
        let s = gray_engine_add_node(e.0, group.as_ptr(), node.as_ptr(), 5, &mut generation);
        assert_eq!((s, generation), (GrayStatus::GRAY_OK, 2));
        let s = gray_engine_set_weight(e.0, group.as_ptr(), node.as_ptr(), 10_001, ptr::null_mut());
        assert_eq!(s, GrayStatus::GRAY_ERR_CONFIG);
        let s = gray_engine_drain(e.0, group.as_ptr(), node.as_ptr(), true, &mut generation);
        assert_eq!((s, generation), (GrayStatus::GRAY_OK, 3));
    }
    let mut out = ptr::null_mut();
    // SAFETY: as above; `out` writable.
    assert_eq!(
        unsafe { gray_engine_nodes(e.0, group.as_ptr(), &mut out) },
        GrayStatus::GRAY_OK
    );
    let nodes: serde_json::Value = serde_json::from_str(&owned(out)).expect("JSON");
    assert_eq!(nodes["nodes"][1]["address"], "10.0.1.11:8080");
    assert_eq!(nodes["nodes"][1]["weight"], 5);
    assert_eq!(nodes["nodes"][1]["drain"], true);
    assert_eq!(nodes["nodes"][1]["health"], "draining");
    let nowhere = c("nowhere");
    // SAFETY: as above.
    unsafe {
        let s = gray_engine_remove_node(e.0, group.as_ptr(), node.as_ptr(), &mut generation);
        assert_eq!((s, generation), (GrayStatus::GRAY_OK, 4));
        let s = gray_engine_remove_node(e.0, group.as_ptr(), node.as_ptr(), ptr::null_mut());
        assert_eq!(s, GrayStatus::GRAY_ERR_UNKNOWN_NODE);
        let s = gray_engine_set_weight(e.0, nowhere.as_ptr(), node.as_ptr(), 1, ptr::null_mut());
        assert_eq!(s, GrayStatus::GRAY_ERR_UNKNOWN_GROUP);
        assert_eq!(last_error().2.as_deref(), Some("group"));
    }
}

#[test]
fn explain_is_json() {
    let e = engine();
    let req = request("203.0.113.9", &[], Some("canary=xAAA"));
    let mut out = ptr::null_mut();
    // SAFETY: the engine is live, `req` valid, `out` writable.
    assert_eq!(
        unsafe { gray_engine_explain(e.0, &req, &mut out) },
        GrayStatus::GRAY_OK
    );
    let ex: serde_json::Value = serde_json::from_str(&owned(out)).expect("JSON");
    assert_eq!(ex["rule"], "canary-cookie");
    assert_eq!(ex["group"], "canary");
    assert_eq!(ex["rules"][0]["matched"], true);
}

#[test]
fn one_engine_serves_many_threads_while_reloading() {
    let e = engine();
    let path = c(data("gray.yaml").to_str().expect("UTF-8"));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..500 {
                    let d =
                        decide(&e, &request("203.0.113.9", &[], Some("canary=xaaa"))).expect("ok");
                    assert_eq!(d.group(), "canary");
                }
            });
        }
        s.spawn(|| {
            for _ in 0..20 {
                // SAFETY: the engine is live; the path NUL-terminated.
                let s = unsafe { gray_engine_reload_file(e.raw(), path.as_ptr(), ptr::null_mut()) };
                assert_eq!(s, GrayStatus::GRAY_OK);
            }
        });
    });
    // SAFETY: the engine is live.
    assert_eq!(unsafe { gray_engine_generation(e.0) }, 21);
}

#[test]
fn inbound_routing_headers_pass_only_from_trusted_peers() {
    let e = from_yaml(
        r#"version: 1
groups: { g: { nodes: [{ address: "127.0.0.1:1" }] } }
default: g
release: { defaults: { version: '{"svc-a":"1.0"}' } }
headers: { trusted_peers: ["10.0.0.0/8"] }
"#,
    );
    let forwards = |d: &Decision, name: &str| {
        // SAFETY: the decision is live; `name` is borrowed for the call.
        unsafe { gray_decision_forwards_inbound(d.0, name.as_ptr().cast(), name.len()) }
    };
    let client = decide(&e, &request("203.0.113.9", &[], None)).expect("ok");
    // SAFETY: the decision is live.
    assert!(!unsafe { gray_decision_trusts_inbound(client.0) });
    assert!(!forwards(&client, "n-d-region"));
    assert!(
        !forwards(&client, "N-D-Version"),
        "names compare in any case"
    );
    assert!(forwards(&client, "x-request-id"), "not a routing header");
    let routing = |d: &Decision, name: &str| {
        // SAFETY: the decision is live; `name` is borrowed for the call.
        unsafe { gray_decision_is_routing_header(d.0, name.as_ptr().cast(), name.len()) }
    };
    assert!(routing(&client, "N-D-Version") && !routing(&client, "x-gray"));
    let peer = decide(&e, &request("10.0.0.7:5000", &[], None)).expect("ok");
    // SAFETY: the decision is live.
    assert!(unsafe { gray_decision_trusts_inbound(peer.0) });
    assert!(
        forwards(&peer, "n-d-region"),
        "trusted and not set by the decision"
    );
    assert!(!forwards(&peer, "n-d-version"), "replaced by the decision");
    // SAFETY: NULL arguments are errors, not undefined behaviour.
    assert!(!unsafe { gray_decision_forwards_inbound(ptr::null(), c"x".as_ptr(), 1) });
    // SAFETY: as above.
    assert!(!unsafe { gray_decision_forwards_inbound(peer.0, ptr::null(), 0) });
    assert_eq!(last_error().0, GrayStatus::GRAY_ERR_NULL);
}

#[test]
fn file_stamps_change_with_the_file() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gray-ffi-stamp");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("rules.yaml");
    std::fs::write(&path, "version: 1\n").expect("write");
    let cpath = c(path.to_str().expect("UTF-8 path"));
    let stamp = |p: &CString| {
        let (mut mtime, mut size) = (1u64, 1u64);
        // SAFETY: `p` is NUL-terminated; both outputs writable.
        let s = unsafe { gray_file_stamp(p.as_ptr(), &mut mtime, &mut size) };
        (s, mtime, size)
    };
    let (s, mtime, size) = stamp(&cpath);
    assert_eq!((s, size), (GrayStatus::GRAY_OK, 11));
    assert!(mtime > 0);
    std::fs::write(&path, "version: 1\n# more\n").expect("write");
    assert_eq!(stamp(&cpath).2, 18);
    let missing = c(dir.join("missing.yaml").to_str().expect("UTF-8 path"));
    assert_eq!(stamp(&missing), (GrayStatus::GRAY_ERR_IO, 0, 0));
    let (code, message, ..) = last_error();
    assert_eq!(code, GrayStatus::GRAY_ERR_IO);
    assert!(message.contains("missing.yaml"), "{message}");
}
