//! The seed scenarios as end-to-end tests on the public API.

use std::net::IpAddr;
use std::sync::Arc;

use gray_core::{Engine, Format, SimpleRequest};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Seed 000's three stages, as the seed's nginx files: "normal" (both upstreams on both
/// nodes), "gray A" (canary on 6002, default on 6004), "gray B" (canary 6004, default 6002).
fn stage(canary: &[&str], default: &[&str]) -> String {
    let nodes = |v: &[&str]| {
        v.iter()
            .map(|a| format!("{{ address: \"{a}\", max_fails: 1, fail_timeout: 30s }}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"
version: 1
groups:
  server_canary: {{ nodes: [{}] }}
  server_default: {{ nodes: [{}] }}
rules:
  - id: canary-account
    when: {{ cookie: {{ name: canary, regex: "aaa$", ignore_case: true }} }}
    route: server_canary
default: server_default
"#,
        nodes(canary),
        nodes(default)
    )
}

#[test]
fn seed_000_cookie_canary_and_staged_reloads() {
    let engine = Engine::from_str(
        &stage(
            &["127.0.0.1:6002", "127.0.0.1:6004"],
            &["127.0.0.1:6002", "127.0.0.1:6004"],
        ),
        Format::Yaml,
    )
    .unwrap();
    let canary_user =
        SimpleRequest::new(ip("203.0.113.7")).with_header("cookie", "canary=testerAAA");
    let normal_user = SimpleRequest::new(ip("203.0.113.8")).with_header("cookie", "canary=bob");
    assert_eq!(engine.decide(&canary_user).group(), "server_canary");
    assert_eq!(engine.decide(&normal_user).group(), "server_default");
    // Round robin over both nodes in the normal stage.
    let picks: Vec<_> = (0..4)
        .map(|_| {
            engine
                .decide(&normal_user)
                .node_address()
                .unwrap()
                .to_string()
        })
        .collect();
    // (The second decide above already took 6002 from server_default's rotation.)
    assert_eq!(
        picks,
        [
            "127.0.0.1:6004",
            "127.0.0.1:6002",
            "127.0.0.1:6004",
            "127.0.0.1:6002"
        ]
    );

    // Gray A: a decision made before the swap keeps answering from its generation.
    let before = engine.decide(&canary_user);
    let g1 = before.generation();
    let g2 = engine
        .reload_str(
            &stage(&["127.0.0.1:6002"], &["127.0.0.1:6004"]),
            Format::Yaml,
        )
        .unwrap();
    assert_eq!(g2, g1 + 1);
    assert_eq!(before.generation(), g1);
    assert_eq!(
        before.snapshot().spec().groups["server_canary"].nodes.len(),
        2,
        "old snapshot unchanged"
    );
    for _ in 0..4 {
        let d = engine.decide(&canary_user);
        assert_eq!(
            (d.group(), d.node_address()),
            ("server_canary", Some("127.0.0.1:6002"))
        );
        assert_eq!(
            engine.decide(&normal_user).node_address(),
            Some("127.0.0.1:6004")
        );
    }

    // Gray B flips the nodes.
    engine
        .reload_str(
            &stage(&["127.0.0.1:6004"], &["127.0.0.1:6002"]),
            Format::Yaml,
        )
        .unwrap();
    assert_eq!(
        engine.decide(&canary_user).node_address(),
        Some("127.0.0.1:6004")
    );
    assert_eq!(
        engine.decide(&normal_user).node_address(),
        Some("127.0.0.1:6002")
    );
    assert_eq!(engine.generation(), g1 + 2);
}

const IP_GRAY: &str = r#"
version: 1
client_ip: { trusted_proxies: ["127.0.0.1"], header: x-real-ip }
ip_sets: { gray: { entries: ["192.168.2.20"] } }
groups:
  client1: { nodes: [{ address: "127.0.0.1:8080" }] }
  client2: { nodes: [{ address: "127.0.0.1:8090" }] }
rules: [{ id: gray-ip, when: { ip: [gray] }, route: client2 }]
default: client1
"#;

#[test]
fn seeds_003_004_ip_gray_list_via_trusted_proxy_only() {
    let engine = Engine::from_str(IP_GRAY, Format::Yaml).unwrap();
    let via_proxy = SimpleRequest::new(ip("127.0.0.1")).with_header("X-Real-IP", "192.168.2.20");
    assert_eq!(
        engine.decide(&via_proxy).node_address(),
        Some("127.0.0.1:8090")
    );
    let spoofed = SimpleRequest::new(ip("192.168.9.9")).with_header("X-Real-IP", "192.168.2.20");
    assert_eq!(
        engine.decide(&spoofed).node_address(),
        Some("127.0.0.1:8080")
    );
    // The seeds' Lua fell back to X-Forwarded-For; gray only reads the configured header.
    let xff = SimpleRequest::new(ip("127.0.0.1")).with_header("x-forwarded-for", "192.168.2.20");
    assert_eq!(engine.decide(&xff).group(), "client1");

    // Adding the IP to the list (seed 004's `SET 127.0.0.1 127.0.0.1`) is a reload, not a
    // per-request lookup; removing it (`DEL`) flips back.
    let with_local = IP_GRAY.replace("[\"192.168.2.20\"]", "[\"192.168.2.20\", \"192.168.9.9\"]");
    engine.reload_str(&with_local, Format::Yaml).unwrap();
    assert_eq!(
        engine.decide(&spoofed).group(),
        "client2",
        "peer itself is now listed"
    );
    engine.reload_str(IP_GRAY, Format::Yaml).unwrap();
    assert_eq!(engine.decide(&spoofed).group(), "client1");
}

#[test]
fn seed_002_nodes_change_while_deciding() {
    let engine = Arc::new(
        Engine::from_str(
            "version: 1\ngroups:\n  localhost:\n    nodes: [{address: '127.0.0.1:8081'}, {address: '127.0.0.1:8082'}, {address: '127.0.0.1:8083'}]\ndefault: localhost\n",
            Format::Yaml,
        )
        .unwrap(),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            let req = SimpleRequest::new(ip("1.2.3.4"));
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 1000 {
                let d = engine.decide(&req);
                let addr = d.node_address().expect("always a node");
                // Every pick is a node of the snapshot that made the decision.
                assert!(d.snapshot().spec().groups["localhost"]
                    .nodes
                    .iter()
                    .any(|x| x.address == addr));
                n += 1;
            }
            n
        })
    };
    engine
        .add_node(
            "localhost",
            gray_core::spec::NodeSpec::new("127.0.0.1:8084"),
        )
        .unwrap();
    engine.remove_node("localhost", "127.0.0.1:8081").unwrap();
    let list: Vec<String> = engine
        .nodes("localhost")
        .unwrap()
        .nodes
        .into_iter()
        .map(|n| n.address)
        .collect();
    assert_eq!(list, ["127.0.0.1:8082", "127.0.0.1:8083", "127.0.0.1:8084"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    let seen: Vec<String> = (0..6)
        .map(|_| {
            engine
                .decide(&SimpleRequest::new(ip("1.2.3.4")))
                .node_address()
                .unwrap()
                .to_string()
        })
        .collect();
    let distinct: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!(
        distinct.len(),
        3,
        "round robin over exactly the three current nodes: {seen:?}"
    );
    assert!(!seen.iter().any(|a| a == "127.0.0.1:8081"));
}
