//! What the parts of mirroring share: per-mirror bounds and counters, and the client and the
//! ring of differences every copy uses.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use gray_core::traffic::PROMETHEUS_BOUNDS_MS;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use tokio::sync::Semaphore;

use crate::upstream_tls::{Connector, UpstreamTls};

/// Per mirror: its in-flight bound and counters.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) slots: Arc<Semaphore>,
    pub(super) bound: u32,
    pub(super) counts: Arc<[AtomicU64; COUNTS]>,
    /// How long copies took (answered or not), in Envoy's millisecond buckets.
    pub(super) latency: Arc<Latency>,
}

/// A fixed-bucket latency histogram (cumulative at export): lock-free, allocation-free.
#[derive(Debug, Default)]
pub(super) struct Latency {
    /// Per bound of [`PROMETHEUS_BOUNDS_MS`] (not cumulative), then above the last.
    buckets: [AtomicU64; PROMETHEUS_BOUNDS_MS.len() + 1],
    sum_us: AtomicU64,
}

impl Latency {
    pub(super) fn record(&self, d: std::time::Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        let i = PROMETHEUS_BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(PROMETHEUS_BOUNDS_MS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Prometheus lines for `mirror`.
    pub(super) fn write(&self, mirror: &str, out: &mut String) {
        use std::fmt::Write as _;
        let mut seen = 0;
        for (le, b) in PROMETHEUS_BOUNDS_MS.iter().zip(&self.buckets) {
            seen += b.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "gray_gateway_mirror_duration_seconds_bucket{{mirror=\"{mirror}\",le=\"{}\"}} {seen}",
                le / 1000.0
            );
        }
        seen += self.buckets[PROMETHEUS_BOUNDS_MS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "gray_gateway_mirror_duration_seconds_bucket{{mirror=\"{mirror}\",le=\"+Inf\"}} {seen}"
        );
        let _ = writeln!(
            out,
            "gray_gateway_mirror_duration_seconds_sum{{mirror=\"{mirror}\"}} {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "gray_gateway_mirror_duration_seconds_count{{mirror=\"{mirror}\"}} {seen}"
        );
    }
}

pub(super) const OK: usize = 0;
pub(super) const FAILED: usize = 1;
pub(super) const TIMEOUT: usize = 2;
pub(super) const IN_FLIGHT: usize = 3;
pub(super) const BODY: usize = 4;
pub(super) const METHOD: usize = 5;
pub(super) const NO_NODE: usize = 6;
pub(super) const COMPARED: usize = 7;
pub(super) const DIFFERING: usize = 8;
pub(super) const D_STATUS: usize = 9;
pub(super) const D_HEADER: usize = 10;
pub(super) const D_FIELD: usize = 11;
pub(super) const D_BODY: usize = 12;
pub(super) const UNCOMPARED: usize = 13;
pub(super) const COUNTS: usize = 14;

/// Differing pairs kept for the admin API.
pub(super) const LATEST: usize = 50;

/// Header values never shown (in the latest differences).
pub(super) const SECRET_HEADERS: [&str; 4] = [
    "cookie",
    "set-cookie",
    "authorization",
    "proxy-authorization",
];

/// The client copies go out with, and the latest differences.
pub(super) struct Shared {
    pub(super) client: Client<Connector, Full<Bytes>>,
    pub(super) upstream_tls: UpstreamTls,
    pub(super) latest: Mutex<VecDeque<serde_json::Value>>,
}

impl Shared {
    /// The latest differing pairs (newest last), values of secret headers redacted.
    pub(super) fn latest(&self) -> Vec<serde_json::Value> {
        let l = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        l.iter().cloned().collect()
    }

    pub(super) fn keep(&self, record: serde_json::Value) {
        let mut l = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        if l.len() == LATEST {
            l.pop_front();
        }
        l.push_back(record);
    }
}
