//! The pieces of a decision on their own: cookie header parsing and matching, expression
//! evaluation, each node-selection algorithm, and recording a decided request's outcome.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gray_benches::clock::BenchClock;
use gray_core::expr::Expr;
use gray_core::select::{build, Algorithm, AllAvailable, Select};
use gray_core::{cookie, Engine, Format, SimpleRequest};

/// A `Cookie` header of `n` cookies; the one the rules look for (`canary`) comes last.
fn cookie_header(n: usize) -> String {
    let mut parts: Vec<String> = (1..n).map(|i| format!("c{i}=value-{i:04}")).collect();
    parts.push("canary=userAAA".to_string());
    parts.join("; ")
}

fn cookies(c: &mut Criterion<BenchClock>) {
    let engine = Engine::from_str(
        r#"
version: 1
groups: { stable: { nodes: [{ address: "127.0.0.1:1" }] }, canary: { nodes: [{ address: "127.0.0.1:2" }] } }
rules: [{ id: c, when: { cookie: { name: canary, regex: "aaa$", ignore_case: true } }, route: canary }]
default: stable
"#,
        Format::Yaml,
    )
    .expect("compiles");
    let mut g = c.benchmark_group("cookie");
    for n in [1usize, 10, 50] {
        let header = cookie_header(n);
        g.bench_with_input(BenchmarkId::new("find", n), &header, |b, h| {
            b.iter(|| black_box(cookie::find(black_box(h), "canary")))
        });
        let req =
            SimpleRequest::new("203.0.113.1".parse().expect("ip")).with_header("cookie", &header);
        assert_eq!(engine.decide(&req).group(), "canary");
        g.bench_with_input(BenchmarkId::new("regex-rule", n), &req, |b, r| {
            b.iter(|| black_box(engine.decide(black_box(r))))
        });
    }
    g.finish();
}

fn expressions(c: &mut Criterion<BenchClock>) {
    let cases = [
        ("and-eq", "#H['a'] == '1' && #H['b'] != '2'", vec!["1", "3"]),
        (
            "matches",
            "#H['x-app-version'] matches '^2\\.[5-9]\\..*' && #H['x-platform'] == 'ios'",
            vec!["2.7.1", "ios"],
        ),
        (
            "or-eq",
            "#H['x-tenant'] == 'acme' || #H['x-tenant'] == 'globex'",
            vec!["globex"],
        ),
        (
            "numeric",
            "#H['x-score'] >= 90 && #H['x-debug'] != 'true'",
            vec!["95", "false"],
        ),
    ];
    let mut g = c.benchmark_group("expr-eval");
    for (name, src, values) in &cases {
        let e = Expr::parse(src).expect("parses");
        assert!(e.eval(&mut |i| values.get(i).copied()), "{name} is true");
        g.bench_function(*name, |b| {
            b.iter(|| black_box(e.eval(&mut |i| black_box(values.get(i).copied()))))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("expr-parse");
    for (name, src, _) in &cases {
        g.bench_function(*name, |b| b.iter(|| black_box(Expr::parse(black_box(src)))));
    }
    g.finish();
}

fn selection(c: &mut Criterion<BenchClock>) {
    for (name, alg) in [
        ("round-robin", Algorithm::RoundRobin),
        ("random", Algorithm::Random),
        ("hash", Algorithm::Hash),
    ] {
        let mut g = c.benchmark_group(format!("select-{name}"));
        for n in [2usize, 10, 100] {
            let weights: Vec<u32> = (0..n as u32).map(|i| 1 + i % 7).collect();
            let ids: Vec<String> = (0..n)
                .map(|i| format!("10.0.{}.{}:8080", i / 250, i % 250))
                .collect();
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let sel = build(alg, &weights, &id_refs);
            let nodes = AllAvailable(&weights);
            let mut rng = gray_benches::SplitMix(3);
            let randoms: Vec<u64> = (0..1024).map(|_| rng.next_u64()).collect();
            g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & 1023;
                    let r = randoms[i];
                    black_box(sel.pick(&nodes, Some(black_box(r)), black_box(r)))
                })
            });
        }
        g.finish();
    }
}

/// Recording what happened to a decided request on the reference set: the outcome alone
/// (passive health and counters) and with its latency (plus the node's histogram and the
/// node's and rule's live windows).
fn record(c: &mut Criterion<BenchClock>) {
    let engine = Engine::new(gray_benches::reference_spec()).unwrap();
    let reqs = gray_benches::reference_requests();
    let (_, req) = reqs.iter().find(|(n, _)| *n == "hit-first").unwrap();
    let d = engine.decide(req);
    assert!(d.node().is_some() && d.rule_id().is_some());
    let mut g = c.benchmark_group("record");
    g.bench_function("outcome", |b| {
        b.iter(|| engine.record(black_box(&d), gray_core::Outcome::Status(200)))
    });
    let mut us = 0u64;
    g.bench_function("outcome+latency", |b| {
        b.iter(|| {
            us = (us + 997) % 200_000;
            engine.record_timed(
                black_box(&d),
                gray_core::Outcome::Status(200),
                std::time::Duration::from_micros(us),
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = gray_benches::clock::criterion();
    targets = cookies, expressions, selection, record
}
criterion_main!(benches);
