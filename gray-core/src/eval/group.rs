//! Picking an available node of one group with its selector: what the pick needs to know
//! (time, randomness), availability (weight at the current rollout step, draining, passive
//! health), and the pick itself.

use crate::select::{Candidates, Select, Selector};
use crate::snapshot::group::{Group, Node};

/// The nodes of a group as a selector sees them at one instant.
struct Avail<'a> {
    nodes: &'a [Node],
    weights: &'a [u32],
    now_ms: u64,
}

impl Candidates for Avail<'_> {
    #[inline]
    fn len(&self) -> usize {
        self.nodes.len()
    }
    #[inline]
    fn weight(&self, i: usize) -> u32 {
        self.weights.get(i).copied().unwrap_or(0)
    }
    #[inline]
    fn available(&self, i: usize) -> bool {
        self.nodes
            .get(i)
            .is_some_and(|n| !n.drain && n.health.is_available(&n.policy, self.now_ms))
    }
}

impl Group {
    /// The current time as [`Group::pick`] needs it: `read()` when some node's availability
    /// depends on it (it is ejected or half-open), else 0 without reading a clock. Health
    /// reads `now_ms` only for tripped nodes, so 0 is exact for the others; a node that trips
    /// between this check and the pick is treated as still ejected, which it is.
    #[inline]
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
    #[inline]
    pub(crate) fn random(&self, draw: impl FnOnce() -> u64) -> u64 {
        if self
            .selectors
            .iter()
            .all(|s| matches!(s, Selector::RoundRobin(_)))
        {
            0
        } else {
            draw()
        }
    }

    /// The Unix time as [`Group::pick`] needs it: `read()` for a group with a rollout
    /// schedule, else 0 (the step is then always 0) without reading a clock.
    #[inline]
    pub(crate) fn unix_ms(&self, read: impl FnOnce() -> u64) -> u64 {
        if self.rollout.is_some() {
            read()
        } else {
            0
        }
    }

    /// Picks an available node, or `None` if none is available. `count` records the pick
    /// (request counter, half-open trial); explanations pass `false`.
    #[inline]
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
    pub(crate) fn available_except(&self, skip: usize, now_ms: u64, unix_ms: u64) -> bool {
        let w = self.weights(unix_ms);
        self.nodes.iter().enumerate().any(|(i, n)| {
            i != skip
                && w.get(i).copied().unwrap_or(0) > 0
                && !n.drain
                && n.health.is_available(&n.policy, now_ms)
        })
    }
}
