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

mod candidates;
mod hash;
mod random;
mod round_robin;

pub use candidates::{AllAvailable, Candidates, Select};
pub use hash::{fmix64, hash64, ConsistentHash, MAX_RING_POINTS, POINTS_PER_NODE};
pub use random::WeightedRandom;
pub use round_robin::SmoothWeightedRoundRobin;

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
mod tests;
