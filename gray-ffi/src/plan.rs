//! What a forwarding proxy does to a decided request, worked out while gray has the request:
//! the headers to set and the inbound headers to remove ([`GrayForward`]), so that a proxy in
//! another language applies them without one call into gray per header.

use gray_core::{Decision, RequestView};

use crate::request::GrayHeader;
use crate::text::GrayStr;

/// Everything a proxy does to the request a decision routed, filled in by
/// [`gray_engine_decide_raw`](crate::gray_engine_decide_raw). Every pointer is borrowed from
/// the decision and lives until [`gray_decision_free`](crate::gray_decision_free).
///
/// A proxy removes every header named in `strip` (all its lines, any case), then sets every
/// header of `set` (replacing what the request has under that name), then forwards to `node`.
/// That is exactly what [`gray_decision_forwards_inbound`](crate::gray_decision_forwards_inbound)
/// and [`gray_decision_header`](crate::gray_decision_header) describe, header by header.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GrayForward {
    /// The headers to set, `set_len` entries (NULL when there are none): the decision's headers
    /// ([`gray_decision_header`](crate::gray_decision_header)) except those that a trusted
    /// inbound routing header keeps (`inbound: keep`).
    pub set: *const GrayHeader,
    /// The number of headers to set.
    pub set_len: usize,
    /// The inbound header names to remove, `strip_len` entries (NULL when there are none),
    /// each once (as first spelled in the request): every inbound header that
    /// [`gray_decision_forwards_inbound`](crate::gray_decision_forwards_inbound) refuses, i.e.
    /// the routing headers (`headers.routing_prefixes`, `n-d-*`) of a peer that is not trusted,
    /// and with `inbound: override` those the decision replaces. Copied: they do not borrow
    /// the request.
    pub strip: *const GrayStr,
    /// The number of names to remove.
    pub strip_len: usize,
    /// The node's address (`ip:port` or `host:port`), or absent when no group had an available
    /// node: answer 503.
    pub node: GrayStr,
    /// The group serving the request (the decided group or its fallback).
    pub group: GrayStr,
    /// The id of the matched rule, or absent for the default group.
    pub rule: GrayStr,
}

impl Default for GrayForward {
    /// Nothing to set or remove, every text absent.
    fn default() -> GrayForward {
        GrayForward {
            set: std::ptr::null(),
            set_len: 0,
            strip: std::ptr::null(),
            strip_len: 0,
            node: GrayStr::NONE,
            group: GrayStr::NONE,
            rule: GrayStr::NONE,
        }
    }
}

/// Headers to set kept inline (the common decision sets one to three).
const INLINE_SET: usize = 4;

/// The lists behind a [`GrayForward`], kept in the decision they belong to.
#[derive(Default)]
pub(crate) struct Plan {
    set_inline: [GrayHeader; INLINE_SET],
    set_len: usize,
    /// All the headers to set once there are more than [`INLINE_SET`].
    set_spill: Vec<GrayHeader>,
    /// The names to remove, pointing into `strip_text`.
    strip: Vec<GrayStr>,
    /// The names to remove, one after the other; not changed once `strip` points into it.
    strip_text: String,
}

// SAFETY: the pointers of a plan point into the snapshot (and decision) that it is kept beside
// in a `GrayDecision`, which that decision keeps alive and nobody changes, and into the plan's
// own `strip_text`, which is not changed after `strip` is made. Reading them from any thread
// reads immutable data, as the rest of a `GrayDecision` is.
unsafe impl Send for Plan {}
// SAFETY: as for `Send`: nothing behind the pointers is ever written through them or changed.
unsafe impl Sync for Plan {}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("set", &self.set_len.max(self.set_spill.len()))
            .field("strip", &self.strip.len())
            .finish()
    }
}

impl Plan {
    /// The plan for `decision` of the request `inbound`.
    ///
    /// The pointers it holds borrow `decision`'s snapshot: keep the plan beside the decision
    /// (in the same `GrayDecision`) and drop it first or together.
    pub(crate) fn new(decision: &Decision, inbound: &dyn RequestView) -> Plan {
        let mut plan = Plan::default();
        // Inbound headers to remove: checked by name, each distinct name once.
        let mut names: Vec<(usize, usize)> = Vec::new();
        inbound.all_headers(&mut |name, _| {
            if decision.forward_inbound(name) {
                return;
            }
            let seen = |&(at, len): &(usize, usize)| {
                plan.strip_text[at..at + len].eq_ignore_ascii_case(name)
            };
            if !names.iter().any(seen) {
                names.push((plan.strip_text.len(), name.len()));
                plan.strip_text.push_str(name);
            }
        });
        let text = plan.strip_text.as_ptr();
        plan.strip = names
            .iter()
            .map(|&(at, len)| GrayStr {
                // `at` is within `strip_text` (a byte offset of a name it holds).
                ptr: text.wrapping_add(at).cast(),
                len,
            })
            .collect();
        // Headers to set: the decision's, unless a trusted inbound routing header of the same
        // name passes and wins (`inbound: keep`).
        let trusted = decision.trusts_inbound();
        for (name, value) in decision.headers() {
            let kept = trusted
                && decision.snapshot().is_routing_header(name)
                && decision.forward_inbound(name)
                && inbound.header(name).is_some();
            if !kept {
                plan.push_set(GrayHeader {
                    name: GrayStr::new(name),
                    value: GrayStr::new(value),
                });
            }
        }
        plan
    }

    fn push_set(&mut self, h: GrayHeader) {
        if self.set_spill.is_empty() && self.set_len < INLINE_SET {
            self.set_inline[self.set_len] = h;
            self.set_len += 1;
            return;
        }
        if self.set_spill.is_empty() {
            self.set_spill.extend_from_slice(&self.set_inline);
        }
        self.set_spill.push(h);
    }

    fn set(&self) -> &[GrayHeader] {
        if self.set_spill.is_empty() {
            &self.set_inline[..self.set_len]
        } else {
            &self.set_spill
        }
    }

    /// The plan as C data, with the decision's node, group and rule.
    pub(crate) fn forward(&self, decision: &Decision) -> GrayForward {
        let (set, strip) = (self.set(), &self.strip);
        GrayForward {
            set: first(set),
            set_len: set.len(),
            strip: first(strip),
            strip_len: strip.len(),
            node: GrayStr::from_option(decision.node_address()),
            group: GrayStr::new(decision.group()),
            rule: GrayStr::from_option(decision.rule_id()),
        }
    }
}

/// The first element of `s`, or NULL when it is empty.
fn first<T>(s: &[T]) -> *const T {
    if s.is_empty() {
        std::ptr::null()
    } else {
        s.as_ptr()
    }
}
