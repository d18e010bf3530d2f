//! `Engine::decide` on the reference rule set (10 rules, 10 000 CIDRs, 5 cookie regexes,
//! 3 header expressions, a sticky percentage, weighted picks), single-threaded and on two
//! threads at once, and while another thread reloads the rules in a loop.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use gray_benches::clock::{BenchClock, ClockKind};
use gray_core::Engine;

fn engine() -> Arc<Engine> {
    Arc::new(Engine::new(gray_benches::reference_spec()).expect("the reference set compiles"))
}

fn single_thread(c: &mut Criterion<BenchClock>) {
    let engine = engine();
    let mut requests = gray_benches::reference_requests();
    requests.push(("hit-ip", gray_benches::reference_ip_request()));
    let mut g = c.benchmark_group("decide");
    for (name, req) in &requests {
        g.bench_function(*name, |b| {
            b.iter(|| black_box(engine.decide(black_box(req))))
        });
    }
    let all: Vec<_> = requests.iter().map(|(_, r)| r.clone()).collect();
    g.bench_function("mix", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % all.len();
            black_box(engine.decide(black_box(&all[i])))
        })
    });
    g.finish();
}

/// Both threads decide `iters` times each, at the same time. The time per iteration is the
/// mean over the two threads of the time one decide takes while the other thread decides too
/// (with the CPU clock: each thread's own CPU time; with the wall clock: the elapsed time).
fn two_threads(c: &mut Criterion<BenchClock>) {
    let engine = engine();
    let requests: Vec<_> = gray_benches::reference_requests()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    let mut g = c.benchmark_group("decide-2-threads");
    g.bench_function("mix", |b| {
        b.iter_custom(|iters| {
            let clock = ClockKind::from_env();
            let total: Duration = std::thread::scope(|s| {
                let workers: Vec<_> = (0..2)
                    .map(|t| {
                        let (engine, requests) = (&engine, &requests);
                        s.spawn(move || {
                            let start = clock.now();
                            for i in 0..iters as usize {
                                black_box(engine.decide(&requests[(i + t) % requests.len()]));
                            }
                            start.elapsed()
                        })
                    })
                    .collect();
                workers.into_iter().map(|w| w.join().expect("worker")).sum()
            });
            total / 2
        })
    });
    g.finish();
}

/// Decide latency while a second thread compiles and swaps in the reference set in a loop.
fn during_reload(c: &mut Criterion<BenchClock>) {
    let engine = engine();
    let spec = gray_benches::reference_spec();
    let stop = Arc::new(AtomicBool::new(false));
    let reloads = {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                engine.reload(spec.clone()).expect("reload");
                n += 1;
            }
            n
        })
    };
    let requests: Vec<_> = gray_benches::reference_requests()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    let mut g = c.benchmark_group("decide-during-reload");
    g.bench_function("mix", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % requests.len();
            black_box(engine.decide(black_box(&requests[i])))
        })
    });
    g.finish();
    stop.store(true, Ordering::Relaxed);
    let n = reloads.join().expect("reload thread");
    eprintln!("decide-during-reload: {n} reloads completed meanwhile");
}

criterion_group! {
    name = benches;
    config = gray_benches::clock::criterion();
    targets = single_thread, two_threads, during_reload
}
criterion_main!(benches);
