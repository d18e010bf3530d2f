//! The gateway following a Redis namespace (`--redis`): a published change reaches the
//! proxied traffic, the admin API reports the source, and a gateway started while Redis is
//! down serves the last-known-good dump.

mod common;

#[path = "../../../gray-redis/tests/common/mod.rs"]
mod redis_server;

use std::time::Duration;

use common::*;
use gray_gateway::{ConfigSource, Gateway};
use gray_redis::{Publisher, SourceConfig};

fn rules(stable: std::net::SocketAddr, canary: std::net::SocketAddr) -> String {
    format!(
        r#"version: 1
client_ip: {{ trusted_proxies: ["127.0.0.1"], header: x-forwarded-for }}
ip_sets: {{ testers: {{}} }}
groups:
  stable: {{ nodes: [{{ address: "{stable}" }}] }}
  canary: {{ nodes: [{{ address: "{canary}" }}], fallback: stable }}
rules: [{{ id: testers, when: {{ ip: [testers] }}, route: canary }}]
default: stable
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_follows_redis_and_survives_its_outage() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let mut server = redis_server::RedisServer::start();
    let dir = redis_server::TempDir::new("gateway");
    let dump = dir.join("gw.json");
    let mut publisher = Publisher::connect(&server.url(), "gw").unwrap();
    publisher
        .publish_spec(
            &rules(stable.addr(), canary.addr()),
            gray_core::Format::Yaml,
        )
        .unwrap();
    let source = SourceConfig::new(server.url(), "gw")
        .dump(&dump)
        .connect_timeout(Duration::from_millis(300))
        .block(Duration::from_millis(200));
    let gw = Gateway::start(options(ConfigSource::Redis(source.clone())))
        .await
        .expect("start gateway");
    let c = client();
    let tester = [("x-forwarded-for", "192.0.2.7")];
    assert_eq!(
        get(&c, gw.proxy_addr(), "/", &tester).await.upstream(),
        "stable"
    );

    // One `gray-redis ipset add` reaches the traffic.
    publisher.ip_set_add("testers", ["192.0.2.7"]).unwrap();
    eventually("tester routed to canary", 500, || async {
        get(&c, gw.proxy_addr(), "/", &tester).await.upstream() == "canary"
    })
    .await;
    let status = admin(&gw, "GET", "/api/status", "").await.json();
    assert_eq!(status["redis"]["connected"], true, "{status}");
    assert_eq!(status["redis"]["origin"], "redis", "{status}");
    assert!(status["config"].as_str().unwrap().contains("namespace gw"));
    let metrics = admin(&gw, "GET", "/metrics", "").await.body;
    assert!(
        metrics.contains("gray_redis_in_sync{namespace=\"gw\"} 1"),
        "{metrics}"
    );
    // A manual reload does not fight Redis.
    let generation = gw.engine().generation();
    admin(&gw, "POST", "/api/reload", "").await;
    assert_eq!(gw.engine().generation(), generation);

    // Redis goes away: traffic keeps its routes, and a new gateway starts from the dump.
    server.kill();
    assert_eq!(
        get(&c, gw.proxy_addr(), "/", &tester).await.upstream(),
        "canary"
    );
    let gw2 = Gateway::start(options(ConfigSource::Redis(source)))
        .await
        .expect("start from the dump");
    assert_eq!(
        get(&c, gw2.proxy_addr(), "/", &tester).await.upstream(),
        "canary"
    );
    let status = admin(&gw2, "GET", "/api/status", "").await.json();
    assert_eq!(status["redis"]["origin"], "dump", "{status}");
    assert_eq!(status["redis"]["connected"], false, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_on_redis_joins_the_fleets_rollouts() {
    let (stable, canary) = (upstream("stable").await, upstream("canary").await);
    let server = redis_server::RedisServer::start();
    let mut publisher = Publisher::connect(&server.url(), "fleetgw").unwrap();
    let spec = judged_rollout(stable.addr(), canary.addr(), "");
    publisher
        .publish_spec(&spec, gray_core::Format::Yaml)
        .unwrap();
    let source = SourceConfig::new(server.url(), "fleetgw").block(Duration::from_millis(200));
    let gw = Gateway::start(options(ConfigSource::Redis(source)))
        .await
        .expect("start gateway");
    // The gateway takes the lease of the fleet's only judge.
    eventually("the gateway judges for the fleet", 250, || {
        let mut p = Publisher::connect(&server.url(), "fleetgw").unwrap();
        async move {
            p.rollout_status("web")
                .unwrap()
                .1
                .is_some_and(|id| id.ends_with(&std::process::id().to_string()))
        }
    })
    .await;
    // Its admin API moves the fleet's state; the gateway follows it like every engine.
    let r = admin_with(
        &gw,
        "POST",
        "/api/rollouts/web/pause",
        "",
        &[("x-gray-admin", "1")],
    )
    .await;
    assert_eq!(r.status, http::StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["fleet"]["state"]["state"], "paused", "{}", r.body);
    eventually("the engine follows the fleet's state", 250, || async {
        admin(&gw, "GET", "/api/rollouts", "").await.json()[0]["state"]["state"] == "paused"
    })
    .await;
    let (state, _) = publisher.rollout_status("web").unwrap();
    assert_eq!(state.unwrap().by, "operator");
}
