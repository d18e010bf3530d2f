//! lua-resty-gray in a real nginx (examples/nginx/nginx.conf in a private prefix) in front of
//! real upstreams: the seeds' gray releases, spoofed forwarding headers, admin node changes in
//! every worker, reloads under traffic, a refused bad file, connect errors and fallback.
//!
//! Skipped, with a message, only when nginx or its Lua module is not installed (see
//! `support::Env::get`).

mod support;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gray_core::{Engine, Format, SimpleRequest};
use support::*;

const UNTRUSTED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const TESTER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);
const DEFAULT_VERSION: &str = r#"{"svc-a":"1.0"}"#;

#[test]
fn seeds_route_through_nginx_with_gray_deciding() {
    let Some(env) = Env::get() else { return };
    let (stable, canary) = (Upstream::start("stable"), Upstream::start("canary"));
    let rules = example_rules(&stable, &canary);
    let nodes = [
        ("127.0.0.1:18181", stable.address()),
        ("127.0.0.1:18182", canary.address()),
    ];
    let nginx = Nginx::start_with(&env, "seeds", &rules, &nodes);
    let expected = Engine::from_str(&rules, Format::Yaml).expect("the example rules compile");
    // The same answers whether gray picks the node (proxy_pass to a variable, or
    // balancer_by_lua) or only the group, nginx's upstream block picking the server.
    for port in [nginx.main, nginx.balancer, nginx.group] {
        let at = |r: &Response| {
            (
                r.status,
                r.upstream().map(str::to_string),
                r.seen("x-gray").map(str::to_string),
            )
        };
        let routed =
            |u: &str, rule: Option<&str>| (200, Some(u.to_string()), rule.map(str::to_string));

        // Seed 000: map $COOKIE_canary { ~*aaa$ server_canary; }
        let r = get(port, "/app?x=1", &[("Cookie", "uid=7; canary=userAAA")]);
        assert_eq!(at(&r), routed("canary", Some("canary-cookie")), "{r:?}");
        assert_eq!(
            r.seen("n-d-version"),
            Some(DEFAULT_VERSION),
            "the release's header is set: {r:?}"
        );
        let r = get(port, "/", &[("Cookie", "canary=aab")]);
        assert_eq!(at(&r), routed("stable", None), "{r:?}");

        // A header canary.
        let r = get(port, "/", &[("X-Beta", "yes")]);
        assert_eq!(at(&r), routed("canary", Some("beta-header")), "{r:?}");

        // Seeds 003/004: the gray list of client IPs, through the trusted load balancer.
        let r = get(port, "/", &[("X-Forwarded-For", "192.168.2.20")]);
        assert_eq!(at(&r), routed("canary", Some("testers")), "{r:?}");
        let r = get(port, "/", &[("X-Forwarded-For", "203.0.113.1, 10.8.3.4")]);
        assert_eq!(
            at(&r),
            routed("canary", Some("testers")),
            "a CIDR of the list: {r:?}"
        );
        let r = get(port, "/", &[("X-Forwarded-For", "203.0.113.1")]);
        assert_eq!(at(&r), routed("stable", None), "{r:?}");
        // ... and a tester connecting directly.
        let r = get_from(TESTER, port, "/", &[]);
        assert_eq!(at(&r), routed("canary", Some("testers")), "{r:?}");

        // A spoofed X-Forwarded-For from an untrusted peer changes nothing.
        let r = get_from(UNTRUSTED, port, "/", &[("X-Forwarded-For", "192.168.2.20")]);
        assert_eq!(
            at(&r),
            routed("stable", None),
            "spoofed X-Forwarded-For was believed: {r:?}"
        );

        // Inbound routing headers from an untrusted peer never reach the upstream: the
        // decision's n-d-version replaces theirs, n-d-region is stripped; a rule's header
        // replaces the client's.
        let r = get_from(
            UNTRUSTED,
            port,
            "/",
            &[
                ("N-D-Version", r#"{"svc-a":"9.9"}"#),
                ("n-d-region", "elsewhere"),
                ("x-gray", "spoofed"),
                ("X-Beta", "1"),
            ],
        );
        assert_eq!(at(&r), routed("canary", Some("beta-header")), "{r:?}");
        assert_eq!(r.seen("n-d-version"), Some(DEFAULT_VERSION), "{r:?}");
        assert_eq!(
            r.seen("n-d-region"),
            None,
            "an untrusted n-d-region reached the upstream: {r:?}"
        );
        // From the trusted load balancer, routing headers the decision does not set pass (and
        // gray believes them: a region no node has would answer 503).
        let r = get(port, "/", &[("n-d-tag", "blue")]);
        assert_eq!((r.status, r.seen("n-d-tag")), (200, Some("blue")), "{r:?}");
        let r = get_from(UNTRUSTED, port, "/", &[("n-d-tag", "blue")]);
        assert_eq!((r.status, r.seen("n-d-tag")), (200, None), "{r:?}");

        // 10 % of user ids, sticky: the same groups as gray-core decides.
        let mut groups = std::collections::BTreeMap::new();
        for uid in 1..=60 {
            let cookie = format!("uid={uid}");
            let want = expected
                .decide(
                    &SimpleRequest::new(Ipv4Addr::LOCALHOST.into())
                        .with_cookie("uid", &uid.to_string()),
                )
                .group()
                .to_string();
            let r = get(port, "/", &[("Cookie", &cookie)]);
            assert_eq!(
                (r.status, r.upstream()),
                (200, Some(want.as_str())),
                "uid {uid}: {r:?}"
            );
            *groups.entry(want).or_insert(0) += 1;
        }
        assert_eq!(groups.len(), 2, "some uids in each group: {groups:?}");
    }

    // Metrics: gray's Prometheus text from the worker that answers.
    let m = get(nginx.admin, "/metrics", &[]);
    assert_eq!(m.status, 200, "{m:?}");
    assert!(m.body.contains("gray_generation 1"), "{}", m.body);
    assert!(m.body.contains("gray_rule_requests_total"), "{}", m.body);
    assert!(
        !nginx.error_log().contains("[error]"),
        "{}",
        nginx.error_log()
    );
}

#[test]
fn raw_heads_route_and_spoofed_routing_headers_never_pass() {
    let Some(env) = Env::get() else { return };
    let (stable, canary) = (Upstream::start("stable"), Upstream::start("canary"));
    // A rule on a header whose value has ':' in it.
    let rules = example_rules(&stable, &canary).replacen(
        "  - id: ten-percent",
        "  - id: colon\n    when: { header: { name: x-when, equals: \"12:30:00\" } }\n    \
         route: canary\n    set_headers: { x-gray: colon }\n  - id: ten-percent",
        1,
    );
    let nginx = Nginx::start(&env, "raw", &rules);
    for port in [nginx.main, nginx.balancer] {
        let at = |r: &Response| (r.status, r.upstream().map(str::to_string));
        let canary = (200, Some("canary".to_string()));

        // Cookies across several Cookie lines; a value with ':' reaches gray whole.
        let r = get(
            port,
            "/",
            &[("Cookie", "uid=7"), ("cookie", "canary=userAAA")],
        );
        assert_eq!(at(&r), canary, "{r:?}");
        assert_eq!(r.seen("x-gray"), Some("canary-cookie"), "{r:?}");
        let r = get(port, "/", &[("X-When", "12:30:00")]);
        assert_eq!(
            (at(&r), r.seen("x-gray")),
            (canary.clone(), Some("colon")),
            "{r:?}"
        );
        assert_eq!(r.seen("x-when"), Some("12:30:00"), "{r:?}");

        // Repeated X-Forwarded-For lines from the trusted load balancer: the last is nearest.
        let xff = [
            ("X-Forwarded-For", "203.0.113.1"),
            ("X-Forwarded-For", "192.168.2.20"),
        ];
        let r = get(port, "/", &xff);
        assert_eq!(
            (at(&r), r.seen("x-gray")),
            (canary.clone(), Some("testers")),
            "{r:?}"
        );

        // Spoofed routing headers from an untrusted peer, repeated and in any case (and with
        // underscores, which nginx drops itself): none reaches the upstream; gray's
        // n-d-version replaces theirs.
        let spoofed = [
            ("N-D-Version", r#"{"svc-a":"9.9"}"#),
            ("n-d-tag", "blue"),
            ("N-D-TAG", "green"),
            ("n-d-region", "far"),
            ("n_d_env", "x"),
            ("X-Time", "a:b:c"),
        ];
        let r = get_from(UNTRUSTED, port, "/", &spoofed);
        assert_eq!(r.status, 200, "{r:?}");
        let leaked: Vec<&str> = r
            .body
            .lines()
            .filter(|l| l.starts_with("n-d-") || l.starts_with("n_d_"))
            .collect();
        assert_eq!(leaked, [format!("n-d-version: {DEFAULT_VERSION}")], "{r:?}");
        assert_eq!(r.seen("x-time"), Some("a:b:c"), "other headers pass: {r:?}");
        // From the trusted load balancer they pass (both lines), except the one gray sets.
        let r = get(port, "/", &spoofed[..3]);
        assert_eq!(r.seen("n-d-version"), Some(DEFAULT_VERSION), "{r:?}");
        assert_eq!(r.body.matches("n-d-version: ").count(), 1, "{r:?}");
        assert_eq!(r.body.matches("n-d-tag: ").count(), 2, "{r:?}");

        // A head gray refuses but nginx takes (a control character in a value): decided from
        // nginx's parsed headers, with the same stripping.
        let r = get_from(
            UNTRUSTED,
            port,
            "/",
            &[
                ("X-Odd", "a\u{1}b"),
                ("n-d-region", "far"),
                ("Cookie", "canary=xaaa"),
            ],
        );
        assert_eq!(at(&r), canary, "{r:?}");
        assert_eq!(
            (r.seen("n-d-region"), r.seen("x-gray")),
            (None, Some("canary-cookie"))
        );
    }
    // explain() reads the same head (the admin server's /explain explains its own request).
    let r = get(
        nginx.admin,
        "/explain",
        &[("Cookie", "uid=7"), ("Cookie", "canary=xaaa")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains(r#""rule":"canary-cookie""#), "{r:?}");
    let log = nginx.error_log();
    assert!(
        log.contains("control character 0x01 in the value of header \"X-Odd\"")
            && log.contains("deciding from nginx's parsed headers instead"),
        "the refused head is logged:\n{log}"
    );
    assert!(!log.contains("[error]"), "{log}");
}

#[test]
fn admin_calls_change_the_nodes_of_every_worker() {
    let Some(env) = Env::get() else { return };
    let (stable, canary, canary2) = (
        Upstream::start("stable"),
        Upstream::start("canary"),
        Upstream::start("canary2"),
    );
    let nginx = Nginx::start(&env, "admin", &example_rules(&stable, &canary));
    let admin = |q: &str| get(nginx.admin, &format!("/gray/{q}"), &[]);

    // Seed 002: add a node, remove the old one, list.
    let r = admin(&format!(
        "upstream_add?upstream=canary&server={}&weight=1",
        canary2.address()
    ));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("\"generation\":"), "{r:?}");
    let r = admin(&format!(
        "upstream_remove?upstream=canary&server={}",
        canary.address()
    ));
    assert_eq!(r.status, 200, "{r:?}");
    std::thread::sleep(WATCH * 3);
    let list = admin("upstream_list?upstream=canary");
    assert!(
        list.body.contains(&canary2.address()) && !list.body.contains(&canary.address()),
        "{list:?}"
    );
    for _ in 0..20 {
        let r = get(nginx.main, "/", &[("Cookie", "canary=xaaa")]);
        assert_eq!(
            r.upstream(),
            Some("canary2"),
            "every worker follows the admin calls: {r:?}"
        );
    }

    // Bad calls are refused with gray's message.
    let r = admin("upstream_add?upstream=nosuch&server=127.0.0.1:1");
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("nosuch"), "{r:?}");
    let r = admin("upstream_add?upstream=canary");
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(admin("upstream_list?upstream=nosuch").status, 404);
}

#[test]
fn reload_while_requests_flow_loses_no_request() {
    let Some(env) = Env::get() else { return };
    let (stable, canary, next) = (
        Upstream::start("stable"),
        Upstream::start("canary"),
        Upstream::start("next"),
    );
    let rules = example_rules(&stable, &canary);
    let nginx = Nginx::start(&env, "reload", &rules);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (stop, port) = (stop.clone(), nginx.main);
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let sent = start.elapsed();
                    let r = try_get_from(Ipv4Addr::LOCALHOST, port, "/", &[]);
                    seen.push((
                        sent,
                        r.map(|r| (r.status, r.upstream().map(str::to_string))),
                    ));
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // Seed 000's "gray B": the stable group moves to the next build.
    let changed_at = start.elapsed();
    nginx.write_rules(&rules.replace(&stable.address(), &next.address()));
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<_> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();

    let settled = changed_at + WATCH + Duration::from_millis(400);
    let (mut before, mut after) = (0, 0);
    for (sent, r) in &seen {
        let (status, upstream) = r
            .as_ref()
            .unwrap_or_else(|e| panic!("a request failed at {sent:?}: {e}"));
        assert_eq!(*status, 200, "a request failed at {sent:?}: {upstream:?}");
        if *sent < changed_at {
            assert_eq!(upstream.as_deref(), Some("stable"));
            before += 1;
        } else if *sent > settled {
            assert_eq!(
                upstream.as_deref(),
                Some("next"),
                "old rules at {sent:?} (reloaded at {changed_at:?})"
            );
            after += 1;
        }
    }
    assert!(
        before > 5 && after > 5,
        "{before} requests before, {after} after the reload"
    );
    let log = nginx.error_log();
    assert_eq!(
        log.matches("gray: reloaded").count(),
        2,
        "each worker reloaded once:\n{log}"
    );
}

#[test]
fn a_bad_rules_file_is_refused_logged_and_the_old_rules_keep_serving() {
    let Some(env) = Env::get() else { return };
    let (stable, canary) = (Upstream::start("stable"), Upstream::start("canary"));
    let rules = example_rules(&stable, &canary);
    let nginx = Nginx::start(&env, "bad", &rules);

    let bad = rules.replacen("route: canary", "route: nosuchgroup", 1);
    let line = bad
        .lines()
        .position(|l| l.contains("nosuchgroup"))
        .expect("the bad line")
        + 1;
    nginx.write_rules(&bad);
    let log = nginx.wait_log("the refused file twice (one per worker)", |l| {
        l.matches("gray: rules file refused").count() >= 2
    });
    let entry = log
        .lines()
        .find(|l| l.contains("rules file refused"))
        .expect("the entry");
    assert!(entry.contains("[error]"), "{entry}");
    assert!(entry.contains("nosuchgroup"), "gray's message: {entry}");
    assert!(
        entry.contains(&format!("line {line}, column ")),
        "the location (line {line}): {entry}"
    );
    // The old rules still answer, in every worker, and nothing is logged again until the
    // file changes.
    for _ in 0..10 {
        let r = get(nginx.main, "/", &[("Cookie", "canary=xaaa")]);
        assert_eq!((r.status, r.upstream()), (200, Some("canary")), "{r:?}");
    }
    std::thread::sleep(WATCH * 3);
    assert_eq!(
        nginx
            .error_log()
            .matches("gray: rules file refused")
            .count(),
        2
    );

    // A good file is taken again: canary's cookie now routes to stable.
    nginx.write_rules(&rules.replacen("route: canary", "route: stable", 1));
    nginx.wait_log("the reload", |l| l.matches("gray: reloaded").count() >= 2);
    for _ in 0..10 {
        let r = get(nginx.main, "/", &[("Cookie", "canary=xaaa")]);
        assert_eq!((r.status, r.upstream()), (200, Some("stable")), "{r:?}");
    }
}

#[test]
fn connect_errors_eject_the_node_and_requests_fall_back() {
    let Some(env) = Env::get() else { return };
    let stable = Upstream::start("stable");
    // A canary whose port refuses connections.
    let dead = Upstream { port: free_port() };
    let nginx = Nginx::start(&env, "eject", &example_rules(&stable, &dead));
    let statuses: Vec<u16> = (0..12)
        .map(|_| {
            let r = get(nginx.main, "/", &[("Cookie", "canary=xaaa")]);
            assert!(r.status == 502 || r.upstream() == Some("stable"), "{r:?}");
            r.status
        })
        .collect();
    // At most one connect error per worker (health is per worker): log() recorded it as a
    // connect error, which ejected the node; then the canary's fallback serves.
    let failed = statuses.iter().filter(|s| **s == 502).count();
    assert!((1..=2).contains(&failed), "{statuses:?}");
    assert!(statuses[4..].iter().all(|s| *s == 200), "{statuses:?}");
    // The worker that failed counts the connect error for the node (metrics are per worker).
    let error = format!("node=\"{}\",class=\"error\"}} 1", dead.address());
    let m = (0..20)
        .map(|_| get(nginx.admin, "/metrics", &[]))
        .find(|m| m.body.contains(&error));
    assert!(m.is_some(), "no worker's metrics have `{error}`");
}

#[test]
fn group_mode_routes_to_nginx_upstream_blocks_with_rules_that_list_no_nodes() {
    let Some(env) = Env::get() else { return };
    let (stable, canary) = (Upstream::start("stable"), Upstream::start("canary"));
    // gray only names the group; nginx's upstream blocks hold the servers.
    let rules = r#"
version: 1
client_ip: { trusted_proxies: ["127.0.0.1"], header: x-forwarded-for, recursive: true }
ip_sets:
  testers: { entries: ["192.168.2.20"] }
groups:
  stable: {}
  canary: {}
rules:
  - id: canary-cookie
    when: { cookie: { name: canary, regex: "aaa$", ignore_case: true } }
    route: canary
    set_headers: { x-gray: canary-cookie }
  - { id: testers, when: { ip: [testers] }, route: canary, set_headers: { x-gray: testers } }
default: stable
"#;
    let nodes = [
        ("127.0.0.1:18181", stable.address()),
        ("127.0.0.1:18182", canary.address()),
    ];
    let nginx = Nginx::start_with(&env, "group", rules, &nodes);
    let port = nginx.group;
    let r = get(port, "/", &[("Cookie", "uid=1; canary=userAAA")]);
    assert_eq!(
        (r.status, r.upstream(), r.seen("x-gray")),
        (200, Some("canary"), Some("canary-cookie")),
        "{r:?}"
    );
    let r = get(port, "/", &[("X-Forwarded-For", "192.168.2.20")]);
    assert_eq!(
        (r.status, r.upstream(), r.seen("x-gray")),
        (200, Some("canary"), Some("testers")),
        "{r:?}"
    );
    let r = get(port, "/", &[("Cookie", "canary=no")]);
    assert_eq!(
        (r.status, r.upstream(), r.seen("x-gray")),
        (200, Some("stable"), None),
        "{r:?}"
    );
    // A spoofed forwarded address from an untrusted peer changes nothing, and its routing
    // headers never reach the upstream.
    let r = get_from(
        UNTRUSTED,
        port,
        "/",
        &[
            ("X-Forwarded-For", "192.168.2.20"),
            ("n-d-region", "elsewhere"),
        ],
    );
    assert_eq!(
        (r.status, r.upstream(), r.seen("n-d-region")),
        (200, Some("stable"), None),
        "{r:?}"
    );
    // The variable-mode server has no node to send to with these rules: gray answers 503.
    assert_eq!(get(nginx.main, "/", &[]).status, 503);
    assert!(
        !nginx.error_log().contains("gray: decide failed"),
        "{}",
        nginx.error_log()
    );
}
