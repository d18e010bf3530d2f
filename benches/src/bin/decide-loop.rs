//! Decides the reference requests in a loop, for profilers:
//! `valgrind --tool=callgrind target/release/decide-loop 20000`.

use std::hint::black_box;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let engine = gray_core::Engine::new(gray_benches::reference_spec()).expect("compiles");
    let requests = gray_benches::reference_requests();
    let mut rules = 0usize;
    for i in 0..n {
        let (_, req) = &requests[i % requests.len()];
        rules += usize::from(black_box(engine.decide(req)).rule_id().is_some());
    }
    println!("{n} decisions, {rules} matched a rule");
}
