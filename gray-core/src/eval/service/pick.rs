//! One release-aware pick from one group.

use super::filter::{
    instance_value, rule_weight, stage, Filter, InstanceField, OnEmpty, Scheme, Stage,
};
use super::routing::{Caller, Routing, SelectStep};
use crate::route_value::{weight_of, weighted_index};
use crate::snapshot::group::Group;
use crate::snapshot::release::{Field, Release};

const MAX_STAGES: usize = 11;

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
                    || r.hosts.is_some()
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
        let mut stages: [Option<Stage<'_>>; MAX_STAGES] = Default::default();
        let keep = |f: Field, a: InstanceField| r.get(f).map(|v| Filter::Keep(a, v));
        let excl = |f: Field, a: InstanceField| r.get(f).map(|v| Filter::Exclude(a, v));
        let fo = |f: Field, a: InstanceField| r.get(f).map(|v| (f, Filter::Keep(a, v)));
        // Nepxion's order: discovery host filters (the instance list itself), blacklists, group
        // isolation, env, zone, address, region, version.
        if let Some(h) = self.release.and_then(|rel| rel.hosts.as_ref()) {
            let own = h.services.get(name).map_or(&[][..], |v| &v[..]);
            if !(h.prefixes.is_empty() && own.is_empty()) {
                stages[0] = stage(
                    if h.exclude {
                        "discovery host blacklist"
                    } else {
                        "discovery host whitelist"
                    },
                    None,
                    Some(Filter::Hosts(h, own)),
                    None,
                    OnEmpty::NoInstance,
                );
            }
        }
        stages[1] = stage(
            Field::IdBlacklist.header(),
            Some(Field::IdBlacklist),
            excl(Field::IdBlacklist, InstanceField::Id),
            None,
            OnEmpty::NoInstance,
        );
        stages[2] = stage(
            Field::AddressBlacklist.header(),
            Some(Field::AddressBlacklist),
            excl(Field::AddressBlacklist, InstanceField::Address),
            None,
            OnEmpty::NoInstance,
        );
        // Only where this service isolates (`release.isolation`); the value is its own group,
        // or with `inbound: keep` a trusted caller's `n-d-group`.
        if self
            .release
            .is_some_and(|rel| rel.fixed[Field::Group as usize].is_some())
        {
            stages[3] = stage(
                Field::Group.header(),
                Some(Field::Group),
                keep(Field::Group, InstanceField::Group),
                None,
                OnEmpty::NoInstance,
            );
        }
        if let Some(rel) = self.release {
            if let Some((service, value)) = caller_v {
                if !rel.version_filters.is_empty() {
                    stages[4] = stage(
                        "discovery version filter",
                        None,
                        Some(Filter::Provider(
                            InstanceField::Version,
                            &rel.version_filters,
                            name,
                            service,
                            value,
                        )),
                        None,
                        OnEmpty::NoInstance,
                    );
                }
            }
            if let Some((service, value)) = caller_r {
                if !rel.region_filters.is_empty() {
                    stages[5] = stage(
                        "discovery region filter",
                        None,
                        Some(Filter::Provider(
                            InstanceField::Region,
                            &rel.region_filters,
                            name,
                            service,
                            value,
                        )),
                        None,
                        OnEmpty::NoInstance,
                    );
                }
            }
            if rel.zone_affinity {
                stages[7] = stage(
                    "zone affinity",
                    None,
                    self.caller
                        .zone
                        .map(|z| Filter::Keep(InstanceField::Zone, z)),
                    fo(Field::ZoneFailover, InstanceField::Zone),
                    OnEmpty::Ignore,
                );
            }
        }
        stages[6] = stage(
            Field::Env.header(),
            Some(Field::Env),
            keep(Field::Env, InstanceField::Env),
            fo(Field::EnvFailover, InstanceField::Env),
            OnEmpty::NoInstance,
        );
        stages[8] = stage(
            Field::Address.header(),
            Some(Field::Address),
            keep(Field::Address, InstanceField::Address),
            fo(Field::AddressFailover, InstanceField::Address),
            OnEmpty::NoInstance,
        );
        // A route, else its failover; without a route, the alternative (transfer / prefer).
        let routed = |f: Field,
                      failover: Option<Field>,
                      alt: Field,
                      alt_empty: OnEmpty,
                      a: InstanceField| match keep(f, a) {
            Some(t) => stage(
                f.header(),
                Some(f),
                Some(t),
                failover.and_then(|ff| fo(ff, a)),
                OnEmpty::NoInstance,
            ),
            None => stage(alt.header(), Some(alt), keep(alt, a), None, alt_empty),
        };
        // A multi-active service does not fail over across regions.
        let multi_active = self.group.nodes.iter().any(|n| n.metadata.active);
        stages[9] = routed(
            Field::Region,
            Some(Field::RegionFailover).filter(|_| !multi_active),
            Field::RegionTransfer,
            OnEmpty::NoInstance,
            InstanceField::Region,
        );
        stages[10] = routed(
            Field::Version,
            Some(Field::VersionFailover),
            Field::VersionPrefer,
            OnEmpty::Ignore,
            InstanceField::Version,
        );

        let nodes = self.group.nodes.len();
        let mut chosen: [Option<Filter<'_>>; MAX_STAGES] = [None; MAX_STAGES];
        let passes = |chosen: &[Option<Filter<'_>>], i: usize, extra: Option<&Filter<'_>>| {
            let n = &self.group.nodes[i];
            self.available(i)
                && chosen.iter().flatten().all(|t| t.admits(n))
                && extra.is_none_or(|t| t.admits(n))
        };
        let count = |chosen: &[Option<Filter<'_>>], extra: Option<&Filter<'_>>| {
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
            let shown = |f: Option<Field>, t: &Filter<'_>| {
                let v = match t {
                    Filter::Keep(_, v) | Filter::Exclude(_, v) => v.to_string(),
                    Filter::Hosts(h, own) => h
                        .prefixes
                        .iter()
                        .chain(*own)
                        .map(|p| &**p)
                        .collect::<Vec<_>>()
                        .join(";"),
                    Filter::Provider(..) => {
                        format!("caller {}", self.caller.service.unwrap_or_default())
                    }
                };
                match f {
                    Some(f) if r.inbound[f as usize] => {
                        format!("{} (inbound)", crate::eval::condition::shorten(&v))
                    }
                    _ => crate::eval::condition::shorten(&v),
                }
            };
            // What this stage does: keep its matches, fail over, or be ignored.
            let failover = st
                .failover
                .as_ref()
                .filter(|(_, t)| kept == 0 && before > 0 && count(&chosen, Some(t)) > 0);
            let (test, ignored) = match failover {
                _ if kept > 0 || before == 0 => (Some(st.primary), false),
                Some((_, t)) => (Some(*t), false),
                None if st.on_empty == OnEmpty::Ignore => (None, true),
                None => (Some(st.primary), false),
            };
            chosen[k] = test;
            if let Some(s) = steps.as_deref_mut() {
                let outcome = match failover {
                    _ if kept > 0 || before == 0 => format!("kept {kept} of {before}"),
                    Some((ff, ft)) => format!(
                        "no match; {} {} kept {}",
                        ff.header(),
                        shown(Some(*ff), ft),
                        count(&chosen, None)
                    ),
                    None if ignored => format!("no match among {before}; filter ignored"),
                    None => format!("no match among {before}: no instance"),
                };
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
            Scheme::Version(list) => weight_of(list, instance_value(n, InstanceField::Version)?),
            Scheme::Region(list) => weight_of(list, instance_value(n, InstanceField::Region)?),
            Scheme::Rules(rules) => rule_weight(rules, &self.group.name, self.caller.service, n),
        }
    }
}
