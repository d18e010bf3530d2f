//! Compiled upstream groups: nodes, their selectors, health and staged rollout.
//!
//! A group is built once per snapshot from a [`crate::spec::GroupSpec`]. Per-node health
//! ([`NodeHealth`]) and counters live in `Arc`s that the engine carries over from snapshot to
//! snapshot, so a reload or an admin change does not forget that a node is failing.

use std::sync::Arc;

use super::counter::Counter;
use super::rule::Key;
use crate::health::{HealthPolicy, NodeHealth};
use crate::outcome::FailMask;
use crate::rollout::judge::Analysis;
use crate::rollout::RolloutControl;
use crate::select::Selector;
use crate::spec::NodeMetadata;
use crate::traffic::Traffic;

/// One compiled node.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) address: Box<str>,
    pub(crate) weight: u32,
    pub(crate) drain: bool,
    pub(crate) policy: HealthPolicy,
    pub(crate) health: Arc<NodeHealth>,
    pub(crate) metadata: NodeMetadata,
    /// Outcomes and latency of the requests recorded for this node.
    pub(crate) traffic: Arc<Traffic>,
}

/// The staged-rollout schedule of a group: step `i` is in force from `starts[i]` (Unix ms).
#[derive(Debug)]
pub(crate) struct Rollout {
    pub(crate) starts: Box<[u64]>,
    /// With an `analysis` section: the judged rollout (its state picks the selector).
    pub(crate) judged: Option<JudgedRollout>,
}

/// A rollout with an `analysis` section.
#[derive(Debug)]
pub(crate) struct JudgedRollout {
    pub(crate) control: Arc<RolloutControl>,
    pub(crate) analysis: Analysis,
    /// Indices of the canary nodes.
    pub(crate) canary: Box<[u32]>,
    /// The baseline group (index), or `None` for the group's other nodes.
    pub(crate) baseline: Option<u32>,
}

impl Rollout {
    /// The selector in force: the step at `unix_ms`, or the judged rollout's (a step, or the
    /// aborted weights after the last step).
    pub(crate) fn step(&self, unix_ms: u64) -> usize {
        if let Some(j) = &self.judged {
            return j.control.selector();
        }
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
    /// Copies of some of its requests (see [`crate::spec::MirrorSpec`]).
    pub(crate) mirror: Option<Box<super::mirror::Mirror>>,
}

impl Group {
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
}
