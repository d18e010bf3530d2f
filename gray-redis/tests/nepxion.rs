//! A Nepxion rule kept in Redis (`gray:{NS}:nepxion`) and applied on top of the spec by every
//! engine, as a Nepxion config center pushes rules to every gateway.

mod common;

use std::time::Duration;

use common::{eventually, RedisServer, RULES};
use gray_core::{Engine, ErrorKind, Format, SimpleRequest};
use gray_redis::{Keys, Publisher, RedisSource, SourceConfig};
use redis::Commands;

const BLUE_GREEN: &str =
    include_str!("../../testdata/nepxion/03-guide-discovery-strategy-blue-green.xml");

fn version_header(engine: &Engine, headers: &[(&str, &str)]) -> Option<String> {
    let mut req = SimpleRequest::new("192.0.2.1".parse().unwrap());
    for (k, v) in headers {
        req = req.with_header(k, v);
    }
    let d = engine.decide(&req);
    let version = d
        .headers()
        .find(|(k, _)| *k == "n-d-version")
        .map(|(_, v)| v.to_string());
    version
}

#[test]
fn a_nepxion_rule_reaches_every_engine_and_routes_like_a_local_import() {
    let server = RedisServer::start();
    let mut p = Publisher::connect(&server.url(), "nx").unwrap();
    p.publish_spec(RULES, Format::Yaml).unwrap();
    let config = SourceConfig::new(server.url(), "nx").block(Duration::from_millis(200));
    let (a, sa) = RedisSource::start(config.clone()).unwrap();
    let (b, _sb) = RedisSource::start(config).unwrap();
    assert_eq!(version_header(&a, &[("a", "1")]), None);

    let (_, warnings) = p.publish_nepxion(BLUE_GREEN).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");

    // The reference: the same rule imported locally on top of the same spec.
    let mut spec = gray_redis::parse_spec_text(RULES).unwrap();
    gray_core::nepxion::import(BLUE_GREEN)
        .unwrap()
        .apply_to(&mut spec);
    let local = Engine::new(spec).unwrap();
    let cases: [&[(&str, &str)]; 3] = [&[], &[("a", "1")], &[("a", "1"), ("b", "2")]];
    for e in [&a, &b] {
        eventually("rule applied", || e.snapshot().spec().release.is_some());
        for headers in cases {
            let got = version_header(e, headers);
            assert!(got.is_some(), "{headers:?}");
            assert_eq!(got, version_header(&local, headers), "{headers:?}");
        }
    }
    // The spec's own rules still apply underneath.
    assert_eq!(
        a.decide(&SimpleRequest::new("192.0.2.1".parse().unwrap()))
            .group(),
        "stable"
    );

    // A broken rule never reaches Redis through the publisher...
    let broken = BLUE_GREEN.replace("version-id=\"version-route2\"", "version-id=\"nope\"");
    let err = p.publish_nepxion(&broken).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownReference);
    // ...and when written behind its back every engine rejects it and keeps the old rule.
    let keys = Keys::new("nx").unwrap();
    let mut con = server.connection();
    let _: () = con.set(keys.nepxion(), &broken).unwrap();
    let _: String = con.xadd(keys.log(), "*", &[("op", "nepxion")]).unwrap();
    assert!(sa.wait_for(Duration::from_secs(20), |st| st.rejected_total >= 1));
    let err = sa.status().last_error.unwrap();
    assert!(
        err.location().path.starts_with("gray:{nx}:nepxion"),
        "{err}"
    );
    assert_eq!(
        version_header(&a, &[("a", "1")]),
        version_header(&local, &[("a", "1")])
    );

    // Removing the rule goes back to the spec alone.
    p.remove_nepxion().unwrap();
    for e in [&a, &b] {
        eventually("rule removed", || e.snapshot().spec().release.is_none());
        assert_eq!(version_header(e, &[("a", "1")]), None);
    }
}

#[test]
fn a_nepxion_rule_alone_is_enough_to_start() {
    let server = RedisServer::start();
    let mut p = Publisher::connect(&server.url(), "solo").unwrap();
    // No spec: removing the rule would leave nothing, so it is refused.
    p.publish_nepxion(BLUE_GREEN).unwrap();
    assert!(p
        .remove_nepxion()
        .unwrap_err()
        .to_string()
        .contains("no spec in Redis"));
    let (engine, _source) = RedisSource::start(SourceConfig::new(server.url(), "solo")).unwrap();
    let (reference, _) = Engine::from_nepxion(BLUE_GREEN).unwrap();
    assert_eq!(
        version_header(&engine, &[("a", "1")]),
        version_header(&reference, &[("a", "1")])
    );
}
