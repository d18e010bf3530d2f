//! The engine's runtime administration: node changes (each a read-copy-update of the spec,
//! see [`crate::admin`]), status views and metrics.

use super::Engine;
use crate::admin::{self, GroupStatus, RuleStatus};
use crate::error::Result;
use crate::spec::NodeSpec;

impl Engine {
    /// Adds a node to a group. Returns the new generation.
    pub fn add_node(&self, group: &str, node: NodeSpec) -> Result<u64> {
        admin::check_weight(node.weight)?;
        self.update(|spec| admin::add_node(spec, group, node))
            .map(|(_, g)| g)
    }

    /// Removes a node. Requests already routed to it finish normally.
    pub fn remove_node(&self, group: &str, address: &str) -> Result<u64> {
        self.update(|spec| admin::remove_node(spec, group, address))
            .map(|(_, g)| g)
    }

    /// Sets a node's weight (0..=10000; 0 = never chosen).
    pub fn set_weight(&self, group: &str, address: &str, weight: u32) -> Result<u64> {
        admin::check_weight(weight)?;
        self.update(|spec| admin::set_weight(spec, group, address, weight))
            .map(|(_, g)| g)
    }

    /// Starts (`true`) or ends (`false`) draining a node: it finishes what it has and gets no
    /// new requests.
    pub fn drain(&self, group: &str, address: &str, drain: bool) -> Result<u64> {
        self.update(|spec| admin::set_drain(spec, group, address, drain))
            .map(|(_, g)| g)
    }

    /// Nodes of a group with weight, health and counters.
    pub fn nodes(&self, group: &str) -> Result<GroupStatus> {
        let snap = self.snapshot();
        let gi = snap.group_named(group)?;
        Ok(snap.groups[gi as usize].status(
            self.sources.now_ms(),
            self.sources.unix_ms(),
            &snap.spec.groups[group],
        ))
    }

    /// Every group's status, in name order.
    pub fn groups(&self) -> Vec<GroupStatus> {
        let snap = self.snapshot();
        let (now, unix) = (self.sources.now_ms(), self.sources.unix_ms());
        snap.groups
            .iter()
            .map(|g| g.status(now, unix, &snap.spec.groups[&*g.name]))
            .collect()
    }

    /// The enabled rules in evaluation order, with their condition in words, hits, share of
    /// all routed requests and last hit time. Only reads counters: nothing on the request
    /// path records times; each call (and each [`Engine::tick`]) notes which counts grew.
    pub fn rules(&self) -> Vec<RuleStatus> {
        let snap = self.snapshot();
        let mut last = vec![None; snap.rules.len()];
        self.note_rule_hits(&snap, |i, t| last[i] = t);
        let total: u64 = snap.groups.iter().map(|g| g.counter.requests()).sum();
        snap.rules
            .iter()
            .zip(last)
            .map(|(r, last_hit_unix_ms)| {
                let spec = snap.spec.rules.iter().find(|s| *s.id == *r.id);
                let requests = r.counter.requests();
                RuleStatus {
                    id: r.id.to_string(),
                    description: spec.and_then(|s| s.description.clone()),
                    condition: spec
                        .and_then(|s| s.when.as_ref())
                        .map_or_else(|| "always".to_string(), |c| c.to_string()),
                    group: snap.groups[r.group.unwrap_or(snap.default_group) as usize]
                        .name
                        .to_string(),
                    requests,
                    failures: r.counter.failures(),
                    share: if total == 0 {
                        0.0
                    } else {
                        requests as f64 / total as f64
                    },
                    last_hit_unix_ms,
                }
            })
            .collect()
    }

    /// Notes the rules whose count grew since the last look, and tells `each(rule index,
    /// last hit)`. Allocates only for a rule id seen for the first time.
    pub(super) fn note_rule_hits(
        &self,
        snap: &crate::Snapshot,
        mut each: impl FnMut(usize, Option<u64>),
    ) {
        let now = self.sources.unix_ms();
        let mut seen = self
            .rule_hits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (i, r) in snap.rules.iter().enumerate() {
            let n = r.counter.requests();
            let last = match seen.get_mut(&*r.id) {
                Some(e) => {
                    if n > e.0 {
                        e.1 = Some(now);
                    }
                    e.0 = n;
                    e.1
                }
                None => {
                    // A count seen for the first time may be old: no time for it yet.
                    seen.insert(r.id.to_string(), (n, None));
                    None
                }
            };
            each(i, last);
        }
    }

    /// Counters per rule: `(rule id, requests matched, failures reported)`.
    pub fn rule_counters(&self) -> Vec<(String, u64, u64)> {
        let snap = self.snapshot();
        snap.rules
            .iter()
            .map(|r| (r.id.to_string(), r.counter.requests(), r.counter.failures()))
            .collect()
    }

    /// All counters in the Prometheus text exposition format.
    pub fn metrics(&self) -> String {
        crate::metrics::render(&self.snapshot(), &self.groups())
    }
}
