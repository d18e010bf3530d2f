//! A 100,000-member IP set in Redis: how long a full load takes, and how long one member
//! change takes to reach a running engine. Starts its own redis-server on 127.0.0.1.
//!
//! `cargo bench -p gray-redis --bench ipset`

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use common::RULES;
use criterion::{criterion_group, criterion_main, Criterion};
use gray_core::{Engine, Format, SimpleRequest};
use gray_redis::{load_spec, Publisher, RedisSource, SourceConfig};

const MEMBERS: u32 = 100_000;

fn member(i: u32) -> String {
    // Spread over 10.0.0.0/8 and 172.16.0.0/12 so that the table is not one dense run.
    let base = if i % 2 == 0 { 0x0a00_0000 } else { 0xac10_0000 };
    Ipv4Addr::from(base + (i.wrapping_mul(2_654_435_761) % 0x000f_ffff)).to_string()
}

fn benches(c: &mut Criterion) {
    let server = common::RedisServer::start();
    let url = server.url();
    let mut p = Publisher::connect(&url, "bench").unwrap();
    p.publish_spec(RULES, Format::Yaml).unwrap();
    let members: Vec<String> = (0..MEMBERS).map(member).collect();
    let loaded = p.ip_set_load("testers", &members).unwrap();
    eprintln!("testers holds {} distinct members", loaded.changed);

    let mut g = c.benchmark_group("redis_ipset_100k");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));

    g.bench_function("publish_load_100k", |b| {
        b.iter(|| p.ip_set_load("testers", black_box(&members)).unwrap())
    });
    g.bench_function("read_100k_from_redis", |b| {
        b.iter(|| load_spec(black_box(&url), "bench").unwrap())
    });
    let spec = load_spec(&url, "bench").unwrap();
    g.bench_function("compile_100k", |b| {
        b.iter(|| Engine::new(black_box(spec.clone())).unwrap())
    });

    let dir = common::TempDir::new("bench-dump");
    let dump = dir.join("dump.json");
    g.bench_function("dump_write_100k", |b| {
        b.iter(|| gray_redis::dump::write(&dump, black_box(&spec)).unwrap())
    });
    g.bench_function("dump_read_100k", |b| {
        b.iter(|| gray_redis::dump::read(black_box(&dump)).unwrap())
    });

    // End to end: one `ipset add` until a running engine routes the new member.
    let (engine, source) = RedisSource::start(SourceConfig::new(url.clone(), "bench")).unwrap();
    assert!(source.wait_for(Duration::from_secs(30), |st| st.in_sync));
    let mut next = 0u32;
    g.bench_function("add_1_member_until_applied", |b| {
        b.iter(|| {
            next += 1;
            let ip = Ipv4Addr::from(0xc000_0000 + next);
            p.ip_set_add("testers", [ip.to_string()]).unwrap();
            let req = SimpleRequest::new(ip.into());
            while engine.decide(&req).group() != "canary" {
                std::thread::yield_now();
            }
        })
    });
    let syncs = source.status().full_syncs_total;
    g.finish();
    eprintln!(
        "full reads of the namespace: {syncs} (1 = every member change was applied incrementally)"
    );
}

criterion_group!(ipset, benches);
criterion_main!(ipset);
