//! Consistent hashing on a ring of weighted points.

use std::fmt;

use super::candidates::{eligible, Candidates, Select};

/// Points per node of the largest weight on the consistent-hash ring.
pub const POINTS_PER_NODE: u32 = 160;

/// Upper bound (approximately; see the [module documentation](crate::select)) on the
/// number of points of one consistent-hash ring.
pub const MAX_RING_POINTS: usize = 1 << 20;

/// The documented 64-bit hash (FNV-1a 64 then `fmix64`); shared with [`crate::sticky`], which
/// defines it.
pub use crate::sticky::{fmix64, hash64};

/// Ring point `j` of node `id`: `hash64(id ++ "#" ++ decimal(j))`, without
/// allocating.
pub(super) fn ring_point(id: &str, j: u32) -> u64 {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut v = j;
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let mut h = crate::sticky::StickyHasher::default();
    h.write(id.as_bytes());
    h.write(b"#");
    h.write(&digits[at..]);
    h.finish()
}

/// Number of ring points of a node; see the [module documentation](crate::select).
pub(super) fn point_count(weight: u32, max_weight: u32, base: u64) -> u32 {
    if weight == 0 || max_weight == 0 {
        return 0;
    }
    let max = u64::from(max_weight);
    let rounded = (base * u64::from(weight) + max / 2) / max;
    // base <= 160, so this always fits.
    u32::try_from(rounded.max(1)).unwrap_or(u32::MAX)
}

/// Ketama-style consistent hashing by request key; see the
/// [module documentation](crate::select).
#[derive(Clone)]
pub struct ConsistentHash {
    weights: Box<[u32]>,
    /// Sorted ring positions.
    points: Box<[u64]>,
    /// `owners[k]` is the node index of `points[k]`.
    owners: Box<[u32]>,
}

impl fmt::Debug for ConsistentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsistentHash")
            .field("weights", &self.weights)
            .field("ring_points", &self.points.len())
            .finish_non_exhaustive()
    }
}

impl ConsistentHash {
    /// Builds the ring from the nodes' weights and stable identities (e.g.
    /// `"10.0.0.1:80"`). Identities should be unique; if two nodes share one,
    /// their points coincide and the earlier node wins while it is available.
    ///
    /// # Panics
    ///
    /// If `weights` and `ids` differ in length, or there are more than
    /// `u32::MAX` nodes.
    pub fn new(weights: &[u32], ids: &[&str]) -> Self {
        assert_eq!(
            weights.len(),
            ids.len(),
            "ConsistentHash::new: one identity per weight is required"
        );
        assert!(u32::try_from(weights.len()).is_ok(), "too many nodes");
        let max_weight = weights.iter().copied().max().unwrap_or(0);
        let live = weights.iter().filter(|&&w| w > 0).count();
        // `live == 0` (no node with weight > 0) gives an empty ring.
        let base = MAX_RING_POINTS
            .checked_div(live)
            .map_or(0, |b| b.clamp(1, POINTS_PER_NODE as usize) as u64);
        let total: usize = weights
            .iter()
            .map(|&w| point_count(w, max_weight, base) as usize)
            .sum();
        let mut ring: Vec<(u64, u32)> = Vec::with_capacity(total);
        for (i, (&w, id)) in weights.iter().zip(ids).enumerate() {
            let node = i as u32; // checked above
            for j in 0..point_count(w, max_weight, base) {
                ring.push((ring_point(id, j), node));
            }
        }
        ring.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| ids[a.1 as usize].cmp(ids[b.1 as usize]))
                .then(a.1.cmp(&b.1))
        });
        ConsistentHash {
            weights: weights.into(),
            points: ring.iter().map(|p| p.0).collect(),
            owners: ring.iter().map(|p| p.1).collect(),
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

    /// Number of points on the ring.
    pub fn ring_len(&self) -> usize {
        self.points.len()
    }

    /// Node owning the ring point at `k`, if eligible.
    #[inline]
    fn eligible_owner(&self, nodes: &dyn Candidates, n: usize, k: usize) -> Option<usize> {
        let owner = self.owners[k] as usize;
        (owner < n && eligible(nodes, owner)).then_some(owner)
    }
}

impl Select for ConsistentHash {
    fn pick(&self, nodes: &dyn Candidates, key: Option<u64>, random: u64) -> Option<usize> {
        let len = self.points.len();
        if len == 0 {
            return None;
        }
        let position = key.map_or(random, fmix64);
        let start = self.points.partition_point(|&p| p < position);
        let start = if start == len { 0 } else { start };
        let n = nodes.len();
        if let Some(owner) = self.eligible_owner(nodes, n, start) {
            return Some(owner);
        }
        // Cheap O(nodes) check before a possibly long walk of the ring.
        let limit = n.min(self.weights.len());
        if !(0..limit).any(|i| self.weights[i] > 0 && eligible(nodes, i)) {
            return None;
        }
        (1..len).find_map(|step| {
            let k = start + step;
            let k = if k >= len { k - len } else { k };
            self.eligible_owner(nodes, n, k)
        })
    }
}
