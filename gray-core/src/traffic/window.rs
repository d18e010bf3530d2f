//! Live windows: the last [`SLOTS`] × [`SLOT_MS`] of one node's or rule's traffic, in a ring of
//! slots that recording reuses in place (no allocation, no lock).
//!
//! A slot belongs to one 10-second period, named by its number since the clock's origin
//! (`now_ms / SLOT_MS`). Recording into a slot that still holds an older period first claims it
//! (one compare-and-swap of the period) and clears it. A recording that races with the clearing
//! of its own slot may be lost or counted in the new period: at most a few requests at each
//! 10-second boundary, which windows of thousands of requests do not notice. Reading sums the
//! slots whose period is recent enough.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::latency::{fine_index, fine_value_ms, FINE_BUCKETS};

/// Length of one slot in milliseconds.
pub const SLOT_MS: u64 = 10_000;
/// Slots in a window: [`SLOTS`] × [`SLOT_MS`] = two minutes of history.
pub const SLOTS: usize = 12;

/// No period yet.
const EMPTY: u64 = u64::MAX;

/// Index of the slot counter of requests recorded without a latency, after the fine
/// buckets: a slot's requests are the sum of all its counters, so recording one request
/// costs one increment (two for an error).
const UNTIMED: usize = FINE_BUCKETS;

struct Slot {
    period: AtomicU64,
    errors: AtomicU32,
    /// Requests per fine latency bucket, then the untimed ones ([`UNTIMED`]).
    requests: [AtomicU32; FINE_BUCKETS + 1],
}

impl Slot {
    fn new() -> Slot {
        Slot {
            period: AtomicU64::new(EMPTY),
            errors: AtomicU32::new(0),
            requests: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }

    fn clear(&self) {
        self.errors.store(0, Ordering::Relaxed);
        for b in &self.requests {
            b.store(0, Ordering::Relaxed);
        }
    }
}

/// The ring of slots of one node or rule.
pub(crate) struct Window {
    slots: Box<[Slot]>,
}

impl std::fmt::Debug for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Window").finish_non_exhaustive()
    }
}

impl Default for Window {
    fn default() -> Self {
        Window {
            slots: (0..SLOTS).map(|_| Slot::new()).collect(),
        }
    }
}

impl Window {
    /// Counts one request at `now_ms` (monotonic): an error or not, and its latency if known.
    #[inline]
    pub(crate) fn record(&self, now_ms: u64, error: bool, latency_us: Option<u64>) {
        let period = now_ms / SLOT_MS;
        let slot = &self.slots[(period % SLOTS as u64) as usize];
        let seen = slot.period.load(Ordering::Acquire);
        if seen != period {
            if seen != EMPTY && seen > period {
                // The clock went backwards past this slot's period: count nothing rather
                // than mix periods.
                return;
            }
            if slot
                .period
                .compare_exchange(seen, period, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                slot.clear();
            }
        }
        slot.requests[latency_us.map_or(UNTIMED, fine_index)].fetch_add(1, Ordering::Relaxed);
        if error {
            slot.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds to `into` the slots of the periods that start at or after `from_ms` and before
    /// `to_ms`, of those still in the window at `now_ms`.
    pub(crate) fn read_into(&self, now_ms: u64, from_ms: u64, to_ms: u64, into: &mut WindowCounts) {
        let now = now_ms / SLOT_MS;
        let first = from_ms
            .div_ceil(SLOT_MS)
            .max(now.saturating_sub(SLOTS as u64 - 1));
        let end = to_ms.div_ceil(SLOT_MS).min(now + 1);
        for s in self.slots.iter() {
            let p = s.period.load(Ordering::Acquire);
            if p == EMPTY || p < first || p >= end {
                continue;
            }
            into.errors += u64::from(s.errors.load(Ordering::Relaxed));
            into.requests += u64::from(s.requests[UNTIMED].load(Ordering::Relaxed));
            for (acc, b) in into.latency.iter_mut().zip(&s.requests[..UNTIMED]) {
                let n = u64::from(b.load(Ordering::Relaxed));
                *acc += n;
                into.requests += n;
            }
        }
    }
}

/// Counts read from one or more windows: mergeable, with quantiles.
#[derive(Clone, PartialEq, Eq)]
pub struct WindowCounts {
    /// Requests recorded.
    pub requests: u64,
    /// Of which errors: a 5xx status, a connect error, a reset or a timeout.
    pub errors: u64,
    /// Latency counts per fine bucket (see [`WindowCounts::quantile_ms`]).
    latency: [u64; FINE_BUCKETS],
}

impl std::fmt::Debug for WindowCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowCounts")
            .field("requests", &self.requests)
            .field("errors", &self.errors)
            .field("timed", &self.timed())
            .finish()
    }
}

impl Default for WindowCounts {
    fn default() -> Self {
        WindowCounts {
            requests: 0,
            errors: 0,
            latency: [0; FINE_BUCKETS],
        }
    }
}

/// JSON form, to move counts between processes (a fleet's judge sums them):
/// `{"requests": 120, "errors": 3, "latency": [[bucket, count], …]}` with only the non-empty
/// fine buckets.
impl serde::Serialize for WindowCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let latency: Vec<(usize, u64)> = self
            .latency
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (i, n))
            .collect();
        let mut m = s.serialize_struct("WindowCounts", 3)?;
        m.serialize_field("requests", &self.requests)?;
        m.serialize_field("errors", &self.errors)?;
        m.serialize_field("latency", &latency)?;
        m.end()
    }
}

impl<'de> serde::Deserialize<'de> for WindowCounts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            requests: u64,
            errors: u64,
            #[serde(default)]
            latency: Vec<(usize, u64)>,
        }
        let w = Wire::deserialize(d)?;
        if w.errors > w.requests {
            return Err(serde::de::Error::custom(format!(
                "{} errors of {} requests",
                w.errors, w.requests
            )));
        }
        let mut c = WindowCounts {
            requests: w.requests,
            errors: w.errors,
            ..WindowCounts::default()
        };
        for (i, n) in w.latency {
            let slot = c.latency.get_mut(i).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "latency bucket {i} does not exist (0 to {})",
                    FINE_BUCKETS - 1
                ))
            })?;
            *slot = slot.saturating_add(n);
        }
        Ok(c)
    }
}

impl WindowCounts {
    /// What `self` holds beyond `earlier`, a reading of the same running total taken before:
    /// each count less the earlier one, never below zero (a total that restarted counts from
    /// zero again).
    pub fn since(&self, earlier: &WindowCounts) -> WindowCounts {
        if self.requests < earlier.requests {
            return self.clone();
        }
        let mut out = WindowCounts {
            requests: self.requests - earlier.requests,
            errors: self.errors.saturating_sub(earlier.errors),
            ..WindowCounts::default()
        };
        for ((o, a), b) in out
            .latency
            .iter_mut()
            .zip(&self.latency)
            .zip(&earlier.latency)
        {
            *o = a.saturating_sub(*b);
        }
        out.errors = out.errors.min(out.requests);
        out
    }

    /// Adds `other` (another node of the same group, say).
    pub fn merge(&mut self, other: &WindowCounts) {
        self.requests += other.requests;
        self.errors += other.errors;
        for (a, b) in self.latency.iter_mut().zip(other.latency.iter()) {
            *a += b;
        }
    }

    /// Requests that had a latency recorded.
    pub fn timed(&self) -> u64 {
        self.latency.iter().sum()
    }

    /// Errors per request, `None` without requests.
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
    }

    /// The `q` quantile (0..=1) of the recorded latencies in milliseconds, read at the middle of
    /// its bucket (within ±12.5 %); `None` without timed requests.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total = self.timed();
        if total == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        // The smallest value with at least ceil(q * total) samples at or below it.
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &n) in self.latency.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(fine_value_ms(i));
            }
        }
        None
    }

    /// The recorded latencies as (bucket value in milliseconds, count) pairs, smallest first:
    /// the samples a rank test compares.
    pub fn latency_histogram_ms(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.latency
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (fine_value_ms(i), n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(w: &Window, now: u64, since: u64) -> WindowCounts {
        let mut c = WindowCounts::default();
        w.read_into(now, since, u64::MAX, &mut c);
        c
    }

    #[test]
    fn counts_travel_as_json_and_subtract() {
        let w = Window::default();
        for i in 0..40u64 {
            w.record(1_000 + i, i % 4 == 0, Some(1_000 + 100 * i));
        }
        let total = read(&w, 5_000, 0);
        let json = serde_json::to_string(&total).unwrap();
        let back: WindowCounts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, total);
        let mut more = total.clone();
        more.merge(&total);
        let d = more.since(&total);
        assert_eq!(d, total);
        assert_eq!(
            total.since(&more),
            total,
            "a restarted total counts from zero"
        );
        for bad in [
            r#"{"requests": 1, "errors": 2}"#,
            r#"{"requests": 1, "errors": 0, "latency": [[9999, 1]]}"#,
            r#"{"requests": 1, "errors": 0, "extra": 1}"#,
        ] {
            assert!(serde_json::from_str::<WindowCounts>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_within_the_window_and_forgets_older_periods() {
        let w = Window::default();
        for i in 0..100u64 {
            w.record(1_000 + i, i % 10 == 0, Some(2_000 + i));
        }
        let c = read(&w, 5_000, 0);
        assert_eq!((c.requests, c.errors, c.timed()), (100, 10, 100));
        // The true median is 2.05 ms; a bucket midpoint is within 12.5 % of it.
        let p50 = c.quantile_ms(0.5).unwrap();
        assert!((2.05 * 0.875..=2.05 * 1.125).contains(&p50), "{p50}");
        // Two minutes later the slot is out of the window.
        assert_eq!(read(&w, 1_000 + SLOTS as u64 * SLOT_MS, 0).requests, 0);
        // A new period in the same slot starts from zero.
        let later = SLOTS as u64 * SLOT_MS + 2_000;
        w.record(later, false, None);
        let c = read(&w, later, 0);
        assert_eq!((c.requests, c.errors, c.timed()), (1, 0, 0));
    }

    #[test]
    fn since_selects_whole_periods() {
        let w = Window::default();
        w.record(5_000, true, None); // period 0
        w.record(15_000, false, None); // period 1
        w.record(25_000, false, None); // period 2
        assert_eq!(read(&w, 29_000, 0).requests, 3);
        assert_eq!(read(&w, 29_000, 10_000).requests, 2);
        assert_eq!(read(&w, 29_000, 10_001).requests, 1);
        assert_eq!(read(&w, 29_000, 10_000).errors, 0);
        let mut c = WindowCounts::default();
        w.read_into(29_000, 0, 20_000, &mut c);
        assert_eq!((c.requests, c.errors), (2, 1), "periods 0 and 1 only");
    }

    #[test]
    fn a_clock_going_back_does_not_mix_periods() {
        let w = Window::default();
        w.record(SLOTS as u64 * SLOT_MS + 1, false, None);
        w.record(1, true, None); // same slot, older period: dropped
        let c = read(&w, SLOTS as u64 * SLOT_MS + 1, 0);
        assert_eq!((c.requests, c.errors), (1, 0));
    }

    #[test]
    fn quantiles_merge_and_edges() {
        let a = Window::default();
        let b = Window::default();
        for _ in 0..99 {
            a.record(0, false, Some(1_000));
        }
        b.record(0, false, Some(100_000));
        let mut c = read(&a, 0, 0);
        c.merge(&read(&b, 0, 0));
        assert_eq!(c.requests, 100);
        assert!(c.quantile_ms(0.99).unwrap() < 1.2);
        assert!(c.quantile_ms(1.0).unwrap() > 90.0);
        assert_eq!(WindowCounts::default().quantile_ms(0.5), None);
        assert_eq!(c.quantile_ms(1.5), None);
        assert_eq!(c.latency_histogram_ms().map(|(_, n)| n).sum::<u64>(), 100);
    }
}
