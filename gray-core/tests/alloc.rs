//! `decide` performs zero heap allocations after warm-up, proven with a counting global
//! allocator. (Explanations may allocate; decisions may not.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use gray_core::{Engine, Format, SimpleRequest};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY-free: forwarding to the system allocator; we only count.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// The counter is process-wide: tests that count run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A reference-like rule set: IP sets, cookie regexes, header and expression conditions, a
/// sticky percentage, weighted nodes and every selection algorithm.
fn spec() -> String {
    let mut cidrs = String::new();
    for i in 0..2000u32 {
        cidrs.push_str(&format!(
            "\"{}.{}.{}.0/24\", ",
            11 + i % 200,
            (i * 7) % 256,
            (i * 13) % 256
        ));
        cidrs.push_str(&format!("\"2001:db8:{:x}::/48\", ", i));
    }
    format!(
        r##"
version: 1
client_ip: {{ trusted_proxies: ["10.0.0.0/8"], header: x-forwarded-for, recursive: true }}
ip_sets: {{ big: {{ entries: [{cidrs}] }}, office: {{ entries: ["198.51.100.0/24"] }} }}
groups:
  stable: {{ nodes: [{{ address: "127.0.0.1:1", weight: 5 }}, {{ address: "127.0.0.1:2", weight: 1 }}, {{ address: "127.0.0.1:3" }}] }}
  canary: {{ select: random, nodes: [{{ address: "127.0.0.1:4", weight: 3 }}, {{ address: "127.0.0.1:5" }}], fallback: stable }}
  sticky: {{ select: hash, hash_key: {{ cookie: uid }}, nodes: [{{ address: "127.0.0.1:6" }}, {{ address: "127.0.0.1:7" }}] }}
rules:
  - {{ id: c1, when: {{ cookie: {{ name: canary, regex: "aaa$", ignore_case: true }} }}, route: canary, set_headers: {{ x-gray: c1 }} }}
  - {{ id: c2, when: {{ cookie: {{ name: tester, regex: "^t[0-9]+$" }} }}, route: canary }}
  - {{ id: ips, when: {{ ip: [big, office] }}, route: canary }}
  - {{ id: hdr, when: {{ all: [ {{ header: {{ name: x-beta, equals: "1" }} }}, {{ not: {{ method: [DELETE] }} }} ] }}, route: canary }}
  - {{ id: q, when: {{ query: {{ name: tier, range: {{ min: 3 }} }} }}, route: sticky }}
  - {{ id: ex, when: {{ expr: "#H['a'] == '1' && #H['b'] != '2'" }}, route: canary, routes: {{ version: '{{"svc-a":"1.1"}}' }} }}
  - {{ id: pct, when: {{ percent: {{ key: {{ cookie: uid }}, value: 10 }} }}, route: sticky }}
default: stable
"##
    )
}

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
    COUNTING.store(true, Ordering::SeqCst);
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
    COUNTING.store(false, Ordering::SeqCst);
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
    let engine = Engine::from_str(&spec(), Format::Yaml).unwrap();
    let reqs = vec![
        SimpleRequest::new("203.0.113.1".parse().unwrap())
            .with_header("cookie", "sid=1; canary=userAAA"),
        SimpleRequest::new("203.0.113.1".parse().unwrap()).with_header("cookie", "tester=t42"),
        SimpleRequest::new("10.0.0.1".parse().unwrap())
            .with_header("x-forwarded-for", "11.7.13.9, 10.2.2.2"),
        SimpleRequest::new("10.0.0.1".parse().unwrap())
            .with_header("x-forwarded-for", "2001:db8:5::1"),
        SimpleRequest::new("203.0.113.1".parse().unwrap())
            .with_header("x-beta", "1")
            .with_method("POST"),
        SimpleRequest::new("203.0.113.1".parse().unwrap())
            .with_query("tier=5")
            .with_header("cookie", "uid=u1"),
        SimpleRequest::new("203.0.113.1".parse().unwrap())
            .with_header("a", "1")
            .with_header("b", "3"),
        SimpleRequest::new("203.0.113.1".parse().unwrap()).with_header("cookie", "uid=user-77"),
        SimpleRequest::new("203.0.113.1".parse().unwrap())
            .with_path("/nothing")
            .with_query("x=%41"),
    ];
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
    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
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
    COUNTING.store(false, Ordering::SeqCst);
    let n = ALLOCS.load(Ordering::SeqCst);
    assert!(rules > 0);
    assert_eq!(
        n,
        0,
        "decide allocated {n} times in {} calls",
        200 * reqs.len()
    );
}
