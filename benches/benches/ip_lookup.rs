//! CIDR lookup in the merged longest-prefix-match table at 1k, 10k, 100k and 1M prefixes per
//! family, against a linear scan baseline, and at 100k IPv6 prefixes longer than /64.
//!
//! The linear scan (`gray_core::ip::linear_contains`, the reference model) is measured only up
//! to 10k prefixes: it is `O(n)` per lookup, already ~1000x slower than the table at 10k, and
//! at 100k / 1M one sample would take longer than the whole suite should.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gray_benches::clock::BenchClock;

const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];
const LINEAR_MAX: usize = 10_000;

/// Benchmarks `table/<n>`: lookups in the merged table of `nets`, probes alternating between
/// addresses inside a prefix and random ones. Returns the probes for other variants.
fn table_lookup(
    g: &mut criterion::BenchmarkGroup<'_, BenchClock>,
    n: usize,
    nets: &[ipnet::IpNet],
) -> Vec<std::net::IpAddr> {
    let table = gray_benches::ip_table(nets);
    let probes = gray_benches::probes(nets, 4096);
    g.bench_with_input(BenchmarkId::new("table", n), &n, |b, _| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(table.lookup(black_box(probes[i])).is_empty())
        })
    });
    probes
}

fn lookup(c: &mut Criterion<BenchClock>) {
    for (family, v6) in [("v4", false), ("v6", true)] {
        let mut g = c.benchmark_group(format!("cidr-lookup-{family}"));
        for n in SIZES {
            let nets = gray_benches::family_cidrs(n, v6, 11);
            let probes = table_lookup(&mut g, n, &nets);
            if n <= LINEAR_MAX {
                let pairs: Vec<(u32, ipnet::IpNet)> = nets.iter().map(|n| (0, *n)).collect();
                g.bench_with_input(BenchmarkId::new("linear", n), &n, |b, _| {
                    let mut i = 0;
                    b.iter(|| {
                        i = (i + 1) & 4095;
                        black_box(gray_core::ip::linear_contains(
                            &pairs,
                            0,
                            black_box(probes[i]),
                        ))
                    })
                });
            }
        }
        g.finish();
    }
    // The IPv6 table's exceptional path: prefixes longer than /64, so a hit
    // also searches the low 64 bits of the address.
    let mut g = c.benchmark_group("cidr-lookup-v6-long");
    let n = 100_000;
    let nets = gray_benches::long_v6_cidrs(n, 11);
    table_lookup(&mut g, n, &nets);
    g.finish();
}

criterion_group! {
    name = benches;
    config = gray_benches::clock::criterion();
    targets = lookup
}
criterion_main!(benches);
