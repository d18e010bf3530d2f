//! Weighted random selection.

use super::candidates::{eligible, scale, Candidates, Select};
use crate::sticky::fmix64;

/// Weighted random choice from caller-supplied randomness; see the
/// [module documentation](crate::select).
#[derive(Debug, Clone)]
pub struct WeightedRandom {
    weights: Box<[u32]>,
    /// `cumulative[i]` = sum of weights `0..=i`.
    cumulative: Box<[u64]>,
    total: u64,
}

impl WeightedRandom {
    /// Builds the selector from the nodes' configured weights.
    pub fn new(weights: &[u32]) -> Self {
        let mut sum = 0u64;
        let cumulative = weights
            .iter()
            .map(|&w| {
                sum += u64::from(w);
                sum
            })
            .collect();
        WeightedRandom {
            weights: weights.into(),
            cumulative,
            total: sum,
        }
    }

    /// Number of nodes the selector was built with.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// `true` when built with no nodes.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// The configured weights.
    pub fn weights(&self) -> &[u32] {
        &self.weights
    }

    /// Linear pick among eligible nodes, used when the fast path hit an
    /// ineligible node.
    fn pick_slow(&self, nodes: &dyn Candidates, random: u64) -> Option<usize> {
        let n = self.weights.len().min(nodes.len());
        let weights = &self.weights[..n];
        let mut total = 0u64;
        for (i, &w) in weights.iter().enumerate() {
            if w > 0 && eligible(nodes, i) {
                total += u64::from(w);
            }
        }
        if total == 0 {
            return None;
        }
        let mut r = scale(random, total);
        let mut last = None;
        for (i, &w) in weights.iter().enumerate() {
            if w > 0 && eligible(nodes, i) {
                if r < u64::from(w) {
                    return Some(i);
                }
                r -= u64::from(w);
                last = Some(i);
            }
        }
        // Availability changed between the two passes; any eligible node will do.
        last
    }
}

impl Select for WeightedRandom {
    #[inline]
    fn pick(&self, nodes: &dyn Candidates, _key: Option<u64>, random: u64) -> Option<usize> {
        if self.total == 0 {
            return None;
        }
        let r = scale(random, self.total);
        // First node whose cumulative weight exceeds r; never a weight-0 node,
        // and always < len because r < total.
        let i = self.cumulative.partition_point(|&c| c <= r);
        if i < nodes.len() && eligible(nodes, i) {
            return Some(i);
        }
        self.pick_slow(nodes, fmix64(random))
    }
}
