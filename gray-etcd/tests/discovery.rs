//! gray-etcd against a real etcd (started here): registration, metadata changes, lease expiry,
//! an etcd outage and recovery, atomic batches, and a rejected spec.

mod common;

use std::time::{Duration, Instant};

use common::{addresses, eventually, have_etcd, EtcdServer};
use gray_core::{Engine, SimpleRequest};
use gray_etcd::{EtcdConfig, EtcdSource, Instance, Registration, Store};

const PREFIX: &str = "/gray/test";

/// `svc-a` requests are sent to version 1.1 instances.
const RULES: &str = r#"version: 1
groups:
  stable: { nodes: [{ address: "10.0.1.1:80" }] }
  svc-a: {}
default: stable
release:
  defaults:
    version: '{"svc-a":"1.1"}'
"#;

fn rules() -> gray_core::Spec {
    gray_redis::parse_spec_text(RULES).unwrap()
}

fn config(etcd: &EtcdServer) -> EtcdConfig {
    EtcdConfig::new(&etcd.endpoint(), PREFIX)
        .rules(rules())
        .probe_interval(Duration::from_secs(1))
        .backoff(Duration::from_millis(100), Duration::from_millis(500))
}

fn picked(engine: &Engine, service: &str) -> Option<String> {
    let req = SimpleRequest::new("192.0.2.1".parse().unwrap());
    engine
        .select_instance(service, &req)
        .node_address()
        .map(str::to_string)
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn registration_metadata_and_lease_expiry() {
    if !have_etcd() {
        return;
    }
    let etcd = EtcdServer::start("reg");
    let (engine, source) = EtcdSource::start(config(&etcd)).unwrap();
    assert!(addresses(&engine, "svc-a").is_empty());
    assert!(source.wait_for(5 * SECOND, |s| s.connected));

    let ttl = Duration::from_secs(2);
    let a = Registration::start(
        &etcd.endpoint(),
        PREFIX,
        "svc-a",
        Instance::new("10.0.2.1:80").version("1.0"),
        ttl,
    )
    .unwrap();
    let started = Instant::now();
    assert!(
        eventually(SECOND, || addresses(&engine, "svc-a") == ["10.0.2.1:80"]),
        "registered node did not appear within a second: {:?}",
        source.status()
    );
    eprintln!("registered → applied in {:?}", started.elapsed());

    let b = Registration::start(
        &etcd.endpoint(),
        PREFIX,
        "svc-a",
        Instance::new("10.0.2.2:80").version("1.0").zone("z1"),
        ttl,
    )
    .unwrap();
    assert!(eventually(SECOND, || addresses(&engine, "svc-a").len() == 2));
    let node = engine
        .nodes("svc-a")
        .unwrap()
        .nodes
        .into_iter()
        .find(|n| n.address == "10.0.2.2:80")
        .unwrap();
    assert_eq!(node.weight, 1);
    let served = engine.snapshot().spec().groups["svc-a"].nodes.clone();
    assert_eq!(served[1].metadata.zone.as_deref(), Some("z1"));

    // No 1.1 instance yet; then b becomes 1.1 and every svc-a call goes to it.
    b.update(Instance::new("10.0.2.2:80").version("1.1").zone("z1"))
        .unwrap();
    assert!(
        eventually(SECOND, || {
            (0..20).all(|_| picked(&engine, "svc-a").as_deref() == Some("10.0.2.2:80"))
        }),
        "selection did not follow the version change"
    );

    // b dies without deregistering: gone once its 2 s lease runs out; a (kept alive) stays.
    b.abandon();
    assert_eq!(
        addresses(&engine, "svc-a").len(),
        2,
        "removed before the lease expired"
    );
    let died = Instant::now();
    assert!(
        eventually(6 * SECOND, || addresses(&engine, "svc-a")
            == ["10.0.2.1:80"]),
        "dead instance still served: {:?}",
        addresses(&engine, "svc-a")
    );
    eprintln!("lease expiry → removed after {:?}", died.elapsed());
    assert!(died.elapsed() >= Duration::from_millis(500));
    std::thread::sleep(3 * SECOND);
    assert_eq!(
        addresses(&engine, "svc-a"),
        ["10.0.2.1:80"],
        "the kept-alive instance expired"
    );

    // A clean deregistration removes at once.
    drop(a);
    assert!(eventually(SECOND, || addresses(&engine, "svc-a").is_empty()));
    let st = source.status();
    assert!(st.connected && st.in_sync, "{st:?}");
    assert!(st.events_total >= 5, "{st:?}");
    assert!(source
        .metrics()
        .contains("gray_etcd_connected{prefix=\"/gray/test\"} 1"));
}

#[test]
fn outage_keeps_last_good_nodes_and_resyncs() {
    if !have_etcd() {
        return;
    }
    let mut etcd = EtcdServer::start("outage");
    let store = Store::connect(&etcd.endpoint(), PREFIX).unwrap();
    let l = store.layout().clone();
    store
        .put(
            &l.instance("svc-a", "10.0.2.1:80"),
            &Instance::new("10.0.2.1:80").version("1.0").to_json(),
        )
        .unwrap();
    store
        .put(
            &l.instance("svc-a", "10.0.2.2:80"),
            &Instance::new("10.0.2.2:80").version("1.1").to_json(),
        )
        .unwrap();
    let (engine, source) =
        EtcdSource::start(config(&etcd).backoff(Duration::from_secs(4), Duration::from_secs(4)))
            .unwrap();
    assert_eq!(addresses(&engine, "svc-a"), ["10.0.2.1:80", "10.0.2.2:80"]);
    assert!(source.wait_for(5 * SECOND, |s| s.connected));

    etcd.kill();
    assert!(
        source.wait_for(3 * SECOND, |s| !s.connected),
        "{:?}",
        source.status()
    );
    let st = source.status();
    assert!(!st.in_sync && st.last_error.is_some(), "{st:?}");
    assert!(source
        .metrics()
        .contains("gray_etcd_connected{prefix=\"/gray/test\"} 0"));
    // The last good nodes keep serving.
    assert_eq!(addresses(&engine, "svc-a"), ["10.0.2.1:80", "10.0.2.2:80"]);
    assert_eq!(picked(&engine, "svc-a").as_deref(), Some("10.0.2.2:80"));

    // etcd comes back; changes land before the source has reconnected (its backoff is 2 s).
    etcd.restart();
    let generation = engine.generation();
    let before = source.status();
    let syncs = before.full_syncs_total;
    store.delete(&l.instance("svc-a", "10.0.2.2:80")).unwrap();
    store
        .put(
            &l.instance("svc-a", "10.0.2.3:80"),
            &Instance::new("10.0.2.3:80").version("1.1").to_json(),
        )
        .unwrap();
    store
        .put(
            &l.instance("svc-a", "10.0.2.1:80"),
            &Instance::new("10.0.2.1:80")
                .version("1.1")
                .weight(3)
                .to_json(),
        )
        .unwrap();
    // Normally all three land before the source's next retry; if a retry came first, they
    // still arrive, through the watch.
    let unseen = source.status().connects_total == before.connects_total;
    assert!(
        source.wait_for(10 * SECOND, |s| s.connected && s.in_sync),
        "{:?}",
        source.status()
    );
    assert_eq!(addresses(&engine, "svc-a"), ["10.0.2.1:80", "10.0.2.3:80"]);
    let st = source.status();
    assert!(st.full_syncs_total > syncs, "{st:?}");
    if unseen {
        assert_eq!(
            engine.generation(),
            generation + 1,
            "the resync was not one update"
        );
    } else {
        eprintln!("the source reconnected during the writes; one-update check skipped");
    }
    assert_eq!(engine.nodes("svc-a").unwrap().nodes[0].weight, 3);
    assert!(st.last_error.is_none(), "{st:?}");

    // Following again.
    store.delete(&l.instance("svc-a", "10.0.2.3:80")).unwrap();
    assert!(eventually(SECOND, || addresses(&engine, "svc-a") == ["10.0.2.1:80"]));
}

#[test]
fn a_transaction_is_one_update() {
    if !have_etcd() {
        return;
    }
    let etcd = EtcdServer::start("txn");
    let (engine, source) = EtcdSource::start(config(&etcd)).unwrap();
    assert!(source.wait_for(5 * SECOND, |s| s.connected));
    let store = Store::connect(&etcd.endpoint(), PREFIX).unwrap();
    let l = store.layout().clone();
    let keys: Vec<(String, String)> = (1..=20)
        .map(|i| {
            let a = format!("10.0.3.{i}:80");
            (
                l.instance("svc-a", &a),
                Instance::new(&a).version("1.1").to_json(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let before = engine.generation();
    // Watch every snapshot: none may hold part of the batch.
    let watcher = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + 3 * SECOND;
            let mut seen = std::collections::BTreeSet::new();
            while Instant::now() < deadline {
                seen.insert(engine.snapshot().spec().groups["svc-a"].nodes.len());
                if seen.contains(&20) {
                    break;
                }
            }
            seen
        })
    };
    store.put_all(&pairs).unwrap();
    assert!(eventually(SECOND, || addresses(&engine, "svc-a").len() == 20));
    assert_eq!(engine.generation(), before + 1);
    let seen = watcher.join().unwrap();
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [0, 20],
        "a half-applied batch was served"
    );
}

#[test]
fn rules_in_etcd_are_validated() {
    if !have_etcd() {
        return;
    }
    let etcd = EtcdServer::start("spec");
    let store = Store::connect(&etcd.endpoint(), PREFIX).unwrap();
    let l = store.layout().clone();
    store.publish_spec(RULES).unwrap();
    store
        .put(&l.instance("stable", "10.0.1.2:80"), "{}")
        .unwrap();
    // No fallback rules: the spec comes from etcd.
    let (engine, source) = EtcdSource::start(EtcdConfig::new(&etcd.endpoint(), PREFIX)).unwrap();
    assert_eq!(addresses(&engine, "stable"), ["10.0.1.1:80", "10.0.1.2:80"]);
    assert!(source.wait_for(5 * SECOND, |s| s.connected && s.in_sync));

    // The publisher refuses a spec that does not compile ...
    let bad = RULES.replace("default: stable", "default: nowhere");
    assert!(store.publish_spec(&bad).is_err());
    // ... and the engines reject one written behind its back: old rules keep serving.
    let generation = engine.generation();
    store.put(&l.spec(), &bad).unwrap();
    assert!(
        source.wait_for(2 * SECOND, |s| s.spec_rejected),
        "{:?}",
        source.status()
    );
    let st = source.status();
    let why = st.last_error.as_ref().unwrap().to_string();
    assert!(
        why.contains("/gray/test/spec") && why.contains("nowhere"),
        "{why}"
    );
    assert!(!st.in_sync && st.rejected_total >= 1);
    assert_eq!(engine.generation(), generation);
    assert_eq!(
        engine
            .decide(&SimpleRequest::new("192.0.2.1".parse().unwrap()))
            .group(),
        "stable"
    );
    assert!(source
        .metrics()
        .contains("gray_etcd_spec_rejected{prefix=\"/gray/test\"} 1"));

    // Discovery goes on under the old rules while the spec is bad.
    store
        .put(&l.instance("svc-a", "10.0.2.9:80"), r#"{"version":"1.1"}"#)
        .unwrap();
    assert!(eventually(SECOND, || addresses(&engine, "svc-a") == ["10.0.2.9:80"]));
    assert!(source.status().spec_rejected);

    // Text that is not YAML at all is rejected the same way; a good spec clears the error.
    store.put(&l.spec(), "version: [1\n").unwrap();
    assert!(
        eventually(SECOND, || source
            .status()
            .last_error
            .as_ref()
            .is_some_and(|e| e.kind() == gray_core::ErrorKind::Syntax)),
        "{:?}",
        source.status()
    );
    store
        .publish_spec(&RULES.replace("default: stable", "default: svc-a"))
        .unwrap();
    assert!(
        source.wait_for(2 * SECOND, |s| !s.spec_rejected
            && s.in_sync
            && s.last_error.is_none()),
        "{:?}",
        source.status()
    );
    assert_eq!(
        engine
            .decide(&SimpleRequest::new("192.0.2.1".parse().unwrap()))
            .group(),
        "svc-a"
    );

    // A value that is not an instance is skipped and reported, not fatal.
    store.put(&l.instance("svc-a", "junk"), "not json").unwrap();
    assert!(
        source.wait_for(2 * SECOND, |s| s.bad_instances.len() == 1),
        "{:?}",
        source.status()
    );
    assert_eq!(addresses(&engine, "svc-a"), ["10.0.2.9:80"]);
}

#[test]
fn start_without_etcd_serves_the_configured_rules_then_follows() {
    if !have_etcd() {
        return;
    }
    let mut etcd = EtcdServer::start("late");
    etcd.kill();
    let (engine, source) = EtcdSource::start(config(&etcd)).unwrap();
    assert_eq!(addresses(&engine, "stable"), ["10.0.1.1:80"]);
    assert!(!source.status().connected);
    assert!(EtcdSource::start(EtcdConfig::new(&etcd.endpoint(), PREFIX)).is_err());
    etcd.restart();
    let _reg = Registration::start(
        &etcd.endpoint(),
        PREFIX,
        "svc-a",
        Instance::new("10.0.2.5:80").version("1.1"),
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(
        eventually(5 * SECOND, || addresses(&engine, "svc-a")
            == ["10.0.2.5:80"]),
        "{:?}",
        source.status()
    );
}
