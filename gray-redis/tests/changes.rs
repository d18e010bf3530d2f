//! How changes travel: member-level IP set changes without re-reading sets, whole-set loads,
//! edits made behind the change log's back, a trimmed log, a deleted spec.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{eventually, group, RedisServer, RULES};
use gray_core::{Engine, ErrorKind, Format};
use gray_redis::{Keys, Publisher, RedisSource, SourceConfig};
use redis::Commands;

fn setup(ns: &str, resync: Duration) -> (RedisServer, Publisher, Arc<Engine>, RedisSource) {
    let server = RedisServer::start();
    let mut p = Publisher::connect(&server.url(), ns).unwrap();
    p.publish_spec(RULES, Format::Yaml).unwrap();
    let (engine, source) = RedisSource::start(
        SourceConfig::new(server.url(), ns)
            .block(Duration::from_millis(200))
            .resync_interval(resync),
    )
    .unwrap();
    assert!(source.wait_for(Duration::from_secs(20), |st| st.in_sync));
    let st = source.status();
    assert_eq!(st.full_syncs_total, 1, "start-up reads the namespace once");
    assert_eq!(st.last_applied_generation, Some(1));
    (server, p, engine, source)
}

fn ip(i: u32) -> String {
    std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string()
}

#[test]
fn member_changes_apply_without_rereading_the_set() {
    let (_server, mut p, engine, source) = setup("inc", Duration::from_secs(600));
    let loaded = p.ip_set_load("testers", (0..5000).map(ip)).unwrap();
    assert_eq!(loaded.changed, 5000);
    eventually("load applied", || source.status().ip_set_members == 5000);
    assert_eq!(group(&engine, &ip(4999)), "canary");
    let syncs = source.status().full_syncs_total;

    p.ip_set_add("testers", [ip(7000), ip(7001), "2001:db8::/32".into()])
        .unwrap();
    p.ip_set_remove("testers", [ip(0), ip(1)]).unwrap();
    eventually("incremental changes applied", || {
        source.status().ip_set_members == 5001
    });
    assert_eq!(group(&engine, &ip(7001)), "canary");
    assert_eq!(group(&engine, "2001:db8::5"), "canary");
    assert_eq!(group(&engine, &ip(0)), "stable");
    assert_eq!(group(&engine, &ip(2)), "canary");
    let st = source.status();
    assert_eq!(
        st.full_syncs_total, syncs,
        "no full re-read for member changes"
    );
    assert!(st.log_entries_total >= 3);

    // The engine's copy equals Redis exactly.
    let in_redis = p.ip_set_members("testers").unwrap();
    let served = engine.snapshot().spec().ip_sets["testers"].entries.clone();
    assert_eq!(served, in_redis.into_iter().collect::<Vec<_>>());

    // Emptying the set is a valid state: nobody is a tester any more.
    p.ip_set_load("testers", Vec::<String>::new()).unwrap();
    eventually("set emptied", || source.status().ip_set_members == 0);
    assert_eq!(group(&engine, &ip(2)), "stable");

    // Invalid members never reach Redis.
    let err = p
        .ip_set_add("testers", ["10.0.0.1", "10.0.0.1/8"])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidIp);
    assert_eq!(err.location().path, "members[1]");
    assert!(err.to_string().contains("did you mean 10.0.0.0/8"), "{err}");
    assert!(p.ip_set_members("testers").unwrap().is_empty());
}

#[test]
fn edits_behind_the_log_are_picked_up_by_the_periodic_resync() {
    let (server, _p, engine, source) = setup("raw", Duration::from_millis(100));
    let keys = Keys::new("raw").unwrap();
    let mut con = server.connection();
    let _: () = con.sadd(keys.ip_set("testers"), "192.0.2.50").unwrap();
    eventually("hand-typed SADD applied", || {
        group(&engine, "192.0.2.50") == "canary"
    });

    // A hand-typed bad member is rejected by validation; the engine keeps serving.
    let generation = engine.generation();
    let _: () = con.sadd(keys.ip_set("testers"), "not-an-ip").unwrap();
    assert!(source.wait_for(Duration::from_secs(20), |st| st.rejected_total >= 1));
    let err = source.status().last_error.unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidIp);
    assert!(
        err.location().path.contains("ip_sets.testers.entries"),
        "{err}"
    );
    assert_eq!(engine.generation(), generation);
    assert_eq!(group(&engine, "192.0.2.50"), "canary");

    let _: () = con.srem(keys.ip_set("testers"), "not-an-ip").unwrap();
    assert!(source.wait_for(Duration::from_secs(20), |st| st.in_sync
        && st.last_error.is_none()));
}

#[test]
fn a_trimmed_log_or_a_bad_entry_leads_to_a_full_read_not_to_drift() {
    let (server, mut p, engine, source) = setup("gap", Duration::from_secs(600));
    let keys = Keys::new("gap").unwrap();
    let first = p.ip_set_add("testers", ["192.0.2.1"]).unwrap().log_id;
    assert!(source.wait_for(Duration::from_secs(20), |st| st.log_id == first));
    let syncs = source.status().full_syncs_total;

    // The entry this engine stands on is trimmed away while a change goes unlogged.
    let mut con = server.connection();
    let _: i64 = redis::cmd("XTRIM")
        .arg(keys.log())
        .arg("MAXLEN")
        .arg(0)
        .query(&mut con)
        .unwrap();
    let _: () = con.sadd(keys.ip_set("testers"), "192.0.2.99").unwrap();
    // An entry from some future writer that this version cannot read is skipped.
    let _: String = con
        .xadd(keys.log(), "*", &[("op", "rename"), ("set", "testers")])
        .unwrap();
    p.ip_set_add("testers", ["192.0.2.2"]).unwrap();

    eventually("full read after the gap", || {
        group(&engine, "192.0.2.99") == "canary" && group(&engine, "192.0.2.2") == "canary"
    });
    assert!(source.status().full_syncs_total > syncs);
    assert_eq!(group(&engine, "192.0.2.1"), "canary");
}

#[test]
fn a_deleted_spec_is_reported_and_the_rules_stay() {
    let (server, mut p, engine, source) = setup("del", Duration::from_secs(600));
    p.ip_set_add("testers", ["192.0.2.1"]).unwrap();
    eventually("tester", || group(&engine, "192.0.2.1") == "canary");
    let keys = Keys::new("del").unwrap();
    let mut con = server.connection();
    let _: () = con.del(keys.spec()).unwrap();
    let _: String = con.xadd(keys.log(), "*", &[("op", "spec")]).unwrap();
    assert!(source.wait_for(Duration::from_secs(20), |st| !st.in_sync));
    let err = source.status().last_error.unwrap();
    assert!(err.to_string().contains("no spec in Redis"), "{err}");
    assert_eq!(group(&engine, "192.0.2.1"), "canary");

    // Republishing restores the link, and the set is read again.
    p.publish_spec(RULES, Format::Yaml).unwrap();
    assert!(source.wait_for(Duration::from_secs(20), |st| st.in_sync));
    assert_eq!(group(&engine, "192.0.2.1"), "canary");
    assert_eq!(source.status().ip_set_members, 1);
}

#[test]
fn every_write_is_announced_on_the_events_channel() {
    let server = RedisServer::start();
    let keys = Keys::new("ev").unwrap();
    let mut sub = server.connection();
    sub.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut pubsub = sub.as_pubsub();
    pubsub.subscribe(keys.events()).unwrap();
    let mut p = Publisher::connect(&server.url(), "ev").unwrap();
    p.publish_spec(RULES, Format::Yaml).unwrap();
    p.ip_set_add("testers", ["192.0.2.1"]).unwrap();
    p.ip_set_remove("testers", ["192.0.2.1"]).unwrap();
    p.ip_set_load("testers", ["192.0.2.2"]).unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let msg = pubsub.get_message().unwrap();
        assert_eq!(msg.get_channel_name(), keys.events());
        seen.push(msg.get_payload::<String>().unwrap());
    }
    assert_eq!(
        seen,
        ["spec", "add testers", "remove testers", "load testers"]
    );
}

#[test]
fn edits_behind_the_log_apply_at_once_through_keyspace_notifications() {
    // A resync so rare that only the notifications can explain a prompt update.
    let (server, mut p, engine, source) = setup("notified", Duration::from_secs(3600));
    assert!(source.wait_for(Duration::from_secs(10), |st| st.keyspace_notifications));
    let mut con = server.connection();
    let flags: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query(&mut con)
        .unwrap();
    for c in ['K', '$', 's', 'g'] {
        assert!(flags[1].contains(c), "{flags:?}");
    }
    let keys = Keys::new("notified").unwrap();
    // `eventually` gives up long before the hour-long resync: only a notification applies it.
    let _: () = con.sadd(keys.ip_set("testers"), "192.0.2.77").unwrap();
    eventually("hand-typed SADD applied", || {
        group(&engine, "192.0.2.77") == "canary"
    });
    assert_eq!(
        source.status().full_syncs_total,
        1,
        "one key re-read, not the namespace"
    );
    assert!(source.status().keyspace_rereads_total >= 1);

    // A hand-written bad spec is rejected; the old rules keep serving.
    let generation = engine.generation();
    let _: () = con
        .set(keys.spec(), "version: 1\ndefault: nowhere\n")
        .unwrap();
    assert!(source.wait_for(Duration::from_secs(10), |st| st.rejected_total >= 1));
    assert_eq!(engine.generation(), generation);
    assert_eq!(group(&engine, "192.0.2.77"), "canary");
    // The published spec again (through the CLI path: logged, so read once).
    p.publish_spec(common::RULES, Format::Yaml).unwrap();
    assert!(source.wait_for(Duration::from_secs(10), |st| st.in_sync
        && st.last_error.is_none()));

    // A change through the publisher is explained by its log entry: no extra re-read.
    std::thread::sleep(Duration::from_millis(600));
    let rereads = source.status().keyspace_rereads_total;
    p.ip_set_add("testers", ["192.0.2.78"]).unwrap();
    eventually("published add applied", || {
        group(&engine, "192.0.2.78") == "canary"
    });
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(source.status().keyspace_rereads_total, rereads);
    assert!(source
        .metrics()
        .contains("gray_redis_keyspace_notifications{namespace=\"notified\"} 1"));
}

#[test]
fn without_config_the_resync_remains_the_safety_net() {
    let server = RedisServer::start_with(&["--rename-command", "CONFIG", ""]);
    let mut p = Publisher::connect(&server.url(), "noconf").unwrap();
    p.publish_spec(common::RULES, Format::Yaml).unwrap();
    let (engine, source) = RedisSource::start(
        SourceConfig::new(server.url(), "noconf")
            .block(Duration::from_millis(200))
            .resync_interval(Duration::from_millis(300)),
    )
    .unwrap();
    assert!(source.wait_for(Duration::from_secs(10), |st| st
        .keyspace_unavailable
        .is_some()));
    let st = source.status();
    assert!(!st.keyspace_notifications);
    assert!(st.keyspace_unavailable.unwrap().contains("CONFIG"));
    let keys = Keys::new("noconf").unwrap();
    let _: () = server
        .connection()
        .sadd(keys.ip_set("testers"), "192.0.2.90")
        .unwrap();
    eventually("resync applied the hand edit", || {
        group(&engine, "192.0.2.90") == "canary"
    });
}
