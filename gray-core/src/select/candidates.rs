//! What a selector picks from ([`Candidates`]) and what every selector is ([`Select`]).

use std::fmt;

/// The nodes that may be picked right now, supplied by the caller per pick.
///
/// Index `i` refers to the `i`-th node of the list the selector was built
/// from. See the [module documentation](crate::select) for how the methods are used.
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
pub(super) fn eligible(nodes: &dyn Candidates, i: usize) -> bool {
    nodes.weight(i) > 0 && nodes.available(i)
}

/// Scales a uniform `u64` to `[0, bound)` with a multiply-high.
#[inline]
pub(super) fn scale(random: u64, bound: u64) -> u64 {
    ((u128::from(random) * u128::from(bound)) >> 64) as u64
}
