//! A compiled `release` section: routes, blue-green and gray entries, fixed values, discovery
//! filters, all indexed by [`Field`] (the `n-d-*` headers a release reads and writes).

use crate::route_value::Value;
use crate::snapshot::rule::Cond;
use crate::spec::release::{LocalSpec, RouteKind, WeightKind, HEADERS};

/// Everything a release carries in `n-d-*` headers, in header order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Field {
    Version,
    Region,
    Address,
    VersionWeight,
    RegionWeight,
    Env,
    IdBlacklist,
    AddressBlacklist,
    VersionPrefer,
    VersionFailover,
    RegionTransfer,
    RegionFailover,
    EnvFailover,
    ZoneFailover,
    AddressFailover,
    /// Consumer isolation: only instances of this group (`n-d-group`).
    Group,
}

/// Number of [`Field`]s.
pub(crate) const FIELDS: usize = 16;

impl Field {
    pub(crate) const ALL: [Field; FIELDS] = [
        Field::Version,
        Field::Region,
        Field::Address,
        Field::VersionWeight,
        Field::RegionWeight,
        Field::Env,
        Field::IdBlacklist,
        Field::AddressBlacklist,
        Field::VersionPrefer,
        Field::VersionFailover,
        Field::RegionTransfer,
        Field::RegionFailover,
        Field::EnvFailover,
        Field::ZoneFailover,
        Field::AddressFailover,
        Field::Group,
    ];

    /// The propagated header name.
    pub(crate) fn header(self) -> &'static str {
        HEADERS[self as usize]
    }

    pub(crate) fn of(kind: RouteKind) -> Field {
        match kind {
            RouteKind::Version => Field::Version,
            RouteKind::Region => Field::Region,
            RouteKind::Address => Field::Address,
            RouteKind::VersionWeight => Field::VersionWeight,
            RouteKind::RegionWeight => Field::RegionWeight,
        }
    }
}

/// No value for a dimension.
pub(crate) const NONE: u32 = u32::MAX;
/// The dimension's value is the `defaults` one.
pub(crate) const DEFAULT: u32 = u32::MAX - 1;

/// What the release resolved for one request: per routed dimension, a route index, [`DEFAULT`]
/// or [`NONE`]. Plain data, so a decision carries it without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Choice(pub(crate) [u32; 5]);

impl Choice {
    pub(crate) const EMPTY: Choice = Choice([NONE; 5]);
}

/// A compiled route.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) id: Box<str>,
    pub(crate) kind: RouteKind,
    pub(crate) value: Value,
}

#[derive(Debug)]
pub(crate) struct BlueGreen {
    pub(crate) id: Box<str>,
    pub(crate) cond: Option<Cond>,
    pub(crate) routes: [Option<u32>; 5],
}

/// Route indices with their weights.
pub(crate) type Weighted = Box<[(u32, u32)]>;

#[derive(Debug)]
pub(crate) struct Gray {
    pub(crate) id: Box<str>,
    pub(crate) cond: Option<Cond>,
    /// Version, region, address: (route index, weight).
    pub(crate) routes: [Option<Weighted>; 3],
}

#[derive(Debug)]
pub(crate) struct ProviderFilter {
    pub(crate) consumer: Box<str>,
    pub(crate) provider: Box<str>,
    pub(crate) consumer_values: Box<[Box<str>]>,
    pub(crate) provider_values: Box<[Box<str>]>,
}

#[derive(Debug)]
pub(crate) struct WeightRule {
    pub(crate) consumer: Option<Box<str>>,
    pub(crate) provider: Option<Box<str>>,
    pub(crate) kind: WeightKind,
    pub(crate) weights: Box<str>,
}

/// A compiled release.
#[derive(Debug)]
pub(crate) struct Release {
    pub(crate) routes: Box<[Route]>,
    pub(crate) blue_green: Box<[BlueGreen]>,
    pub(crate) gray: Box<[Gray]>,
    /// Per [`Field`]: the `defaults`, failover and blacklist values.
    pub(crate) fixed: [Option<Value>; FIELDS],
    pub(crate) version_filters: Box<[ProviderFilter]>,
    pub(crate) region_filters: Box<[ProviderFilter]>,
    pub(crate) weight_rules: Box<[WeightRule]>,
    pub(crate) zone_affinity: bool,
    pub(crate) local: LocalSpec,
    /// Discovery host filters (Nepxion `<discovery><blacklist|whitelist>`).
    pub(crate) hosts: Option<HostFilter>,
}

/// Instances kept or excluded by the start of their host (Nepxion's IP prefix filters).
#[derive(Debug)]
pub(crate) struct HostFilter {
    /// `true`: a blacklist (matching hosts are excluded); `false`: a whitelist.
    pub(crate) exclude: bool,
    /// Prefixes for every provider.
    pub(crate) prefixes: Box<[Box<str>]>,
    /// Further prefixes per provider.
    pub(crate) services: std::collections::BTreeMap<Box<str>, Box<[Box<str>]>>,
}

impl Release {
    /// This snapshot's own value for a field under a choice.
    pub(crate) fn own(&self, choice: &Choice, f: Field) -> Option<&Value> {
        let i = f as usize;
        if i < 5 {
            match choice.0[i] {
                NONE => None,
                DEFAULT => self.fixed[i].as_ref(),
                r => self.routes.get(r as usize).map(|r| &r.value),
            }
        } else {
            self.fixed[i].as_ref()
        }
    }

    /// The `(header, value)` pairs a choice propagates.
    pub(crate) fn headers<'a>(
        &'a self,
        choice: &'a Choice,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        Field::ALL.iter().filter_map(move |&f| {
            let name: &'a str = f.header();
            self.own(choice, f).map(|v| (name, &*v.header))
        })
    }
}
