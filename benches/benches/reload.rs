//! Compile + swap: `Engine::reload` of the reference rule set with 1k, 100k and 1M CIDRs in
//! its IP set (the spec is cloned outside the measurement). The spec is already parsed: this
//! measures validation, regex and expression compilation, the merged IP table build and the
//! atomic swap.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use gray_benches::clock::BenchClock;
use gray_core::Engine;

fn reload(c: &mut Criterion<BenchClock>) {
    let mut g = c.benchmark_group("compile-swap");
    g.sample_size(10);
    for n in [1_000usize, 100_000, 1_000_000] {
        let spec = gray_benches::reference_spec_with(n);
        let engine = Engine::new(spec.clone()).expect("compiles");
        g.bench_with_input(BenchmarkId::new("cidrs", n), &n, |b, _| {
            b.iter_batched(
                || spec.clone(),
                |s| engine.reload(s).expect("reload"),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = gray_benches::clock::criterion();
    targets = reload
}
criterion_main!(benches);
