//! Service-side instance selection: trusted inbound headers, failover and preference values,
//! env and zone, weights, blacklists, explanations.

use std::collections::BTreeMap;

use gray_core::{Engine, Format, SimpleRequest, Spec};

const NODES: &str = r#"
groups:
  svc:
    nodes:
      - { address: "10.1.0.1:8001", metadata: { version: "1.0", region: dev, env: common, zone: z1, id: "20210601-a" } }
      - { address: "10.1.0.2:8002", metadata: { version: "1.1", region: qa, env: env1, zone: z2, id: "20210602-b" } }
      - { address: "10.1.0.3:8003", metadata: { version: "1.1", region: qa, env: common, zone: z2, id: "20210603-c" } }
"#;

fn engine(extra: &str) -> Engine {
    let text = format!("version: 1\ndefault: svc\n{NODES}\n{extra}\n");
    Engine::from_str(&text, Format::Yaml).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn from(peer: &str) -> SimpleRequest {
    SimpleRequest::new(peer.parse().unwrap())
}

/// The set of addresses chosen over many selections.
fn picks(e: &Engine, req: &SimpleRequest) -> Vec<String> {
    let mut out: Vec<String> = (0..200)
        .map(|_| {
            e.select_instance("svc", req)
                .node_address()
                .unwrap_or("none")
                .to_string()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn counts(e: &Engine, req: &SimpleRequest, n: usize) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let a = e
            .select_instance("svc", req)
            .node_address()
            .unwrap_or("none")
            .to_string();
        *m.entry(a).or_insert(0) += 1;
    }
    m
}

#[test]
fn inbound_headers_only_from_trusted_peers() {
    let e = engine("headers: { trusted_peers: [\"10.0.0.0/8\", mesh] }\nip_sets: { mesh: { entries: [\"192.168.7.0/24\"] } }");
    let h = |r: SimpleRequest| r.with_header("n-d-version", r#"{"svc":"1.0"}"#);
    assert_eq!(picks(&e, &h(from("10.9.9.9"))), ["10.1.0.1:8001"]);
    assert_eq!(picks(&e, &h(from("192.168.7.5"))), ["10.1.0.1:8001"]);
    // Untrusted: ignored, every instance is possible.
    assert_eq!(picks(&e, &h(from("203.0.113.1"))).len(), 3);
    let ex = e.explain_instance("svc", &h(from("203.0.113.1")));
    assert!(!ex.inbound_trusted);
    assert!(ex.to_string().contains("untrusted"), "{ex}");
    // A plain value applies to every service.
    assert_eq!(
        picks(&e, &from("10.0.0.1").with_header("n-d-version", "1.1")),
        ["10.1.0.2:8002", "10.1.0.3:8003"]
    );
    // A map without this service does not constrain it.
    assert_eq!(
        picks(
            &e,
            &from("10.0.0.1").with_header("n-d-version", r#"{"other":"1.0"}"#)
        )
        .len(),
        3
    );
}

#[test]
fn own_values_override_inbound_unless_keep() {
    let release = "release: { defaults: { version: '{\"svc\":\"1.1\"}' } }";
    let req = from("10.0.0.1")
        .with_header("n-d-version", r#"{"svc":"1.0"}"#)
        .with_header("n-d-region", "qa");
    let e = engine(&format!(
        "headers: {{ trusted_peers: [\"10.0.0.0/8\"] }}\n{release}"
    ));
    // Own version wins; the inbound region fills the gap.
    assert_eq!(picks(&e, &req), ["10.1.0.2:8002", "10.1.0.3:8003"]);
    let ex = e.explain_instance("svc", &req);
    assert!(
        ex.values
            .contains(&("n-d-version".into(), "1.1".into(), "own".into())),
        "{ex}"
    );
    assert!(
        ex.values
            .contains(&("n-d-region".into(), "qa".into(), "inbound".into())),
        "{ex}"
    );
    let e = engine(&format!(
        "headers: {{ trusted_peers: [\"10.0.0.0/8\"], inbound: keep }}\n{release}"
    ));
    assert_eq!(picks(&e, &req), ["none"]);
    assert_eq!(
        picks(
            &e,
            &from("10.0.0.1").with_header("n-d-version", r#"{"svc":"1.0"}"#)
        ),
        ["10.1.0.1:8001"]
    );
}

#[test]
fn failover_prefer_and_transfer() {
    let trusted = "headers: { trusted_peers: [\"10.0.0.0/8\"] }";
    let asks = |v: &str| from("10.0.0.1").with_header("n-d-version", v);
    // No failover: a version nobody runs means no instance, and explain says why.
    let e = engine(trusted);
    assert_eq!(picks(&e, &asks("9.9")), ["none"]);
    let ex = e.explain_instance("svc", &asks("9.9"));
    assert!(
        ex.to_string().contains("no match among 3: no instance"),
        "{ex}"
    );
    let e = engine(&format!("{trusted}\nrelease: {{ failover: {{ version_failover: '1.0', version_prefer: '1.1', region_transfer: dev }} }}"));
    assert_eq!(
        picks(&e, &asks("9.9").with_header("n-d-region", "dev;qa")),
        ["10.1.0.1:8001"]
    );
    // Without routes: region_transfer keeps dev (1.0 only); version_prefer (1.1) then matches
    // nothing that is left, so it is ignored.
    assert_eq!(picks(&e, &from("10.0.0.1")), ["10.1.0.1:8001"]);
    let e = engine(&format!(
        "{trusted}\nrelease: {{ failover: {{ version_prefer: '1.1' }} }}"
    ));
    assert_eq!(
        picks(&e, &from("10.0.0.1")),
        ["10.1.0.2:8002", "10.1.0.3:8003"]
    );
    // A preference that matches nothing is ignored.
    let e = engine(&format!(
        "{trusted}\nrelease: {{ failover: {{ version_prefer: '7.0' }} }}"
    ));
    assert_eq!(picks(&e, &from("10.0.0.1")).len(), 3);
    // Inbound failover headers work too.
    let e = engine(trusted);
    let r = asks("9.9").with_header("n-d-version-failover", "1.1");
    assert_eq!(picks(&e, &r), ["10.1.0.2:8002", "10.1.0.3:8003"]);
}

#[test]
fn env_and_zone() {
    let trusted = "headers: { trusted_peers: [\"10.0.0.0/8\"] }";
    let e = engine(trusted);
    assert_eq!(
        picks(&e, &from("10.0.0.1").with_header("n-d-env", "env1")),
        ["10.1.0.2:8002"]
    );
    assert_eq!(
        picks(&e, &from("10.0.0.1").with_header("n-d-env", "env9")),
        ["none"]
    );
    let r = from("10.0.0.1")
        .with_header("n-d-env", "env9")
        .with_header("n-d-env-failover", "common");
    assert_eq!(picks(&e, &r), ["10.1.0.1:8001", "10.1.0.3:8003"]);
    // Zone affinity: the caller is in z2.
    let e = engine(&format!(
        "{trusted}\nrelease: {{ zone_affinity: true, local: {{ service: caller, zone: z2 }} }}"
    ));
    assert_eq!(
        picks(&e, &from("10.0.0.1")),
        ["10.1.0.2:8002", "10.1.0.3:8003"]
    );
    // No instance in the caller's zone (z3): any zone, or the zone failover.
    let e = engine(&format!(
        "{trusted}\nrelease: {{ zone_affinity: true, local: {{ service: caller, zone: z3 }} }}"
    ));
    assert_eq!(picks(&e, &from("10.0.0.1")).len(), 3);
    let e = engine(&format!("{trusted}\nrelease: {{ zone_affinity: true, local: {{ zone: z3 }}, failover: {{ zone_failover: z1 }} }}"));
    assert_eq!(picks(&e, &from("10.0.0.1")), ["10.1.0.1:8001"]);
    let e = Engine::from_str(
        &format!("version: 1\ndefault: svc\n{NODES}\nrelease: {{ zone_affinity: true }}"),
        Format::Yaml,
    )
    .unwrap_err();
    assert!(e.to_string().contains("local.zone"), "{e}");
}

#[test]
fn blacklists_by_id_and_address() {
    let e = engine("release: { blacklist: { id: '20210601*', address: '8003' } }");
    assert_eq!(picks(&e, &from("203.0.113.1")), ["10.1.0.2:8002"]);
    let e = engine("release: { blacklist: { address: '10.1.0.2;10.1.0.3:8003' } }");
    assert_eq!(picks(&e, &from("203.0.113.1")), ["10.1.0.1:8001"]);
}

#[test]
fn version_weights_are_per_instance() {
    let e = engine("release: { defaults: { version_weight: '1.0=90;1.1=10' } }");
    let c = counts(&e, &from("203.0.113.1"), 6000);
    // 90 : 10 : 10 per instance, not per version.
    let share = |a: &str| c.get(a).copied().unwrap_or(0) as f64 / 6000.0;
    assert!(
        (share("10.1.0.1:8001") - 90.0 / 110.0).abs() < 0.03,
        "{c:?}"
    );
    assert!(
        (share("10.1.0.2:8002") - 10.0 / 110.0).abs() < 0.03,
        "{c:?}"
    );
    // A weight list that misses a candidate is abandoned for the nodes' own weights.
    let e = engine("release: { defaults: { version_weight: '1.0=100' } }");
    assert_eq!(counts(&e, &from("203.0.113.1"), 300).len(), 3);
    let ex = e.explain_instance("svc", &from("203.0.113.1"));
    assert!(
        ex.to_string().contains("does not weigh every candidate"),
        "{ex}"
    );
    // Region weights.
    let e = engine("release: { defaults: { region_weight: 'dev=0;qa=1' } }");
    assert_eq!(
        picks(&e, &from("203.0.113.1")),
        ["10.1.0.2:8002", "10.1.0.3:8003"]
    );
}

#[test]
fn discovery_filters_use_the_caller_identity() {
    let e = engine(
        "release:
  discovery:
    version:
      - { consumer: caller, provider: svc, consumer_values: ['1.0'], provider_values: ['1.0'] }
      - { consumer: caller, provider: svc, consumer_values: ['2.0'], provider_values: ['1.1'] }
  local: { service: caller, version: '2.0' }",
    );
    assert_eq!(
        picks(&e, &from("203.0.113.1")),
        ["10.1.0.2:8002", "10.1.0.3:8003"]
    );
    let as_v = |v: &str| gray_core::CallerIdentity {
        service: Some("caller".into()),
        metadata: gray_core::spec::NodeMetadata {
            version: Some(v.into()),
            ..Default::default()
        },
    };
    let req = from("203.0.113.1");
    assert_eq!(
        e.select_instance_as("svc", &req, &as_v("1.0"))
            .node_address(),
        Some("10.1.0.1:8001")
    );
    // A consumer version with no entry may call nothing.
    assert_eq!(
        e.select_instance_as("svc", &req, &as_v("3.0"))
            .node_address(),
        None
    );
    // Another consumer is not filtered.
    let other = gray_core::CallerIdentity {
        service: Some("someone".into()),
        metadata: gray_core::spec::NodeMetadata {
            version: Some("1.0".into()),
            ..Default::default()
        },
    };
    assert!(e
        .select_instance_as("svc", &req, &other)
        .node_address()
        .is_some());
}

#[test]
fn unknown_service_and_plain_groups() {
    let e = engine("");
    assert!(e
        .select_instance("nope", &from("10.0.0.1"))
        .node()
        .is_none());
    let ex = e.explain_instance("nope", &from("10.0.0.1"));
    assert!(ex.to_string().contains("no group with this name"), "{ex}");
    // Without a release or trusted headers the group's own round robin decides.
    assert_eq!(picks(&e, &from("10.0.0.1")).len(), 3);
}

#[test]
fn native_release_round_trips() {
    let text = format!(
        "version: 1\ndefault: svc\n{NODES}\nrelease:
  routes:
    r1: {{ type: version, value: '{{\"svc\":\"1.1\"}}' }}
    w1: {{ type: version_weight, value: '1.0=1;1.1=3' }}
  blue_green: [{{ id: b, when: \"#H['a'] == '1'\", version: r1, version_weight: w1 }}]
  gray: [{{ id: g, version: 'r1=5' }}]
  defaults: {{ region: dev }}
  failover: {{ env_failover: common }}
  blacklist: {{ id: x }}
  discovery: {{ weight: [{{ type: region, weights: 'dev=1' }}] }}
  local: {{ service: me, zone: z1 }}
  zone_affinity: true
headers: {{ trusted_peers: [10.0.0.0/8] }}
"
    );
    let spec = Spec::from_str(&text, Format::Yaml).unwrap();
    assert_eq!(Spec::from_str(&spec.to_yaml(), Format::Yaml).unwrap(), spec);
    assert_eq!(Spec::from_str(&spec.to_json(), Format::Json).unwrap(), spec);
    Engine::new(spec).unwrap();
}

#[test]
fn readme_release_example_compiles_and_routes() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme
        .find("```yaml\nrelease:\n")
        .expect("README has a release example")
        + 8;
    let end = start + readme[start..].find("```").unwrap();
    let text = format!(
        "version: 1\ndefault: svc-a\ngroups:
  svc-a:
    nodes:
      - {{ address: \"10.0.0.1:3001\", metadata: {{ version: \"1.0\", region: dev, env: prod, zone: zone1 }} }}
      - {{ address: \"10.0.0.2:3002\", metadata: {{ version: \"1.1\", region: qa, env: prod, zone: zone1 }} }}
  svc-b:
    nodes:
      - {{ address: \"10.0.1.1:4001\", metadata: {{ version: \"1.0\", env: prod }} }}
{}",
        &readme[start..end]
    );
    let e = Engine::from_str(&text, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let tester = SimpleRequest::new("203.0.113.1".parse().unwrap()).with_header("user", "tester");
    let d = e.decide(&tester);
    assert_eq!(
        d.route_id(gray_core::release::RouteKind::Version),
        Some("green")
    );
    assert_eq!(d.node_address(), Some("10.0.0.2:3002"));
}

#[test]
fn gray_entry_without_a_dimension_falls_to_defaults() {
    // Nepxion picks the gray entry first, then looks at the dimension: an entry without it
    // gives the defaults, and later gray entries are not tried.
    let e = engine(
        "release:
  routes:
    new: { type: version, value: '1.1' }
    qa: { type: region, value: qa }
  gray:
    - { id: regions-only, when: \"#H['a'] == '1'\", region: 'qa=1' }
    - { id: versions, version: 'new=1' }
  defaults: { version: '1.0' }",
    );
    let hit = e.decide(&from("203.0.113.1").with_header("a", "1"));
    assert_eq!(
        hit.route(gray_core::release::RouteKind::Version),
        Some("1.0")
    );
    assert_eq!(
        hit.route_id(gray_core::release::RouteKind::Region),
        Some("qa")
    );
    assert_eq!(
        hit.node_address(),
        None,
        "version 1.0 is dev only, region qa: nothing"
    );
    let miss = e.decide(&from("203.0.113.1"));
    assert_eq!(
        miss.route_id(gray_core::release::RouteKind::Version),
        Some("new")
    );
    assert_eq!(miss.route(gray_core::release::RouteKind::Region), None);
}

/// What an outgoing call carries: trusted inbound routing headers, then the service's own
/// release headers, merged by the inbound policy; nothing from an untrusted peer and never a
/// non-routing header.
#[test]
fn outgoing_headers_follow_the_inbound_policy() {
    let spec = |inbound: &str| {
        format!(
            r#"
version: 1
default: svc-b
groups:
  svc-b:
    nodes:
      - {{ address: "10.0.0.1:1", metadata: {{ version: "1.0", region: qa }} }}
      - {{ address: "10.0.0.2:1", metadata: {{ version: "1.1", region: qa }} }}
headers: {{ trusted_peers: ["10.0.0.0/8"], inbound: {inbound} }}
release: {{ defaults: {{ version: '{{"svc-b":"1.0"}}' }} }}
"#
        )
    };
    let from_gateway = SimpleRequest::new("10.9.9.9".parse().unwrap())
        .with_header("n-d-version", r#"{"svc-b":"1.1"}"#)
        .with_header("n-d-region", "qa")
        .with_header("cookie", "canary=xaaa");
    let sorted = |mut v: Vec<(String, String)>| {
        v.sort();
        v
    };
    // override: the service's own version wins over the inbound one; the region travels on.
    let engine = Engine::from_str(&spec("override"), Format::Yaml).unwrap();
    let sel = engine.select_instance("svc-b", &from_gateway);
    assert_eq!(sel.node_address(), Some("10.0.0.1:1"));
    assert!(!sel.forward_inbound("n-d-version") && sel.forward_inbound("n-d-region"));
    assert!(
        !sel.forward_inbound("cookie"),
        "gray propagates routing headers only"
    );
    assert_eq!(
        sorted(sel.outgoing_headers(&from_gateway)),
        [
            ("n-d-region".to_string(), "qa".to_string()),
            ("n-d-version".to_string(), r#"{"svc-b":"1.0"}"#.to_string()),
        ]
    );
    // keep: the inbound version wins and the own one is not added.
    let engine = Engine::from_str(&spec("keep"), Format::Yaml).unwrap();
    let sel = engine.select_instance("svc-b", &from_gateway);
    assert_eq!(sel.node_address(), Some("10.0.0.2:1"));
    assert_eq!(
        sorted(sel.outgoing_headers(&from_gateway)),
        [
            ("n-d-region".to_string(), "qa".to_string()),
            ("n-d-version".to_string(), r#"{"svc-b":"1.1"}"#.to_string()),
        ]
    );
    // An untrusted peer: only the service's own headers.
    let outsider = SimpleRequest::new("203.0.113.1".parse().unwrap())
        .with_header("n-d-version", r#"{"svc-b":"1.1"}"#)
        .with_header("n-d-region", "qa");
    let sel = engine.select_instance("svc-b", &outsider);
    assert!(!sel.trusts_inbound());
    assert_eq!(
        sel.outgoing_headers(&outsider),
        [("n-d-version".to_string(), r#"{"svc-b":"1.0"}"#.to_string())]
    );
    assert_eq!(sel.service(), Some("svc-b"));
    assert_eq!(engine.select_instance("nope", &outsider).service(), None);
}

/// Consumer isolation (`release.isolation`): only instances of this process's group, which is
/// also propagated as `n-d-group`; with `inbound: keep` a trusted caller's group applies.
#[test]
fn consumer_isolation_by_group() {
    let spec = |extra: &str| {
        format!(
            r#"
version: 1
default: svc-b
groups:
  svc-b:
    nodes:
      - {{ address: "10.0.0.1:1", metadata: {{ group: blue }} }}
      - {{ address: "10.0.0.2:1", metadata: {{ group: green }} }}
      - {{ address: "10.0.0.3:1" }}
headers: {{ trusted_peers: ["10.0.0.0/8"]{extra} }}
release: {{ isolation: true, local: {{ group: blue }} }}
"#
        )
    };
    let engine = Engine::from_str(&spec(""), Format::Yaml).unwrap();
    let caller = SimpleRequest::new("10.9.9.9".parse().unwrap()).with_header("n-d-group", "green");
    for _ in 0..50 {
        let sel = engine.select_instance("svc-b", &caller);
        assert_eq!(
            sel.node_address(),
            Some("10.0.0.1:1"),
            "own group wins (override)"
        );
        assert_eq!(
            sel.outgoing_headers(&caller),
            [("n-d-group".to_string(), "blue".to_string())]
        );
    }
    let ex = engine.explain_instance("svc-b", &caller);
    assert!(
        ex.steps
            .iter()
            .any(|s| s.filter == "n-d-group" && s.outcome == "kept 1 of 3"),
        "{:?}",
        ex.steps
    );
    // keep: the trusted caller's group.
    let keep = Engine::from_str(&spec(", inbound: keep"), Format::Yaml).unwrap();
    assert_eq!(
        keep.select_instance("svc-b", &caller).node_address(),
        Some("10.0.0.2:1")
    );
    // Isolation without a group of one's own is a located error.
    let e = Engine::from_str(
        "version: 1\ndefault: a\ngroups: { a: { nodes: [] } }\nrelease: { isolation: true }\n",
        Format::Yaml,
    )
    .unwrap_err();
    assert_eq!(e.location().path, "release.isolation");
    // Host-prefix filters from the native format: an empty prefix is refused.
    let e = Engine::from_str(
        "version: 1\ndefault: a\ngroups: { a: { nodes: [] } }\nrelease: { discovery: { hosts: { type: blacklist, prefixes: [\" \"] } } }\n",
        Format::Yaml,
    )
    .unwrap_err();
    assert_eq!(e.location().path, "release.discovery.hosts.prefixes[0]");
}

/// Multi-active services (an instance with `metadata.active`) never take the region failover:
/// a region route that matches no instance gives no instance rather than crossing regions.
#[test]
fn multi_active_services_skip_the_region_failover() {
    let spec = |active: bool| {
        format!(
            r#"
version: 1
default: svc-b
groups:
  svc-b:
    nodes:
      - {{ address: "10.0.0.1:1", metadata: {{ region: east, active: {active} }} }}
      - {{ address: "10.0.0.2:1", metadata: {{ region: west }} }}
release: {{ defaults: {{ region: north }}, failover: {{ region_failover: west }} }}
"#
        )
    };
    let req = SimpleRequest::new("203.0.113.1".parse().unwrap());
    let plain = Engine::from_str(&spec(false), Format::Yaml).unwrap();
    assert_eq!(
        plain.select_instance("svc-b", &req).node_address(),
        Some("10.0.0.2:1"),
        "north matches nothing: fail over to west"
    );
    let multi = Engine::from_str(&spec(true), Format::Yaml).unwrap();
    assert_eq!(multi.select_instance("svc-b", &req).node_address(), None);
    let ex = multi.explain_instance("svc-b", &req);
    assert!(
        ex.steps
            .iter()
            .any(|s| s.filter == "n-d-region" && s.outcome.contains("no instance")),
        "{:?}",
        ex.steps
    );
}
