//! Compiled upstream groups: nodes, their selector, health and staged rollout.
//!
//! A group is built once per snapshot from a [`GroupSpec`]. Per-node health ([`NodeHealth`]) and
//! counters live in `Arc`s that the engine carries over from snapshot to snapshot, so a reload or
//! an admin change does not forget that a node is failing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

use crate::health::{HealthPolicy, HealthSnapshot, HealthState, NodeHealth};
use crate::outcome::FailMask;
use crate::rules::Key;
use crate::select::{Algorithm, Candidates, Select, Selector};
use crate::spec::{GroupSpec, NodeMetadata, SelectSpec};

/// Request and failure counters of a rule or group.
#[derive(Debug, Default)]
pub struct Counter {
    pub(crate) requests: AtomicU64,
    pub(crate) failures: AtomicU64,
}

impl Counter {
    /// Requests counted.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    /// Failures counted.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

/// One compiled node.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) address: Box<str>,
    pub(crate) weight: u32,
    pub(crate) drain: bool,
    pub(crate) policy: HealthPolicy,
    pub(crate) health: Arc<NodeHealth>,
    pub(crate) metadata: NodeMetadata,
}

/// The staged-rollout schedule of a group: step `i` is in force from `starts[i]` (Unix ms).
#[derive(Debug)]
pub(crate) struct Rollout {
    pub(crate) starts: Box<[u64]>,
}

impl Rollout {
    pub(crate) fn step(&self, unix_ms: u64) -> usize {
        self.starts
            .partition_point(|&s| s <= unix_ms)
            .saturating_sub(1)
    }
}

/// One compiled group.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) name: Box<str>,
    pub(crate) nodes: Box<[Node]>,
    /// One selector per rollout step (exactly one without a rollout).
    pub(crate) selectors: Box<[Selector]>,
    pub(crate) rollout: Option<Rollout>,
    pub(crate) hash_key: Option<Key>,
    /// [`crate::sticky::salt_prefix`] of the group name (the hash key's salt).
    pub(crate) hash_salt: crate::sticky::StickyHasher,
    pub(crate) fallback: Option<u32>,
    /// The compiled `fail_on` list ([`crate::Engine::record`]).
    pub(crate) fail_on: FailMask,
    pub(crate) counter: Arc<Counter>,
}

struct Avail<'a> {
    nodes: &'a [Node],
    weights: &'a [u32],
    now_ms: u64,
}

impl Candidates for Avail<'_> {
    fn len(&self) -> usize {
        self.nodes.len()
    }
    fn weight(&self, i: usize) -> u32 {
        self.weights.get(i).copied().unwrap_or(0)
    }
    fn available(&self, i: usize) -> bool {
        self.nodes
            .get(i)
            .is_some_and(|n| !n.drain && n.health.is_available(&n.policy, self.now_ms))
    }
}

impl Group {
    pub(crate) fn algorithm(spec: SelectSpec) -> Algorithm {
        match spec {
            SelectSpec::RoundRobin => Algorithm::RoundRobin,
            SelectSpec::Random => Algorithm::Random,
            SelectSpec::Hash => Algorithm::Hash,
        }
    }

    /// The rollout step in force at `unix_ms` (0 without a rollout).
    pub(crate) fn step(&self, unix_ms: u64) -> usize {
        self.rollout
            .as_ref()
            .map_or(0, |r| r.step(unix_ms))
            .min(self.selectors.len() - 1)
    }

    /// Weights in force at `unix_ms`.
    pub(crate) fn weights(&self, unix_ms: u64) -> &[u32] {
        self.selectors[self.step(unix_ms)].weights()
    }

    /// The current time as [`Group::pick`] needs it: `read()` when some node's availability
    /// depends on it (it is ejected or half-open), else 0 without reading a clock. Health
    /// reads `now_ms` only for tripped nodes, so 0 is exact for the others; a node that trips
    /// between this check and the pick is treated as still ejected, which it is.
    pub(crate) fn now_ms(&self, read: impl FnOnce() -> u64) -> u64 {
        // Checking a large group node by node would cost more than the clock read.
        if self.nodes.len() > 16 || self.nodes.iter().any(|n| n.health.is_tripped(&n.policy)) {
            read()
        } else {
            0
        }
    }

    /// Randomness as [`Group::pick`] needs it: `draw()` unless every selector of the group is
    /// round robin (which never uses it), else 0.
    pub(crate) fn random(&self, draw: impl FnOnce() -> u64) -> u64 {
        if self
            .selectors
            .iter()
            .all(|s| matches!(s, crate::select::Selector::RoundRobin(_)))
        {
            0
        } else {
            draw()
        }
    }

    /// The Unix time as [`Group::pick`] needs it: `read()` for a group with a rollout
    /// schedule, else 0 (the step is then always 0) without reading a clock.
    pub(crate) fn unix_ms(&self, read: impl FnOnce() -> u64) -> u64 {
        if self.rollout.is_some() {
            read()
        } else {
            0
        }
    }

    /// Picks an available node, or `None` if none is available. `count` records the pick
    /// (request counter, half-open trial); explanations pass `false`.
    pub(crate) fn pick(
        &self,
        key: Option<u64>,
        random: u64,
        now_ms: u64,
        unix_ms: u64,
        count: bool,
    ) -> Option<usize> {
        let sel = &self.selectors[self.step(unix_ms)];
        let avail = Avail {
            nodes: &self.nodes,
            weights: sel.weights(),
            now_ms,
        };
        let i = sel.pick(&avail, key, random)?;
        if count {
            let n = &self.nodes[i];
            n.health.on_selected(&n.policy, now_ms);
            n.health.count_request();
        }
        Some(i)
    }

    /// True if at least one node could be picked now.
    pub(crate) fn has_available(&self, now_ms: u64, unix_ms: u64) -> bool {
        self.available_except(usize::MAX, now_ms, unix_ms)
    }

    /// True if a node other than node `skip` could be picked now: weight > 0 at the current
    /// rollout step, not draining, available to passive health.
    fn available_except(&self, skip: usize, now_ms: u64, unix_ms: u64) -> bool {
        let w = self.weights(unix_ms);
        self.nodes.iter().enumerate().any(|(i, n)| {
            i != skip
                && w.get(i).copied().unwrap_or(0) > 0
                && !n.drain
                && n.health.is_available(&n.policy, now_ms)
        })
    }

    /// Records an outcome for node `i` (`ok == false`: a failure).
    ///
    /// A failure is always counted (group and node totals), but the last available node of a
    /// group without a fallback is never ejected, as nginx never marks a lone server
    /// unavailable: when no *other* node of the group is available, the failure does not
    /// enter the node's failure window (nor lower its round-robin weight). With a fallback the
    /// node is ejected as usual and traffic moves to the fallback. A node that is already
    /// ejected keeps its ejection. The check and the report are not one atomic step: when the
    /// last two available nodes fail at the same instant, each may still see the other as
    /// available and both may be ejected.
    pub(crate) fn report(&self, i: usize, ok: bool, now_ms: u64, unix_ms: u64) {
        let Some(n) = self.nodes.get(i) else { return };
        if ok {
            n.health.report(&n.policy, true, now_ms);
            return;
        }
        self.counter.failures.fetch_add(1, Ordering::Relaxed);
        if self.fallback.is_none() && !self.available_except(i, now_ms, unix_ms) {
            n.health.count_failure();
            return;
        }
        n.health.report(&n.policy, false, now_ms);
        for s in self.selectors.iter() {
            s.on_failure(i, n.policy.max_fails);
        }
    }

    /// A status view for admin listings.
    pub(crate) fn status(&self, now_ms: u64, unix_ms: u64, spec: &GroupSpec) -> GroupStatus {
        let step = self.step(unix_ms);
        let weights = self.weights(unix_ms);
        GroupStatus {
            name: self.name.to_string(),
            select: spec.select,
            fallback: spec.fallback.clone(),
            rollout_step: self.rollout.as_ref().map(|_| step),
            rollout_steps: self.rollout.as_ref().map(|r| r.starts.len()),
            requests: self.counter.requests(),
            failures: self.counter.failures(),
            available: self.has_available(now_ms, unix_ms),
            nodes: self
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| NodeStatus::new(n, weights.get(i).copied().unwrap_or(0), now_ms))
                .collect(),
        }
    }
}

/// Admin view of a group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupStatus {
    /// Group name.
    pub name: String,
    /// Selection algorithm.
    pub select: SelectSpec,
    /// Fallback group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Current staged-rollout step (0-based), if the group has a rollout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_step: Option<usize>,
    /// Number of rollout steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_steps: Option<usize>,
    /// Requests routed to this group.
    pub requests: u64,
    /// Failures reported for this group.
    pub failures: u64,
    /// True if a node can be picked now.
    pub available: bool,
    /// The nodes.
    pub nodes: Vec<NodeStatus>,
}

/// Admin view of a node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    /// Address.
    pub address: String,
    /// Weight in force now (configured, or the current rollout step's).
    pub weight: u32,
    /// Configured weight.
    pub configured_weight: u32,
    /// Draining.
    pub drain: bool,
    /// `up`, `down`, `probing` or `draining`.
    pub health: &'static str,
    /// Milliseconds until an ejected node is tried again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down_for_ms: Option<u64>,
    /// Failures in the current window.
    pub fails: u32,
    /// `max_fails` in force.
    pub max_fails: u32,
    /// `fail_timeout` in force, in milliseconds.
    pub fail_timeout_ms: u64,
    /// Requests sent.
    pub requests: u64,
    /// Failures reported.
    pub failures: u64,
    /// Metadata.
    pub metadata: NodeMetadata,
}

impl NodeStatus {
    fn new(n: &Node, weight: u32, now_ms: u64) -> Self {
        let h: HealthSnapshot = n.health.snapshot(&n.policy, now_ms);
        let (health, down_for_ms) = match h.state {
            _ if n.drain => ("draining", None),
            HealthState::Down { until_ms } => ("down", Some(until_ms.saturating_sub(now_ms))),
            HealthState::Up if h.probing => ("probing", None),
            HealthState::Up => ("up", None),
        };
        NodeStatus {
            address: n.address.to_string(),
            weight,
            configured_weight: n.weight,
            drain: n.drain,
            health,
            down_for_ms,
            fails: h.fails,
            max_fails: n.policy.max_fails,
            fail_timeout_ms: n.policy.fail_timeout_ms(),
            requests: h.total_requests,
            failures: h.total_failures,
            metadata: n.metadata.clone(),
        }
    }
}
