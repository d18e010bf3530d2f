//! Upstream groups and their nodes: selection, passive-health settings, staged rollouts.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use std::time::Duration;

use super::analysis::AnalysisSpec;
use super::defaults::is_false;
use super::duration::DurationSpec;
use super::key::KeySpec;

/// How a group picks one of its nodes.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectSpec {
    /// nginx's smooth weighted round robin (the default).
    #[default]
    RoundRobin,
    /// Weighted random.
    Random,
    /// Consistent hash on `hash_key`: a user stays on one node while the node set is unchanged.
    Hash,
}

/// An upstream group.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// The nodes. May be empty (then the group falls back, or the decision says "no upstream").
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
    /// Selection algorithm.
    #[serde(default)]
    pub select: SelectSpec,
    /// Request key for `select: hash` (required then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_key: Option<KeySpec>,
    /// Group to use when this one has no available node (canary → stable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Default `max_fails` for nodes that do not set one (nginx default 1; 0 disables).
    #[serde(default = "default_max_fails")]
    pub max_fails: u32,
    /// Default `fail_timeout` for nodes that do not set one (nginx default 10s).
    #[serde(default = "default_fail_timeout")]
    pub fail_timeout: DurationSpec,
    /// A weight plan that ramps the nodes of this group over time (staged rollout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSpec>,
    /// Which outcomes reported with [`crate::Engine::record`] count as failures of this
    /// group's nodes (nginx `proxy_next_upstream`). Default `[error, timeout]`: connect errors,
    /// resets and timeouts count, no HTTP status does. Written by [`crate::Spec::to_yaml`] only when it
    /// differs from the default.
    #[serde(
        default = "default_fail_on",
        skip_serializing_if = "is_default_fail_on"
    )]
    pub fail_on: Vec<FailOn>,
    /// Copy a share of the requests this group serves to another group (see
    /// [`super::MirrorSpec`]); a matching rule's own `mirror` takes precedence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<super::MirrorSpec>,
}

/// One kind of upstream outcome that a group's `fail_on` counts as a failure, after nginx's
/// `proxy_next_upstream` values.
///
/// ```
/// use gray_core::spec::{FailOn, Spec};
/// use gray_core::Format;
///
/// let spec = Spec::from_str(
///     "version: 1\ngroups: { a: { fail_on: [error, http_5xx] } }\ndefault: a\n",
///     Format::Yaml,
/// )?;
/// assert_eq!(spec.groups["a"].fail_on, [FailOn::Error, FailOn::Http5xx]);
/// let err = Spec::from_str(
///     "version: 1\ngroups: { a: { fail_on: [error, http_501] } }\ndefault: a\n",
///     Format::Yaml,
/// ).unwrap_err();
/// assert_eq!(err.location().path, "groups.a.fail_on[1]");
/// assert!(err.to_string().contains("http_5xx"), "{err}");
/// # Ok::<(), gray_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailOn {
    /// `error`: connecting failed ([`crate::Outcome::ConnectError`]) or the node broke the
    /// exchange ([`crate::Outcome::Reset`]).
    Error,
    /// `timeout`: connecting or waiting for the response headers timed out
    /// ([`crate::Outcome::Timeout`]).
    Timeout,
    /// `http_500`: status 500.
    Http500,
    /// `http_502`: status 502.
    Http502,
    /// `http_503`: status 503.
    Http503,
    /// `http_504`: status 504.
    Http504,
    /// `http_403`: status 403.
    Http403,
    /// `http_404`: status 404.
    Http404,
    /// `http_429`: status 429.
    Http429,
    /// `http_5xx`: any status from 500 to 599.
    Http5xx,
}

impl FailOn {
    /// Every value, in the order the error message for an unknown value lists them.
    pub const ALL: [FailOn; 10] = [
        FailOn::Error,
        FailOn::Timeout,
        FailOn::Http500,
        FailOn::Http502,
        FailOn::Http503,
        FailOn::Http504,
        FailOn::Http403,
        FailOn::Http404,
        FailOn::Http429,
        FailOn::Http5xx,
    ];

    /// The spec name: `error`, `timeout`, `http_500`, ..., `http_5xx`.
    pub const fn name(self) -> &'static str {
        match self {
            FailOn::Error => "error",
            FailOn::Timeout => "timeout",
            FailOn::Http500 => "http_500",
            FailOn::Http502 => "http_502",
            FailOn::Http503 => "http_503",
            FailOn::Http504 => "http_504",
            FailOn::Http403 => "http_403",
            FailOn::Http404 => "http_404",
            FailOn::Http429 => "http_429",
            FailOn::Http5xx => "http_5xx",
        }
    }

    /// The value with this spec name (exact, lowercase), if any.
    pub fn from_name(name: &str) -> Option<FailOn> {
        FailOn::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for FailOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for FailOn {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for FailOn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = FailOn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a fail_on value such as error, timeout or http_503")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                FailOn::from_name(v).ok_or_else(|| {
                    let accepted: Vec<&str> = FailOn::ALL.iter().map(|f| f.name()).collect();
                    E::custom(format!(
                        "unknown fail_on value {v:?}; accepted values: {}",
                        accepted.join(", ")
                    ))
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// The default `fail_on`: `[error, timeout]` (nginx's `proxy_next_upstream` default).
pub fn default_fail_on() -> Vec<FailOn> {
    vec![FailOn::Error, FailOn::Timeout]
}

fn is_default_fail_on(v: &[FailOn]) -> bool {
    v == [FailOn::Error, FailOn::Timeout]
}

fn default_max_fails() -> u32 {
    1
}

fn default_fail_timeout() -> DurationSpec {
    DurationSpec(Duration::from_secs(10))
}

impl Default for GroupSpec {
    fn default() -> Self {
        GroupSpec {
            nodes: Vec::new(),
            select: SelectSpec::default(),
            hash_key: None,
            fallback: None,
            max_fails: default_max_fails(),
            fail_timeout: default_fail_timeout(),
            rollout: None,
            fail_on: default_fail_on(),
            mirror: None,
        }
    }
}

/// One upstream node.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// `ip:port`, `[v6]:port` or `host:port`.
    pub address: String,
    /// Relative weight, 0..=10000 (0 = never chosen). Default 1.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Failures within `fail_timeout` that take the node out (0 = never). Default: the group's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fails: Option<u32>,
    /// Failure window and ejection time. Default: the group's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_timeout: Option<DurationSpec>,
    /// Draining: finishes what it has, receives no new requests.
    #[serde(default, skip_serializing_if = "is_false")]
    pub drain: bool,
    /// Service metadata used by version/region/env/zone routing.
    #[serde(default, skip_serializing_if = "NodeMetadata::is_empty")]
    pub metadata: NodeMetadata,
}

fn default_weight() -> u32 {
    1
}

/// Largest allowed node weight.
pub const MAX_WEIGHT: u32 = 10_000;

/// Service metadata of a node (Nepxion's version / region / env / zone / group).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeMetadata {
    /// Release version, e.g. `1.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Region, e.g. `dev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Environment, e.g. `env1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Zone (availability zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Group (consumer isolation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Instance id (Nepxion `spring.application.uuid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The service runs multi-active (Nepxion 多活: every region serves its own users). A
    /// group with an active instance never takes `release.failover.region_failover`: when its
    /// region route matches no instance the call gets none, instead of crossing regions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub active: bool,
}

impl NodeMetadata {
    fn is_empty(&self) -> bool {
        *self == NodeMetadata::default()
    }
}

/// A staged rollout: the weights of a group's nodes follow a plan of steps over time.
///
/// Each step names a weight per node address (nodes not named keep their configured weight)
/// and how long the step holds; the last step holds forever.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutSpec {
    /// When step 0 starts, in seconds since the Unix epoch.
    pub start: u64,
    /// The steps, in order.
    pub steps: Vec<RolloutStepSpec>,
    /// Judge the canary and advance (or abort) by the evidence instead of the clock alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisSpec>,
}

/// One step of a [`RolloutSpec`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutStepSpec {
    /// Weight per node address for this step (nodes not named keep the group's weight).
    #[serde(default)]
    pub weights: BTreeMap<String, u32>,
    /// Percentage per rule id for this step: the `percent` conditions of that rule match this
    /// share of the population instead of their own `value` (a judged rollout only). Ramps a
    /// cookie- or user-keyed population: 1 → 5 → 25 → 100.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub percent: BTreeMap<String, f64>,
    /// How long the step holds (omit on the last step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<DurationSpec>,
}

impl NodeSpec {
    /// A node with weight 1 and the group's health defaults.
    pub fn new(address: &str) -> NodeSpec {
        NodeSpec {
            address: address.to_string(),
            weight: 1,
            max_fails: None,
            fail_timeout: None,
            drain: false,
            metadata: Default::default(),
        }
    }

    /// Sets the weight.
    pub fn with_weight(mut self, weight: u32) -> NodeSpec {
        self.weight = weight;
        self
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for FailOn {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FailOn".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = FailOn::ALL.iter().map(|f| f.name()).collect();
        schemars::json_schema!({
            "description": "An outcome that counts as a failure of the group's nodes.",
            "type": "string",
            "enum": names
        })
    }
}
