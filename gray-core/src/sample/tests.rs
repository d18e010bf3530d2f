use super::SampleConfig;
use crate::{Engine, ErrorKind, Format, SimpleRequest};

const COOKIE_ONLY: &str = r#"version: 1
groups: { stable: {}, canary: {} }
rules: [{ id: c, when: { cookie: { name: canary, equals: "1" } }, route: canary }]
default: stable
"#;

const WITH_IP: &str = r##"version: 1
client_ip: { trusted_proxies: ["127.0.0.1"] }
groups: { stable: {}, office: {} }
rules:
  - { id: office, when: { ip: ["10.1.0.0/16"] }, route: office }
  - { id: q, when: { query: { name: beta, present: true } }, route: office }
  - { id: e, when: { expr: "#H['x-app'] == '2'" }, route: office }
default: stable
"##;

fn every(n: u32) -> Option<SampleConfig> {
    Some(SampleConfig {
        every: n,
        ..SampleConfig::default()
    })
}

fn req(ip: &str) -> SimpleRequest {
    SimpleRequest::new(ip.parse().unwrap())
}

#[test]
fn off_by_default_and_off_again_drops_the_ring() {
    let engine = Engine::from_str(COOKIE_ONLY, Format::Yaml).unwrap();
    engine.decide(&req("192.0.2.1"));
    assert!(engine.sample().is_empty());
    assert_eq!(engine.sample_stats().config, None);
    engine.set_sampling(every(1)).unwrap();
    engine.decide(&req("192.0.2.1"));
    assert_eq!(engine.sample().len(), 1);
    engine.set_sampling(None).unwrap();
    engine.decide(&req("192.0.2.1"));
    assert!(engine.sample().is_empty());
    assert_eq!(engine.sample_stats().seen, 0);
}

#[test]
fn one_in_n_within_count_and_bytes() {
    let engine = Engine::from_str(COOKIE_ONLY, Format::Yaml).unwrap();
    engine
        .set_sampling(Some(SampleConfig {
            every: 3,
            capacity: 4,
            max_bytes: 1 << 20,
        }))
        .unwrap();
    for i in 0..30 {
        engine.decide(&req("192.0.2.1").with_path(&format!("/{i}")));
    }
    let paths: Vec<String> = engine.sample().into_iter().map(|r| r.path).collect();
    // Requests 0, 3, 6, … are sampled; the ring keeps the last four.
    assert_eq!(paths, ["/18", "/21", "/24", "/27"]);
    let st = engine.sample_stats();
    assert_eq!((st.seen, st.sampled, st.kept), (30, 10, 4));

    // The byte cap: each request is `GET` + a 100-byte path; 350 bytes hold three.
    engine
        .set_sampling(Some(SampleConfig {
            every: 1,
            capacity: 100,
            max_bytes: 350,
        }))
        .unwrap();
    let long = format!("/{}", "x".repeat(99));
    for _ in 0..5 {
        engine.decide(&req("192.0.2.1").with_path(&long));
    }
    let st = engine.sample_stats();
    assert_eq!((st.kept, st.bytes), (3, 309));
    // A request bigger than the whole budget is not kept.
    engine.decide(&req("192.0.2.1").with_path(&"/y".repeat(400)));
    assert_eq!(engine.sample_stats().kept, 3);
}

#[test]
fn a_copy_keeps_only_what_the_config_reads() {
    let engine = Engine::from_str(COOKIE_ONLY, Format::Yaml).unwrap();
    engine.set_sampling(every(1)).unwrap();
    engine.decide(
        &req("192.0.2.1")
            .with_query("beta=1&token=s3cret")
            .with_header("authorization", "Bearer s3cret")
            .with_header("x-forwarded-for", "10.1.2.3")
            .with_header("cookie", "session=s3cret; canary=1")
            .with_host("shop.example"),
    );
    let r = &engine.sample()[0];
    assert!(r.peer.is_unspecified());
    assert_eq!(r.query, None);
    assert!(r.headers.is_empty(), "{:?}", r.headers);
    assert_eq!(r.cookies, [("canary".to_string(), "1".to_string())]);
    assert_eq!(r.host.as_deref(), Some("shop.example"));
    assert!(!format!("{r:?}").contains("s3cret"));

    // A config that reads the client IP (behind a trusted proxy), a query parameter and an
    // expression variable keeps those, and only those.
    engine.reload_str(WITH_IP, Format::Yaml).unwrap();
    engine.decide(
        &req("127.0.0.1")
            .with_query("token=s3cret&beta=1")
            .with_header("x-forwarded-for", "10.1.2.3")
            .with_header("x-app", "2")
            .with_header("authorization", "Bearer s3cret"),
    );
    let r = engine.sample().pop().unwrap();
    assert_eq!(r.peer.to_string(), "127.0.0.1");
    assert_eq!(r.query.as_deref(), Some("beta=1"));
    let mut names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
    names.sort();
    assert_eq!(names, ["x-app", "x-forwarded-for"]);
    assert!(!format!("{r:?}").contains("s3cret"));
}

#[test]
fn what_if_on_the_live_sample_moves_what_the_traffic_would() {
    let engine =
        Engine::from_str(&WITH_IP.replace("10.1.0.0/16", "10.9.0.0/16"), Format::Yaml).unwrap();
    engine.set_sampling(every(1)).unwrap();
    for i in 0..20 {
        let client = if i % 4 == 0 { "10.1.7.7" } else { "192.0.2.9" };
        engine.decide(&req("127.0.0.1").with_header("x-forwarded-for", client));
    }
    let candidate = crate::Spec::from_str(WITH_IP, Format::Yaml).unwrap();
    let report = engine.what_if_live(candidate).unwrap();
    assert_eq!((report.requests, report.moved), (20, 5));
    assert_eq!(
        (report.cells[0].from.as_str(), report.cells[0].to.as_str()),
        ("stable", "office")
    );
    assert_eq!(engine.generation(), 1);
}

#[test]
fn a_bad_config_is_refused_and_changes_nothing() {
    let engine = Engine::from_str(COOKIE_ONLY, Format::Yaml).unwrap();
    engine.set_sampling(every(1)).unwrap();
    engine.decide(&req("192.0.2.1"));
    for bad in [
        SampleConfig {
            every: 0,
            ..SampleConfig::default()
        },
        SampleConfig {
            capacity: 0,
            ..SampleConfig::default()
        },
        SampleConfig {
            max_bytes: 0,
            ..SampleConfig::default()
        },
    ] {
        let e = engine.set_sampling(Some(bad)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidValue);
        assert!(e.location().path.starts_with("sample."), "{e}");
    }
    assert_eq!(engine.sample().len(), 1);
}
