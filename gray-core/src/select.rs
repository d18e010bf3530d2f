//! Node selection algorithms behind one small trait, [`Select`].
//!
//! A group (like an nginx `upstream` block) is a list of nodes, each with a
//! weight in `0..=10_000`. A selector is built once per routing snapshot from
//! the group's weights (and, for hashing, stable node identities); per request
//! the caller says which nodes may be picked right now through [`Candidates`]
//! and gets back the index of the chosen node. Picks never allocate.
//!
//! # Eligibility (all algorithms)
//!
//! Node `i` can be picked only if all of the following hold:
//! * `i < nodes.len()` and `i` is one of the nodes the selector was built with,
//! * the weight it was built with is > 0 (weight 0 = never chosen),
//! * `nodes.weight(i) > 0` (a caller can veto a node by reporting weight 0),
//! * `nodes.available(i)` (health, draining, or "already tried" on a retry).
//!
//! Proportions always come from the weights the selector was built with; the
//! snapshot is rebuilt whenever configured weights change. When no node is
//! eligible, [`Select::pick`] returns `None`.
//!
//! # Smooth weighted round robin ([`SmoothWeightedRoundRobin`])
//!
//! This is nginx's default `upstream` balancing, reproduced step for step. Every
//! node has a `current` weight (starting at 0) and an `effective` weight
//! (starting at its configured weight). For each pick, every eligible node adds
//! its effective weight to its current weight and to a running total; the node
//! with the largest current weight wins (the first one in node order on a tie)
//! and has the total subtracted from its current weight. Ineligible nodes are
//! skipped entirely and keep their current weight frozen, exactly as nginx
//! skips peers that are `down` or have exceeded `max_fails`. The result is an
//! interleaved sequence: weights 5, 1, 1 give `a a b a c a a`, repeating.
//!
//! nginx also lowers a peer's effective weight by `weight / max_fails` on each
//! failure (never below 0) and raises it by one on every pick round in which the
//! peer takes part, until it is back at its configured weight; this is
//! [`SmoothWeightedRoundRobin::on_failure`]. The per-request `tried` bitmap
//! that nginx uses for retries is not part of the selector: a caller retrying
//! a request reports the nodes it already tried as unavailable.
//!
//! The state is one `Mutex` around a small array; the critical section is a
//! single pass over the group with no allocation. (nginx too serialises this,
//! with a lock on the shared peer list.) `Candidates` methods are called while
//! the lock is held, so they must not pick from the same selector.
//!
//! # Weighted random ([`WeightedRandom`])
//!
//! The caller passes a uniformly random `u64`, which is scaled to
//! `[0, total_weight)` with a multiply-high (`(random as u128 * total) >> 64`,
//! unbiased enough and cheaper than `%`) and located by binary search in
//! precomputed prefix sums. If the node found is eligible it is returned; this
//! is correct even when other nodes are unavailable. Otherwise a second number,
//! derived from `random` with [`fmix64`], is scaled to the total weight of the
//! eligible nodes and located by a linear scan. Overall each eligible node is
//! chosen with probability `weight / total eligible weight`.
//!
//! # Consistent hash ([`ConsistentHash`])
//!
//! A ketama-style ring, like nginx's `hash $key consistent`. nginx places
//! `160 × weight` points per server; since weights here go up to 10,000 the
//! number of points is scaled to the group's largest weight instead:
//!
//! * `base = min(160, max(1, 2^20 / number of nodes with weight > 0))`
//! * points of a node = `max(1, round(base × weight / max_weight))` for
//!   weight > 0, none for weight 0 — so the ring never exceeds about 2^20
//!   (≈1M) points, and a node with the largest weight gets `base` points.
//! * point `j` (from 0) of the node with identity `id` is
//!   `hash64(id ++ "#" ++ decimal(j))`, e.g. `hash64(b"10.0.0.1:80#0")`;
//!   points are sorted by value, ties broken by identity, then node index.
//!
//! A request key `k` is placed on the ring at `fmix64(k)` (so keys need not
//! be well mixed); the first point at or after that position, wrapping around,
//! whose node is eligible wins. A missing key (`None`) uses `random` as the
//! position, spreading such requests in proportion to weight. Because a node's
//! points depend only on its identity and point count, adding a node only
//! moves keys *to* it, removing one only moves *its* keys, and a node that
//! becomes unavailable only hands its own keys to the next points, which come
//! back when it recovers. Changing the group's largest weight changes the point
//! counts of the others; their point lists grow or shrink at the end, so keys
//! move only around the added or removed points.
//!
//! # `hash64`
//!
//! [`hash64`] is FNV-1a 64 followed by the `MurmurHash3` 64-bit finaliser
//! [`fmix64`], reproducible in any language:
//!
//! ```text
//! h = 0xcbf29ce484222325
//! for each byte b: h = (h XOR b) * 0x100000001b3           (mod 2^64)
//! h ^= h >> 33; h *= 0xff51afd7ed558ccd                    (mod 2^64)
//! h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53                    (mod 2^64)
//! h ^= h >> 33
//! ```
//!
//! `hash64(b"") == 0xefd01f60ba992926`, `hash64(b"a") == 0x82a2a958a9bece5b`,
//! `hash64(b"10.0.0.1:80") == 0x5ed8f8275e47a14a`.
//!
//! # Dispatch
//!
//! [`build`] returns a [`Selector`], an enum over the three algorithms, rather
//! than a `Box<dyn Select>`: it is sized, needs no extra allocation, and its
//! `match` lets the compiler inline the chosen algorithm. `Selector` itself
//! implements [`Select`], so code that wants a trait object can still use
//! `&dyn Select`.
//!
//! # Example
//!
//! ```
//! use gray_core::select::{build, Algorithm, Select};
//!
//! let weights = [5, 1, 1];
//! let ids = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"];
//! // (weight, available) per node; node 1 is draining.
//! let nodes: &[(u32, bool)] = &[(5, true), (1, false), (1, true)];
//!
//! let rr = build(Algorithm::RoundRobin, &weights, &ids);
//! let seq: Vec<usize> = (0..6).filter_map(|_| rr.pick(&nodes, None, 0)).collect();
//! assert_eq!(seq, [0, 0, 0, 2, 0, 0]);
//!
//! let sticky = build(Algorithm::Hash, &weights, &ids);
//! let first = sticky.pick(&nodes, Some(42), 0);
//! assert_eq!(sticky.pick(&nodes, Some(42), 12_345), first);
//! assert_ne!(first, Some(1));
//!
//! let random = build(Algorithm::Random, &weights, &ids);
//! assert_eq!(random.pick(&nodes, None, 0), Some(0));
//! assert_eq!(random.pick(&nodes, None, u64::MAX), Some(2));
//! ```

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The nodes that may be picked right now, supplied by the caller per pick.
///
/// Index `i` refers to the `i`-th node of the list the selector was built
/// from. See the [module documentation](self) for how the methods are used.
pub trait Candidates {
    /// Number of nodes (normally the group's node count).
    fn len(&self) -> usize;

    /// `true` when there are no nodes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The node's weight. Selectors take proportions from the weights they
    /// were built with; returning 0 here makes node `i` ineligible.
    fn weight(&self, i: usize) -> u32;

    /// Whether node `i` may be picked right now (healthy, not draining, not
    /// already tried by this request).
    fn available(&self, i: usize) -> bool;
}

impl Candidates for [(u32, bool)] {
    fn len(&self) -> usize {
        <[(u32, bool)]>::len(self)
    }
    fn weight(&self, i: usize) -> u32 {
        self.get(i).map_or(0, |n| n.0)
    }
    fn available(&self, i: usize) -> bool {
        self.get(i).is_some_and(|n| n.1)
    }
}

impl<const N: usize> Candidates for [(u32, bool); N] {
    fn len(&self) -> usize {
        N
    }
    fn weight(&self, i: usize) -> u32 {
        self.as_slice().weight(i)
    }
    fn available(&self, i: usize) -> bool {
        self.as_slice().available(i)
    }
}

impl Candidates for Vec<(u32, bool)> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn weight(&self, i: usize) -> u32 {
        self.as_slice().weight(i)
    }
    fn available(&self, i: usize) -> bool {
        self.as_slice().available(i)
    }
}

impl<T: Candidates + ?Sized> Candidates for &T {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn weight(&self, i: usize) -> u32 {
        (**self).weight(i)
    }
    fn available(&self, i: usize) -> bool {
        (**self).available(i)
    }
}

/// [`Candidates`] where every node is available, with the given weights.
#[derive(Debug, Clone, Copy)]
pub struct AllAvailable<'a>(pub &'a [u32]);

impl Candidates for AllAvailable<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn weight(&self, i: usize) -> u32 {
        self.0.get(i).copied().unwrap_or(0)
    }
    fn available(&self, _i: usize) -> bool {
        true
    }
}

/// A node-selection algorithm, built once per routing snapshot and shared by
/// all request threads.
pub trait Select: Send + Sync + fmt::Debug {
    /// Picks a node index.
    ///
    /// `key` is the request's stickiness hash (used by hash selectors; `None`
    /// when the request has no key), `random` a uniformly random `u64`
    /// supplied by the caller. Returns `None` when no eligible node (available,
    /// weight > 0) exists.
    fn pick(&self, nodes: &dyn Candidates, key: Option<u64>, random: u64) -> Option<usize>;

    /// Tells the selector that a request to node `i` failed (nginx lowers the
    /// round-robin effective weight). The default does nothing.
    fn on_failure(&self, i: usize, max_fails: u32) {
        let _ = (i, max_fails);
    }
}

#[inline]
fn eligible(nodes: &dyn Candidates, i: usize) -> bool {
    nodes.weight(i) > 0 && nodes.available(i)
}

/// Scales a uniform `u64` to `[0, bound)` with a multiply-high.
#[inline]
fn scale(random: u64, bound: u64) -> u64 {
    ((u128::from(random) * u128::from(bound)) >> 64) as u64
}

// ---------------------------------------------------------------------------
// Smooth weighted round robin
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct RrPeer {
    current: i64,
    effective: i64,
}

/// nginx's smooth weighted round robin; see the [module documentation](self).
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

// ---------------------------------------------------------------------------
// Weighted random
// ---------------------------------------------------------------------------

/// Weighted random choice from caller-supplied randomness; see the
/// [module documentation](self).
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

// ---------------------------------------------------------------------------
// Consistent hash
// ---------------------------------------------------------------------------

/// Points per node of the largest weight on the consistent-hash ring.
pub const POINTS_PER_NODE: u32 = 160;

/// Upper bound (approximately; see the [module documentation](self)) on the
/// number of points of one consistent-hash ring.
pub const MAX_RING_POINTS: usize = 1 << 20;

/// The documented 64-bit hash (FNV-1a 64 then `fmix64`); shared with [`crate::sticky`], which
/// defines it.
pub use crate::sticky::{fmix64, hash64};

/// Ring point `j` of node `id`: `hash64(id ++ "#" ++ decimal(j))`, without
/// allocating.
fn ring_point(id: &str, j: u32) -> u64 {
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

/// Number of ring points of a node; see the [module documentation](self).
fn point_count(weight: u32, max_weight: u32, base: u64) -> u32 {
    if weight == 0 || max_weight == 0 {
        return 0;
    }
    let max = u64::from(max_weight);
    let rounded = (base * u64::from(weight) + max / 2) / max;
    // base <= 160, so this always fits.
    u32::try_from(rounded.max(1)).unwrap_or(u32::MAX)
}

/// Ketama-style consistent hashing by request key; see the
/// [module documentation](self).
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

// ---------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------

/// The selection algorithm of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// [`SmoothWeightedRoundRobin`] (nginx's default).
    #[default]
    RoundRobin,
    /// [`WeightedRandom`].
    Random,
    /// [`ConsistentHash`] on the request's stickiness key.
    Hash,
}

/// One of the selectors, dispatched with a `match` (see the
/// [module documentation](self#dispatch)).
#[derive(Debug)]
pub enum Selector {
    /// Smooth weighted round robin.
    RoundRobin(SmoothWeightedRoundRobin),
    /// Weighted random.
    Random(WeightedRandom),
    /// Consistent hash.
    Hash(ConsistentHash),
}

impl Selector {
    /// Builds the selector for `alg`. `ids` is only used by
    /// [`Algorithm::Hash`] (other algorithms accept any slice, e.g. `&[]`).
    ///
    /// # Panics
    ///
    /// For [`Algorithm::Hash`], if `ids.len() != weights.len()`.
    pub fn new(alg: Algorithm, weights: &[u32], ids: &[&str]) -> Self {
        match alg {
            Algorithm::RoundRobin => Selector::RoundRobin(SmoothWeightedRoundRobin::new(weights)),
            Algorithm::Random => Selector::Random(WeightedRandom::new(weights)),
            Algorithm::Hash => Selector::Hash(ConsistentHash::new(weights, ids)),
        }
    }

    /// The algorithm this selector implements.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Selector::RoundRobin(_) => Algorithm::RoundRobin,
            Selector::Random(_) => Algorithm::Random,
            Selector::Hash(_) => Algorithm::Hash,
        }
    }

    /// The configured weights.
    pub fn weights(&self) -> &[u32] {
        match self {
            Selector::RoundRobin(s) => s.weights(),
            Selector::Random(s) => s.weights(),
            Selector::Hash(s) => s.weights(),
        }
    }
}

impl Select for Selector {
    #[inline]
    fn pick(&self, nodes: &dyn Candidates, key: Option<u64>, random: u64) -> Option<usize> {
        match self {
            Selector::RoundRobin(s) => s.pick(nodes, key, random),
            Selector::Random(s) => s.pick(nodes, key, random),
            Selector::Hash(s) => s.pick(nodes, key, random),
        }
    }

    fn on_failure(&self, i: usize, max_fails: u32) {
        if let Selector::RoundRobin(s) = self {
            s.on_failure(i, max_fails);
        }
    }
}

/// Builds the selector for a group; shorthand for [`Selector::new`].
///
/// # Panics
///
/// For [`Algorithm::Hash`], if `ids.len() != weights.len()`.
pub fn build(alg: Algorithm, weights: &[u32], ids: &[&str]) -> Selector {
    Selector::new(alg, weights, ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    /// Tiny deterministic PRNG for the statistical tests.
    struct SplitMix64(u64);
    impl SplitMix64 {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    fn all(weights: &[u32]) -> Vec<(u32, bool)> {
        weights.iter().map(|&w| (w, true)).collect()
    }

    fn letters(seq: &[Option<usize>]) -> String {
        seq.iter()
            .map(|p| p.map_or('-', |i| (b'a' + i as u8) as char))
            .collect()
    }

    // --- Reference model of nginx's ngx_http_upstream_get_peer --------------

    struct RefPeer {
        weight: i64,
        effective: i64,
        current: i64,
    }

    struct RefRr(Vec<RefPeer>);

    impl RefRr {
        fn new(weights: &[u32]) -> Self {
            RefRr(
                weights
                    .iter()
                    .map(|&w| RefPeer {
                        weight: i64::from(w),
                        effective: i64::from(w),
                        current: 0,
                    })
                    .collect(),
            )
        }

        fn get(&mut self, avail: &[bool]) -> Option<usize> {
            let mut best: Option<usize> = None;
            let mut total = 0;
            for (i, &up) in avail.iter().enumerate() {
                if !up || self.0[i].weight == 0 {
                    continue;
                }
                let p = &mut self.0[i];
                p.current += p.effective;
                total += p.effective;
                if p.effective < p.weight {
                    p.effective += 1;
                }
                let better = match best {
                    None => true,
                    Some(b) => self.0[i].current > self.0[b].current,
                };
                if better {
                    best = Some(i);
                }
            }
            let b = best?;
            self.0[b].current -= total;
            Some(b)
        }

        fn fail(&mut self, i: usize, max_fails: u32) {
            let p = &mut self.0[i];
            if max_fails > 0 {
                p.effective -= p.weight / i64::from(max_fails);
                if p.effective < 0 {
                    p.effective = 0;
                }
            }
        }
    }

    fn rr_seq(weights: &[u32], n: usize) -> String {
        let s = SmoothWeightedRoundRobin::new(weights);
        let nodes = all(weights);
        let seq: Vec<_> = (0..n).map(|_| s.pick(&nodes, None, 0)).collect();
        letters(&seq)
    }

    #[test]
    fn swrr_hand_derived_sequences() {
        assert_eq!(rr_seq(&[5, 1, 1], 14), "aabacaaaabacaa");
        assert_eq!(rr_seq(&[1, 1], 4), "abab");
        assert_eq!(rr_seq(&[2, 1], 6), "abaaba");
        assert_eq!(rr_seq(&[3, 0, 1], 8), "aacaaaca");
        assert_eq!(rr_seq(&[1, 2, 3, 4], 10), "dcbdacdbcd");
        let expected: String = "a".repeat(50) + "b" + &"a".repeat(50);
        assert_eq!(rr_seq(&[100, 1], 101), expected);
        assert_eq!(rr_seq(&[7], 3), "aaa");
        assert_eq!(rr_seq(&[0, 0], 3), "---");
        assert_eq!(rr_seq(&[], 2), "--");
    }

    #[test]
    fn swrr_matches_reference_model() {
        let table: &[&[u32]] = &[
            &[5, 1, 1],
            &[1, 1],
            &[2, 1],
            &[3, 0, 1],
            &[1, 2, 3, 4],
            &[100, 1],
            &[1],
            &[0, 0, 0],
            &[10_000, 1, 9_999, 0, 5_000],
            &[3, 3, 3, 7, 1, 2, 2, 9],
        ];
        for &weights in table {
            let sum: u32 = weights.iter().sum();
            let n = (3 * sum as usize).clamp(10, 1_000);
            let s = SmoothWeightedRoundRobin::new(weights);
            let mut r = RefRr::new(weights);
            let nodes = all(weights);
            let avail = vec![true; weights.len()];
            for step in 0..n {
                assert_eq!(
                    s.pick(&nodes, None, 0),
                    r.get(&avail),
                    "weights {weights:?}, step {step}"
                );
            }
        }
    }

    #[test]
    fn swrr_unavailable_mid_sequence_matches_reference() {
        let table: &[&[u32]] = &[&[5, 1, 1], &[1, 2, 3, 4], &[2, 1], &[100, 1]];
        for &weights in table {
            for victim in 0..weights.len() {
                for k in 0..12 {
                    let s = SmoothWeightedRoundRobin::new(weights);
                    let mut r = RefRr::new(weights);
                    let mut nodes = all(weights);
                    let mut avail = vec![true; weights.len()];
                    for step in 0..60 {
                        if step == k {
                            nodes[victim].1 = false;
                            avail[victim] = false;
                        }
                        if step == k + 7 {
                            nodes[victim].1 = true;
                            avail[victim] = true;
                        }
                        let got = s.pick(&nodes, None, 0);
                        assert_eq!(
                            got,
                            r.get(&avail),
                            "{weights:?} victim {victim} k {k} step {step}"
                        );
                        if (k..k + 7).contains(&step) {
                            assert_ne!(got, Some(victim));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn swrr_effective_weight_matches_reference() {
        let weights = [6, 3, 1];
        let s = SmoothWeightedRoundRobin::new(&weights);
        let mut r = RefRr::new(&weights);
        let nodes = all(&weights);
        let avail = [true; 3];
        let mut counts = [0usize; 3];
        for step in 0..200 {
            if step % 25 == 3 {
                s.on_failure(0, 2);
                r.fail(0, 2);
            }
            if step == 50 {
                // max_fails = 1 drops to 0; max_fails = 0 does nothing.
                s.on_failure(1, 1);
                r.fail(1, 1);
                s.on_failure(2, 0);
                r.fail(2, 0);
            }
            let got = s.pick(&nodes, None, 0);
            assert_eq!(got, r.get(&avail), "step {step}");
            counts[got.unwrap()] += 1;
        }
        // Node 0 lost share while failing.
        assert!(counts[0] < 120, "{counts:?}");
        // Out of range: ignored.
        s.on_failure(99, 1);
        // Through the trait object / enum as well.
        let sel = build(Algorithm::RoundRobin, &[4, 4], &[]);
        sel.on_failure(0, 1);
        assert_eq!(sel.pick(&all(&[4, 4]), None, 0), Some(1));
    }

    #[test]
    fn swrr_concurrent_picks_keep_exact_proportions() {
        let s = Arc::new(SmoothWeightedRoundRobin::new(&[5, 1, 1]));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let s = Arc::clone(&s);
                thread::spawn(move || {
                    let nodes = all(&[5, 1, 1]);
                    let mut counts = [0usize; 3];
                    for _ in 0..7_000 {
                        counts[s.pick(&nodes, None, 0).unwrap()] += 1;
                    }
                    counts
                })
            })
            .collect();
        let mut total = [0usize; 3];
        for h in handles {
            for (t, c) in total.iter_mut().zip(h.join().unwrap()) {
                *t += c;
            }
        }
        assert_eq!(total, [40_000, 8_000, 8_000]);
    }

    #[test]
    fn swrr_caller_weight_zero_vetoes_and_len_mismatch_is_safe() {
        let s = SmoothWeightedRoundRobin::new(&[1, 1, 1]);
        let nodes: &[(u32, bool)] = &[(1, true), (0, true)];
        for _ in 0..5 {
            assert_eq!(s.pick(&nodes, None, 0), Some(0));
        }
        let s = SmoothWeightedRoundRobin::new(&[1]);
        assert_eq!(s.pick(&all(&[1, 1, 1]), None, 0), Some(0));
    }

    // --- Weighted random -----------------------------------------------------

    fn shares(sel: &dyn Select, nodes: &dyn Candidates, n: usize, picks: usize) -> Vec<f64> {
        let mut rng = SplitMix64(0x5eed);
        let mut counts = vec![0usize; n];
        for _ in 0..picks {
            counts[sel.pick(nodes, None, rng.next()).unwrap()] += 1;
        }
        counts.iter().map(|&c| c as f64 / picks as f64).collect()
    }

    fn assert_shares(got: &[f64], want: &[f64], tol: f64) {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= tol,
                "node {i}: got {g:.4}, want {w:.4} ({got:?})"
            );
        }
    }

    #[test]
    fn random_matches_weights() {
        let weights = [1, 2, 3, 4];
        let s = WeightedRandom::new(&weights);
        let got = shares(&s, &all(&weights), 4, 100_000);
        assert_shares(&got, &[0.1, 0.2, 0.3, 0.4], 0.01);
    }

    #[test]
    fn random_with_unavailable_node_matches_remaining_weights() {
        let weights = [1, 2, 3, 4];
        let mut nodes = all(&weights);
        nodes[3].1 = false;
        let s = WeightedRandom::new(&weights);
        let got = shares(&s, &nodes, 4, 100_000);
        assert_shares(&got, &[1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0, 0.0], 0.01);
        assert_eq!(got[3], 0.0);

        nodes[3].1 = true;
        nodes[1].1 = false;
        let got = shares(&s, &nodes, 4, 100_000);
        assert_shares(&got, &[0.125, 0.0, 0.375, 0.5], 0.01);
    }

    #[test]
    fn random_edges() {
        let s = WeightedRandom::new(&[0, 3, 0, 1, 0]);
        let nodes = all(&[0, 3, 0, 1, 0]);
        assert_eq!(s.pick(&nodes, None, 0), Some(1));
        assert_eq!(s.pick(&nodes, None, u64::MAX), Some(3));
        // total 4: [0, 3/4) of the u64 range -> node 1, [3/4, 1) -> node 3.
        assert_eq!(s.pick(&nodes, None, (3 << 62) - 1), Some(1));
        assert_eq!(s.pick(&nodes, None, 3 << 62), Some(3));
        let none: &[(u32, bool)] = &[(0, false), (3, false), (0, false), (1, false), (0, false)];
        assert_eq!(s.pick(&none, None, 7), None);
        assert_eq!(WeightedRandom::new(&[]).pick(&all(&[]), None, 1), None);
        assert_eq!(
            WeightedRandom::new(&[0, 0]).pick(&all(&[0, 0]), None, 1),
            None
        );
        // Candidates shorter than the group: never out of range.
        let short: &[(u32, bool)] = &[(1, true)];
        let s = WeightedRandom::new(&[1, 1_000]);
        let mut rng = SplitMix64(3);
        for _ in 0..1_000 {
            assert_eq!(s.pick(&short, None, rng.next()), Some(0));
        }
    }

    // --- Consistent hash -------------------------------------------------------

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{}:80", i + 1)).collect()
    }

    fn ring(weights: &[u32], ids: &[String]) -> ConsistentHash {
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        ConsistentHash::new(weights, &refs)
    }

    /// Owner identity of each of `n` keys.
    fn owners<'a>(
        r: &ConsistentHash,
        nodes: &dyn Candidates,
        ids: &'a [String],
        n: u64,
    ) -> Vec<&'a str> {
        (0..n)
            .map(|k| ids[r.pick(nodes, Some(k), 0).unwrap()].as_str())
            .collect()
    }

    #[test]
    fn hash64_vectors() {
        assert_eq!(hash64(b""), 0xefd0_1f60_ba99_2926);
        assert_eq!(hash64(b"a"), 0x82a2_a958_a9be_ce5b);
        assert_eq!(hash64(b"10.0.0.1:80"), 0x5ed8_f827_5e47_a14a);
        assert_eq!(ring_point("10.0.0.1:80", 0), 0xd988_28fa_0576_6dd3);
        assert_eq!(ring_point("10.0.0.1:80", 159), 0xac1e_fd93_2e3b_68a9);
        for j in [0, 1, 9, 10, 99, 160, 4_294_967_295] {
            let s = format!("node-x#{j}");
            assert_eq!(ring_point("node-x", j), hash64(s.as_bytes()));
        }
    }

    #[test]
    fn hash_same_key_same_node() {
        let ids = ids(10);
        let a = ring(&[1; 10], &ids);
        let b = ring(&[1; 10], &ids);
        let nodes = all(&[1; 10]);
        assert_eq!(a.ring_len(), 1_600);
        for k in 0..10_000u64 {
            let first = a.pick(&nodes, Some(k), k);
            assert_eq!(a.pick(&nodes, Some(k), !k), first);
            assert_eq!(b.pick(&nodes, Some(k), 0), first);
        }
    }

    #[test]
    fn hash_adding_a_node_moves_about_one_in_eleven_keys_to_it() {
        let ids11 = ids(11);
        let before = ring(&[100; 10], &ids11[..10]);
        let after = ring(&[100; 11], &ids11);
        let keys = 100_000;
        let a = owners(&before, &all(&[100; 10]), &ids11, keys);
        let b = owners(&after, &all(&[100; 11]), &ids11, keys);
        let mut moved = 0;
        for (x, y) in a.iter().zip(&b) {
            if x != y {
                moved += 1;
                assert_eq!(*y, ids11[10], "a key moved to an old node");
            }
        }
        let frac = moved as f64 / keys as f64;
        assert!((0.05..=0.15).contains(&frac), "moved {frac}");

        // Position in the list does not matter: insert the new node first.
        let mut shuffled = ids11.clone();
        shuffled.rotate_right(1);
        let front = ring(&[100; 11], &shuffled);
        let c = owners(&front, &all(&[100; 11]), &shuffled, keys);
        assert_eq!(b, c);
    }

    #[test]
    fn hash_removing_a_node_moves_only_its_keys() {
        let ids10 = ids(10);
        let before = ring(&[5; 10], &ids10);
        let mut rest = ids10.clone();
        let removed = rest.remove(3);
        let after = ring(&[5; 9], &rest);
        let a = owners(&before, &all(&[5; 10]), &ids10, 100_000);
        let b = owners(&after, &all(&[5; 9]), &rest, 100_000);
        let mut moved = 0;
        for (x, y) in a.iter().zip(&b) {
            if *x == removed {
                assert_ne!(*y, removed);
                moved += 1;
            } else {
                assert_eq!(x, y, "a key not on the removed node moved");
            }
        }
        assert!(moved > 5_000, "{moved}");
    }

    #[test]
    fn hash_unavailable_node_only_moves_its_keys_and_they_come_back() {
        let ids10 = ids(10);
        let r = ring(&[1; 10], &ids10);
        let mut nodes = all(&[1; 10]);
        let original = owners(&r, &nodes, &ids10, 50_000);
        nodes[4].1 = false;
        let degraded = owners(&r, &nodes, &ids10, 50_000);
        for (x, y) in original.iter().zip(&degraded) {
            if *x == ids10[4] {
                assert_ne!(*y, ids10[4]);
            } else {
                assert_eq!(x, y);
            }
        }
        nodes[4].1 = true;
        assert_eq!(owners(&r, &nodes, &ids10, 50_000), original);
    }

    #[test]
    fn hash_weights_are_respected() {
        let weights = [1, 1, 2];
        let r = ring(&weights, &ids(3));
        assert_eq!(r.ring_len(), 80 + 80 + 160);
        let mut counts = [0usize; 3];
        for k in 0..100_000u64 {
            counts[r.pick(&all(&weights), Some(k), 0).unwrap()] += 1;
        }
        let got: Vec<f64> = counts.iter().map(|&c| c as f64 / 100_000.0).collect();
        assert_shares(&got, &[0.25, 0.25, 0.5], 0.06);

        // Missing key: random position, still proportional.
        let got = shares(&r, &all(&weights), 3, 100_000);
        assert_shares(&got, &[0.25, 0.25, 0.5], 0.06);
    }

    #[test]
    fn hash_ring_size_is_bounded() {
        let n = 10_000;
        let ids = ids(n);
        let mut weights = vec![10_000u32; n];
        weights[0] = 1;
        let r = ring(&weights, &ids);
        assert!(r.ring_len() <= MAX_RING_POINTS, "{}", r.ring_len());
        assert!(r.ring_len() >= n);
        // The weight-1 node still has a point and can be reached.
        let mut nodes = all(&weights);
        for node in nodes.iter_mut().skip(1) {
            node.1 = false;
        }
        assert_eq!(r.pick(&nodes, Some(123), 0), Some(0));
        assert_eq!(point_count(1, 10_000, 160), 1);
        assert_eq!(point_count(5_000, 10_000, 160), 80);
        assert_eq!(point_count(0, 10_000, 160), 0);
    }

    #[test]
    fn hash_edges() {
        let ids3 = ids(3);
        let r = ring(&[1, 1, 1], &ids3);
        let none: &[(u32, bool)] = &[(1, false), (1, false), (1, false)];
        assert_eq!(r.pick(&none, Some(1), 0), None);
        assert_eq!(r.pick(&none, None, 0), None);
        let empty = ConsistentHash::new(&[], &[]);
        assert_eq!(empty.pick(&all(&[]), Some(1), 0), None);
        let zero = ConsistentHash::new(&[0, 0], &["a", "b"]);
        assert_eq!(zero.ring_len(), 0);
        assert_eq!(zero.pick(&all(&[0, 0]), Some(1), 0), None);
        // Extreme keys wrap around the ring.
        let nodes = all(&[1, 1, 1]);
        for k in [0, u64::MAX] {
            assert!(r.pick(&nodes, Some(k), 0).is_some());
            assert!(r.pick(&nodes, None, k).is_some());
        }
        // Duplicate identities: tolerated, earlier node wins.
        let dup = ConsistentHash::new(&[1, 1], &["x", "x"]);
        assert_eq!(dup.pick(&all(&[1, 1]), Some(9), 0), Some(0));
        assert_eq!(dup.pick(&[(1, false), (1, true)], Some(9), 0), Some(1));
        assert!(format!("{r:?}").contains("ring_points: 480"));
    }

    #[test]
    #[should_panic(expected = "one identity per weight")]
    fn hash_requires_one_id_per_node() {
        let _ = build(Algorithm::Hash, &[1, 1], &["a"]);
    }

    // --- All algorithms --------------------------------------------------------

    const ALGS: [Algorithm; 3] = [Algorithm::RoundRobin, Algorithm::Random, Algorithm::Hash];

    #[test]
    fn weight_zero_never_chosen_by_any_algorithm() {
        let weights = [0, 3, 0, 1, 0];
        let ids = ids(5);
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut rng = SplitMix64(11);
        for alg in ALGS {
            let s = build(alg, &weights, &refs);
            assert_eq!(s.algorithm(), alg);
            assert_eq!(s.weights(), &weights);
            // Even if the caller claims a weight for them.
            let nodes = all(&[5; 5]);
            for _ in 0..10_000 {
                let r = rng.next();
                let got = s.pick(&nodes, Some(r >> 7), r).unwrap();
                assert!(got == 1 || got == 3, "{alg:?} picked {got}");
            }
        }
    }

    #[test]
    fn all_unavailable_gives_none_for_every_algorithm() {
        let weights = [1, 2, 3];
        let ids = ids(3);
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        for alg in ALGS {
            let s = build(alg, &weights, &refs);
            let down = [(1, false), (2, false), (3, false)];
            let zeroed = [(0, true), (0, true), (0, true)];
            for r in [0, 1, u64::MAX] {
                assert_eq!(s.pick(&down, Some(r), r), None, "{alg:?}");
                assert_eq!(s.pick(&zeroed, Some(r), r), None, "{alg:?}");
                assert_eq!(s.pick(&AllAvailable(&[]), Some(r), r), None, "{alg:?}");
            }
            let avail = AllAvailable(&weights);
            assert!(s.pick(&avail, Some(5), 5).is_some());
            let dynamic: &dyn Select = &s;
            assert!(dynamic.pick(&avail, None, 5).is_some());
        }
    }

    #[test]
    fn candidates_impls() {
        let v = vec![(2, true), (0, false)];
        let a = [(2, true), (0, false)];
        let s: &[(u32, bool)] = &v;
        let cands: [&dyn Candidates; 4] = [&v, &a, &s, &AllAvailable(&[2, 0])];
        for c in cands {
            assert_eq!(c.len(), 2);
            assert!(!c.is_empty());
            assert_eq!(c.weight(0), 2);
            assert_eq!(c.weight(5), 0);
            assert!(c.available(0));
        }
        assert!(!v.available(1) && !v.available(9));
        assert!(AllAvailable(&[]).is_empty());
        assert_eq!(Algorithm::default(), Algorithm::RoundRobin);
    }

    #[test]
    fn selectors_are_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Selector>();
        check::<SmoothWeightedRoundRobin>();
        check::<WeightedRandom>();
        check::<ConsistentHash>();
    }
}
