//! A fleet of engines sharing one real Redis: changes reach every engine, bad changes reach
//! none, outages are survived from memory and from the dump.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{eventually, group, RedisServer, TempDir};
use gray_core::{Engine, ErrorKind, Format};
use gray_redis::{Origin, Publisher, RedisSource, SourceConfig};
use redis::Commands;

const RULES: &str = r#"
version: 1
ip_sets:
  testers: {}
  office: { entries: ["198.51.100.0/24"] }
groups:
  stable: { nodes: [{ address: "127.0.0.1:6001" }] }
  canary: { nodes: [{ address: "127.0.0.1:6002" }], fallback: stable }
rules:
  - { id: testers, when: { ip: [testers, office] }, route: canary }
default: stable
"#;

fn config(server: &RedisServer, ns: &str) -> SourceConfig {
    SourceConfig::new(server.url(), ns)
        .block(Duration::from_millis(200))
        .backoff(Duration::from_millis(20), Duration::from_millis(300))
}

fn start(server: &RedisServer, ns: &str, dump: &std::path::Path) -> (Arc<Engine>, RedisSource) {
    RedisSource::start(config(server, ns).dump(dump)).unwrap()
}

/// Writes a spec without validation and logs it, as a careless writer would.
fn force_spec(server: &RedisServer, ns: &str, text: &str) {
    let keys = gray_redis::Keys::new(ns).unwrap();
    let mut con = server.connection();
    let _: () = con.set(keys.spec(), text).unwrap();
    let _: String = con.xadd(keys.log(), "*", &[("op", "spec")]).unwrap();
}

#[test]
fn two_engines_share_one_redis_a_change_reaches_both_and_a_bad_change_neither() {
    let server = RedisServer::start();
    let dir = TempDir::new("two");
    let mut publisher = Publisher::connect(&server.url(), "shop").unwrap();
    publisher.publish_spec(RULES, Format::Yaml).unwrap();
    let (a, sa) = start(&server, "shop", &dir.join("a.json"));
    let (b, sb) = start(&server, "shop", &dir.join("b.json"));
    for e in [&a, &b] {
        assert_eq!(group(e, "192.0.2.7"), "stable");
        assert_eq!(group(e, "198.51.100.9"), "canary");
    }

    // One SADD (through the publisher) reaches both engines.
    let done = publisher.ip_set_add("testers", ["192.0.2.7"]).unwrap();
    assert_eq!(done.changed, 1);
    eventually("tester routed to canary on both", || {
        group(&a, "192.0.2.7") == "canary" && group(&b, "192.0.2.7") == "canary"
    });
    // Adding it again changes nothing and logs nothing.
    assert_eq!(
        publisher
            .ip_set_add("testers", ["192.0.2.7/32"])
            .unwrap()
            .changed,
        0
    );
    publisher.ip_set_remove("testers", ["192.0.2.7"]).unwrap();
    eventually("tester removed on both", || {
        group(&a, "192.0.2.7") == "stable" && group(&b, "192.0.2.7") == "stable"
    });

    // A new spec reaches both.
    publisher
        .publish_spec(
            &RULES.replace("default: stable", "default: canary"),
            Format::Yaml,
        )
        .unwrap();
    eventually("new default on both", || {
        group(&a, "203.0.113.1") == "canary" && group(&b, "203.0.113.1") == "canary"
    });

    // The publisher refuses a spec the engines would reject.
    let bad = RULES.replace("route: canary", "route: nowhere");
    let err = publisher.publish_spec(&bad, Format::Yaml).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownReference);

    // A writer that skips validation: every engine rejects it, keeps serving, reports it.
    let (ga, gb) = (a.generation(), b.generation());
    force_spec(&server, "shop", &bad);
    for (e, s, g) in [(&a, &sa, ga), (&b, &sb, gb)] {
        assert!(s.wait_for(Duration::from_secs(20), |st| st.rejected_total >= 1));
        let st = s.status();
        let err = st.last_error.expect("rejection is reported");
        assert_eq!(err.kind(), ErrorKind::UnknownReference);
        assert!(err.to_string().contains("nowhere"), "{err}");
        assert!(
            err.location().path.contains("redis namespace shop"),
            "{err}"
        );
        assert!(!st.in_sync);
        assert_eq!(e.generation(), g);
        assert_eq!(group(e, "198.51.100.9"), "canary");
        assert!(s
            .metrics()
            .contains("gray_redis_rejected_total{namespace=\"shop\"} 1"));
    }

    // Fixing Redis fixes both.
    publisher.publish_spec(RULES, Format::Yaml).unwrap();
    for (e, s) in [(&a, &sa), (&b, &sb)] {
        assert!(s.wait_for(Duration::from_secs(20), |st| st.in_sync
            && st.last_error.is_none()));
        assert_eq!(group(e, "203.0.113.1"), "stable");
        assert_eq!(s.status().origin, Origin::Redis);
    }
}

#[test]
fn redis_outage_memory_then_dump_then_both_converge_to_redis() {
    let mut server = RedisServer::start();
    let port = server.port();
    let dir = TempDir::new("outage");
    let mut publisher = Publisher::connect(&server.url(), "edge").unwrap();
    publisher.publish_spec(RULES, Format::Yaml).unwrap();
    publisher.ip_set_add("testers", ["192.0.2.7"]).unwrap();
    let dump_a = dir.join("a.json");
    let (a, sa) = start(&server, "edge", &dump_a);
    assert_eq!(group(&a, "192.0.2.7"), "canary");
    assert!(sa.wait_for(Duration::from_secs(20), |st| st.dumps_total >= 1));

    server.kill();
    assert!(sa.wait_for(Duration::from_secs(20), |st| !st.connected));
    // Decisions come from memory.
    assert_eq!(group(&a, "192.0.2.7"), "canary");
    assert_eq!(group(&a, "192.0.2.8"), "stable");
    assert_eq!(sa.status().last_error.unwrap().kind(), ErrorKind::Source);

    // A new engine starts from the dump while Redis is down.
    let dump_b = dir.join("b.json");
    std::fs::copy(&dump_a, &dump_b).unwrap();
    let (b, sb) = RedisSource::start(
        config(&server, "edge")
            .dump(&dump_b)
            .connect_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    assert_eq!(sb.status().origin, Origin::Dump);
    assert_eq!(group(&b, "192.0.2.7"), "canary");
    assert_eq!(group(&b, "198.51.100.9"), "canary");

    // Redis comes back empty (no persistence); the fleet's state is published again, changed.
    let server = RedisServer::start_on(port);
    let mut publisher = Publisher::connect(&server.url(), "edge").unwrap();
    publisher.publish_spec(RULES, Format::Yaml).unwrap();
    publisher.ip_set_add("testers", ["192.0.2.8"]).unwrap();
    for (e, s) in [(&a, &sa), (&b, &sb)] {
        eventually("converged to the new Redis state", || {
            group(e, "192.0.2.8") == "canary" && group(e, "192.0.2.7") == "stable"
        });
        assert!(s.wait_for(Duration::from_secs(20), |st| st.connected && st.in_sync));
        assert_eq!(s.status().origin, Origin::Redis);
    }
    // The dump follows.
    eventually("dump rewritten", || {
        gray_redis::dump::read(&dump_b).is_ok_and(|s| s.ip_sets["testers"].entries == ["192.0.2.8"])
    });
}

#[test]
fn start_needs_redis_or_a_dump_and_says_why() {
    let mut server = RedisServer::start();
    let dir = TempDir::new("start");
    // Reachable but empty Redis, no dump: the error names the missing spec and the dump.
    let err = RedisSource::start(config(&server, "empty")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Source);
    assert!(err.to_string().contains("no spec in Redis"), "{err}");
    assert!(err.to_string().contains("no dump is configured"), "{err}");
    // Redis holds a spec no engine accepts, but a dump exists: the dump serves, the reason
    // is reported, and fixing Redis takes over.
    let dump = dir.join("good.json");
    gray_redis::dump::write(&dump, &gray_redis::parse_spec_text(RULES).unwrap()).unwrap();
    force_spec(
        &server,
        "broken",
        &RULES.replace("default: stable", "default: gone"),
    );
    let (engine, source) = RedisSource::start(config(&server, "broken").dump(&dump)).unwrap();
    let st = source.status();
    assert_eq!(st.origin, Origin::Dump);
    let err = st.last_error.unwrap();
    assert_eq!(err.kind(), ErrorKind::UnknownReference);
    assert!(err.to_string().contains("gone"), "{err}");
    assert_eq!(group(&engine, "198.51.100.9"), "canary");
    Publisher::connect(&server.url(), "broken")
        .unwrap()
        .publish_spec(
            &RULES.replace("default: stable", "default: canary"),
            Format::Yaml,
        )
        .unwrap();
    eventually("Redis takes over", || {
        group(&engine, "203.0.113.1") == "canary"
    });
    assert_eq!(source.status().origin, Origin::Redis);
    drop(source);

    // Unreachable Redis and a missing dump file.
    server.kill();
    let err = RedisSource::start(
        config(&server, "x")
            .dump(dir.join("missing.json"))
            .connect_timeout(Duration::from_millis(200)),
    )
    .unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
    assert!(err.to_string().contains("missing.json"), "{err}");
    // A bad URL is a clear error.
    let err = RedisSource::start(SourceConfig::new("http://nope", "x")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidValue);
    // A bad namespace too.
    let err = RedisSource::start(SourceConfig::new("redis://127.0.0.1:1/0", "a b")).unwrap_err();
    assert_eq!(err.location().path, "namespace");
}

#[test]
fn attach_replaces_a_local_spec_once_redis_is_read() {
    let server = RedisServer::start();
    Publisher::connect(&server.url(), "att")
        .unwrap()
        .publish_spec(RULES, Format::Yaml)
        .unwrap();
    let local = Engine::from_str(
        "version: 1\ngroups: { local: { nodes: [] } }\ndefault: local\n",
        Format::Yaml,
    )
    .unwrap();
    let engine = Arc::new(local);
    let source = RedisSource::attach(engine.clone(), config(&server, "att")).unwrap();
    assert!(source.wait_for(Duration::from_secs(20), |st| st.in_sync));
    assert_eq!(group(&engine, "198.51.100.1"), "canary");
    assert_eq!(source.status().last_applied_generation, Some(2));
    source.stop();
}

#[test]
fn a_frozen_redis_holds_up_neither_requests_nor_start_up() {
    let server = RedisServer::start();
    let dir = TempDir::new("frozen");
    let mut publisher = Publisher::connect(&server.url(), "ice").unwrap();
    publisher.publish_spec(RULES, Format::Yaml).unwrap();
    publisher.ip_set_add("testers", ["192.0.2.7"]).unwrap();
    let dump = dir.join("a.json");
    let (a, sa) = RedisSource::start(config(&server, "ice").dump(&dump)).unwrap();
    assert!(sa.wait_for(Duration::from_secs(20), |st| st.dumps_total >= 1));

    server.pause();
    // The engine's thread may be stuck in a read; decisions are not.
    for _ in 0..1000 {
        assert_eq!(group(&a, "192.0.2.7"), "canary");
    }
    // A new engine gives up on the frozen Redis after `connect_timeout` and serves the dump.
    let (b, sb) = RedisSource::start(
        config(&server, "ice")
            .dump(&dump)
            .connect_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    assert_eq!(sb.status().origin, Origin::Dump);
    assert_eq!(group(&b, "192.0.2.7"), "canary");

    server.resume();
    publisher.ip_set_add("testers", ["192.0.2.8"]).unwrap();
    for e in [&a, &b] {
        eventually("converged after the freeze", || {
            group(e, "192.0.2.8") == "canary"
        });
    }
    assert!(sb.wait_for(Duration::from_secs(20), |st| st.origin == Origin::Redis));
}

#[test]
fn a_spec_or_member_that_is_not_utf8_is_rejected_and_the_connection_stays_up() {
    let server = RedisServer::start();
    let dir = TempDir::new("utf8");
    let mut publisher = Publisher::connect(&server.url(), "bytes").unwrap();
    publisher.publish_spec(RULES, Format::Yaml).unwrap();
    let (engine, source) = start(&server, "bytes", &dir.join("d.json"));
    assert_eq!(group(&engine, "198.51.100.9"), "canary");
    let generation = engine.generation();
    assert!(source.wait_for(Duration::from_secs(20), |st| st.connected && st.in_sync));
    let before = source.status();
    let keys = gray_redis::Keys::new("bytes").unwrap();
    let mut con = server.connection();

    // A spec written in Latin-1 by a careless writer: `é` is the single byte 0xE9.
    let mut bad = RULES
        .replace("default: stable", "default: canary")
        .into_bytes();
    let offset = bad.len() + "# caf".len();
    bad.extend_from_slice(b"# caf\xe9\n");
    let _: () = con.set(keys.spec(), &bad).unwrap();
    let _: String = con.xadd(keys.log(), "*", &[("op", "spec")]).unwrap();
    assert!(
        source.wait_for(Duration::from_secs(20), |st| st.rejected_total
            > before.rejected_total),
        "{:?}",
        source.status()
    );
    let st = source.status();
    assert_eq!(st.rejected_total, before.rejected_total + 1, "{st:?}");
    // The connection never dropped: no reconnect, no lost-Redis error.
    assert!(st.connected, "{st:?}");
    assert_eq!(st.connects_total, before.connects_total, "{st:?}");
    assert!(!st.in_sync);
    let err = st.last_error.clone().expect("the rejection is reported");
    assert_eq!(err.kind(), ErrorKind::Syntax, "{err}");
    assert!(err.location().path.contains(&keys.spec()), "{err}");
    assert!(err.message().contains("not UTF-8"), "{err}");
    assert!(
        err.message().contains(&format!("byte offset {offset}")),
        "{err}"
    );
    // The last good rules keep serving.
    assert_eq!(engine.generation(), generation);
    assert_eq!(group(&engine, "198.51.100.9"), "canary");
    assert_eq!(group(&engine, "203.0.113.1"), "stable");
    let metrics = source.metrics();
    assert!(
        metrics.contains(&format!(
            "gray_redis_rejected_total{{namespace=\"bytes\"}} {}",
            before.rejected_total + 1
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("gray_redis_connected{namespace=\"bytes\"} 1"),
        "{metrics}"
    );

    // Fixing the spec is applied as usual, on the same connection.
    publisher.publish_spec(RULES, Format::Yaml).unwrap();
    assert!(source.wait_for(Duration::from_secs(20), |st| st.in_sync
        && st.last_error.is_none()));
    let fixed = source.status();
    assert_eq!(fixed.connects_total, before.connects_total);

    // An IP set member that is not UTF-8 (written around the publisher): rejected the same way.
    let _: () = con
        .sadd(keys.ip_set("testers"), &b"192.0.2.\xff"[..])
        .unwrap();
    let _: String = con
        .xadd(keys.log(), "*", &[("op", "load"), ("set", "testers")])
        .unwrap();
    assert!(
        source.wait_for(Duration::from_secs(20), |st| st.rejected_total
            > fixed.rejected_total),
        "{:?}",
        source.status()
    );
    let st = source.status();
    assert!(st.connected, "{st:?}");
    assert_eq!(st.connects_total, before.connects_total, "{st:?}");
    let err = st.last_error.clone().expect("the rejection is reported");
    assert!(
        err.location().path.contains(&keys.ip_set("testers")),
        "{err}"
    );
    assert!(err.message().contains("not UTF-8"), "{err}");
    assert!(err.message().contains("byte offset 8"), "{err}");
    assert_eq!(group(&engine, "198.51.100.9"), "canary");
    // A full read (as after a reconnect or at start-up) reports it the same way.
    let err = gray_redis::load_spec(&server.url(), "bytes").unwrap_err();
    assert!(err.message().contains("not UTF-8"), "{err}");
    // Removing the member heals the set.
    let _: () = con
        .srem(keys.ip_set("testers"), &b"192.0.2.\xff"[..])
        .unwrap();
    let _: String = con
        .xadd(keys.log(), "*", &[("op", "load"), ("set", "testers")])
        .unwrap();
    assert!(source.wait_for(Duration::from_secs(20), |st| st.in_sync
        && st.last_error.is_none()));
    assert_eq!(source.status().connects_total, before.connects_total);

    // A log entry whose field name is not UTF-8 is one entry that does not parse: skipped,
    // and the entries after it still apply, on the same connection.
    let _: String = redis::cmd("XADD")
        .arg(keys.log())
        .arg("*")
        .arg(&b"o\xffp"[..])
        .arg("spec")
        .query(&mut con)
        .unwrap();
    publisher.ip_set_add("testers", ["192.0.2.7"]).unwrap();
    eventually("the change after the bad entry applies", || {
        group(&engine, "192.0.2.7") == "canary"
    });
    let st = source.status();
    assert!(st.connected && st.in_sync, "{st:?}");
    assert_eq!(st.connects_total, before.connects_total, "{st:?}");
}
