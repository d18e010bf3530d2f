//! The native rule format: plain serde data that users write in YAML, JSON or TOML.
//!
//! A [`Spec`] is what a person writes and what importers (Nepxion XML/JSON) produce; it does no
//! work by itself. [`crate::Engine`] compiles it into an immutable [`crate::Snapshot`]. Every struct
//! rejects unknown fields, so a typo such as `wieght:` is an error instead of a silent default.
//!
//! ```
//! use gray_core::{Format, Spec};
//!
//! let spec = Spec::from_str(r#"
//! version: 1
//! groups:
//!   stable: { nodes: [{ address: "127.0.0.1:6002" }] }
//!   canary: { nodes: [{ address: "127.0.0.1:6004" }], fallback: stable }
//! rules:
//!   - id: canary-cookie
//!     when: { cookie: { name: canary, regex: "aaa$", ignore_case: true } }
//!     route: canary
//! default: stable
//! "#, Format::Yaml)?;
//! assert_eq!(spec.rules[0].route.as_deref(), Some("canary"));
//! # Ok::<(), gray_core::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Location, Result};

/// The spec format version this library reads.
pub const SPEC_VERSION: u32 = 1;

/// Text formats a [`Spec`] can be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML 1.2 (via `serde_yaml_ng`).
    Yaml,
    /// JSON.
    Json,
    /// TOML.
    Toml,
}

impl Format {
    /// Guesses the format from a file extension (`yaml`/`yml`, `json`, `toml`).
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            "toml" => Some(Format::Toml),
            _ => None,
        }
    }

    /// Parses `yaml`, `json` or `toml` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            "toml" => Some(Format::Toml),
            _ => None,
        }
    }
}

/// A complete routing configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Must be `1`.
    pub version: u32,
    /// How the client address is found behind proxies.
    #[serde(default)]
    pub client_ip: ClientIpSpec,
    /// Named IP/CIDR sets, referenced by `ip` conditions and `client_ip.trusted_proxies`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ip_sets: BTreeMap<String, IpSetSpec>,
    /// Upstream groups (nginx `upstream` blocks, or the instances of one service).
    #[serde(default)]
    pub groups: BTreeMap<String, GroupSpec>,
    /// Rules, evaluated in order; the first that matches decides.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// The group used when no rule matches.
    pub default: String,
    /// Rules for routing headers (`n-d-*`) that arrive from clients.
    #[serde(default)]
    pub headers: HeaderPolicySpec,
    /// Blue-green and gray releases across the call chain (see [`crate::release`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<crate::release::ReleaseSpec>,
    /// Directory that relative `file:` paths are resolved against (not serialised; set by
    /// [`Spec::from_file`]).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// Where the client address comes from (nginx `set_real_ip_from` / `real_ip_header` /
/// `real_ip_recursive`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientIpSpec {
    /// Peers whose forwarded headers are believed: CIDRs, addresses, or names of `ip_sets`.
    /// Empty (the default) trusts nobody: the peer address is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// `x-forwarded-for` (default), `x-real-ip`, `forwarded`, or another header name that holds
    /// a comma-separated address list.
    #[serde(default = "default_ip_header")]
    pub header: String,
    /// Skip trusted addresses while walking the header from the right (nginx
    /// `real_ip_recursive on`). Default off, as in nginx.
    #[serde(default)]
    pub recursive: bool,
}

fn default_ip_header() -> String {
    "x-forwarded-for".to_string()
}

impl Default for ClientIpSpec {
    fn default() -> Self {
        ClientIpSpec {
            trusted_proxies: Vec::new(),
            header: default_ip_header(),
            recursive: false,
        }
    }
}

/// A named IP set: inline entries, a file with one entry per line (`#` comments), or both.
///
/// A set with neither is empty and matches nothing: a gray list that currently lists nobody, or
/// one whose members come from a configuration source such as Redis.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpSetSpec {
    /// Addresses and CIDRs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<String>,
    /// A file of addresses and CIDRs, relative to the config file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

/// How a group picks one of its nodes.
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
    /// resets and timeouts count, no HTTP status does. Written by [`Spec::to_yaml`] only when it
    /// differs from the default.
    #[serde(
        default = "default_fail_on",
        skip_serializing_if = "is_default_fail_on"
    )]
    pub fail_on: Vec<FailOn>,
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
        }
    }
}

/// One upstream node.
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

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// Largest allowed node weight.
pub const MAX_WEIGHT: u32 = 10_000;

/// Service metadata of a node (Nepxion's version / region / env / zone / group).
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutSpec {
    /// When step 0 starts, in seconds since the Unix epoch.
    pub start: u64,
    /// The steps, in order.
    pub steps: Vec<RolloutStepSpec>,
}

/// One step of a [`RolloutSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutStepSpec {
    /// Weight per node address for this step.
    pub weights: BTreeMap<String, u32>,
    /// How long the step holds (omit on the last step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<DurationSpec>,
}

/// One rule: a condition and what to do when it matches.
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
    #[serde(default, skip_serializing_if = "RoutesSpec::is_empty")]
    pub routes: RoutesSpec,
}

fn default_true() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// Per-service route values, in Nepxion's value format: either a JSON map
/// `{"svc-a":"1.0","svc-b":"1.1"}` or a plain value that applies to every service (`1.0;1.1`).
///
/// A weighted alternative (`gray`) lets the rule pick one of several route sets per request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutesSpec {
    /// `n-d-version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `n-d-region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `n-d-address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `n-d-version-weight`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_weight: Option<String>,
    /// `n-d-region-weight`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_weight: Option<String>,
    /// `n-d-env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

impl RoutesSpec {
    /// True when no dimension is set.
    pub fn is_empty(&self) -> bool {
        *self == RoutesSpec::default()
    }
}

/// What to do with routing headers (`n-d-*`) that arrive with a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderPolicySpec {
    /// Header name prefixes that are routing headers. Default `["n-d-"]`.
    #[serde(default = "default_routing_prefixes")]
    pub routing_prefixes: Vec<String>,
    /// `override` (default): the decision's headers replace inbound ones and inbound routing
    /// headers the decision did not set are stripped. `keep`: inbound headers win and the
    /// decision only fills in missing ones (only safe behind a trusted edge).
    #[serde(default)]
    pub inbound: InboundPolicy,
    /// Built-in headers (Nepxion `<header>`): the lowest-priority source of expression
    /// variables, and added to every forwarded request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub builtin: BTreeMap<String, String>,
    /// Peers (CIDRs, addresses or `ip_sets` names) whose inbound routing headers are believed:
    /// the services and gateways of your own call chain. From any other peer inbound routing
    /// headers are ignored. When empty, inbound routing headers are believed only with
    /// `inbound: keep`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_peers: Vec<String>,
}

fn default_routing_prefixes() -> Vec<String> {
    vec!["n-d-".to_string()]
}

impl Default for HeaderPolicySpec {
    fn default() -> Self {
        HeaderPolicySpec {
            routing_prefixes: default_routing_prefixes(),
            inbound: InboundPolicy::default(),
            builtin: BTreeMap::new(),
            trusted_peers: Vec::new(),
        }
    }
}

/// See [`HeaderPolicySpec::inbound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundPolicy {
    /// The decision wins; unknown inbound routing headers are stripped.
    #[default]
    Override,
    /// Inbound routing headers win.
    Keep,
}

/// A condition tree.
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

/// Where a stickiness key comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeySpec {
    /// A cookie's value.
    Cookie(String),
    /// A header's first value.
    Header(String),
    /// A query parameter's value.
    Query(String),
    /// The resolved client IP, in canonical text form.
    ClientIp,
}

/// A sticky percentage: `bucket(salt, key) < percent`.
///
/// `bucket` is documented in [`crate::sticky`]; it is the same in every process and in the
/// Python binding, so a user keeps their bucket everywhere.
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

/// A duration written as `500ms`, `30s`, `10m`, `2h`, `1d`, or a bare number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DurationSpec(pub Duration);

impl DurationSpec {
    /// Parses the textual form.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        if num.is_empty() {
            return Err(format!("duration {s:?} must start with a number, e.g. 30s"));
        }
        let n: u64 = num
            .parse()
            .map_err(|_| format!("duration {s:?} is too large"))?;
        let ms = match unit.trim() {
            "ms" => Some(n),
            "" | "s" => n.checked_mul(1000),
            "m" => n.checked_mul(60_000),
            "h" => n.checked_mul(3_600_000),
            "d" => n.checked_mul(86_400_000),
            other => {
                return Err(format!(
                    "duration {s:?} has unknown unit {other:?}; use ms, s, m, h or d"
                ))
            }
        };
        ms.map(|ms| DurationSpec(Duration::from_millis(ms)))
            .ok_or_else(|| format!("duration {s:?} is too large"))
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms % 1000 != 0 {
            write!(f, "{ms}ms")
        } else if ms % 3_600_000 == 0 && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms % 60_000 == 0 && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else {
            write!(f, "{}s", ms / 1000)
        }
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DurationSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 500ms, 10m or a number of seconds")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                Ok(DurationSpec(Duration::from_secs(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                u64::try_from(v)
                    .map(|v| DurationSpec(Duration::from_secs(v)))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                DurationSpec::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Spec {
    /// Parses a spec from text. The error names the field path and, where the format gives
    /// one, the line and column.
    pub fn from_str(text: &str, format: Format) -> Result<Spec> {
        let spec: Spec = match format {
            Format::Json => {
                let mut de = serde_json::Deserializer::from_str(text);
                serde_path_to_error::deserialize(&mut de).map_err(|e| {
                    let path = clean_path(e.path().to_string());
                    let inner = e.into_inner();
                    let (line, col) = (inner.line(), inner.column());
                    Error::new(
                        ErrorKind::Syntax,
                        Location::new(path, Some(line), Some(col)),
                        strip_position(&inner.to_string()),
                    )
                })?
            }
            Format::Yaml => yaml_from_str(text)?,
            Format::Toml => {
                let de = toml::Deserializer::parse(text).map_err(|e| toml_error(text, e, ""))?;
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let path = clean_path(e.path().to_string());
                    toml_error(text, e.into_inner(), &path)
                })?
            }
        };
        if spec.version != SPEC_VERSION {
            return Err(Error::at(
                ErrorKind::UnsupportedVersion,
                "version",
                format!(
                    "spec version {} is not supported; this library reads version {SPEC_VERSION}",
                    spec.version
                ),
            )
            .located_in(text, format));
        }
        Ok(spec)
    }

    /// Reads a spec file; the format comes from the extension (`.yaml`, `.yml`, `.json`,
    /// `.toml`). Relative `ip_sets.*.file` paths are resolved against the file's directory.
    /// Errors in the text name the file (see [`Error::in_file`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Spec> {
        Spec::read_file(path.as_ref()).map(|(spec, _, _)| spec)
    }

    /// [`Spec::from_file`], also returning the text and its format (to locate errors found
    /// while compiling, see [`Error::located_in`]).
    pub(crate) fn read_file(path: &Path) -> Result<(Spec, String, Format)> {
        let format = Format::from_path(path).ok_or_else(|| {
            Error::at(
                ErrorKind::InvalidValue,
                path.display().to_string(),
                "cannot tell the format from the file name; use .yaml, .yml, .json or .toml",
            )
        })?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::at(
                ErrorKind::Io,
                path.display().to_string(),
                format!("cannot read: {e}"),
            )
        })?;
        let mut spec =
            Spec::from_str(&text, format).map_err(|e| e.in_file(path.display().to_string()))?;
        spec.base_dir = path.parent().map(Path::to_path_buf);
        Ok((spec, text, format))
    }

    /// Serialises the spec as YAML (for "show running config" and dumps).
    pub fn to_yaml(&self) -> String {
        yaml_to_string(self)
    }

    /// Serialises the spec as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
    }

    /// A spec with no rules that sends everything to `default`, which has no nodes.
    pub fn minimal(default: &str) -> Spec {
        let mut groups = BTreeMap::new();
        groups.insert(default.to_string(), GroupSpec::default());
        Spec {
            version: SPEC_VERSION,
            client_ip: ClientIpSpec::default(),
            ip_sets: BTreeMap::new(),
            groups,
            rules: Vec::new(),
            default: default.to_string(),
            headers: HeaderPolicySpec::default(),
            release: None,
            base_dir: None,
        }
    }
}

/// Reads YAML into any serde type, with enums written as one-key maps (`cookie: {...}`), the
/// way the native format writes conditions. Errors carry the field path, line and column.
pub fn yaml_from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let mut track = serde_path_to_error::Track::new();
    let tracked = serde_path_to_error::Deserializer::new(de, &mut track);
    serde_yaml_ng::with::singleton_map_recursive::deserialize(tracked).map_err(
        |e: serde_yaml_ng::Error| {
            let loc = e.location();
            Error::new(
                ErrorKind::Syntax,
                Location::new(
                    clean_path(track.path().to_string()),
                    loc.as_ref().map(|l| l.line()),
                    loc.as_ref().map(|l| l.column()),
                ),
                strip_path_prefix(&strip_position(&e.to_string())),
            )
        },
    )
}

/// Writes any serde type as YAML with enums as one-key maps (the inverse of [`yaml_from_str`]).
pub fn yaml_to_string<T: Serialize>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_yaml_ng::Serializer::new(&mut out);
    match serde_yaml_ng::with::singleton_map_recursive::serialize(value, &mut ser) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(e) => format!("# cannot serialise: {e}\n"),
    }
}

/// serde_yaml prefixes messages with the path (`rules[0].when: invalid type ...`); the location
/// already says it.
fn strip_path_prefix(msg: &str) -> String {
    match msg.split_once(": ") {
        Some((p, rest)) if !p.contains(char::is_whitespace) && !p.is_empty() => rest.to_string(),
        _ => msg.to_string(),
    }
}

fn clean_path(p: String) -> String {
    if p == "." {
        String::new()
    } else {
        p
    }
}

/// serde_json and serde_yaml append " at line X column Y"; the location already says it.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn toml_error(text: &str, e: toml::de::Error, path: &str) -> Error {
    let (line, col) = match e.span() {
        Some(span) => line_col(text, span.start),
        None => (None, None),
    };
    Error::new(
        ErrorKind::Syntax,
        Location::new(path, line, col),
        e.message().to_string(),
    )
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (Option<usize>, Option<usize>) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (Some(line), Some(col))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            DurationSpec::parse("30s").unwrap().0,
            Duration::from_secs(30)
        );
        assert_eq!(
            DurationSpec::parse("500ms").unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(
            DurationSpec::parse("2h").unwrap().0,
            Duration::from_secs(7200)
        );
        assert_eq!(DurationSpec::parse("7").unwrap().0, Duration::from_secs(7));
        assert!(DurationSpec::parse("s").unwrap_err().contains("number"));
        assert!(DurationSpec::parse("3 weeks")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(DurationSpec::parse("99999999999999999999d").is_err());
        assert_eq!(DurationSpec::parse("90s").unwrap().to_string(), "90s");
        assert_eq!(DurationSpec::parse("10m").unwrap().to_string(), "10m");
    }

    #[test]
    fn unknown_field_has_path_and_line() {
        let e = Spec::from_str(
            "version: 1\ndefault: a\ngroups:\n  a:\n    nodes:\n      - address: 1.2.3.4:80\n        wieght: 3\n",
            Format::Yaml,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Syntax);
        assert_eq!(e.location().path, "groups.a.nodes[0].wieght");
        assert_eq!(e.location().line, Some(7));
        assert!(e.message().contains("wieght"), "{e}");
    }

    #[test]
    fn json_and_toml_errors_have_lines() {
        let e = Spec::from_str(
            "{\"version\":1,\n\"default\":\"a\",\n\"rules\":[{\"idd\":1}]}",
            Format::Json,
        )
        .unwrap_err();
        assert_eq!(e.location().line, Some(3));
        assert!(e.location().path.starts_with("rules[0]"), "{e}");
        let e = Spec::from_str(
            "version = 1\ndefault = \"a\"\n[groups.a]\nselect = \"fastest\"\n",
            Format::Toml,
        )
        .unwrap_err();
        assert_eq!(e.location().line, Some(4), "{e}");
        assert!(e.to_string().contains("fastest"), "{e}");
    }

    #[test]
    fn wrong_version_is_rejected() {
        let e = Spec::from_str("version: 2\ndefault: a\n", Format::Yaml).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnsupportedVersion);
    }

    #[test]
    fn round_trips_through_yaml_and_json() {
        let text = "version: 1\ndefault: a\ngroups:\n  a:\n    nodes: [{address: '1.2.3.4:80', weight: 3, fail_timeout: 30s}]\nrules:\n  - id: r\n    when: {all: [{cookie: {name: c, regex: 'aaa$', ignore_case: true}}, {not: {method: [POST]}}]}\n    route: a\n";
        let spec = Spec::from_str(text, Format::Yaml).unwrap();
        let again = Spec::from_str(&spec.to_yaml(), Format::Yaml).unwrap();
        assert_eq!(spec, again);
        let again = Spec::from_str(&spec.to_json(), Format::Json).unwrap();
        assert_eq!(spec, again);
    }
}
