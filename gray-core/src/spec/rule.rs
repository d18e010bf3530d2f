//! Rules: a condition tree and the group (and per-service routes) it sends matching requests to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::defaults::{default_true, is_false, is_true};
use super::dimensions::Dimensions;
use super::key::KeySpec;
use super::mirror::MirrorSpec;

/// One rule: a condition and what to do when it matches.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique id, shown in decisions, explanations and metrics.
    pub id: String,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A disabled rule is kept in the config but never evaluated.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// The condition; omitted means "always".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<ConditionSpec>,
    /// The group to route to. Omitted: the default group (useful with `set_headers` / `routes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Headers to set on the forwarded request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set_headers: BTreeMap<String, String>,
    /// Per-service routes propagated down the call chain (version/region/address/... headers).
    #[serde(default, skip_serializing_if = "Dimensions::is_empty")]
    pub routes: Dimensions,
    /// Copy a share of the requests this rule matches to another group (see [`MirrorSpec`]);
    /// it takes precedence over the target group's own `mirror`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<MirrorSpec>,
}

/// The former name of [`Dimensions`], the per-service route values a rule sets.
pub type RoutesSpec = Dimensions;

/// A condition tree.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ConditionSpec {
    /// Client IP in any of these sets; each entry is a set name or an inline IP/CIDR.
    Ip(Vec<String>),
    /// A cookie by name.
    Cookie(ValueMatchSpec),
    /// A request header by name (case-insensitive name).
    Header(ValueMatchSpec),
    /// A query parameter by name (percent-decoded value).
    Query(ValueMatchSpec),
    /// The request path (no name).
    Path(ValueMatchSpec),
    /// The host, without port, compared case-insensitively (no name).
    Host(ValueMatchSpec),
    /// One of these methods (case-insensitive).
    Method(Vec<String>),
    /// A sticky percentage of users.
    Percent(PercentSpec),
    /// A Nepxion-style expression such as `#H['a'] == '1' && #H['b'] != '2'`.
    Expr(String),
    /// Every sub-condition holds (empty: true).
    All(Vec<ConditionSpec>),
    /// At least one sub-condition holds (empty: false).
    Any(Vec<ConditionSpec>),
    /// The sub-condition does not hold.
    Not(Box<ConditionSpec>),
}

/// How a value (cookie, header, query parameter, path, host) is matched.
///
/// Exactly one operator (`equals`, `in`, `regex`, `prefix`, `suffix`, `contains`, `range`,
/// `present`, `absent`) must be given.
///
/// Missing values: `present` is false, `absent` is true, every other operator is false —
/// *also when `invert` is set* (`invert` means "present and not matching"). To match "missing
/// or different", wrap the condition in `not`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueMatchSpec {
    /// Cookie, header or parameter name. Required for cookie/header/query, forbidden for path/host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Exact value.
    #[serde(default, alias = "exact", skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// Any of these exact values.
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<String>>,
    /// Regular expression (unanchored, like nginx `~`; anchor with `^`/`$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// Value starts with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Value ends with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// Value contains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// Value is a number within the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<RangeSpec>,
    /// `true`: the value exists (any content). `false`: it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<bool>,
    /// `true`: the value does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent: Option<bool>,
    /// Compare ignoring ASCII case (nginx `~*`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_case: bool,
    /// Present and NOT matching.
    #[serde(default, skip_serializing_if = "is_false")]
    pub invert: bool,
}

/// A numeric range; either bound may be omitted. Both bounds are inclusive.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    /// Lower bound, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper bound, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// A sticky percentage: `bucket(salt, key) < percent`.
///
/// `bucket` is documented in [`crate::sticky`]; it is the same in every process and in the
/// Python binding, so a user keeps their bucket everywhere.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PercentSpec {
    /// The key to hash.
    pub key: KeySpec,
    /// Percentage 0..=100 in steps of 0.01.
    pub value: f64,
    /// Salt that makes rules independent. Default: the rule id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
}
