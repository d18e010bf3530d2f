//! What happens to the traffic gray routes: per node and per rule, the outcome and latency of
//! every recorded request, as Prometheus histograms and status-class totals (cumulative) and
//! as live windows (the last two minutes, in 10-second slots).
//!
//! A leaf of the crate: atomics only, no lock, no allocation when recording. The engine keeps
//! one traffic record per node and per rule across reloads (like passive health) and feeds it from
//! [`crate::Engine::record_timed`]; [`crate::Engine::traffic`] reads the windows and
//! [`crate::Engine::metrics`] exports the histograms.
//!
//! ```
//! use std::time::Duration;
//! use gray_core::{Engine, Format, Outcome, SimpleRequest};
//!
//! let engine = Engine::from_str(r#"
//! version: 1
//! groups: { web: { nodes: [{ address: "10.0.0.1:80" }] } }
//! default: web
//! "#, Format::Yaml)?;
//! let d = engine.decide(&SimpleRequest::new("192.0.2.1".parse()?));
//! engine.record_timed(&d, Outcome::Status(200), Duration::from_millis(12));
//! engine.record_timed(&d, Outcome::Status(503), Duration::from_millis(40));
//! let web = &engine.traffic().groups[0];
//! assert_eq!((web.window.requests, web.window.errors), (2, 1));
//! assert!(engine.metrics().contains(r#"gray_upstream_request_duration_seconds_bucket{group="web",node="10.0.0.1:80",le="0.025"} 1"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod latency;
mod window;

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::outcome::Outcome;
pub(crate) use latency::micros;
pub use latency::PROMETHEUS_BOUNDS_MS;
pub(crate) use window::Window;
pub use window::WindowCounts;
pub use window::{SLOTS, SLOT_MS};

/// The status classes counted: `1xx` … `5xx`, then connect errors and resets (`error`), then
/// timeouts.
pub const CLASSES: [&str; 7] = ["1xx", "2xx", "3xx", "4xx", "5xx", "error", "timeout"];

/// The class index of an outcome (see [`CLASSES`]).
fn class(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Status(s) => (usize::from(s / 100).clamp(1, 5)) - 1,
        Outcome::ConnectError | Outcome::Reset => 5,
        Outcome::Timeout => 6,
    }
}

/// Whether an outcome counts as an error in windows and analysis: a 5xx status, a connect
/// error, a reset or a timeout. (Passive health uses the group's `fail_on` instead.)
pub fn is_error(outcome: Outcome) -> bool {
    !matches!(outcome, Outcome::Status(s) if s < 500)
}

/// The traffic of one node or rule.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    /// Exported histogram buckets (non-cumulative; `+Inf` last) and the latency sum.
    buckets: [AtomicU64; PROMETHEUS_BOUNDS_MS.len() + 1],
    sum_us: AtomicU64,
    classes: [AtomicU64; CLASSES.len()],
    window: Window,
}

impl Traffic {
    /// Records one outcome at `now_ms`, with its latency when known. `cumulative` also counts it
    /// in the exported totals (nodes); rules keep windows only.
    #[inline]
    pub(crate) fn record(
        &self,
        outcome: Outcome,
        latency_us: Option<u64>,
        now_ms: u64,
        cumulative: bool,
    ) {
        if cumulative {
            self.classes[class(outcome)].fetch_add(1, Ordering::Relaxed);
            if let Some(us) = latency_us {
                self.buckets[latency::prometheus_index(us)].fetch_add(1, Ordering::Relaxed);
                self.sum_us.fetch_add(us, Ordering::Relaxed);
            }
        }
        self.window.record(now_ms, is_error(outcome), latency_us);
    }

    /// The window counts of the periods from `from_ms` (inclusive) to `to_ms` (exclusive),
    /// of those still in the window at `now_ms`, added to `into`.
    pub(crate) fn window_into(
        &self,
        now_ms: u64,
        from_ms: u64,
        to_ms: u64,
        into: &mut WindowCounts,
    ) {
        self.window.read_into(now_ms, from_ms, to_ms, into);
    }

    /// Cumulative bucket counts (`le` order, `+Inf` last), the latency sum in seconds and the
    /// count of timed requests.
    pub(crate) fn histogram(&self) -> ([u64; PROMETHEUS_BOUNDS_MS.len() + 1], f64, u64) {
        let mut out = [0; PROMETHEUS_BOUNDS_MS.len() + 1];
        let mut acc = 0;
        for (o, b) in out.iter_mut().zip(&self.buckets) {
            acc += b.load(Ordering::Relaxed);
            *o = acc;
        }
        (out, self.sum_us.load(Ordering::Relaxed) as f64 / 1e6, acc)
    }

    /// Requests per class (see [`CLASSES`]).
    pub(crate) fn classes(&self) -> [u64; CLASSES.len()] {
        std::array::from_fn(|i| self.classes[i].load(Ordering::Relaxed))
    }
}

/// Requests, errors and latency quantiles of a live window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrafficStats {
    /// Requests recorded.
    pub requests: u64,
    /// Errors among them (5xx, connect errors, resets, timeouts).
    pub errors: u64,
    /// `errors / requests`, `None` without requests.
    pub error_rate: Option<f64>,
    /// Median latency in milliseconds (within ±12.5 %), `None` without timed requests.
    pub p50_ms: Option<f64>,
    /// 90th percentile latency in milliseconds.
    pub p90_ms: Option<f64>,
    /// 99th percentile latency in milliseconds.
    pub p99_ms: Option<f64>,
}

impl From<&WindowCounts> for TrafficStats {
    fn from(c: &WindowCounts) -> Self {
        TrafficStats {
            requests: c.requests,
            errors: c.errors,
            error_rate: c.error_rate(),
            p50_ms: c.quantile_ms(0.5),
            p90_ms: c.quantile_ms(0.9),
            p99_ms: c.quantile_ms(0.99),
        }
    }
}

/// A node's live window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeTraffic {
    /// Node address.
    pub address: String,
    /// The window.
    pub window: TrafficStats,
}

/// A group's live window (the sum of its nodes') and its nodes'.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupTraffic {
    /// Group name.
    pub group: String,
    /// The group's window.
    pub window: TrafficStats,
    /// Its nodes, in spec order.
    pub nodes: Vec<NodeTraffic>,
}

/// A rule's live window: the requests it matched that were recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleTraffic {
    /// Rule id.
    pub rule: String,
    /// The window.
    pub window: TrafficStats,
}

/// Every live window of an engine ([`crate::Engine::traffic`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrafficReport {
    /// How far back the windows reach, in seconds.
    pub window_seconds: u64,
    /// Groups in name order.
    pub groups: Vec<GroupTraffic>,
    /// Rules in order.
    pub rules: Vec<RuleTraffic>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_errors() {
        assert_eq!(CLASSES[class(Outcome::Status(204))], "2xx");
        assert_eq!(CLASSES[class(Outcome::Status(503))], "5xx");
        assert_eq!(CLASSES[class(Outcome::Status(99))], "1xx");
        assert_eq!(CLASSES[class(Outcome::Status(999))], "5xx");
        assert_eq!(CLASSES[class(Outcome::Reset)], "error");
        assert_eq!(CLASSES[class(Outcome::Timeout)], "timeout");
        assert!(is_error(Outcome::Status(500)) && is_error(Outcome::Timeout));
        assert!(!is_error(Outcome::Status(404)));
    }

    #[test]
    fn histogram_is_cumulative_with_sum_and_count() {
        let t = Traffic::default();
        t.record(Outcome::Status(200), Some(300), 0, true);
        t.record(Outcome::Status(200), Some(20_000), 0, true);
        t.record(Outcome::Status(500), None, 0, true);
        let (b, sum, count) = t.histogram();
        assert_eq!((b[0], b[3], b[4], b[13]), (1, 1, 2, 2));
        assert_eq!(count, 2);
        assert!((sum - 0.0203).abs() < 1e-9);
        assert_eq!(t.classes()[1], 2);
        assert_eq!(t.classes()[4], 1);
        let rule = Traffic::default();
        rule.record(Outcome::Status(200), Some(300), 0, false);
        assert_eq!(rule.histogram().2, 0);
        let mut c = WindowCounts::default();
        rule.window_into(0, 0, u64::MAX, &mut c);
        assert_eq!(c.requests, 1);
    }
}
