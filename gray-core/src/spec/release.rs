//! The native `release` section: blue-green and gray releases with per-service routes that
//! follow the whole call chain (the model Nepxion rules import into).
//!
//! Every value that names versions, regions or addresses uses one **route value** format:
//! either a JSON object mapping service names to values, `{"svc-a":"1.0","svc-b":"1.1;1.2"}`
//! (a service that is not listed is not constrained), or a plain value that applies to every
//! service, `1.0;1.1`. Lists are separated by `;`; `*` and `?` are wildcards. Weight values are
//! `key=weight;key=weight` with non-negative integer weights, e.g. `1.0=90;1.1=10`.
//!
//! ```
//! use gray_core::{Engine, Format, SimpleRequest};
//!
//! let engine = Engine::from_str(r##"
//! version: 1
//! default: svc-a
//! groups:
//!   svc-a: { nodes: [{ address: "10.0.0.1:80", metadata: { version: "1.0" } },
//!                    { address: "10.0.0.2:80", metadata: { version: "1.1" } }] }
//! release:
//!   routes:
//!     new: { type: version, value: '{"svc-a":"1.1","svc-b":"1.1"}' }
//!   blue_green:
//!     - { id: testers, when: "#H['user'] == 'tester'", version: new }
//!   defaults: { version: "1.0" }
//! "##, Format::Yaml)?;
//! let tester = SimpleRequest::new("192.0.2.1".parse()?).with_header("user", "tester");
//! let d = engine.decide(&tester);
//! assert_eq!(d.node_address(), Some("10.0.0.2:80"));
//! assert_eq!(d.headers().next(), Some(("n-d-version", r#"{"svc-a":"1.1","svc-b":"1.1"}"#)));
//! let other = engine.decide(&SimpleRequest::new("192.0.2.1".parse()?));
//! assert_eq!(other.node_address(), Some("10.0.0.1:80"));
//! assert_eq!(other.headers().next(), Some(("n-d-version", "1.0")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::defaults::is_false;
#[cfg(feature = "schema")]
use super::dimensions::entry_schema;
use super::dimensions::{deserialize_entry, Dimensions, BLUE_GREEN_FIELDS, GRAY_FIELDS};

pub use super::dimensions::{RouteKind, HEADERS};

/// The `release` section of a [`crate::Spec`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSpec {
    /// Named route values, referenced by `blue_green` and `gray` entries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, ReleaseRouteSpec>,
    /// Blue-green conditions, tried in the order written: for each dimension, the first entry
    /// whose `when` is true wins; if none is, the first entry without `when` wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blue_green: Vec<BlueGreenSpec>,
    /// Gray conditions: one entry is chosen per request (first true `when`, else the first
    /// entry without `when`), then each dimension picks one of its routes by weight.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gray: Vec<GraySpec>,
    /// Values used when neither blue-green nor gray decides a dimension (Nepxion `<strategy>`).
    #[serde(default, skip_serializing_if = "Dimensions::is_empty")]
    pub defaults: Dimensions,
    /// Fallbacks when a route matches no instance, and preferences when there is no route.
    #[serde(default, skip_serializing_if = "FailoverSpec::is_empty")]
    pub failover: FailoverSpec,
    /// Instances never chosen.
    #[serde(default, skip_serializing_if = "BlacklistSpec::is_empty")]
    pub blacklist: BlacklistSpec,
    /// Consumer → provider filters and weights (Nepxion `<discovery>`).
    #[serde(default, skip_serializing_if = "DiscoverySpec::is_empty")]
    pub discovery: DiscoverySpec,
    /// Prefer instances in the caller's zone (`local.zone`); see `failover.zone`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub zone_affinity: bool,
    /// Consumer isolation (Nepxion `consumer.isolation`): call only instances whose
    /// `metadata.group` equals this process's `local.group`, which is also propagated as
    /// `n-d-group` (a trusted caller's `n-d-group` applies with `headers.inbound: keep`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub isolation: bool,
    /// Who this process is (the consumer side of `discovery` filters and zone affinity).
    #[serde(default, skip_serializing_if = "LocalSpec::is_empty")]
    pub local: LocalSpec,
}

/// One named route.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRouteSpec {
    /// The dimension.
    #[serde(rename = "type")]
    pub kind: RouteKind,
    /// A route value (weights for the `*_weight` kinds).
    pub value: String,
}

/// `Deserialize` (only the entry kind's `fields`, see `deserialize_entry`) and, with the
/// `schema` feature, `JsonSchema` for a release entry with `id`, `when` and `routes`.
macro_rules! entry_serde {
    ($ty:ident, $fields:expr, $description:expr, $what:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let e = deserialize_entry(d, stringify!($ty), $fields)?;
                Ok($ty {
                    id: e.id,
                    when: e.when,
                    routes: e.routes,
                })
            }
        }

        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                entry_schema($description, $fields, $what)
            }
        }
    };
}

/// A blue-green entry: a condition and the route id per dimension, written beside `id` and
/// `when` (`{ id: testers, when: "...", version: new }`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BlueGreenSpec {
    /// Shown in explanations.
    pub id: String,
    /// An expression (see [`crate::expr`]); omitted: the fallback entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The route id per dimension (`env` is not one: a blue-green entry rejects it).
    #[serde(flatten)]
    pub routes: Dimensions,
}

impl BlueGreenSpec {
    /// The route id for a dimension.
    pub fn route(&self, kind: RouteKind) -> Option<&str> {
        self.routes.get(kind)
    }
}

entry_serde!(
    BlueGreenSpec,
    BLUE_GREEN_FIELDS,
    "A blue-green entry: a condition and the route id per dimension.",
    |f| format!("Route id of type `{f}`.")
);

/// A gray entry: a condition and weighted route ids per dimension (`route-1=90;route-2=10`),
/// written beside `id` and `when`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct GraySpec {
    /// Shown in explanations.
    pub id: String,
    /// An expression; omitted: the fallback entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Weighted route ids for `version`, `region` and `address` (the only dimensions a gray
    /// entry accepts).
    #[serde(flatten)]
    pub routes: Dimensions,
}

impl GraySpec {
    /// The weighted route ids for a dimension (gray has no weight dimensions).
    pub fn routes(&self, kind: RouteKind) -> Option<&str> {
        self.routes.get(kind)
    }
}

entry_serde!(
    GraySpec,
    GRAY_FIELDS,
    "A gray entry: a condition and weighted route ids per dimension (`route-1=90;route-2=10`).",
    |f| format!("Weighted `{f}` route ids.")
);

/// Failover and preference values (route value format). Setting a value enables it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverSpec {
    /// Versions to use when the service has no version route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_prefer: Option<String>,
    /// Versions to use when the version route matches no instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_failover: Option<String>,
    /// Regions to use when the service has no region route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_transfer: Option<String>,
    /// Regions to use when the region route matches no instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_failover: Option<String>,
    /// Environments to use when no instance has the requested `env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_failover: Option<String>,
    /// Zones to use when no instance is in the caller's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_failover: Option<String>,
    /// Addresses to use when the address route matches no instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_failover: Option<String>,
}

impl FailoverSpec {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == FailoverSpec::default()
    }
}

/// Instances excluded from selection (route value format, wildcards allowed).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlacklistSpec {
    /// Instance ids (`metadata.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Addresses: `host:port`, `host` or `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl BlacklistSpec {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == BlacklistSpec::default()
    }
}

/// Consumer → provider filters (Nepxion `<discovery>`), applied on every selection.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySpec {
    /// Which provider versions a consumer version may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub version: Vec<ProviderFilterSpec>,
    /// Which provider regions a consumer region may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub region: Vec<ProviderFilterSpec>,
    /// Instance weights by version or region, most specific first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight: Vec<WeightRuleSpec>,
    /// Instances kept or excluded by the start of their host (Nepxion's IP prefix filters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<HostFilterSpec>,
}

/// Instances kept or excluded by the start of their host, as Nepxion's `<discovery>`
/// `<blacklist>` / `<whitelist>` do: a **string prefix** of the host (`10.10` also matches
/// `10.100.1.1`), not a CIDR. The global prefixes and the provider's own are combined.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFilterSpec {
    /// `blacklist` (matching instances are never chosen) or `whitelist` (only matching
    /// instances are).
    #[serde(rename = "type")]
    pub kind: HostFilterKind,
    /// Prefixes for every provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// Further prefixes per provider service.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Vec<String>>,
}

/// See [`HostFilterSpec::kind`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostFilterKind {
    /// Matching instances are excluded.
    Blacklist,
    /// Only matching instances are kept.
    Whitelist,
}

impl DiscoverySpec {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == DiscoverySpec::default()
    }
}

/// `consumer` (in one of `consumer_values`) may call `provider` instances whose value is in
/// `provider_values`. Empty lists mean "any". If a provider has entries but none matches the
/// consumer's value, the consumer may call no instance of it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFilterSpec {
    /// Consumer service name.
    pub consumer: String,
    /// Provider service name.
    pub provider: String,
    /// Consumer versions (or regions) this entry applies to; empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumer_values: Vec<String>,
    /// Provider versions (or regions) allowed; empty: no constraint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provider_values: Vec<String>,
}

/// Instance weights by version or region for calls to `provider` (all providers when
/// omitted) from `consumer` (any consumer when omitted).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightRuleSpec {
    /// Consumer service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// Provider service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `version` or `region`.
    #[serde(rename = "type")]
    pub kind: WeightKind,
    /// `1.0=90;1.1=10`.
    pub weights: String,
}

/// What a [`WeightRuleSpec`] weighs by.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightKind {
    /// By instance version.
    Version,
    /// By instance region.
    Region,
}

/// This process's own identity: the consumer in `discovery` filters and zone affinity.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSpec {
    /// Service name (e.g. `gateway`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Own version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Own region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Own zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Own group (consumer isolation, `release.isolation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl LocalSpec {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == LocalSpec::default()
    }
}
