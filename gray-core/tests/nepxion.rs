//! The Nepxion vectors in testdata/nepxion/ (see index.md there) routed end to end: the
//! gateway engine decides and emits `n-d-*` headers, a service-side engine fed those headers
//! picks the instance of the next service.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use gray_core::nepxion::{self, Import};
use gray_core::release::RouteKind;
use gray_core::spec::NodeMetadata;
use gray_core::{CallerIdentity, Engine, Format, RequestView, SimpleRequest, Spec};

const A: &str = "discovery-guide-service-a";
const B: &str = "discovery-guide-service-b";

fn vector(name: &str) -> String {
    let path = format!("{}/../testdata/nepxion/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The 4-instance guide topology (a1, a2, b1, b2).
fn topology(extra: &str) -> Spec {
    let text = format!(
        r#"
version: 1
default: {A}
groups:
  {A}:
    nodes:
      - {{ address: "127.0.0.1:3001", metadata: {{ version: "1.0", region: dev, env: env1, zone: zone1 }} }}
      - {{ address: "127.0.0.1:3002", metadata: {{ version: "1.1", region: qa, env: common, zone: zone2 }} }}
  {B}:
    nodes:
      - {{ address: "127.0.0.1:4001", metadata: {{ version: "1.0", region: qa, env: env1, zone: zone1 }} }}
      - {{ address: "127.0.0.1:4002", metadata: {{ version: "1.1", region: dev, env: common, zone: zone2 }} }}
{extra}
"#
    );
    Spec::from_str(&text, Format::Yaml).unwrap()
}

/// A deterministic random source (splitmix64).
fn seeded(seed: u64) -> gray_core::RandomFn {
    let state = Arc::new(AtomicU64::new(seed));
    Arc::new(move || {
        let mut z = state.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

fn engine(spec: Spec, seed: u64) -> Engine {
    Engine::builder().random(seeded(seed)).build(spec).unwrap()
}

/// The gateway: the rule pushed to it, plus the topology.
fn gateway(import: &Import, extra: &str) -> Engine {
    let mut spec = topology(extra);
    import.apply_to(&mut spec);
    if let Some(r) = spec.release.as_mut() {
        r.local.service = Some("discovery-guide-gateway".into());
    }
    engine(spec, 7)
}

/// Service A's engine: trusts the gateway (127.0.0.1), has the same rule when `global`.
fn service_a(import: Option<&Import>) -> Engine {
    let mut spec = topology("headers: { trusted_peers: [\"127.0.0.0/8\"] }");
    if let Some(i) = import {
        i.apply_to(&mut spec);
    }
    engine(spec, 11)
}

struct Chain {
    gateway: Engine,
    service_a: Engine,
}

impl Chain {
    fn new(rule: &str) -> Chain {
        let import = nepxion::import(&vector(rule)).unwrap();
        Chain {
            gateway: gateway(&import, ""),
            service_a: service_a(None),
        }
    }

    /// Routes one request through gateway → A → B; returns (a version, b version).
    fn route(&self, req: &SimpleRequest) -> (String, String) {
        let d = self.gateway.decide(req);
        let a = d.node().expect("gateway picked an A instance");
        assert_eq!(d.group(), A);
        let a_version = a.metadata.version.clone().unwrap();
        // The gateway forwards its decision headers; inbound n-d-* only if trusted.
        let mut fwd = SimpleRequest::new("127.0.0.1".parse().unwrap());
        for (k, v) in &req.headers {
            if d.forward_inbound(k) {
                fwd = fwd.with_header(k, v);
            }
        }
        for (k, v) in d.headers() {
            if !(req.header(k).is_some() && d.forward_inbound(k)) {
                fwd = fwd.with_header(k, v);
            }
        }
        let caller = CallerIdentity {
            service: Some(A.into()),
            metadata: NodeMetadata {
                version: Some(a_version.clone()),
                ..NodeMetadata::default()
            },
        };
        let b = self.service_a.select_instance_as(B, &fwd, &caller);
        let b_node = b.node().unwrap_or_else(|| {
            panic!("{}", self.service_a.explain_instance(B, &fwd));
        });
        (a_version, b_node.metadata.version.clone().unwrap())
    }

    fn routes(&self, req: &SimpleRequest) -> (String, String) {
        // Deterministic outcomes hold on every try.
        let first = self.route(req);
        for _ in 0..20 {
            assert_eq!(self.route(req), first);
        }
        first
    }

    /// Share of requests routed all-1.0 vs all-1.1; panics on a mixed chain.
    fn share_new(&self, req: &SimpleRequest, n: usize) -> f64 {
        let mut new = 0;
        for _ in 0..n {
            match self.route(req) {
                (a, b) if a == "1.1" && b == "1.1" => new += 1,
                (a, b) if a == "1.0" && b == "1.0" => {}
                mixed => panic!("a mixed chain {mixed:?}"),
            }
        }
        new as f64 / n as f64
    }
}

fn req() -> SimpleRequest {
    SimpleRequest::new("203.0.113.7".parse().unwrap())
}

fn v(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

fn near(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= 0.05,
        "share {actual:.3}, expected {expected} ± 0.05"
    );
}

#[test]
fn v03_blue_green_orders_by_reference_count() {
    let c = Chain::new("03-guide-discovery-strategy-blue-green.xml");
    assert_eq!(c.routes(&req()), v("1.0", "1.0"));
    assert_eq!(c.routes(&req().with_header("a", "1")), v("1.0", "1.1"));
    assert_eq!(
        c.routes(&req().with_header("a", "1").with_header("b", "2")),
        v("1.1", "1.1")
    );
}

#[test]
fn v04_builtin_header_drives_blue_green() {
    let c = Chain::new("04-guide-discovery-strategy-blue-green-header-1.xml");
    assert_eq!(c.routes(&req()), v("1.0", "1.1"));
    let d = c.gateway.decide(&req());
    assert_eq!(d.route_id(RouteKind::Version), Some("version-route2"));
    // The built-in header is forwarded too.
    assert!(d.headers().any(|h| h == ("a", "1")));
}

#[test]
fn v05_expression_less_condition_is_the_fallback() {
    let c = Chain::new("05-guide-discovery-strategy-blue-green-header-3.xml");
    assert_eq!(c.routes(&req()), v("1.0", "1.0"));
}

#[test]
fn v06_parameter_cookie_and_header_variables() {
    let c = Chain::new("06-guide-discovery-strategy-blue-green-header-parameter-cookie.xml");
    let r = req()
        .with_query("a=1")
        .with_header("cookie", "b=2")
        .with_header("c", "3");
    assert_eq!(c.routes(&r), v("1.1", "1.1"));
}

#[test]
fn v07_gray_fallback_condition_95_5() {
    let c = Chain::new("07-guide-discovery-strategy-gray-1.xml");
    near(c.share_new(&req().with_header("a", "3"), 2000), 0.05);
}

#[test]
fn v08_gray_without_fallback() {
    let c = Chain::new("08-guide-discovery-strategy-gray-2.xml");
    assert_eq!(c.routes(&req()), v("1.0", "1.0"));
    near(c.share_new(&req().with_header("a", "1"), 2000), 0.90);
    near(
        c.share_new(&req().with_header("a", "1").with_header("b", "2"), 2000),
        0.15,
    );
}

#[test]
fn v09_blue_green_beats_gray() {
    let c = Chain::new("09-guide-discovery-strategy-all.xml");
    assert_eq!(c.routes(&req().with_header("a", "0")), v("1.0", "1.0"));
    assert_eq!(c.routes(&req().with_header("a", "1")), v("1.1", "1.1"));
    near(c.share_new(&req().with_header("a", "2"), 2000), 0.90);
    near(c.share_new(&req().with_header("a", "3"), 2000), 0.60);
    assert_eq!(c.share_new(&req(), 500), 1.0);
}

#[test]
fn v10_wildcard_versions() {
    let c = Chain::new("10-guide-discovery-strategy-version-3.xml");
    assert_eq!(c.routes(&req()), v("1.0", "1.0"));
}

#[test]
fn v11_address_blacklist() {
    let c = Chain::new("11-guide-discovery-strategy-blacklist.xml");
    for _ in 0..50 {
        let d = c.gateway.decide(&req());
        assert_eq!(d.node_address(), Some("127.0.0.1:3002"));
        assert_eq!(c.route(&req()), v("1.1", "1.1"));
    }
}

#[test]
fn v11_header_only_blacklists_from_a_trusted_edge() {
    // No rule; the gateway keeps client routing headers (inbound: keep).
    let import = nepxion::import_xml("<rule>\n</rule>").unwrap();
    let c = Chain {
        gateway: gateway(&import, "headers: { inbound: keep }"),
        service_a: service_a(None),
    };
    let r = req().with_header("n-d-address-blacklist", "3001;4001");
    assert_eq!(c.routes(&r), v("1.1", "1.1"));
    let r = req().with_header("n-d-address-blacklist", "3*2;4??1");
    assert_eq!(c.routes(&r), v("1.0", "1.1"));
    // With the default (override) the same client header is ignored: both versions appear.
    let c = Chain {
        gateway: gateway(&import, ""),
        service_a: service_a(None),
    };
    let seen: std::collections::BTreeSet<_> = (0..50)
        .map(|_| c.gateway.decide(&r).node_address().unwrap().to_string())
        .collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[test]
fn v12_consumer_specific_weights_and_version_filters() {
    let import = nepxion::import(&vector("12-guide-discovery-rule-version-composite.xml")).unwrap();
    let c = Chain {
        gateway: gateway(&import, ""),
        service_a: service_a(Some(&import)),
    };
    near(c.share_new(&req(), 3000), 0.60);
}

#[test]
fn v01_complete_sample_resolves_condition_1_everywhere() {
    let import = nepxion::import(&vector("01-discovery-example-service-rule.xml")).unwrap();
    let e = Engine::new(import.clone().into_spec()).unwrap();
    let d = e.decide(&req());
    for (kind, id) in [
        (RouteKind::Version, "a-1"),
        (RouteKind::Region, "b-1"),
        (RouteKind::Address, "c-1"),
        (RouteKind::VersionWeight, "d-1"),
        (RouteKind::RegionWeight, "e-1"),
    ] {
        assert_eq!(d.route_id(kind), Some(id), "{kind:?}");
    }
    let names: Vec<&str> = d.headers().map(|(k, _)| k).collect();
    for h in [
        "n-d-version",
        "n-d-region",
        "n-d-address",
        "n-d-version-weight",
        "n-d-region-weight",
        "n-d-id-blacklist",
        "n-d-address-blacklist",
        "n-d-version-failover",
        "n-d-env-failover",
    ] {
        assert!(names.contains(&h), "{h} missing from {names:?}");
    }
    // <register> and <parameter> are reported, not dropped silently; the <discovery> IP
    // prefix filter is applied.
    let w: Vec<String> = import.warnings.iter().map(ToString::to_string).collect();
    assert!(w.iter().any(|w| w.contains("/rule/register")), "{w:?}");
    assert!(w.iter().any(|w| w.contains("/rule/parameter")), "{w:?}");
    assert!(!w.iter().any(|w| w.contains("/rule/discovery")), "{w:?}");
    let hosts = import.release.discovery.hosts.as_ref().unwrap();
    assert_eq!(
        hosts.kind,
        gray_core::spec::release::HostFilterKind::Blacklist
    );
    assert_eq!(hosts.prefixes, ["10.10", "11.11"]);
    assert_eq!(
        hosts.services["discovery-springcloud-example-b"],
        ["172.16"]
    );
}

/// Nepxion's discovery host filters: a string prefix of the host (so `10.10` also excludes
/// `10.100.1.1`), the global list and the provider's own combined; a whitelist keeps only
/// matches; one of the two per rule.
#[test]
fn discovery_ip_prefix_filters_apply() {
    let rule = |body: &str| format!("<rule><discovery>{body}</discovery></rule>");
    let spec = |import: &nepxion::Import| {
        let mut s = Spec::from_str(
            r#"
version: 1
default: b
groups:
  b:
    nodes:
      - { address: "10.10.0.1:80" }
      - { address: "10.100.1.1:80" }
      - { address: "172.16.0.9:80" }
      - { address: "192.168.0.1:80" }
"#,
            Format::Yaml,
        )
        .unwrap();
        import.apply_to(&mut s);
        Engine::new(s).unwrap()
    };
    let picks = |e: &Engine| {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            if let Some(a) = e.select_instance("b", &req()).node_address() {
                seen.insert(a.to_string());
            }
        }
        seen.into_iter().collect::<Vec<_>>()
    };
    let black = nepxion::import(&rule(
        r#"<blacklist filter-value="10.10"><service service-name="b" filter-value="172.16"/></blacklist>"#,
    ))
    .unwrap();
    assert!(black.warnings.is_empty(), "{:?}", black.warnings);
    assert_eq!(picks(&spec(&black)), ["192.168.0.1:80"]);
    let white = nepxion::import(&rule(r#"<whitelist filter-value="10.10"/>"#)).unwrap();
    assert_eq!(picks(&spec(&white)), ["10.10.0.1:80", "10.100.1.1:80"]);
    // Another provider's list does not apply to b.
    let other = nepxion::import(&rule(
        r#"<blacklist><service service-name="c" filter-value="10."/></blacklist>"#,
    ))
    .unwrap();
    assert_eq!(picks(&spec(&other)).len(), 4);
    let e = nepxion::import(&rule(
        r#"<blacklist filter-value="1"/><whitelist filter-value="2"/>"#,
    ))
    .unwrap_err();
    assert!(e.to_string().contains("not both"), "{e}");
    // The explanation shows the step.
    let ex = spec(&black).explain_instance("b", &req());
    assert!(
        ex.steps
            .iter()
            .any(|s| s.filter == "discovery host blacklist"
                && s.value == "10.10;172.16"
                && s.outcome == "kept 1 of 4"),
        "{:?}",
        ex.steps
    );
    // JSON: filterType must be one of the two.
    let bad = r#"{"discoveryEntity": {"hostFilterEntity": {"filterType": "GREYLIST"}}}"#;
    let e = nepxion::import(bad).unwrap_err();
    assert!(e.to_string().contains("BLACKLIST"), "{e}");
}

#[test]
fn v02_json_form_imports_like_the_xml_form() {
    let xml = nepxion::import(&vector("01-discovery-example-service-rule.xml")).unwrap();
    let json = nepxion::import(&vector("02-discovery-example-service-rule.json")).unwrap();
    assert_eq!(xml.release, json.release);
    assert_eq!(xml.builtin_headers, json.builtin_headers);
    // And they behave the same, request by request, with the same random source.
    let mut sx = topology("");
    xml.apply_to(&mut sx);
    let mut sj = topology("");
    json.apply_to(&mut sj);
    let (ex, ej) = (engine(sx, 3), engine(sj, 3));
    let reqs = [
        req(),
        req().with_header("a", "2"),
        req().with_header("c", "3"),
        req().with_header("a", "1").with_header("b", "2"),
    ];
    for r in &reqs {
        for _ in 0..50 {
            let (dx, dj) = (ex.decide(r), ej.decide(r));
            assert_eq!(
                dx.headers().collect::<Vec<_>>(),
                dj.headers().collect::<Vec<_>>()
            );
            assert_eq!(dx.node_address(), dj.node_address());
        }
    }
}

#[test]
fn every_vector_loads() {
    let dir = format!("{}/../testdata/nepxion", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "xml" && ext != "json" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let (engine, _) = Engine::from_nepxion(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        engine.decide(&req());
        n += 1;
    }
    assert_eq!(n, 12);
}

#[test]
fn wiki_blue_green_fallback_shadows_gray() {
    // 单节点混合实施蓝绿灰度发布: with an expression-less blue-green condition, gray never runs.
    let rule = r##"<rule><strategy-release>
  <conditions type="blue-green">
    <condition id="bg" expression="#H['a'] == '1'" version-id="green"/>
    <condition id="basic-condition" version-id="blue"/>
  </conditions>
  <conditions type="gray">
    <condition id="g" version-id="blue=0;green=100"/>
  </conditions>
  <routes>
    <route id="blue" type="version">{"discovery-guide-service-a":"1.0","discovery-guide-service-b":"1.0"}</route>
    <route id="green" type="version">{"discovery-guide-service-a":"1.1","discovery-guide-service-b":"1.1"}</route>
  </routes>
</strategy-release></rule>"##;
    let import = nepxion::import_xml(rule).unwrap();
    let c = Chain {
        gateway: gateway(&import, ""),
        service_a: service_a(None),
    };
    assert_eq!(c.routes(&req()), v("1.0", "1.0"));
    assert_eq!(c.routes(&req().with_header("a", "1")), v("1.1", "1.1"));
    // Without the basic condition, gray runs and a weight of 0 is never chosen.
    let rule = rule.replace(r#"<condition id="basic-condition" version-id="blue"/>"#, "");
    let import = nepxion::import_xml(&rule).unwrap();
    let c = Chain {
        gateway: gateway(&import, ""),
        service_a: service_a(None),
    };
    assert_eq!(c.share_new(&req(), 500), 1.0);
}

#[test]
fn pushed_rules_replace_the_release_and_keep_the_services() {
    let mut spec = topology("release: { local: { service: discovery-guide-gateway } }");
    nepxion::import(&vector("03-guide-discovery-strategy-blue-green.xml"))
        .unwrap()
        .apply_to(&mut spec);
    let e = engine(spec, 5);
    let g1 = e.generation();
    let a1 = req().with_header("a", "1");
    assert_eq!(
        e.decide(&a1).route_id(RouteKind::Version),
        Some("version-route2")
    );
    // A multi-line route body is fine; the header carries the compact form.
    let pushed = r#"<rule><strategy><version>{
        "discovery-guide-service-a": "1.1",
        "discovery-guide-service-b": "1.1"
    }</version></strategy></rule>"#;
    let (g2, warnings) = e.reload_nepxion(pushed).unwrap();
    assert!(g2 > g1 && warnings.is_empty());
    let d = e.decide(&a1);
    assert_eq!(
        d.route(RouteKind::Version),
        Some(r#"{"discovery-guide-service-a":"1.1","discovery-guide-service-b":"1.1"}"#)
    );
    assert_eq!(d.node_address(), Some("127.0.0.1:3002"));
    let snap = e.snapshot();
    let release = snap.spec().release.as_ref().unwrap();
    assert_eq!(
        release.local.service.as_deref(),
        Some("discovery-guide-gateway")
    );
    // A broken push changes nothing.
    let bad = r#"<rule><strategy><version-weight>1.0=abc</version-weight></strategy></rule>"#;
    assert!(e.reload_nepxion(bad).is_err());
    assert_eq!(e.generation(), g2);
    assert_eq!(e.decide(&a1).node_address(), Some("127.0.0.1:3002"));
}

#[test]
fn explanations_show_the_release() {
    let c = Chain::new("03-guide-discovery-strategy-blue-green.xml");
    let r = req().with_header("a", "1").with_header("b", "2");
    let ex = c.gateway.explain(&r);
    let text = ex.to_string();
    assert!(text.contains("release blue-green condition2"), "{text}");
    assert!(text.contains("version-route1"), "{text}");
    assert!(text.contains("filter n-d-version"), "{text}");
    let json = serde_json::to_value(&ex).unwrap();
    assert_eq!(json["release"]["steps"][0]["route"], "version-route1");
    // The explanation counted nothing and matches the decision.
    assert_eq!(ex.node.as_deref(), c.gateway.decide(&r).node_address());
}
