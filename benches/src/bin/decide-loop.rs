//! Decides the reference requests in a loop, for profilers:
//! `valgrind --tool=callgrind target/release/decide-loop 20000 [hit-first|hit-last|hit-none]`
//! or `perf stat -e cycles:u,instructions:u target/release/decide-loop 1000000 hit-none`.

use std::hint::black_box;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let engine = gray_core::Engine::new(gray_benches::reference_spec()).expect("compiles");
    let only = std::env::args().nth(2);
    let mut all = gray_benches::reference_requests();
    all.push(("hit-ip", gray_benches::reference_ip_request()));
    let requests: Vec<_> = all
        .into_iter()
        .filter(|(name, _)| only.as_deref().is_none_or(|o| o == *name))
        .collect();
    assert!(!requests.is_empty(), "unknown request kind {only:?}");
    let mut rules = 0usize;
    for i in 0..n {
        let (_, req) = &requests[i % requests.len()];
        rules += usize::from(black_box(engine.decide(req)).rule_id().is_some());
    }
    println!("{n} decisions, {rules} matched a rule");
}
