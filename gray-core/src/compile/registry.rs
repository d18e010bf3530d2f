//! Health, counters and traffic records that outlive snapshots. A reload compiles new groups
//! and rules, but a node that stays keeps its failure window, totals and live window, and a rule
//! or group keeps its counters: they live in `Arc`s looked up here by name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::health::NodeHealth;
use crate::rollout::RolloutControl;
use crate::snapshot::counter::Counter;
use crate::traffic::Traffic;

/// Health and counters that outlive snapshots, keyed by name. The engine owns one.
#[derive(Debug, Default)]
pub(crate) struct StateRegistry {
    nodes: Mutex<HashMap<(String, String), Arc<NodeHealth>>>,
    rules: Mutex<HashMap<String, Arc<Counter>>>,
    groups: Mutex<HashMap<String, Arc<Counter>>>,
    node_traffic: Mutex<HashMap<(String, String), Arc<Traffic>>>,
    rule_traffic: Mutex<HashMap<String, Arc<Traffic>>>,
    /// Judged rollouts by group: the rollout spec they were made for, and their state.
    rollouts: Mutex<HashMap<String, (String, Arc<RolloutControl>)>>,
}

fn get_or_new<K: std::hash::Hash + Eq, V: Default>(m: &Mutex<HashMap<K, Arc<V>>>, k: K) -> Arc<V> {
    m.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(k)
        .or_default()
        .clone()
}

impl StateRegistry {
    /// The health of node `address` of `group`.
    pub(crate) fn node(&self, group: &str, address: &str) -> Arc<NodeHealth> {
        get_or_new(&self.nodes, (group.to_string(), address.to_string()))
    }

    /// The counter of rule `id`.
    pub(crate) fn rule(&self, id: &str) -> Arc<Counter> {
        get_or_new(&self.rules, id.to_string())
    }

    /// The counter of group `name`.
    pub(crate) fn group(&self, name: &str) -> Arc<Counter> {
        get_or_new(&self.groups, name.to_string())
    }

    /// The traffic record of node `address` of `group`.
    pub(crate) fn node_traffic(&self, group: &str, address: &str) -> Arc<Traffic> {
        get_or_new(&self.node_traffic, (group.to_string(), address.to_string()))
    }

    /// The traffic record (live window) of rule `id`.
    pub(crate) fn rule_traffic(&self, id: &str) -> Arc<Traffic> {
        get_or_new(&self.rule_traffic, id.to_string())
    }

    /// The state of the judged rollout of `group`: kept while `fingerprint` (the rollout spec)
    /// stays the same, a fresh one at step 0 when it changes.
    pub(crate) fn rollout(
        &self,
        group: &str,
        fingerprint: &str,
        steps: usize,
    ) -> Arc<RolloutControl> {
        let mut m = self.rollouts.lock().unwrap_or_else(PoisonError::into_inner);
        match m.get(group) {
            Some((f, c)) if f == fingerprint => c.clone(),
            _ => {
                let c = Arc::new(RolloutControl::new(steps));
                m.insert(group.to_string(), (fingerprint.to_string(), c.clone()));
                c
            }
        }
    }

    /// Forgets state nobody references any more (nodes removed by a reload).
    pub(crate) fn prune(&self) {
        fn prune_map<K, V>(m: &Mutex<HashMap<K, Arc<V>>>) {
            m.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, v| Arc::strong_count(v) > 1);
        }
        prune_map(&self.nodes);
        prune_map(&self.rules);
        prune_map(&self.groups);
        prune_map(&self.node_traffic);
        prune_map(&self.rule_traffic);
        self.rollouts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (_, c)| Arc::strong_count(c) > 1);
    }
}
