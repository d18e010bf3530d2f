//! The filters and weight schemes an instance selection applies.

use crate::release::value::{address_matches, list_matches, weight_of};
use crate::release::{Field, ProviderFilter, WeightKind, WeightRule};
use crate::spec::NodeMetadata;
use crate::upstream::Node;

#[derive(Clone, Copy)]
pub(super) enum Attr {
    Id,
    Address,
    Env,
    Zone,
    Region,
    Version,
}

pub(super) fn attr(n: &Node, a: Attr) -> Option<&str> {
    let m: &NodeMetadata = &n.metadata;
    match a {
        Attr::Id => m.id.as_deref(),
        Attr::Address => Some(&n.address),
        Attr::Env => m.env.as_deref(),
        Attr::Zone => m.zone.as_deref(),
        // Nepxion treats an instance without version or region as `default`.
        Attr::Region => Some(m.region.as_deref().unwrap_or("default")),
        Attr::Version => Some(m.version.as_deref().unwrap_or("default")),
    }
}

#[derive(Clone, Copy)]
pub(super) enum Test<'a> {
    Keep(Attr, &'a str),
    Exclude(Attr, &'a str),
    /// Discovery filter: filters, provider service, consumer service, consumer value.
    Provider(Attr, &'a [ProviderFilter], &'a str, &'a str, &'a str),
}

impl Test<'_> {
    pub(super) fn pass(&self, n: &Node) -> bool {
        let hit = |a: Attr, list: &str| match (a, attr(n, a)) {
            (_, None) => false,
            (Attr::Address, Some(v)) => address_matches(list, v),
            (_, Some(v)) => list_matches(list, v),
        };
        match *self {
            Test::Keep(a, list) => hit(a, list),
            Test::Exclude(a, list) => !hit(a, list),
            Test::Provider(a, filters, provider, service, value) => {
                provider_allows(filters, provider, service, value, attr(n, a).unwrap_or(""))
            }
        }
    }
}

/// Nepxion's version/region discovery filter for one provider instance value.
pub(super) fn provider_allows(
    filters: &[ProviderFilter],
    provider: &str,
    service: &str,
    consumer_value: &str,
    value: &str,
) -> bool {
    let mut any_for_provider = false;
    let mut matched = false;
    let mut union_empty = true;
    let mut allowed = false;
    for f in filters
        .iter()
        .filter(|f| f.provider.eq_ignore_ascii_case(provider))
    {
        if !f.consumer.eq_ignore_ascii_case(service) {
            continue;
        }
        any_for_provider = true;
        if !f.consumer_values.is_empty()
            && !f.consumer_values.iter().any(|c| &**c == consumer_value)
        {
            continue;
        }
        matched = true;
        if !f.provider_values.is_empty() {
            union_empty = false;
            allowed |= f.provider_values.iter().any(|p| &**p == value);
        }
    }
    if !any_for_provider {
        return true;
    }
    matched && (union_empty || allowed)
}

pub(super) fn mk<'s>(
    name: &'static str,
    field: Option<Field>,
    primary: Option<Test<'s>>,
    failover: Option<(Field, Test<'s>)>,
    on_empty: OnEmpty,
) -> Option<Stage<'s>> {
    primary.map(|primary| Stage {
        name,
        field,
        primary,
        failover,
        on_empty,
    })
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum OnEmpty {
    NoInstance,
    Ignore,
}

pub(super) struct Stage<'a> {
    pub(super) name: &'static str,
    pub(super) field: Option<Field>,
    pub(super) primary: Test<'a>,
    pub(super) failover: Option<(Field, Test<'a>)>,
    pub(super) on_empty: OnEmpty,
}

#[derive(Clone, Copy)]
pub(super) enum Scheme<'a> {
    Version(&'a str),
    Region(&'a str),
    Rules(&'a [WeightRule]),
}

impl Scheme<'_> {
    pub(super) fn label(&self) -> &'static str {
        match self {
            Scheme::Version(_) => "n-d-version-weight",
            Scheme::Region(_) => "n-d-region-weight",
            Scheme::Rules(_) => "discovery weight rules",
        }
    }
}

/// Nepxion's `<discovery><weight>` lookup: version rules before region rules; within each,
/// consumer-and-provider rules, then provider rules, then global ones. The first rule that
/// lists the instance's value gives its weight.
pub(super) fn rule_weight(
    rules: &[WeightRule],
    provider: &str,
    consumer: Option<&str>,
    n: &Node,
) -> Option<u32> {
    for (kind, a) in [
        (WeightKind::Version, Attr::Version),
        (WeightKind::Region, Attr::Region),
    ] {
        let value = attr(n, a)?;
        for level in 0..3 {
            for r in rules.iter().filter(|r| r.kind == kind) {
                let applies = match (level, r.consumer.as_deref(), r.provider.as_deref()) {
                    (0, Some(c), Some(p)) => consumer == Some(c) && p == provider,
                    (1, None, Some(p)) => p == provider,
                    (2, None, None) => true,
                    _ => false,
                };
                if applies {
                    if let Some(w) = weight_of(&r.weights, value) {
                        return Some(w);
                    }
                }
            }
        }
    }
    None
}
