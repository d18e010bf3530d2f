//! nginx's smooth weighted round robin.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::candidates::{eligible, Candidates, Select};

#[derive(Debug, Clone, Copy)]
struct RrPeer {
    current: i64,
    effective: i64,
}

/// nginx's smooth weighted round robin; see the [module documentation](crate::select).
#[derive(Debug)]
pub struct SmoothWeightedRoundRobin {
    weights: Box<[u32]>,
    peers: Mutex<Box<[RrPeer]>>,
}

impl SmoothWeightedRoundRobin {
    /// Builds the selector from the nodes' configured weights.
    pub fn new(weights: &[u32]) -> Self {
        let peers = weights
            .iter()
            .map(|&w| RrPeer {
                current: 0,
                effective: i64::from(w),
            })
            .collect();
        SmoothWeightedRoundRobin {
            weights: weights.into(),
            peers: Mutex::new(peers),
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

    /// Records a failed request to node `i`, as nginx does: the node's
    /// effective weight drops by `weight / max_fails` (integer division, not
    /// below 0), so it gets a smaller share until it climbs back by one per
    /// pick round. Does nothing when `max_fails == 0` or `i` is out of range.
    pub fn on_failure(&self, i: usize, max_fails: u32) {
        if max_fails == 0 {
            return;
        }
        let Some(&weight) = self.weights.get(i) else {
            return;
        };
        let mut peers = self.lock();
        let peer = &mut peers[i];
        peer.effective = (peer.effective - i64::from(weight / max_fails)).max(0);
    }

    fn lock(&self) -> MutexGuard<'_, Box<[RrPeer]>> {
        // The state is plain integers that are always valid, so a panic in a
        // caller's `Candidates` while the lock was held leaves nothing broken.
        self.peers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Select for SmoothWeightedRoundRobin {
    fn pick(&self, nodes: &dyn Candidates, _key: Option<u64>, _random: u64) -> Option<usize> {
        let n = self.weights.len().min(nodes.len());
        let mut peers = self.lock();
        let mut total: i64 = 0;
        let mut best: Option<(usize, i64)> = None;
        for (i, (&weight, peer)) in self.weights[..n].iter().zip(peers.iter_mut()).enumerate() {
            if weight == 0 || !eligible(nodes, i) {
                continue;
            }
            peer.current += peer.effective;
            total += peer.effective;
            if peer.effective < i64::from(weight) {
                peer.effective += 1;
            }
            match best {
                Some((_, c)) if peer.current <= c => {}
                _ => best = Some((i, peer.current)),
            }
        }
        let (chosen, _) = best?;
        peers[chosen].current -= total;
        Some(chosen)
    }

    fn on_failure(&self, i: usize, max_fails: u32) {
        SmoothWeightedRoundRobin::on_failure(self, i, max_fails);
    }
}
