//! Picking an instance of a service: the registry view and the filters a release applies.
//!
//! Groups are services and nodes are instances, with `metadata` {version, region, env, zone,
//! group, id}. To call service `S`, gray takes the routing values that apply to `S` — the
//! snapshot's own release resolution and, from trusted peers only, the inbound `n-d-*`
//! headers — and filters `S`'s available instances in Nepxion's order:
//!
//! 1. `n-d-id-blacklist`, `n-d-address-blacklist`: excluded;
//! 2. `release.discovery` consumer → provider version and region filters;
//! 3. `n-d-env` (else `n-d-env-failover`);
//! 4. zone affinity: the caller's zone (else `n-d-zone-failover`, else any zone);
//! 5. `n-d-address` (else `n-d-address-failover`);
//! 6. `n-d-region` (else `n-d-region-failover`); without a region route, `n-d-region-transfer`;
//! 7. `n-d-version` (else `n-d-version-failover`); without a version route,
//!    `n-d-version-prefer` (ignored when it matches nothing).
//!
//! The survivors are chosen by weight: `n-d-version-weight`, else `n-d-region-weight`, else the
//! `release.discovery` weight rules, else the nodes' own weights. As in Nepxion, a weight
//! list that does not cover every candidate is abandoned for the nodes' own weights. Every
//! step is recorded by [`crate::Engine::explain_instance`].

use std::borrow::Cow;

use serde::Serialize;

use crate::release::value::{
    address_matches, inbound_for_service, list_matches, weight_of, weighted_index,
};
use crate::release::{Choice, Field, ProviderFilter, Release, WeightKind, WeightRule, FIELDS};
use crate::request::RequestView;
use crate::spec::{InboundPolicy, NodeMetadata};
use crate::upstream::{Group, Node};

/// The routing values that apply to one call of one service.
pub(crate) struct Routing<'a> {
    pub(crate) values: [Option<Cow<'a, str>>; FIELDS],
    /// Where each value came from: `true` = inbound header.
    pub(crate) inbound: [bool; FIELDS],
}

impl<'a> Routing<'a> {
    /// Combines the release's own values with trusted inbound headers, per the inbound policy
    /// (`override`: own values win; `keep`: inbound values win).
    pub(crate) fn build<R: RequestView + ?Sized>(
        release: Option<&'a Release>,
        choice: &Choice,
        req: &'a R,
        trusted: bool,
        policy: InboundPolicy,
        service: &str,
    ) -> Routing<'a> {
        let mut r = Routing {
            values: Default::default(),
            inbound: [false; FIELDS],
        };
        for f in Field::ALL {
            let own = release
                .and_then(|rel| rel.own(choice, f))
                .and_then(|v| v.for_service(service))
                .map(Cow::Borrowed);
            let inbound = || -> Option<Cow<'a, str>> {
                if !trusted {
                    return None;
                }
                inbound_for_service(req.header(f.header())?, service)
            };
            let i = f as usize;
            r.values[i] = match policy {
                InboundPolicy::Override => match own {
                    Some(v) => Some(v),
                    None => {
                        let v = inbound();
                        r.inbound[i] = v.is_some();
                        v
                    }
                },
                InboundPolicy::Keep => match inbound() {
                    Some(v) => {
                        r.inbound[i] = true;
                        Some(v)
                    }
                    None => own,
                },
            };
        }
        r
    }

    fn get(&self, f: Field) -> Option<&str> {
        self.values[f as usize].as_deref()
    }
}

/// Who is calling: the consumer in discovery filters and zone affinity.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Caller<'a> {
    pub(crate) service: Option<&'a str>,
    pub(crate) version: Option<&'a str>,
    pub(crate) region: Option<&'a str>,
    pub(crate) zone: Option<&'a str>,
}

impl<'a> Caller<'a> {
    /// The spec's `release.local` identity.
    pub(crate) fn local(release: Option<&'a Release>) -> Caller<'a> {
        let local = release.map(|r| &r.local);
        Caller {
            service: local.and_then(|l| l.service.as_deref()),
            version: local.and_then(|l| l.version.as_deref()),
            region: local.and_then(|l| l.region.as_deref()),
            zone: local.and_then(|l| l.zone.as_deref()),
        }
    }
}

/// One filter step of an instance selection.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SelectStep {
    /// The filter, e.g. `n-d-version`.
    pub filter: String,
    /// The value applied (shortened), with `(inbound)` when it came from a request header.
    pub value: String,
    /// What happened, e.g. `kept 1 of 2`, `no match; failover "1.1" kept 1`.
    pub outcome: String,
}

#[derive(Clone, Copy)]
enum Attr {
    Id,
    Address,
    Env,
    Zone,
    Region,
    Version,
}

fn attr(n: &Node, a: Attr) -> Option<&str> {
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
enum Test<'a> {
    Keep(Attr, &'a str),
    Exclude(Attr, &'a str),
    Provider(Attr, &'a [ProviderFilter], &'a str, &'a str),
}

impl Test<'_> {
    fn pass(&self, n: &Node) -> bool {
        let hit = |a: Attr, list: &str| match (a, attr(n, a)) {
            (_, None) => false,
            (Attr::Address, Some(v)) => address_matches(list, v),
            (_, Some(v)) => list_matches(list, v),
        };
        match *self {
            Test::Keep(a, list) => hit(a, list),
            Test::Exclude(a, list) => !hit(a, list),
            Test::Provider(a, filters, provider, consumer) => {
                provider_allows(filters, provider, consumer, attr(n, a).unwrap_or(""))
            }
        }
    }
}

/// Nepxion's version/region discovery filter for one provider instance value.
fn provider_allows(
    filters: &[ProviderFilter],
    provider: &str,
    consumer: &str,
    value: &str,
) -> bool {
    let (service, consumer_value) = consumer.split_once('\u{0}').unwrap_or((consumer, ""));
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

fn mk<'s>(
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
enum OnEmpty {
    NoInstance,
    Ignore,
}

struct Stage<'a> {
    name: &'static str,
    field: Option<Field>,
    primary: Test<'a>,
    failover: Option<(Field, Test<'a>)>,
    on_empty: OnEmpty,
}

const MAX_STAGES: usize = 9;

/// Everything needed to pick an instance of one group.
pub(crate) struct Pick<'a> {
    pub(crate) group: &'a Group,
    pub(crate) routing: &'a Routing<'a>,
    pub(crate) release: Option<&'a Release>,
    pub(crate) caller: Caller<'a>,
    pub(crate) random: u64,
    pub(crate) now_ms: u64,
    pub(crate) unix_ms: u64,
    /// Count the pick (requests, half-open trials); false for explanations.
    pub(crate) count: bool,
}

/// `consumer\0value` packed into a small stack buffer for [`Test::Provider`].
struct Packed {
    buf: [u8; 256],
    len: usize,
}

impl Packed {
    fn new(a: &str, b: &str) -> Option<Packed> {
        let n = a.len() + 1 + b.len();
        if n > 256 {
            return None;
        }
        let mut p = Packed {
            buf: [0; 256],
            len: n,
        };
        p.buf[..a.len()].copy_from_slice(a.as_bytes());
        p.buf[a.len() + 1..n].copy_from_slice(b.as_bytes());
        Some(p)
    }
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<'a> Pick<'a> {
    /// True when the release constrains this group in any way (else the group's own selector
    /// keeps its algorithm: round robin, hash, rollout).
    pub(crate) fn constrained(&self) -> bool {
        self.routing.values.iter().any(Option::is_some)
            || self.release.is_some_and(|r| {
                (r.zone_affinity && self.caller.zone.is_some())
                    || !r.version_filters.is_empty()
                    || !r.region_filters.is_empty()
                    || !r.weight_rules.is_empty()
            })
    }

    fn available(&self, i: usize) -> bool {
        let n = &self.group.nodes[i];
        self.group
            .weights(self.unix_ms)
            .get(i)
            .copied()
            .unwrap_or(0)
            > 0
            && !n.drain
            && n.health.is_available(&n.policy, self.now_ms)
    }

    /// Picks a node index; `steps` (when given) receives every filter step.
    pub(crate) fn run(&self, mut steps: Option<&mut Vec<SelectStep>>) -> Option<usize> {
        let name: &str = &self.group.name;
        let r = self.routing;
        let caller_v = self.caller.service.zip(self.caller.version);
        let caller_r = self.caller.service.zip(self.caller.region);
        let packed_v = caller_v.and_then(|(s, v)| Packed::new(s, v));
        let packed_r = caller_r.and_then(|(s, v)| Packed::new(s, v));
        let mut stages: [Option<Stage<'_>>; MAX_STAGES] = Default::default();
        let keep = |f: Field, a: Attr| r.get(f).map(|v| Test::Keep(a, v));
        let excl = |f: Field, a: Attr| r.get(f).map(|v| Test::Exclude(a, v));
        let fo = |f: Field, a: Attr| r.get(f).map(|v| (f, Test::Keep(a, v)));
        stages[0] = mk(
            "n-d-id-blacklist",
            Some(Field::IdBlacklist),
            excl(Field::IdBlacklist, Attr::Id),
            None,
            OnEmpty::NoInstance,
        );
        stages[1] = mk(
            "n-d-address-blacklist",
            Some(Field::AddressBlacklist),
            excl(Field::AddressBlacklist, Attr::Address),
            None,
            OnEmpty::NoInstance,
        );
        if let Some(rel) = self.release {
            if let Some(p) = &packed_v {
                if !rel.version_filters.is_empty() {
                    stages[2] = mk(
                        "discovery version filter",
                        None,
                        Some(Test::Provider(
                            Attr::Version,
                            &rel.version_filters,
                            name,
                            p.as_str(),
                        )),
                        None,
                        OnEmpty::NoInstance,
                    );
                }
            }
            if let Some(p) = &packed_r {
                if !rel.region_filters.is_empty() {
                    stages[3] = mk(
                        "discovery region filter",
                        None,
                        Some(Test::Provider(
                            Attr::Region,
                            &rel.region_filters,
                            name,
                            p.as_str(),
                        )),
                        None,
                        OnEmpty::NoInstance,
                    );
                }
            }
            if rel.zone_affinity {
                stages[5] = mk(
                    "zone affinity",
                    None,
                    self.caller.zone.map(|z| Test::Keep(Attr::Zone, z)),
                    fo(Field::ZoneFailover, Attr::Zone),
                    OnEmpty::Ignore,
                );
            }
        }
        stages[4] = mk(
            "n-d-env",
            Some(Field::Env),
            keep(Field::Env, Attr::Env),
            fo(Field::EnvFailover, Attr::Env),
            OnEmpty::NoInstance,
        );
        stages[6] = mk(
            "n-d-address",
            Some(Field::Address),
            keep(Field::Address, Attr::Address),
            fo(Field::AddressFailover, Attr::Address),
            OnEmpty::NoInstance,
        );
        stages[7] = match keep(Field::Region, Attr::Region) {
            Some(t) => mk(
                "n-d-region",
                Some(Field::Region),
                Some(t),
                fo(Field::RegionFailover, Attr::Region),
                OnEmpty::NoInstance,
            ),
            None => mk(
                "n-d-region-transfer",
                Some(Field::RegionTransfer),
                keep(Field::RegionTransfer, Attr::Region),
                None,
                OnEmpty::NoInstance,
            ),
        };
        stages[8] = match keep(Field::Version, Attr::Version) {
            Some(t) => mk(
                "n-d-version",
                Some(Field::Version),
                Some(t),
                fo(Field::VersionFailover, Attr::Version),
                OnEmpty::NoInstance,
            ),
            None => mk(
                "n-d-version-prefer",
                Some(Field::VersionPrefer),
                keep(Field::VersionPrefer, Attr::Version),
                None,
                OnEmpty::Ignore,
            ),
        };

        let nodes = self.group.nodes.len();
        let mut chosen: [Option<Test<'_>>; MAX_STAGES] = [None; MAX_STAGES];
        let passes = |chosen: &[Option<Test<'_>>], i: usize, extra: Option<&Test<'_>>| {
            let n = &self.group.nodes[i];
            self.available(i)
                && chosen.iter().flatten().all(|t| t.pass(n))
                && extra.is_none_or(|t| t.pass(n))
        };
        let count = |chosen: &[Option<Test<'_>>], extra: Option<&Test<'_>>| {
            (0..nodes).filter(|&i| passes(chosen, i, extra)).count()
        };
        if let Some(s) = steps.as_deref_mut() {
            s.push(SelectStep {
                filter: "available".into(),
                value: format!("service {name}"),
                outcome: format!("{} of {nodes} instances up", count(&chosen, None)),
            });
        }
        for (k, stage) in stages.iter().enumerate() {
            let Some(st) = stage else { continue };
            let before = count(&chosen, None);
            let kept = count(&chosen, Some(&st.primary));
            let shown = |f: Option<Field>, t: &Test<'_>| {
                let v = match t {
                    Test::Keep(_, v) | Test::Exclude(_, v) => v.to_string(),
                    Test::Provider(..) => {
                        format!("caller {}", self.caller.service.unwrap_or_default())
                    }
                };
                match f {
                    Some(f) if r.inbound[f as usize] => {
                        format!("{} (inbound)", crate::rules::shorten(&v))
                    }
                    _ => crate::rules::shorten(&v),
                }
            };
            let outcome;
            if kept > 0 || before == 0 {
                chosen[k] = Some(st.primary);
                outcome = if steps.is_some() {
                    format!("kept {kept} of {before}")
                } else {
                    String::new()
                };
            } else if let Some((ff, ft)) = st
                .failover
                .as_ref()
                .filter(|(_, t)| count(&chosen, Some(t)) > 0)
            {
                chosen[k] = Some(*ft);
                outcome = if steps.is_some() {
                    format!(
                        "no match; {} {} kept {}",
                        ff.header(),
                        shown(Some(*ff), ft),
                        count(&chosen, None)
                    )
                } else {
                    String::new()
                };
            } else if st.on_empty == OnEmpty::Ignore {
                outcome = if steps.is_some() {
                    format!("no match among {before}; filter ignored")
                } else {
                    String::new()
                };
            } else {
                chosen[k] = Some(st.primary);
                outcome = if steps.is_some() {
                    format!("no match among {before}: no instance")
                } else {
                    String::new()
                };
            }
            if let Some(s) = steps.as_deref_mut() {
                s.push(SelectStep {
                    filter: st.name.into(),
                    value: shown(st.field, &st.primary),
                    outcome,
                });
            }
        }
        let candidates = || (0..nodes).filter(|&i| passes(&chosen, i, None));
        candidates().next()?;
        let scheme = self.scheme();
        let complete =
            scheme.is_some() && candidates().all(|i| self.scheme_weight(scheme, i).is_some());
        let own = self.group.weights(self.unix_ms);
        let weight = |i: usize| -> u32 {
            if complete {
                self.scheme_weight(scheme, i).unwrap_or(0)
            } else {
                own.get(i).copied().unwrap_or(0)
            }
        };
        let picked = weighted_index(candidates().map(weight), self.random)
            .and_then(|k| candidates().nth(k))
            .or_else(|| candidates().next());
        if let Some(s) = steps {
            let how = match (scheme, complete) {
                (Some(l), true) => format!("weighted by {}", l.label()),
                (Some(l), false) => {
                    format!("{} does not weigh every candidate: node weights", l.label())
                }
                (None, _) => "node weights".to_string(),
            };
            s.push(SelectStep {
                filter: "weight".into(),
                value: how,
                outcome: match picked {
                    Some(i) => format!(
                        "picked {} of {}",
                        self.group.nodes[i].address,
                        candidates().count()
                    ),
                    None => "no instance".into(),
                },
            });
        }
        if let Some(i) = picked.filter(|_| self.count) {
            let n = &self.group.nodes[i];
            n.health.on_selected(&n.policy, self.now_ms);
            n.health.count_request();
        }
        picked
    }

    /// The weighting scheme in force, if any.
    fn scheme(&self) -> Option<Scheme<'_>> {
        if let Some(v) = self.routing.get(Field::VersionWeight) {
            return Some(Scheme::Version(v));
        }
        if let Some(v) = self.routing.get(Field::RegionWeight) {
            return Some(Scheme::Region(v));
        }
        self.release
            .filter(|r| !r.weight_rules.is_empty())
            .map(|r| Scheme::Rules(&r.weight_rules))
    }

    fn scheme_weight(&self, scheme: Option<Scheme<'_>>, i: usize) -> Option<u32> {
        let n = &self.group.nodes[i];
        match scheme? {
            Scheme::Version(list) => weight_of(list, attr(n, Attr::Version)?),
            Scheme::Region(list) => weight_of(list, attr(n, Attr::Region)?),
            Scheme::Rules(rules) => rule_weight(rules, &self.group.name, self.caller.service, n),
        }
    }
}

#[derive(Clone, Copy)]
enum Scheme<'a> {
    Version(&'a str),
    Region(&'a str),
    Rules(&'a [WeightRule]),
}

impl Scheme<'_> {
    fn label(&self) -> &'static str {
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
fn rule_weight(
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
