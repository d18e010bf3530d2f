//! The `analysis` section of a rollout: gray judges the canary against a baseline serving at
//! the same time and promotes or aborts the rollout by itself.

use serde::{Deserialize, Serialize};

use super::duration::DurationSpec;

/// How a rollout's canary is judged (`groups.<g>.rollout.analysis`).
///
/// Each `interval`, the canary nodes' live window since the previous judgement is compared with
/// the baseline's. A step advances when its `hold` has passed and at least one interval of the
/// step passed every check; `failure_limit` failing intervals in a row abort the rollout (all
/// new traffic to the baseline at once); an interval without enough evidence is
/// inconclusive and changes nothing (or, with `inconclusive: { pause_after }`, pauses a step
/// that stays inconclusive that long).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSpec {
    /// The addresses of the nodes the steps ramp up: the canary.
    pub canary: Vec<String>,
    /// The baseline: a group serving the same requests at the same time. Omitted: the group's
    /// other nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// How often the canary is judged: 10 s to 120 s in whole 10-second slots. Default 30 s.
    #[serde(default = "default_interval")]
    pub interval: DurationSpec,
    /// Consecutive failing intervals that abort the rollout. Default 2.
    #[serde(default = "default_failure_limit")]
    pub failure_limit: u32,
    /// The error-rate check. Default: on, with its defaults.
    #[serde(default = "default_error_rate")]
    pub error_rate: Option<ErrorRateSpec>,
    /// The latency check. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    /// What an inconclusive step does. Default: keep holding.
    #[serde(default)]
    pub inconclusive: InconclusiveSpec,
    /// An `http://` or `https://` URL that gets a JSON POST on each transition of the rollout (sent by the
    /// gateway; an engine embedded elsewhere reads the transitions from `Engine::rollouts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
}

/// The canary's error rate against the baseline's (5xx, connect errors, resets, timeouts).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRateSpec {
    /// Largest tolerated increase over the baseline's rate, absolute (0.01 = one percentage
    /// point). Default 0.01.
    #[serde(default = "default_max_increase")]
    pub max_increase: f64,
    /// An absolute ceiling on the canary's rate, whatever the baseline does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<f64>,
    /// Confidence a difference needs to count. Default 0.98.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Requests each side needs in an interval before it is judged. Default 50.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
}

impl Default for ErrorRateSpec {
    fn default() -> Self {
        ErrorRateSpec {
            max_increase: default_max_increase(),
            max_rate: None,
            confidence: default_confidence(),
            min_requests: default_min_requests(),
        }
    }
}

/// A latency quantile of the canary against the baseline's.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySpec {
    /// The quantile compared, e.g. 0.99. Default 0.99.
    #[serde(default = "default_quantile")]
    pub quantile: f64,
    /// Largest tolerated ratio canary / baseline of that quantile. Default 1.25.
    #[serde(default = "default_max_ratio")]
    pub max_ratio: f64,
    /// Confidence the rank test needs. Default 0.98.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Timed requests each side needs in an interval. Default 50.
    #[serde(default = "default_min_requests")]
    pub min_samples: u64,
}

/// See [`AnalysisSpec::inconclusive`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum InconclusiveSpec {
    /// Keep holding the step until the evidence is enough.
    #[default]
    Hold,
    /// Pause the rollout when a step has had no passing interval for this long.
    PauseAfter(DurationSpec),
}

fn default_interval() -> DurationSpec {
    DurationSpec(std::time::Duration::from_secs(30))
}
fn default_failure_limit() -> u32 {
    2
}
fn default_error_rate() -> Option<ErrorRateSpec> {
    Some(ErrorRateSpec::default())
}
fn default_max_increase() -> f64 {
    0.01
}
fn default_confidence() -> f64 {
    0.98
}
fn default_min_requests() -> u64 {
    50
}
fn default_quantile() -> f64 {
    0.99
}
fn default_max_ratio() -> f64 {
    1.25
}
