//! `decide` performs zero heap allocations after warm-up, proven with a counting global
//! allocator. (Explanations may allocate; decisions may not.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use gray_core::{testing, Engine, SimpleRequest};

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

#[test]
fn decide_allocates_nothing_after_warm_up() {
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
