//! The filters and weight schemes an instance selection applies.

use crate::route_value::{address_matches, list_matches, weight_of};
use crate::snapshot::group::Node;
use crate::snapshot::release::{Field, HostFilter, ProviderFilter, WeightRule};
use crate::spec::release::WeightKind;
use crate::spec::NodeMetadata;

/// What a filter reads of an instance (node): its address, or a metadata value.
#[derive(Clone, Copy)]
pub(super) enum InstanceField {
    Id,
    Address,
    Env,
    Zone,
    Region,
    Version,
    Group,
}

/// The value of `a` for node `n`.
pub(super) fn instance_value(n: &Node, a: InstanceField) -> Option<&str> {
    let m: &NodeMetadata = &n.metadata;
    match a {
        InstanceField::Id => m.id.as_deref(),
        InstanceField::Address => Some(&n.address),
        InstanceField::Env => m.env.as_deref(),
        InstanceField::Zone => m.zone.as_deref(),
        // Nepxion treats an instance without version or region as `default`.
        InstanceField::Region => Some(m.region.as_deref().unwrap_or("default")),
        InstanceField::Version => Some(m.version.as_deref().unwrap_or("default")),
        InstanceField::Group => m.group.as_deref(),
    }
}

/// One test an instance must pass.
#[derive(Clone, Copy)]
pub(super) enum Filter<'a> {
    /// The field's value is in the list (route value format).
    Keep(InstanceField, &'a str),
    /// The field's value is not in the list (blacklists).
    Exclude(InstanceField, &'a str),
    /// Discovery host filter and the provider's own prefixes.
    Hosts(&'a HostFilter, &'a [Box<str>]),
    /// Discovery filter: filters, provider service, consumer service, consumer value.
    Provider(
        InstanceField,
        &'a [ProviderFilter],
        &'a str,
        &'a str,
        &'a str,
    ),
}

impl Filter<'_> {
    /// True if node `n` passes the filter.
    pub(super) fn admits(&self, n: &Node) -> bool {
        let hit = |a: InstanceField, list: &str| match (a, instance_value(n, a)) {
            (_, None) => false,
            (InstanceField::Address, Some(v)) => address_matches(list, v),
            (_, Some(v)) => list_matches(list, v),
        };
        match *self {
            Filter::Keep(a, list) => hit(a, list),
            Filter::Exclude(a, list) => !hit(a, list),
            Filter::Hosts(h, own) => {
                let host = host_of(&n.address);
                let matched = h.prefixes.iter().chain(own).any(|p| host.starts_with(&**p));
                matched != h.exclude
            }
            Filter::Provider(a, filters, provider, service, value) => provider_allows(
                filters,
                provider,
                service,
                value,
                instance_value(n, a).unwrap_or(""),
            ),
        }
    }
}

/// The host of an instance address: `10.0.0.1` of `10.0.0.1:8080`, `::1` of `[::1]:80`.
fn host_of(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => address,
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

/// A filter stage named `name`, or `None` when it has no `primary` filter (nothing to apply).
pub(super) fn stage<'s>(
    name: &'static str,
    field: Option<Field>,
    primary: Option<Filter<'s>>,
    failover: Option<(Field, Filter<'s>)>,
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

/// What a stage does when no instance passes it.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum OnEmpty {
    NoInstance,
    Ignore,
}

/// One step of the selection: a primary filter, the failover tried when it leaves nothing.
pub(super) struct Stage<'a> {
    pub(super) name: &'static str,
    pub(super) field: Option<Field>,
    pub(super) primary: Filter<'a>,
    pub(super) failover: Option<(Field, Filter<'a>)>,
    pub(super) on_empty: OnEmpty,
}

/// Where the weights of the final pick come from.
#[derive(Clone, Copy)]
pub(super) enum Scheme<'a> {
    Version(&'a str),
    Region(&'a str),
    Rules(&'a [WeightRule]),
}

impl Scheme<'_> {
    pub(super) fn label(&self) -> &'static str {
        match self {
            Scheme::Version(_) => Field::VersionWeight.header(),
            Scheme::Region(_) => Field::RegionWeight.header(),
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
        (WeightKind::Version, InstanceField::Version),
        (WeightKind::Region, InstanceField::Region),
    ] {
        let value = instance_value(n, a)?;
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
