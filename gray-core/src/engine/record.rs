//! Recording what happened to routed requests: the outcome, classified by the served group's
//! `fail_on`, feeds passive health (ejection after `max_fails` within `fail_timeout`) and the
//! rule, group and node counters.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Engine;
use crate::decision::Decision;
use crate::error::Result;
use crate::outcome::Outcome;
use crate::select::Select;
use crate::snapshot::group::Group;
use crate::traffic::micros;

impl Engine {
    /// Records what happened to the request a decision routed (passive health and counters),
    /// classified by the *served* group's `fail_on` (see [`Outcome`] and
    /// [`crate::spec::GroupSpec::fail_on`]): an outcome the list names is a failure, anything
    /// else a success. By default (`fail_on: [error, timeout]`) connect errors, resets and
    /// timeouts are failures and every HTTP status is a success, as in nginx.
    ///
    /// A failure may eject the node (`max_fails` within `fail_timeout`), except that the last
    /// available node of a group without a fallback is never ejected; see
    /// [`report`](Self::report). Does nothing for a decision without a node.
    pub fn record(&self, decision: &Decision, outcome: Outcome) {
        self.record_outcome(decision, outcome, None);
    }

    /// [`record`](Self::record) with the request's latency (from sending it upstream to the
    /// end of the response headers, or to the failure): also observed in the node's latency
    /// histogram (`gray_upstream_request_duration_seconds`) and in the node's and the rule's
    /// live windows ([`traffic`](Self::traffic)). Lock-free and allocation-free.
    pub fn record_timed(&self, decision: &Decision, outcome: Outcome, latency: Duration) {
        self.record_outcome(decision, outcome, Some(latency));
    }

    /// Observes a request's outcome and latency in the traffic records only (histogram, status
    /// classes, live windows), leaving passive health alone: for callers that classify outcomes
    /// themselves and report health with [`report`](Self::report).
    pub fn observe(&self, decision: &Decision, outcome: Outcome, latency: Duration) {
        self.observe_at(
            decision,
            outcome,
            Some(micros(latency)),
            self.sources.now_ms(),
        );
    }

    fn observe_at(&self, decision: &Decision, outcome: Outcome, us: Option<u64>, now_ms: u64) {
        let (Some(g), Some(n)) = (decision.served, decision.node) else {
            return;
        };
        let snap = &decision.snapshot;
        if let Some(node) = snap.groups[g as usize].nodes.get(n as usize) {
            node.traffic.record(outcome, us, now_ms, true);
        }
        if let Some(r) = decision.rule {
            snap.rules[r as usize]
                .traffic
                .record(outcome, us, now_ms, false);
        }
    }

    fn record_outcome(&self, decision: &Decision, outcome: Outcome, latency: Option<Duration>) {
        let Some(g) = decision.served else { return };
        let now = self.sources.now_ms();
        self.observe_at(decision, outcome, latency.map(micros), now);
        let ok = !decision.snapshot.groups[g as usize]
            .fail_on
            .is_failure(outcome);
        self.report_at(decision, ok, now);
    }

    /// [`record`](Self::record) for a node named by group and address in the current
    /// snapshot, classified by that group's `fail_on`. Errors: `UnknownGroup` (path `group`),
    /// `UnknownNode` (path `address`).
    pub fn record_node(&self, group: &str, address: &str, outcome: Outcome) -> Result<()> {
        self.record_node_outcome(group, address, outcome, None)
    }

    /// [`record_node`](Self::record_node) with the request's latency, observed as
    /// [`record_timed`](Self::record_timed) does (no rule: none is named).
    pub fn record_node_timed(
        &self,
        group: &str,
        address: &str,
        outcome: Outcome,
        latency: Duration,
    ) -> Result<()> {
        self.record_node_outcome(group, address, outcome, Some(latency))
    }

    fn record_node_outcome(
        &self,
        group: &str,
        address: &str,
        outcome: Outcome,
        latency: Option<Duration>,
    ) -> Result<()> {
        let snap = self.current.load();
        let (g, i) = snap.node_named(group, address)?;
        let g = &snap.groups[g as usize];
        let now = self.sources.now_ms();
        g.nodes[i]
            .traffic
            .record(outcome, latency.map(micros), now, true);
        let ok = !g.fail_on.is_failure(outcome);
        g.report(i, ok, now, g.unix_ms(|| self.sources.unix_ms()));
        Ok(())
    }

    /// Records the outcome of the request a decision routed (passive health and counters),
    /// classified by the caller: `ok = false` is a failure whatever the group's `fail_on`
    /// says, `ok = true` a success. [`record`](Self::record) lets the group's `fail_on`
    /// decide instead; prefer it unless you classify outcomes yourself.
    ///
    /// A failure is counted for the group, the node and the matched rule, and may eject the
    /// node after `max_fails` failures within `fail_timeout`. **The last available node of a
    /// group without a `fallback` is never ejected** (nginx never marks a lone server
    /// unavailable): when no *other* node of the group is available (weight > 0 at the
    /// current rollout step, not draining, not ejected), the failure is counted but does not
    /// enter the node's failure window. With a fallback the node is ejected as usual and the
    /// decisions move to the fallback. The check is not atomic with the report: two nodes
    /// failing at the same instant may both be ejected.
    pub fn report(&self, decision: &Decision, ok: bool) {
        self.report_at(decision, ok, self.sources.now_ms());
    }

    /// [`report`](Self::report) at monotonic time `now_ms`.
    fn report_at(&self, decision: &Decision, ok: bool, now_ms: u64) {
        let (Some(g), Some(n)) = (decision.served, decision.node) else {
            return;
        };
        let group = &decision.snapshot.groups[g as usize];
        group.report(
            n as usize,
            ok,
            now_ms,
            group.unix_ms(|| self.sources.unix_ms()),
        );
        if !ok {
            if let Some(r) = decision.rule {
                decision.snapshot.rules[r as usize]
                    .counter
                    .failures
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// [`report`](Self::report) for a node named by group and address in the current
    /// snapshot (the caller classifies; see [`record_node`](Self::record_node)). Errors:
    /// `UnknownGroup` (path `group`), `UnknownNode` (path `address`).
    pub fn report_node(&self, group: &str, address: &str, ok: bool) -> Result<()> {
        let snap = self.current.load();
        let (g, i) = snap.node_named(group, address)?;
        let g = &snap.groups[g as usize];
        g.report(
            i,
            ok,
            self.sources.now_ms(),
            g.unix_ms(|| self.sources.unix_ms()),
        );
        Ok(())
    }
}

impl Group {
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
}
