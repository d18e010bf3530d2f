//! The route dimensions a release and a rule's `routes` set, and the `n-d-*` headers that carry
//! them down the call chain: the one place that names them.
//!
//! [`RouteKind`] lists the five routed dimensions (version, region, address, version weight,
//! region weight); [`HEADERS`] lists every header, those five first and in that order, then env,
//! the blacklists and the failovers.

use serde::{Deserialize, Serialize};

/// Every `n-d-*` header a release reads and writes: the five routed dimensions (version,
/// region, address, version weight, region weight), then env, blacklists and failovers.
pub const HEADERS: [&str; 15] = [
    "n-d-version",
    "n-d-region",
    "n-d-address",
    "n-d-version-weight",
    "n-d-region-weight",
    "n-d-env",
    "n-d-id-blacklist",
    "n-d-address-blacklist",
    "n-d-version-prefer",
    "n-d-version-failover",
    "n-d-region-transfer",
    "n-d-region-failover",
    "n-d-env-failover",
    "n-d-zone-failover",
    "n-d-address-failover",
];

/// The dimension a route sets.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// `n-d-version`: allowed versions.
    Version,
    /// `n-d-region`: allowed regions.
    Region,
    /// `n-d-address`: allowed addresses (`host:port`, `host` or `port`).
    Address,
    /// `n-d-version-weight`: instance weights by version.
    VersionWeight,
    /// `n-d-region-weight`: instance weights by region.
    RegionWeight,
}

impl RouteKind {
    /// All kinds, in resolution order.
    pub const ALL: [RouteKind; 5] = [
        RouteKind::Version,
        RouteKind::Region,
        RouteKind::Address,
        RouteKind::VersionWeight,
        RouteKind::RegionWeight,
    ];

    /// The propagated header that carries this dimension.
    pub fn header(self) -> &'static str {
        // The five dimensions lead `HEADERS`, in this enum's order.
        HEADERS[self as usize]
    }

    /// The snake_case name used in specs.
    pub fn name(self) -> &'static str {
        match self {
            RouteKind::Version => "version",
            RouteKind::Region => "region",
            RouteKind::Address => "address",
            RouteKind::VersionWeight => "version_weight",
            RouteKind::RegionWeight => "region_weight",
        }
    }

    /// True for the weight dimensions.
    pub fn is_weight(self) -> bool {
        matches!(self, RouteKind::VersionWeight | RouteKind::RegionWeight)
    }
}
