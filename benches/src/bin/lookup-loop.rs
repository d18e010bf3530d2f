//! Looks addresses up in an IP table in a loop, for profilers and CPU-time measurements:
//! `lookup-loop <prefixes> <v4|v6> <lookups>`.

use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let v6 = args.get(2).is_some_and(|a| a == "v6");
    let lookups: usize = args
        .get(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let nets = gray_benches::family_cidrs(n, v6, 11);
    let table = gray_benches::ip_table(&nets);
    let probes = gray_benches::probes(&nets, 4096);
    let mut hits = 0usize;
    for i in 0..lookups {
        hits += usize::from(!black_box(table.lookup(probes[i & 4095])).is_empty());
    }
    println!("{lookups} lookups in {n} prefixes, {hits} hits");
}
