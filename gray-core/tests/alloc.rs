//! `decide` performs zero heap allocations after warm-up, proven with a counting global
//! allocator. (Explanations may allocate; decisions may not.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use gray_core::{testing, Engine, Format, SimpleRequest};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Counting is per thread: the test harness's own threads (printing other tests' results)
    /// allocate meanwhile and must not be counted.
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn counting() -> bool {
    COUNTING.try_with(|c| c.get()).unwrap_or(false)
}

fn set_counting(on: bool) {
    COUNTING.with(|c| c.set(on));
}

// SAFETY-free: forwarding to the system allocator; we only count.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// The counter is process-wide: tests that count run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A release spec (blue-green, gray, defaults, blacklist, failover, discovery weights) on
/// services with metadata: resolution, `n-d-*` headers and release-aware node selection.
fn release_spec() -> &'static str {
    r##"
version: 1
default: svc-a
groups:
  svc-a:
    nodes:
      - { address: "127.0.0.1:3001", metadata: { version: "1.0", region: dev, zone: z1, env: common } }
      - { address: "127.0.0.1:3002", metadata: { version: "1.1", region: qa, zone: z1, env: common } }
      - { address: "127.0.0.1:3003", metadata: { version: "1.2", region: qa, zone: z1, env: common, id: "20210601-1" } }
  svc-b:
    nodes:
      - { address: "127.0.0.1:4001", metadata: { version: "1.0", env: common } }
rules:
  - { id: to-b, when: { path: { prefix: /b } }, route: svc-b }
headers: { builtin: { env-tag: blue } }
release:
  routes:
    old: { type: version, value: '{"svc-a":"1.0","svc-b":"1.0"}' }
    new: { type: version, value: '{"svc-a":"1.1;1.2","svc-b":"1.0"}' }
    qa: { type: region, value: qa }
    heavy: { type: version_weight, value: '{"svc-a":"1.0=10;1.1=80;1.2=10"}' }
  blue_green:
    - { id: testers, when: "#H['user'] == 'tester' && #H['b'] != '2'", version: new, version_weight: heavy }
    - { id: regional, when: "#H['r'] matches 'q.*'", region: qa }
  gray:
    - { id: tenth, when: "#H['gray'] == 'on'", version: "old=90;new=10" }
    - { id: rest, version: "old=99;new=1" }
  defaults: { region: "dev;qa", env: prod }
  failover: { version_failover: "1.0", env_failover: "prod;common" }
  blacklist: { id: "2020*", address: "9999" }

  discovery:
    weight: [{ provider: svc-a, type: version, weights: "1.0=5;1.1=5;1.2=5" }]
  zone_affinity: true
  local: { service: gateway, zone: z1 }
"##
}

#[test]
fn decide_with_a_release_allocates_nothing_after_warm_up() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let engine = Engine::from_str(release_spec(), Format::Yaml).unwrap();
    let peer = || SimpleRequest::new("203.0.113.1".parse().unwrap());
    let reqs = vec![
        peer(),
        peer().with_header("user", "tester"),
        peer().with_header("user", "tester").with_header("b", "2"),
        peer().with_header("r", "qa-1"),
        peer().with_header("gray", "on"),
        peer()
            .with_query("user=tester")
            .with_header("cookie", "gray=on"),
        peer().with_path("/b/x"),
        peer().with_header("n-d-version", "{\"svc-a\":\"1.2\"}"),
    ];
    let mut nodes = std::collections::BTreeSet::new();
    for r in &reqs {
        for _ in 0..50 {
            let d = engine.decide(r);
            nodes.insert(d.node_address().unwrap_or("none").to_string());
        }
    }
    assert!(
        nodes.len() >= 3,
        "the requests exercise several nodes: {nodes:?}\n{}",
        engine.explain(&reqs[0])
    );
    ALLOCS.store(0, Ordering::SeqCst);
    set_counting(true);
    let mut headers = 0usize;
    for _ in 0..200 {
        for r in &reqs {
            let d = engine.decide(r);
            for (k, v) in d.headers() {
                headers += 1;
                std::hint::black_box((k, v));
            }
        }
    }
    set_counting(false);
    let n = ALLOCS.load(Ordering::SeqCst);
    assert!(headers > 0);
    assert_eq!(
        n,
        0,
        "decide allocated {n} times in {} calls",
        200 * reqs.len()
    );
}

#[test]
fn decide_allocates_nothing_after_warm_up() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // The reference rule set of the benchmarks (gray_core::testing): 10 rules, 10 000 CIDRs,
    // cookie regexes, header expressions, a sticky percentage, every selection algorithm.
    let engine = Engine::new(testing::reference_spec()).unwrap();
    let mut reqs: Vec<SimpleRequest> = testing::reference_requests()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    reqs.push(testing::reference_ip_request());
    // Beyond the reference mix: a query range, a missing client IP header, an IPv6 client,
    // a hash pick without its key, and an escaped query string.
    reqs.push(
        SimpleRequest::new("203.0.113.1".parse().unwrap())
            .with_header("x-tenant", "acme")
            .with_query("tier=5&x=%41"),
    );
    reqs.push(
        SimpleRequest::new("10.0.0.1".parse().unwrap())
            .with_header("x-forwarded-for", "2001:db8::1, 10.2.2.2")
            .with_header("cookie", "region=eu-west-1"),
    );
    reqs.push(
        SimpleRequest::new("203.0.113.1".parse().unwrap())
            .with_header("x-app-version", "2.7.0")
            .with_header("X-Platform", "ios"),
    );
    let mut groups = std::collections::BTreeSet::new();
    for r in &reqs {
        for _ in 0..50 {
            groups.insert(engine.decide(r).group().to_string());
        }
    }
    assert_eq!(
        groups.len(),
        3,
        "the requests exercise every group: {groups:?}"
    );
    let rules: std::collections::BTreeSet<_> = reqs
        .iter()
        .filter_map(|r| engine.decide(r).rule_id().map(str::to_string))
        .collect();
    for id in [
        "canary-cookie",
        "gray-networks",
        "header-expr-version",
        "sticky-percent",
    ] {
        assert!(rules.contains(id), "rule {id} is exercised: {rules:?}");
    }
    ALLOCS.store(0, Ordering::SeqCst);
    set_counting(true);
    let mut rules = 0usize;
    for _ in 0..200 {
        for r in &reqs {
            let d = engine.decide(r);
            rules += usize::from(d.rule_id().is_some());
            for (k, v) in d.headers() {
                std::hint::black_box((k, v));
            }
        }
    }
    set_counting(false);
    let n = ALLOCS.load(Ordering::SeqCst);
    assert!(rules > 0);
    assert_eq!(
        n,
        0,
        "decide allocated {n} times in {} calls",
        200 * reqs.len()
    );
}

#[test]
fn record_and_report_allocate_nothing() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let engine = Engine::from_str(
        r#"
version: 1
groups:
  stable: { nodes: [{ address: "127.0.0.1:7001" }, { address: "127.0.0.1:7002" }] }
  canary:
    nodes: [{ address: "127.0.0.1:7101" }]
    fallback: stable
    fail_on: [error, timeout, http_5xx]
rules: [{ id: c, when: { header: { name: x-c, present: true } }, route: canary }]
default: stable
"#,
        Format::Yaml,
    )
    .unwrap();
    let canary = SimpleRequest::new("10.0.0.1".parse().unwrap()).with_header("x-c", "1");
    let plain = SimpleRequest::new("10.0.0.1".parse().unwrap());
    let outcomes = [
        gray_core::Outcome::Status(200),
        gray_core::Outcome::Status(503),
        gray_core::Outcome::ConnectError,
        gray_core::Outcome::Timeout,
        gray_core::Outcome::Reset,
    ];
    let mut decisions: Vec<_> = (0..4).map(|_| engine.decide(&canary)).collect();
    decisions.extend((0..4).map(|_| engine.decide(&plain)));
    for d in &decisions {
        engine.record(d, outcomes[0]);
    }
    ALLOCS.store(0, Ordering::SeqCst);
    set_counting(true);
    for i in 0..200 {
        for d in &decisions {
            engine.record(d, outcomes[i % outcomes.len()]);
            let latency = std::time::Duration::from_micros(37 * i as u64);
            engine.record_timed(d, outcomes[(i + 1) % outcomes.len()], latency);
            engine.report(d, i % 3 == 0);
        }
        let _ = engine.record_node("stable", "127.0.0.1:7002", outcomes[i % outcomes.len()]);
        let latency = std::time::Duration::from_millis(i as u64);
        let _ = engine.record_node_timed("stable", "127.0.0.1:7002", outcomes[0], latency);
    }
    set_counting(false);
    assert_eq!(ALLOCS.load(Ordering::SeqCst), 0, "record/report allocated");
    // And the outcomes were observed.
    let report = engine.traffic();
    assert!(report.groups.iter().map(|g| g.window.requests).sum::<u64>() >= 8 * 400);
}
