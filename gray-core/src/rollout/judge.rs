//! One judgement of a rollout: the canary's window against the baseline's, by the configured
//! checks, and what it does to the rollout's state.
//!
//! The statistics are [`crate::analysis`]'s. A step advances when its hold has passed and an
//! interval of the step passed; `failure_limit` failing intervals in a row abort; an
//! inconclusive interval changes nothing, except that with `pause_after` a step that has
//! seen no passing interval for that long pauses.

use super::{Progress, RolloutControl, RolloutState, NOT_STARTED};
use crate::analysis::{self, Counts, ErrorRateCheck, LatencyCheck, Verdict};
use crate::traffic::{WindowCounts, SLOT_MS};

/// Most latency samples a side contributes to the rank test (larger windows are thinned
/// evenly, bucket by bucket).
const MAX_SAMPLES: u64 = 20_000;

/// The compiled analysis of one rollout.
#[derive(Debug, Clone)]
pub(crate) struct Analysis {
    pub(crate) interval_ms: u64,
    pub(crate) failure_limit: u32,
    pub(crate) error_rate: Option<ErrorRateCheck>,
    pub(crate) latency: Option<LatencyCheck>,
    /// Pause a step without a passing interval after this long.
    pub(crate) pause_after_ms: Option<u64>,
    /// Hold of each step (the last: none).
    pub(crate) holds_ms: Box<[u64]>,
}

/// The verdict of one interval, in words.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Judgement {
    Pass(String),
    Fail(String),
    Inconclusive(String),
}

/// Judges the canary's window against the baseline's by every configured check: a failing
/// check fails the interval, all passing pass it, anything else is inconclusive.
pub(crate) fn judge(a: &Analysis, canary: &WindowCounts, baseline: &WindowCounts) -> Judgement {
    let mut verdicts: Vec<Verdict> = Vec::new();
    if let Some(cfg) = &a.error_rate {
        let c = Counts {
            requests: canary.requests,
            errors: canary.errors,
        };
        let b = Counts {
            requests: baseline.requests,
            errors: baseline.errors,
        };
        verdicts.push(analysis::compare_error_rates(c, b, cfg));
    }
    if let Some(cfg) = &a.latency {
        verdicts.push(analysis::compare_latency(
            &samples(canary),
            &samples(baseline),
            cfg,
        ));
    }
    let text = verdicts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if verdicts.iter().any(|v| matches!(v, Verdict::Fail { .. })) {
        Judgement::Fail(text)
    } else if verdicts.iter().all(|v| matches!(v, Verdict::Pass { .. })) {
        Judgement::Pass(text)
    } else {
        Judgement::Inconclusive(text)
    }
}

/// The window's latencies as samples (bucket values), thinned to at most [`MAX_SAMPLES`].
fn samples(w: &WindowCounts) -> Vec<f64> {
    let total = w.timed();
    let keep = |n: u64| {
        if total <= MAX_SAMPLES {
            n
        } else {
            (n * MAX_SAMPLES).div_ceil(total)
        }
    };
    let mut out = Vec::with_capacity(total.min(MAX_SAMPLES) as usize + 128);
    for (v, n) in w.latency_histogram_ms() {
        out.extend(std::iter::repeat_n(v, keep(n) as usize));
    }
    out
}

/// Advances a progressing rollout at `now_ms`: judges the interval that ended (reading the
/// canary's and the baseline's windows of its periods with `read(from, to)`), then moves the
/// step. Does nothing to a paused, promoted or aborted rollout, or before the interval ends.
///
/// Intervals are whole 10-second slots: the first starts at the slot boundary after the first
/// tick, each next one where the last ended, so no slot is judged twice or skipped (unless the
/// ticks stop for longer than an interval: then the latest whole interval is judged).
pub(crate) fn tick(
    ctl: &RolloutControl,
    a: &Analysis,
    now_ms: u64,
    unix_ms: u64,
    read: impl FnOnce(u64, u64) -> (WindowCounts, WindowCounts),
) {
    let mut p = ctl.lock();
    let RolloutState::Progressing { step } = p.state else {
        return;
    };
    if p.interval_started_ms == NOT_STARTED {
        // The first tick starts the clocks of step 0 at the next slot boundary.
        let start = now_ms.div_ceil(SLOT_MS) * SLOT_MS;
        p.interval_started_ms = start;
        p.step_started_ms = start;
        return;
    }
    while now_ms >= p.interval_started_ms.saturating_add(2 * a.interval_ms) {
        p.interval_started_ms += a.interval_ms;
    }
    let end = p.interval_started_ms.saturating_add(a.interval_ms);
    if now_ms < end {
        return;
    }
    let (canary, baseline) = read(p.interval_started_ms, end);
    let j = judge(a, &canary, &baseline);
    p.interval_started_ms = end;
    // Transitions take effect at the end of the interval that decided them.
    let now_ms = end;
    match &j {
        Judgement::Fail(text) => {
            p.failures += 1;
            p.last_judgement = Some(format!("fail: {text}"));
            if p.failures >= a.failure_limit {
                let reason = format!(
                    "aborted at step {} after {} failing interval(s): {text}",
                    step + 1,
                    p.failures
                );
                ctl.transition(&mut p, RolloutState::Aborted, reason, now_ms, unix_ms);
            }
            return;
        }
        Judgement::Pass(text) => {
            p.failures = 0;
            p.passed_in_step = true;
            p.last_judgement = Some(format!("pass: {text}"));
        }
        Judgement::Inconclusive(text) => {
            p.last_judgement = Some(format!("inconclusive: {text}"));
        }
    }
    advance(ctl, &mut p, a, step, now_ms, unix_ms);
}

/// Moves past step `step` when its hold is over and an interval of it passed; pauses it when
/// it stayed without a pass longer than `pause_after`.
fn advance(
    ctl: &RolloutControl,
    p: &mut Progress,
    a: &Analysis,
    step: usize,
    now_ms: u64,
    unix_ms: u64,
) {
    let held = now_ms.saturating_sub(p.step_started_ms);
    let hold = a.holds_ms.get(step).copied().unwrap_or(0);
    if p.passed_in_step && held >= hold {
        let last = ctl.steps() - 1;
        let why = format!(
            "step {} held {} s and passed: {}",
            step + 1,
            held / 1000,
            p.last_judgement.as_deref().unwrap_or("")
        );
        let to = if step + 1 >= last {
            RolloutState::Promoted
        } else {
            RolloutState::Progressing { step: step + 1 }
        };
        ctl.transition(p, to, why, now_ms, unix_ms);
    } else if let Some(limit) = a.pause_after_ms {
        if !p.passed_in_step && held >= limit {
            let why = format!(
                "paused: step {} has been inconclusive for {} s",
                step + 1,
                held / 1000
            );
            ctl.transition(p, RolloutState::Paused { step }, why, now_ms, unix_ms);
        }
    }
}
