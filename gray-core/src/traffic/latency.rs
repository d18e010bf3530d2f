//! Latency bucket layouts.
//!
//! * [`PROMETHEUS_BOUNDS_MS`]: the fixed upper bounds of the exported histograms, Envoy's
//!   millisecond layout from 0.5 ms to 10 s, so dashboards built for Envoy or APISIX read gray's
//!   series unchanged.
//! * [`fine_index`]: a log-linear layout for live windows and quantiles: every power of two of
//!   microseconds split into four equal parts, so any latency falls in a bucket at most 25 %
//!   wide (quantiles are read at the bucket's midpoint: within ±12.5 %).

use std::time::Duration;

/// Upper bounds (milliseconds) of the exported histogram buckets; `+Inf` follows.
pub const PROMETHEUS_BOUNDS_MS: [f64; 13] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// The same bounds in microseconds, for the hot path.
const BOUNDS_US: [u64; 13] = [
    500, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// Index of the exported bucket holding `us` (13 = `+Inf`).
#[inline]
pub(crate) fn prometheus_index(us: u64) -> usize {
    BOUNDS_US
        .iter()
        .position(|&b| us <= b)
        .unwrap_or(BOUNDS_US.len())
}

/// Number of fine buckets: latencies up to 2^30 µs (about 18 minutes); longer ones share the
/// last bucket.
pub(crate) const FINE_BUCKETS: usize = 120;

/// Index of the fine bucket holding `us` microseconds.
#[inline]
pub(crate) fn fine_index(us: u64) -> usize {
    if us < 4 {
        return us as usize;
    }
    let us = us.min((1 << 31) - 1);
    let e = 63 - us.leading_zeros() as usize; // 2..=30
    let sub = ((us >> (e - 2)) & 3) as usize;
    ((e - 2) * 4 + sub + 4).min(FINE_BUCKETS - 1)
}

/// The bounds `[low, high)` of fine bucket `i`, in microseconds.
pub(crate) fn fine_bounds(i: usize) -> (u64, u64) {
    if i < 4 {
        return (i as u64, i as u64 + 1);
    }
    let e = (i - 4) / 4 + 2;
    let sub = ((i - 4) % 4) as u64;
    ((4 + sub) << (e - 2), (5 + sub) << (e - 2))
}

/// The value quantiles report for fine bucket `i`: its midpoint, in milliseconds.
pub(crate) fn fine_value_ms(i: usize) -> f64 {
    let (lo, hi) = fine_bounds(i);
    (lo + hi) as f64 / 2000.0
}

/// A duration in whole microseconds, saturating.
#[inline]
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fine_buckets_cover_every_latency_within_a_quarter() {
        let mut prev = 0;
        for us in 0..5000 {
            assert!(fine_index(us) >= prev, "indices grow with the latency");
            prev = fine_index(us);
        }
        for us in (0..5000)
            .chain((1..40).map(|k| 1u64 << k))
            .chain([u64::MAX])
        {
            let i = fine_index(us);
            assert!(i < FINE_BUCKETS);
            let (lo, hi) = fine_bounds(i);
            if us < 1 << 30 {
                assert!(lo <= us && us < hi, "{us} not in bucket {i} [{lo}, {hi})");
                assert!(hi - lo <= lo.max(4) / 4 + 1, "bucket {i} too wide");
            }
        }
    }

    #[test]
    fn prometheus_buckets_are_upper_bounds() {
        assert_eq!(prometheus_index(0), 0);
        assert_eq!(prometheus_index(500), 0);
        assert_eq!(prometheus_index(501), 1);
        assert_eq!(prometheus_index(10_000_000), 12);
        assert_eq!(prometheus_index(10_000_001), 13);
        for (b, ms) in BOUNDS_US.iter().zip(PROMETHEUS_BOUNDS_MS) {
            assert_eq!(*b as f64, ms * 1000.0);
        }
    }
}
