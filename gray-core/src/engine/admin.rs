//! The engine's runtime administration: node changes (each a read-copy-update of the spec,
//! see [`crate::admin`]), status views and metrics.

use super::Engine;
use crate::admin::{self, GroupStatus};
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
