//! The Prometheus text exposition of an engine's counters: generation, rule, group and node
//! requests and failures, node health and weights.

use std::fmt::Write as _;

use crate::admin::GroupStatus;
use crate::snapshot::Snapshot;

/// Renders the counters of `snap` and the group views `groups` (from the same engine).
pub(crate) fn render(snap: &Snapshot, groups: &[GroupStatus]) -> String {
    let mut out = String::new();
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    out.push_str("# HELP gray_generation Generation of the serving snapshot.\n# TYPE gray_generation gauge\n");
    let _ = writeln!(out, "gray_generation {}", snap.generation);
    out.push_str("# HELP gray_rule_requests_total Requests matched by a rule.\n# TYPE gray_rule_requests_total counter\n");
    for r in snap.rules.iter() {
        let _ = writeln!(
            out,
            "gray_rule_requests_total{{rule=\"{}\"}} {}",
            esc(&r.id),
            r.counter.requests()
        );
    }
    out.push_str("# HELP gray_rule_failures_total Failures reported for requests a rule routed.\n# TYPE gray_rule_failures_total counter\n");
    for r in snap.rules.iter() {
        let _ = writeln!(
            out,
            "gray_rule_failures_total{{rule=\"{}\"}} {}",
            esc(&r.id),
            r.counter.failures()
        );
    }
    out.push_str("# HELP gray_group_requests_total Requests served by a group.\n# TYPE gray_group_requests_total counter\n");
    for g in groups {
        let _ = writeln!(
            out,
            "gray_group_requests_total{{group=\"{}\"}} {}",
            esc(&g.name),
            g.requests
        );
    }
    out.push_str("# HELP gray_group_failures_total Failures reported for a group.\n# TYPE gray_group_failures_total counter\n");
    for g in groups {
        let _ = writeln!(
            out,
            "gray_group_failures_total{{group=\"{}\"}} {}",
            esc(&g.name),
            g.failures
        );
    }
    out.push_str("# HELP gray_node_requests_total Requests sent to a node.\n# TYPE gray_node_requests_total counter\n");
    for g in groups {
        for n in &g.nodes {
            let _ = writeln!(
                out,
                "gray_node_requests_total{{group=\"{}\",node=\"{}\"}} {}",
                esc(&g.name),
                esc(&n.address),
                n.requests
            );
        }
    }
    out.push_str("# HELP gray_node_failures_total Failures reported for a node.\n# TYPE gray_node_failures_total counter\n");
    for g in groups {
        for n in &g.nodes {
            let _ = writeln!(
                out,
                "gray_node_failures_total{{group=\"{}\",node=\"{}\"}} {}",
                esc(&g.name),
                esc(&n.address),
                n.failures
            );
        }
    }
    out.push_str(
        "# HELP gray_node_up 1 if the node can receive requests.\n# TYPE gray_node_up gauge\n",
    );
    for g in groups {
        for n in &g.nodes {
            let up = u8::from(n.health == "up" || n.health == "probing");
            let _ = writeln!(
                out,
                "gray_node_up{{group=\"{}\",node=\"{}\"}} {up}",
                esc(&g.name),
                esc(&n.address)
            );
        }
    }
    out.push_str("# HELP gray_node_weight Weight in force.\n# TYPE gray_node_weight gauge\n");
    for g in groups {
        for n in &g.nodes {
            let _ = writeln!(
                out,
                "gray_node_weight{{group=\"{}\",node=\"{}\"}} {}",
                esc(&g.name),
                esc(&n.address),
                n.weight
            );
        }
    }
    out
}
