//! The Prometheus text exposition of an engine's counters: generation, rule, group and node
//! requests and failures, node health and weights.

use std::fmt::Write as _;

use crate::admin::GroupStatus;
use crate::rollout::RolloutState;
use crate::snapshot::Snapshot;
use crate::traffic::{CLASSES, PROMETHEUS_BOUNDS_MS};

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
    write_traffic(&mut out, snap, &esc);
    write_rollouts(&mut out, snap, &esc);
    out
}

/// The node latency histograms and response totals by class.
fn write_traffic(out: &mut String, snap: &Snapshot, esc: &dyn Fn(&str) -> String) {
    out.push_str("# HELP gray_upstream_request_duration_seconds Time from sending a request to a node to its response headers (or failure).\n# TYPE gray_upstream_request_duration_seconds histogram\n");
    for g in snap.groups.iter() {
        for n in g.nodes.iter() {
            let labels = format!("group=\"{}\",node=\"{}\"", esc(&g.name), esc(&n.address));
            let (buckets, sum, count) = n.traffic.histogram();
            for (le, c) in PROMETHEUS_BOUNDS_MS.iter().zip(buckets) {
                let _ = writeln!(
                    out,
                    "gray_upstream_request_duration_seconds_bucket{{{labels},le=\"{}\"}} {c}",
                    le / 1000.0
                );
            }
            let _ = writeln!(
                out,
                "gray_upstream_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "gray_upstream_request_duration_seconds_sum{{{labels}}} {sum}"
            );
            let _ = writeln!(
                out,
                "gray_upstream_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
    }
    out.push_str("# HELP gray_upstream_responses_total Recorded outcomes of requests to a node, by status class (error: connect error or reset).\n# TYPE gray_upstream_responses_total counter\n");
    for g in snap.groups.iter() {
        for n in g.nodes.iter() {
            for (class, c) in CLASSES.iter().zip(n.traffic.classes()) {
                let _ = writeln!(
                    out,
                    "gray_upstream_responses_total{{group=\"{}\",node=\"{}\",class=\"{class}\"}} {c}",
                    esc(&g.name),
                    esc(&n.address)
                );
            }
        }
    }
}

/// The step and state of every judged rollout.
fn write_rollouts(out: &mut String, snap: &Snapshot, esc: &dyn Fn(&str) -> String) {
    let judged: Vec<_> = snap
        .groups
        .iter()
        .filter_map(|g| Some((g, g.rollout.as_ref()?.judged.as_ref()?)))
        .collect();
    if judged.is_empty() {
        return;
    }
    out.push_str("# HELP gray_rollout_step The step in force (1-based; the last step when promoted, 0 when aborted).\n# TYPE gray_rollout_step gauge\n");
    for (g, j) in &judged {
        let state = j.control.status(&g.name).state;
        let step = match state {
            RolloutState::Progressing { step } | RolloutState::Paused { step } => step + 1,
            RolloutState::Promoted => j.control.steps(),
            RolloutState::Aborted => 0,
        };
        let _ = writeln!(
            out,
            "gray_rollout_step{{group=\"{}\"}} {step}",
            esc(&g.name)
        );
    }
    out.push_str("# HELP gray_rollout_state 0 progressing, 1 paused, 2 promoted, 3 aborted.\n# TYPE gray_rollout_state gauge\n");
    for (g, j) in &judged {
        let state = j.control.status(&g.name).state;
        let _ = writeln!(
            out,
            "gray_rollout_state{{group=\"{}\"}} {}",
            esc(&g.name),
            state.code()
        );
    }
}
