//! The statistics of the canary judge: is the canary worse than a baseline serving at the same
//! time, by more than the tolerance, with enough evidence?
//!
//! A leaf of the crate (the distributions come from `statrs`). Each comparison answers
//! [`Verdict::Pass`], [`Verdict::Fail`] or [`Verdict::Inconclusive`] with the figures that
//! decided it.
//!
//! **Error rates** ([`compare_error_rates`]). Below `min_requests` on either side (default 50,
//! Kayenta's minimum) the answer is inconclusive: one error in twenty requests says nothing.
//! Otherwise the canary fails when its rate is higher than the baseline's by more than
//! `max_increase` at the configured confidence (default 0.98, one-sided), which takes two
//! tests that must both agree:
//!
//! * Fisher's exact test (one-sided, hypergeometric tail) that the canary's rate is higher at
//!   all. It is exact at small counts, so small windows do not fail on chance; above 20 000
//!   requests in the table it is replaced by the pooled two-proportion z-test it converges to;
//! * the Agresti–Caffo test of the difference against `max_increase` (one success and one
//!   failure added to each side, a normal approximation that stays well behaved at rates
//!   near zero): the increase must exceed the tolerance, not just be non-zero.
//!
//! An optional `max_rate` fails the canary when the lower bound of its own rate (Wilson score,
//! same confidence) is above it, whatever the baseline does. Anything that does not fail
//! passes: as with Kayenta, "no significant difference" is a pass once the windows are big
//! enough.
//!
//! **Latency** ([`compare_latency`]). Below `min_samples` per side (default 50) inconclusive.
//! The canary fails when a one-sided Mann–Whitney U test says its latencies are larger (normal
//! approximation with tie correction, which the bucketed latencies of live windows need, and a
//! continuity correction) at the confidence, **and** its `quantile` is more than `max_ratio`
//! (default 1.25: Kayenta's 25 % effect tolerance) times the baseline's. A significant but
//! tiny difference on a huge sample passes.

use std::fmt;

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, DiscreteCDF, Hypergeometric, Normal};

use crate::error::{Error, ErrorKind, Result};

/// Requests and errors of one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    /// Requests.
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
}

impl Counts {
    fn rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors.min(self.requests) as f64 / self.requests as f64
        }
    }
}

/// The error-rate check.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRateCheck {
    /// Largest tolerated increase of the canary's rate over the baseline's (absolute).
    pub max_increase: f64,
    /// An absolute ceiling on the canary's rate.
    pub max_rate: Option<f64>,
    /// Confidence a difference needs (one-sided).
    pub confidence: f64,
    /// Requests each side needs.
    pub min_requests: u64,
}

impl Default for ErrorRateCheck {
    /// One percentage point of tolerance, confidence 0.98, 50 requests per side.
    fn default() -> Self {
        ErrorRateCheck {
            max_increase: 0.01,
            max_rate: None,
            confidence: 0.98,
            min_requests: 50,
        }
    }
}

/// The latency check.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyCheck {
    /// The quantile compared for the effect size.
    pub quantile: f64,
    /// Largest tolerated ratio canary / baseline of that quantile.
    pub max_ratio: f64,
    /// Confidence the rank test needs (one-sided).
    pub confidence: f64,
    /// Samples each side needs.
    pub min_samples: u64,
}

impl Default for LatencyCheck {
    /// p99, a 25 % tolerance, confidence 0.98, 50 samples per side.
    fn default() -> Self {
        LatencyCheck {
            quantile: 0.99,
            max_ratio: 1.25,
            confidence: 0.98,
            min_samples: 50,
        }
    }
}

fn check_confidence(c: f64) -> Result<()> {
    // Below one half a one-sided test would fail canaries that look better than the baseline.
    if c.is_finite() && (0.5..1.0).contains(&c) {
        Ok(())
    } else {
        Err(Error::at(
            ErrorKind::InvalidValue,
            "confidence",
            format!("confidence {c} must be from 0.5 to 1 (exclusive), e.g. 0.98"),
        ))
    }
}

impl ErrorRateCheck {
    /// Checks the settings: confidence in [0.5, 1), `max_increase` in [0, 1), `max_rate` in
    /// (0, 1], `min_requests` ≥ 1.
    pub fn validate(&self) -> Result<()> {
        check_confidence(self.confidence)?;
        if !(self.max_increase.is_finite() && (0.0..1.0).contains(&self.max_increase)) {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                "max_increase",
                format!("{} must be from 0 to 1, e.g. 0.01", self.max_increase),
            ));
        }
        if let Some(r) = self.max_rate {
            if !(r.is_finite() && r > 0.0 && r <= 1.0) {
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    "max_rate",
                    format!("{r} must be above 0 and at most 1, e.g. 0.05"),
                ));
            }
        }
        if self.min_requests == 0 {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                "min_requests",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

impl LatencyCheck {
    /// Checks the settings: quantile in (0, 1), confidence in [0.5, 1), `max_ratio` ≥ 1,
    /// `min_samples` ≥ 20 (the rank test's normal approximation needs that many).
    pub fn validate(&self) -> Result<()> {
        check_confidence(self.confidence)?;
        if !(self.quantile.is_finite() && self.quantile > 0.0 && self.quantile < 1.0) {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                "quantile",
                format!("{} must be between 0 and 1, e.g. 0.99", self.quantile),
            ));
        }
        if !(self.max_ratio.is_finite() && self.max_ratio >= 1.0) {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                "max_ratio",
                format!("{} must be at least 1, e.g. 1.25", self.max_ratio),
            ));
        }
        if self.min_samples < 20 {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                "min_samples",
                "must be at least 20 (the rank test's normal approximation)",
            ));
        }
        Ok(())
    }
}

/// The figures behind a verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Figures {
    /// An error-rate comparison.
    ErrorRate {
        /// The canary's counts.
        canary: Counts,
        /// The baseline's counts.
        baseline: Counts,
        /// One-sided p-value of the test that decided (`None` when not tested).
        p_value: Option<f64>,
    },
    /// A latency comparison.
    Latency {
        /// Samples per side.
        canary_samples: usize,
        /// Samples per side.
        baseline_samples: usize,
        /// The compared quantile of each side, in the samples' unit.
        canary_quantile: Option<f64>,
        /// See `canary_quantile`.
        baseline_quantile: Option<f64>,
        /// One-sided p-value of the rank test.
        p_value: Option<f64>,
    },
}

/// The answer of one comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The canary is not worse beyond the tolerance.
    Pass {
        /// What was measured.
        figures: Figures,
        /// In words.
        reason: String,
    },
    /// The canary is worse beyond the tolerance, with confidence.
    Fail {
        /// What was measured.
        figures: Figures,
        /// In words.
        reason: String,
    },
    /// Not enough evidence either way.
    Inconclusive {
        /// What was measured.
        figures: Figures,
        /// In words.
        reason: String,
    },
}

impl Verdict {
    /// The reason in words.
    pub fn reason(&self) -> &str {
        match self {
            Verdict::Pass { reason, .. }
            | Verdict::Fail { reason, .. }
            | Verdict::Inconclusive { reason, .. } => reason,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self {
            Verdict::Pass { .. } => "pass",
            Verdict::Fail { .. } => "fail",
            Verdict::Inconclusive { .. } => "inconclusive",
        };
        write!(f, "{word}: {}", self.reason())
    }
}

fn normal_sf(z: f64) -> f64 {
    // The standard normal is always constructible.
    Normal::new(0.0, 1.0).map_or(f64::NAN, |n| n.sf(z))
}

fn normal_quantile(p: f64) -> f64 {
    Normal::new(0.0, 1.0).map_or(f64::NAN, |n| n.inverse_cdf(p))
}

/// Tables with more requests than this use the pooled two-proportion z-test, which Fisher's
/// test converges to, instead of summing the hypergeometric tail.
const FISHER_MAX_REQUESTS: u64 = 20_000;

/// One-sided p-value that the canary's error rate is higher at all: Fisher's exact test (the
/// probability, with the margins fixed, of at least the canary's errors) up to
/// [`FISHER_MAX_REQUESTS`], the pooled two-proportion z-test above.
fn fisher_greater(c: Counts, b: Counts) -> f64 {
    let (ce, be) = (c.errors.min(c.requests), b.errors.min(b.requests));
    let total = c.requests.saturating_add(b.requests);
    let errors = ce.saturating_add(be);
    if ce == 0 || total == 0 || c.requests == 0 || b.requests == 0 {
        return 1.0;
    }
    if total > FISHER_MAX_REQUESTS {
        let (n1, n2) = (c.requests as f64, b.requests as f64);
        let pooled = errors as f64 / (n1 + n2);
        let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
        if se <= 0.0 || !se.is_finite() {
            return 1.0;
        }
        return normal_sf((c.rate() - b.rate()) / se);
    }
    match Hypergeometric::new(total, errors, c.requests) {
        Ok(h) => h.sf(ce - 1).clamp(0.0, 1.0),
        Err(_) => 1.0,
    }
}

/// Agresti–Caffo one-sided p-value that `p_canary − p_baseline > delta`.
fn agresti_caffo_greater(c: Counts, b: Counts, delta: f64) -> f64 {
    let adj = |x: Counts| {
        let n = x.requests as f64 + 2.0;
        ((x.errors.min(x.requests) as f64 + 1.0) / n, n)
    };
    let ((pc, nc), (pb, nb)) = (adj(c), adj(b));
    let se = (pc * (1.0 - pc) / nc + pb * (1.0 - pb) / nb).sqrt();
    if se <= 0.0 || !se.is_finite() {
        return 1.0;
    }
    normal_sf((pc - pb - delta) / se)
}

/// The lower bound of the Wilson score interval of a rate, one-sided at `confidence`.
fn wilson_lower(c: Counts, confidence: f64) -> f64 {
    let n = c.requests as f64;
    if n == 0.0 {
        return 0.0;
    }
    let p = c.rate();
    let z = normal_quantile(confidence);
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let margin = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - margin) / (1.0 + z2 / n)).max(0.0)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Compares the canary's error rate with the baseline's (see the module doc for the method).
///
/// ```
/// use gray_core::analysis::{compare_error_rates, Counts, ErrorRateCheck, Verdict};
///
/// let check = ErrorRateCheck::default();
/// let bad = compare_error_rates(Counts { requests: 400, errors: 20 }, Counts { requests: 400, errors: 0 }, &check);
/// assert!(matches!(bad, Verdict::Fail { .. }), "{bad}");
/// let few = compare_error_rates(Counts { requests: 20, errors: 1 }, Counts { requests: 20, errors: 0 }, &check);
/// assert!(matches!(few, Verdict::Inconclusive { .. }));
/// ```
pub fn compare_error_rates(canary: Counts, baseline: Counts, check: &ErrorRateCheck) -> Verdict {
    let figures = |p_value| Figures::ErrorRate {
        canary,
        baseline,
        p_value,
    };
    let describe = format!(
        "canary error rate {} ({}/{}) vs baseline {} ({}/{})",
        pct(canary.rate()),
        canary.errors.min(canary.requests),
        canary.requests,
        pct(baseline.rate()),
        baseline.errors.min(baseline.requests),
        baseline.requests
    );
    let min = check.min_requests.max(1);
    if canary.requests < min || baseline.requests < min {
        return Verdict::Inconclusive {
            figures: figures(None),
            reason: format!("{describe}: fewer than {min} requests on a side"),
        };
    }
    let alpha = 1.0 - check.confidence;
    if let Some(max_rate) = check.max_rate {
        let lower = wilson_lower(canary, check.confidence);
        if lower > max_rate {
            return Verdict::Fail {
                figures: figures(None),
                reason: format!(
                    "{describe}: canary error rate above the ceiling {} (lower bound {})",
                    pct(max_rate),
                    pct(lower)
                ),
            };
        }
    }
    let fisher = fisher_greater(canary, baseline);
    let shifted = agresti_caffo_greater(canary, baseline, check.max_increase);
    let p = fisher.max(shifted);
    if p < alpha {
        Verdict::Fail {
            figures: figures(Some(p)),
            reason: format!(
                "{describe}: higher by more than {} (p={p:.6} < {alpha:.3})",
                pct(check.max_increase)
            ),
        }
    } else {
        Verdict::Pass {
            figures: figures(Some(p)),
            reason: format!(
                "{describe}: no increase beyond {} (p={p:.3})",
                pct(check.max_increase)
            ),
        }
    }
}

/// The `q` quantile (0..=1) of `sorted` (ascending, no NaN) by linear interpolation between
/// the closest ranks (the "type 7" definition of R and NumPy's default); `None` when empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// One-sided Mann–Whitney p-value that `canary` tends to be larger than `baseline` (both
/// sorted ascending): normal approximation with tie and continuity corrections.
fn mann_whitney_greater(canary: &[f64], baseline: &[f64]) -> f64 {
    let (n1, n2) = (canary.len() as f64, baseline.len() as f64);
    let n = n1 + n2;
    // Merge, assigning mid-ranks to ties; sum the canary's ranks and the tie term.
    let (mut i, mut j) = (0usize, 0usize);
    let mut rank = 1.0f64;
    let mut r1 = 0.0f64;
    let mut ties = 0.0f64;
    while i < canary.len() || j < baseline.len() {
        let v = match (canary.get(i), baseline.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        let (mut a, mut b) = (0usize, 0usize);
        while canary.get(i + a) == Some(&v) {
            a += 1;
        }
        while baseline.get(j + b) == Some(&v) {
            b += 1;
        }
        let t = (a + b) as f64;
        let mid = rank + (t - 1.0) / 2.0;
        r1 += mid * a as f64;
        ties += t * t * t - t;
        rank += t;
        i += a;
        j += b;
    }
    let u1 = r1 - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if var <= 0.0 || !var.is_finite() {
        return 1.0;
    }
    normal_sf((u1 - mean - 0.5) / var.sqrt())
}

/// Compares the canary's latencies with the baseline's (see the module doc for the method).
/// Samples may be in any unit (the same on both sides); a NaN or infinite sample makes the
/// comparison inconclusive.
pub fn compare_latency(canary: &[f64], baseline: &[f64], check: &LatencyCheck) -> Verdict {
    let mut c: Vec<f64> = canary.to_vec();
    let mut b: Vec<f64> = baseline.to_vec();
    let figures = |cq: Option<f64>, bq: Option<f64>, p: Option<f64>| Figures::Latency {
        canary_samples: canary.len(),
        baseline_samples: baseline.len(),
        canary_quantile: cq,
        baseline_quantile: bq,
        p_value: p,
    };
    if c.iter().chain(&b).any(|v| !v.is_finite()) {
        return Verdict::Inconclusive {
            figures: figures(None, None, None),
            reason: "latency samples include NaN or infinity".into(),
        };
    }
    let min = check.min_samples.max(20) as usize;
    if c.len() < min || b.len() < min {
        return Verdict::Inconclusive {
            figures: figures(None, None, None),
            reason: format!(
                "latency: {} canary and {} baseline samples, fewer than {min} on a side",
                c.len(),
                b.len()
            ),
        };
    }
    c.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let q = check.quantile;
    let (cq, bq) = (quantile(&c, q), quantile(&b, q));
    let p = mann_whitney_greater(&c, &b);
    let alpha = 1.0 - check.confidence;
    let (cqv, bqv) = (cq.unwrap_or(0.0), bq.unwrap_or(0.0));
    let ratio = if bqv > 0.0 {
        cqv / bqv
    } else if cqv > 0.0 {
        f64::INFINITY
    } else {
        1.0
    };
    let describe = format!(
        "latency p{} canary {cqv:.2} vs baseline {bqv:.2} (×{ratio:.2})",
        (q * 100.0).round()
    );
    if p < alpha && ratio > check.max_ratio {
        Verdict::Fail {
            figures: figures(cq, bq, Some(p)),
            reason: format!(
                "{describe}: slower beyond ×{} (p={p:.6} < {alpha:.3})",
                check.max_ratio
            ),
        }
    } else {
        Verdict::Pass {
            figures: figures(cq, bq, Some(p)),
            reason: format!("{describe}: within ×{} (p={p:.3})", check.max_ratio),
        }
    }
}

#[cfg(test)]
mod tests;
