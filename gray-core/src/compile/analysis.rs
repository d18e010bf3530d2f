//! Compiling a rollout's `analysis` section: the canary nodes, the baseline, the checks (see
//! [`crate::analysis`]) and the weights an abort puts in force.

use std::collections::HashMap;
use std::time::Duration;

use std::sync::Arc;

use super::names::GroupNames;
use super::registry::StateRegistry;
use super::scope::CompileScope;
use crate::analysis::{ErrorRateCheck, LatencyCheck};
use crate::error::{Error, ErrorKind, Result};
use crate::rollout::judge::Analysis;
use crate::rollout::RolloutControl;
use crate::snapshot::group::JudgedRollout;
use crate::snapshot::rule::PercentRamp;
use crate::spec::{AnalysisSpec, InconclusiveSpec, RolloutSpec};
use crate::sticky;
use crate::traffic::{SLOTS, SLOT_MS};

/// What compiling an analysis needs of its group.
pub(super) struct JudgedInput<'a> {
    pub(super) group: &'a str,
    pub(super) rollout: &'a RolloutSpec,
    pub(super) path: &'a str,
    /// Node address → index.
    pub(super) addrs: &'a HashMap<&'a str, usize>,
    pub(super) names: &'a GroupNames<'a>,
    pub(super) registry: &'a StateRegistry,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The weights in force after an abort (the group's weights with the canary at 0) and the
/// judged rollout.
pub(super) fn compile_analysis(
    a: &AnalysisSpec,
    input: &JudgedInput<'_>,
    base: &[u32],
    scope: &mut CompileScope,
) -> Result<(Vec<u32>, JudgedRollout)> {
    let path = input.path;
    let invalid = |field: &str, msg: String| {
        Error::at(ErrorKind::InvalidValue, format!("{path}.{field}"), msg)
    };
    if input.rollout.steps.len() < 2 {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            path,
            "a judged rollout needs at least two steps (the last one is the promoted state)",
        ));
    }
    if a.canary.is_empty() {
        return Err(invalid("canary", "name the canary's node addresses".into()));
    }
    let mut canary = Vec::with_capacity(a.canary.len());
    for (i, addr) in a.canary.iter().enumerate() {
        let Some(&n) = input.addrs.get(addr.as_str()) else {
            return Err(Error::at(
                ErrorKind::UnknownReference,
                format!("{path}.canary[{i}]"),
                format!("{addr:?} is not a node of this group"),
            ));
        };
        canary.push(n as u32);
    }
    let baseline = match &a.baseline {
        Some(g) if g == input.group => {
            return Err(invalid(
                "baseline",
                "the baseline must be another group (omit it for the group's other nodes)".into(),
            ))
        }
        Some(g) => Some(input.names.index(g, &format!("{path}.baseline"))?),
        None => {
            if canary.len() == input.addrs.len() {
                return Err(invalid(
                    "baseline",
                    "every node is a canary: name a baseline group".into(),
                ));
            }
            None
        }
    };
    let interval_ms = ms(a.interval.0);
    let max_ms = SLOTS as u64 * SLOT_MS;
    if interval_ms < SLOT_MS || interval_ms > max_ms || interval_ms % SLOT_MS != 0 {
        return Err(invalid(
            "interval",
            format!(
                "{} is not a whole number of 10 s slots from 10 s to {} s",
                a.interval,
                max_ms / 1000
            ),
        ));
    }
    if a.failure_limit == 0 {
        return Err(invalid("failure_limit", "must be at least 1".into()));
    }
    if let Some(url) = &a.webhook {
        let ok = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
            && !url.bytes().any(|b| b <= b' ' || b == 0x7f);
        if !ok {
            return Err(invalid(
                "webhook",
                format!("{url:?} is not an http:// or https:// URL"),
            ));
        }
    }
    if a.error_rate.is_none() && a.latency.is_none() {
        return Err(invalid(
            "error_rate",
            "an analysis needs a check: error_rate, latency or both".into(),
        ));
    }
    let error_rate = match &a.error_rate {
        Some(e) => {
            let c = ErrorRateCheck {
                max_increase: e.max_increase,
                max_rate: e.max_rate,
                confidence: e.confidence,
                min_requests: e.min_requests,
            };
            c.validate()
                .map_err(|err| err.within(&format!("{path}.error_rate")))?;
            Some(c)
        }
        None => None,
    };
    let latency = match &a.latency {
        Some(l) => {
            let c = LatencyCheck {
                quantile: l.quantile,
                max_ratio: l.max_ratio,
                confidence: l.confidence,
                min_samples: l.min_samples,
            };
            c.validate()
                .map_err(|err| err.within(&format!("{path}.latency")))?;
            Some(c)
        }
        None => None,
    };
    let pause_after_ms = match &a.inconclusive {
        InconclusiveSpec::Hold => None,
        InconclusiveSpec::PauseAfter(d) if d.0.is_zero() => {
            return Err(invalid(
                "inconclusive.pause_after",
                "must be positive".into(),
            ))
        }
        InconclusiveSpec::PauseAfter(d) => Some(ms(d.0)),
    };
    let holds_ms = input
        .rollout
        .steps
        .iter()
        .map(|s| s.hold.map_or(0, |d| ms(d.0)))
        .collect();
    let mut aborted = base.to_vec();
    for &c in &canary {
        aborted[c as usize] = 0;
    }
    // A changed rollout starts afresh; an unchanged one keeps its state across reloads.
    let fingerprint = serde_json::to_string(input.rollout).unwrap_or_default();
    let control = input
        .registry
        .rollout(input.group, &fingerprint, input.rollout.steps.len());
    add_percent_ramps(input, &control, scope)?;
    Ok((
        aborted,
        JudgedRollout {
            control,
            analysis: Analysis {
                interval_ms,
                failure_limit: a.failure_limit,
                error_rate,
                latency,
                pause_after_ms,
                holds_ms,
            },
            canary: canary.into(),
            baseline,
        },
    ))
}

/// The percent ramps of the rollout's steps, by rule id, into `scope` (the rules compile after
/// the groups and take them). A rule keeps the previous step's value in a step that does not
/// name it; step 0 must name every ramped rule. Aborted: 0 %.
fn add_percent_ramps(
    input: &JudgedInput<'_>,
    control: &Arc<RolloutControl>,
    scope: &mut CompileScope,
) -> Result<()> {
    let steps = &input.rollout.steps;
    let mut rules: Vec<&str> = steps
        .iter()
        .flat_map(|s| s.percent.keys().map(String::as_str))
        .collect();
    rules.sort_unstable();
    rules.dedup();
    for rule in rules {
        let mut thresholds = Vec::with_capacity(steps.len() + 1);
        let mut last = None;
        for (i, s) in steps.iter().enumerate() {
            let path = format!(
                "{}.steps[{i}].percent.{rule}",
                input.path.trim_end_matches(".analysis")
            );
            match (s.percent.get(rule), last) {
                (Some(&v), _) if (0.0..=100.0).contains(&v) => last = Some(sticky::threshold(v)),
                (Some(v), _) => {
                    return Err(Error::at(
                        ErrorKind::InvalidValue,
                        path,
                        format!("percentage {v} must be between 0 and 100"),
                    ))
                }
                (None, None) => {
                    return Err(Error::at(
                        ErrorKind::InvalidValue,
                        path,
                        "step 0 must give every rule a later step ramps its percentage",
                    ))
                }
                (None, Some(_)) => {}
            }
            thresholds.push(last.unwrap_or(0));
        }
        thresholds.push(0);
        if scope.ramps.contains_key(rule) {
            return Err(Error::at(
                ErrorKind::Duplicate,
                format!("{}.steps", input.path.trim_end_matches(".analysis")),
                format!("rule {rule:?} is ramped by two rollouts"),
            ));
        }
        let ramp = Arc::new(PercentRamp {
            control: control.clone(),
            thresholds: thresholds.into(),
        });
        let path = format!(
            "{}.steps[0].percent.{rule}",
            input.path.trim_end_matches(".analysis")
        );
        scope.ramps.insert(rule.to_string(), (ramp, path));
    }
    Ok(())
}
